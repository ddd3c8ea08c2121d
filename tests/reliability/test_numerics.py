"""Numerics grid: every loss and every activation at extreme logits, against mpmath.

Grid: s ∈ {0, ±1, ±37, ±88.7, ±709, ±1e4, ±1e38} in float32 and float64, plus ±1e308 in float64.
The registries are iterated (``nnlite.losses.names()``, ``nnlite.activations.names()``), so a loss
or activation added later is covered, and one without a reference below fails loudly.

At every point: the value and the gradient are finite, no floating-point warning is raised
(``np.errstate(over/divide/invalid="raise")``, RuntimeWarning as error), and

    |got - ref| ≤ rtol · |ref| + atol,  rtol = 1e-12 (float64) / 1e-5 (float32)

against an mpmath reference at 60 digits evaluated at the *exact* float input.  ``atol`` is
``finfo(dtype).tiny`` (the smallest normal number: results below it are subnormal and carry fewer
bits, e.g. e^-709), except for activation derivatives written from the forward *output*
(``saves == "output"``, e.g. σ' = y(1 - y)), whose floor is ``finfo(dtype).eps``: once y rounds
to 1 the output no longer holds 1 - y (σ'(37) = 8.5e-17 comes out 0).  Points whose exact value
exceeds the dtype's range (MSE of 1e308) are not representable and are counted, not checked.
"""
from __future__ import annotations

import inspect
import warnings

import mpmath as mp
import numpy as np
import pytest

from nnlite import activations, losses

GRID = [0.0, 1.0, 37.0, 88.7, 709.0, 1e4, 1e38]
GRID = sorted({s * sign for s in GRID for sign in (1.0, -1.0)})
GRID_BY_DTYPE = {np.float32: GRID, np.float64: sorted(GRID + [1e308, -1e308])}
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
DPS = 60


def mpf(x):
    return mp.mpf(float(x))  # exact: every float is a dyadic rational


def sig(x):
    """σ(x) in mpmath, without cancellation for either sign."""
    return 1 / (1 + mp.exp(-x))


# ------------------------------------------------------------------ activation references
def _leaky(alpha):
    return (lambda x: x if x > 0 else alpha * x), (lambda x: mp.mpf(1) if x > 0 else alpha)


def _elu(alpha):
    return (lambda x: x if x > 0 else alpha * mp.expm1(x)), \
        (lambda x: mp.mpf(1) if x > 0 else alpha * mp.exp(x))


def _phi(x):
    """Φ(x) = erfc(-x/√2)/2; beyond |x| = 1e7 (where mpmath's erfc overflows a float internally)
    the tail φ(x)/|x| · (1 - 1/x²), relative error < 3/x⁴."""
    if x < -1e7:
        return mp.exp(-x * x / 2) / (-x * mp.sqrt(2 * mp.pi)) * (1 - 1 / (x * x))
    if x > 1e7:
        return 1 - _phi(-x)
    return mp.erfc(-x / mp.sqrt(2)) / 2


ACTIVATION_REFS = {
    # name: (f, f') in mpmath; derivative conventions at kinks as documented in activations.py
    "sigmoid": (sig, lambda x: sig(x) * sig(-x)),
    "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2),
    "relu": (lambda x: max(x, mp.mpf(0)), lambda x: mp.mpf(1) if x > 0 else mp.mpf(0)),
    "softplus": (lambda x: mp.log1p(mp.exp(x)), sig),
    "linear": (lambda x: x, lambda x: mp.mpf(1)),
    "gelu": (lambda x: x * _phi(x),
             lambda x: _phi(x) + x * mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)),
    "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x))),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
    "hard_sigmoid": (lambda x: min(max(x / 6 + mp.mpf(1) / 2, mp.mpf(0)), mp.mpf(1)),
                     lambda x: mp.mpf(1) / 6 if -3 < x < 3 else mp.mpf(0)),
}
PARAMETRISED = {"leaky_relu": _leaky, "elu": _elu}


def activation_reference(fn):
    if fn.name in PARAMETRISED:
        return PARAMETRISED[fn.name](*(mpf(v) for _, v in fn.params))
    if fn.name not in ACTIVATION_REFS and fn.name != "softmax":
        pytest.fail(f"activation {fn.name!r} has no mpmath reference in {__file__}: add one")
    return ACTIVATION_REFS[fn.name]


# ------------------------------------------------------------------ comparison
class Tally:
    """Counts and worst errors for one (function, dtype)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.checked = self.floored = self.unrepresentable = 0
        self.max_rel = 0.0
        self.failures: list[str] = []

    def check(self, what, got, ref, floor):
        """Compare a float ``got`` with the mpmath ``ref``; floor: the absolute tolerance."""
        info = np.finfo(self.dtype)
        if abs(ref) > mpf(info.max):
            self.unrepresentable += 1
            return
        self.checked += 1
        if not np.isfinite(got):
            self.failures.append(f"{what}: got {got!r}, expected {mp.nstr(ref, 17)}")
            return
        err = abs(mpf(got) - ref)
        rtol = RTOL[self.dtype]
        if abs(ref) > 0:
            self.max_rel = max(self.max_rel, float(err / abs(ref)) if err <= rtol * abs(ref)
                               else self.max_rel)
        if err > rtol * abs(ref) + floor:
            self.failures.append(f"{what}: got {got!r}, expected {mp.nstr(ref, 17)} "
                                 f"(error {mp.nstr(err, 3)})")
        elif err > rtol * abs(ref):
            self.floored += 1

    def figures(self):
        return {"checked": self.checked, "absolute_floor_used": self.floored,
                "unrepresentable": self.unrepresentable, "max_rel_error": self.max_rel,
                "failures": len(self.failures)}


def strict():
    """No floating-point error and no RuntimeWarning goes unnoticed."""
    class _Ctx:
        def __enter__(self):
            self.err = np.errstate(over="raise", divide="raise", invalid="raise")
            self.err.__enter__()
            self.warn = warnings.catch_warnings()
            self.warn.__enter__()
            warnings.simplefilter("error")

        def __exit__(self, *exc):
            self.warn.__exit__(*exc)
            self.err.__exit__(*exc)
    return _Ctx()


# ------------------------------------------------------------------ activations
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", activations.names())
def test_activation_grid(name, dtype, record):
    fn = activations.get(name)
    tally = Tally(dtype)
    info = np.finfo(dtype)
    grad_floor = info.eps if fn.saves == "output" else info.tiny
    with mp.workdps(DPS):
        if name == "softmax":
            _softmax_grid(fn, dtype, tally)
        else:
            f, df = activation_reference(fn)
            x = np.array(GRID_BY_DTYPE[dtype], dtype=dtype).reshape(-1, 1)
            with strict():
                y = fn.forward(x.copy())
                saved = y if fn.saves == "output" else x
                dx = fn.backward(np.ones_like(x), saved.copy())
            assert y.dtype == dtype and dx.dtype == dtype
            for xi, yi, gi in zip(x[:, 0], y[:, 0], dx[:, 0]):
                tally.check(f"{name}({xi!r})", float(yi), f(mpf(xi)), info.tiny)
                tally.check(f"{name}'({xi!r})", float(gi), df(mpf(xi)), grad_floor)
    record("numerics_activations", **{f"{name}/{np.dtype(dtype).name}": tally.figures()})
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.checked >= 2 * len(GRID_BY_DTYPE[dtype]) - 2 * tally.unrepresentable


def _softmax_grid(fn, dtype, tally):
    """Rows [s, 0]: p = (σ(s), σ(-s)); Jacobian rows from backward with dy = e_0, e_1."""
    info = np.finfo(dtype)
    grad_floor = info.eps if fn.saves == "output" else info.tiny
    for s in GRID_BY_DTYPE[dtype]:
        x = np.array([[s, 0.0]], dtype=dtype)
        with strict():
            p = fn.forward(x.copy())
            saved = p if fn.saves == "output" else x
            jac = [fn.backward(np.eye(2, dtype=dtype)[k:k + 1], saved.copy()) for k in range(2)]
        ms = mpf(x[0, 0])
        ref_p = [sig(ms), sig(-ms)]
        pq = ref_p[0] * ref_p[1]
        ref_jac = [[pq, -pq], [-pq, pq]]
        for k in range(2):
            tally.check(f"softmax([{s!r}, 0])[{k}]", float(p[0, k]), ref_p[k], info.tiny)
            for j in range(2):
                tally.check(f"softmax'([{s!r}, 0])[{k},{j}]", float(jac[k][0, j]),
                            ref_jac[k][j], grad_floor)


# ------------------------------------------------------------------ losses
def loss_variants():
    """Every registered loss class, with each ``from_logits`` setting it accepts."""
    classes = {}
    for name in losses.names():
        loss = losses.get(name)
        classes.setdefault(type(loss).__name__, type(loss))
    variants = []
    for cname, cls in sorted(classes.items()):
        if "from_logits" in inspect.signature(cls).parameters:
            variants += [(f"{cname}(from_logits={v})", cls, {"from_logits": v})
                         for v in (True, False)]
        else:
            variants.append((cname, cls, {}))
    return variants


VARIANTS = loss_variants()


def loss_cases(loss, dtype):
    """(y_pred, y_true, reference value, reference gradient) for each grid point.

    Scores go in as given where the loss takes scores (logits, regression); the probability
    forms get σ(s) or softmax([s, 0]) rounded to the dtype, and the reference is the documented
    formula on the clipped probability (clip to [1e-7, 1 - 1e-7], as Keras), whose gradient is
    0 where the clip is active (the loss is flat there)."""
    task, logits, kind = loss.task, loss.from_logits, type(loss).__name__
    for s in GRID_BY_DTYPE[dtype]:
        if kind == "Hinge":
            for y in (1.0, -1.0, 0.0):  # 0 is the {0, 1} form of -1
                ms, my = mpf(np.array(s, dtype)), mpf(y if y else -1.0)
                margin = 1 - my * ms
                yield (np.array([[s]], dtype), np.array([y]), max(margin, 0),
                       [-my if margin > 0 else mp.mpf(0)])
        elif kind in ("MeanAbsoluteError", "Huber"):
            delta = getattr(loss, "delta", None)
            for y in (0.0, 1.0):
                e = mpf(np.array(s, dtype)) - mpf(y)
                if delta is None:
                    yield np.array([[s]], dtype), np.array([y]), abs(e), [mp.sign(e)]
                elif abs(e) <= delta:
                    yield np.array([[s]], dtype), np.array([y]), e * e / 2, [e]
                else:
                    yield (np.array([[s]], dtype), np.array([y]), delta * (abs(e) - delta / 2),
                           [delta * mp.sign(e)])
        elif task == "pm1":
            for y in (1.0, -1.0):
                ms, my = mpf(np.array(s, dtype)), mpf(y)
                yield (np.array([[s]], dtype), np.array([y]),
                       mp.log1p(mp.exp(-my * ms)), [-my * sig(-my * ms)])
        elif task == "binary" and logits:
            for y in (0.0, 1.0, 0.25):
                ms, my = mpf(np.array(s, dtype)), mpf(y)
                value = max(ms, 0) - my * ms + mp.log1p(mp.exp(-abs(ms)))
                yield (np.array([[s]], dtype), np.array([y]), value,
                       [sig(ms) * (1 - my) - sig(-ms) * my])
        elif task == "binary":
            p = np.array([[float(sig(mpf(np.array(s, dtype))))]], dtype)
            clipped = np.clip(p, 1e-7, 1 - 1e-7)
            pc, inside = mpf(clipped[0, 0]), bool(clipped[0, 0] == p[0, 0])
            for y in (0.0, 1.0):
                my = mpf(y)
                yield (p, np.array([y]), -(my * mp.log(pc) + (1 - my) * mp.log(1 - pc)),
                       [(pc - my) / (pc * (1 - pc)) if inside else mp.mpf(0)])
        elif task in ("categorical", "sparse"):
            for c in (0, 1):
                target = np.eye(2)[c:c + 1] if task == "categorical" else np.array([c])
                if logits:
                    ms = mpf(np.array(s, dtype))
                    p = [sig(ms), sig(-ms)]
                    # -log p_c with log p_0 = -log1p(e^-s), log p_1 = -log1p(e^s)
                    value = mp.log1p(mp.exp(-ms)) if c == 0 else mp.log1p(mp.exp(ms))
                    grad = [p[0] - (c == 0), p[1] - (c == 1)]
                    if c == 0:
                        grad[0] = -sig(-ms)
                    else:
                        grad[1] = -sig(ms)
                    yield np.array([[s, 0.0]], dtype), target, value, grad
                else:
                    ms = mpf(np.array(s, dtype))
                    p = np.array([[float(sig(ms)), float(sig(-ms))]], dtype)
                    clipped = np.clip(p, 1e-7, 1 - 1e-7)
                    pc = [mpf(v) for v in clipped[0]]
                    grad = [mp.mpf(0), mp.mpf(0)]
                    grad[c] = -1 / pc[c] if clipped[0, c] == p[0, c] else mp.mpf(0)
                    yield p, target, -mp.log(pc[c]), grad
        elif task == "regression":
            for y in (0.0, 1.0):
                ms, my = mpf(np.array(s, dtype)), mpf(y)
                yield np.array([[s]], dtype), np.array([y]), (ms - my) ** 2, [2 * (ms - my)]
        else:
            pytest.fail(f"no reference for loss task {task!r} ({type(loss).__name__}): add one")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("label,cls,kwargs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_loss_grid(label, cls, kwargs, dtype, record):
    loss = cls(**kwargs)
    tally = Tally(dtype)
    info = np.finfo(dtype)
    with mp.workdps(DPS):
        for y_pred, y_true, ref_value, ref_grad in loss_cases(loss, dtype):
            what = f"{label}({y_pred.tolist()}, {y_true.tolist()})"
            if any(abs(r) > mpf(info.max) for r in [ref_value, *ref_grad]):
                tally.unrepresentable += 1
                continue
            with strict():
                value = loss.forward(y_pred, y_true)
                grad = loss.backward()
            assert isinstance(value, float)
            assert grad.shape == y_pred.shape and grad.dtype == dtype, what
            tally.check(what, value, ref_value, info.tiny)
            for k, r in enumerate(ref_grad):
                tally.check(f"d{what}[{k}]", float(grad.ravel()[k]), r, info.tiny)
    record("numerics_losses", **{f"{label}/{np.dtype(dtype).name}": tally.figures()})
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.checked > 0


# ------------------------------------------------------------------ the path models run
HEAD_LOSS = {"sigmoid": "binary_crossentropy", "hard_sigmoid": "binary_crossentropy",
             "softmax": "sparse_categorical_crossentropy"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", activations.names())
def test_dense_head_training_step_at_extreme_logits(name, dtype, record):
    """A one-layer model ``Dense(activation=name)`` whose logit is each grid value (kernel = s,
    x = 1) takes a training step: loss and updated weights finite, no floating-point warning,
    and the kernel gradient equals dL/dy · f'(z) computed by the loss and activation alone
    (the fused sigmoid/softmax heads: the loss's gradient on the logits)."""
    from nnlite import Sequential, optimizers
    from nnlite.layers import Dense

    units = 2 if name == "softmax" else 1
    loss_name = HEAD_LOSS.get(name, "logistic")
    labels = (0, 1) if loss_name != "logistic" else (-1, 1)
    steps = 0
    for s in GRID_BY_DTYPE[dtype]:
        for label in labels:
            model = Sequential([Dense(units, activation=name, input_dim=1, use_bias=False)],
                               seed=0, dtype=np.dtype(dtype).name)
            model.compile(loss=loss_name, optimizer=optimizers.SGD(learning_rate=1e-3))
            kernel = np.array([[s, 0.0]] if units == 2 else [[s]], dtype=dtype)
            model.set_weights([kernel])
            x, y = np.ones((1, 1), dtype=dtype), np.array([label])
            with strict():
                grads = model.gradients(x, y)
                value = model.train_on_batch(x, y)
            grad = next(iter(grads.values()))
            assert np.isfinite(value) and np.isfinite(grad).all(), (name, s, label)
            assert all(np.isfinite(w).all() for w in model.get_weights()), (name, s, label)
            # the same gradient from the pieces: loss on the output (or logits when fused)
            loss = losses.get(loss_name)
            fn = activations.get(name)
            z = kernel.copy()
            with strict():
                if model._fused:
                    fused = loss.with_logits()
                    fused.forward(z, y)
                    expected = fused.backward()
                else:
                    out = fn.forward(z.copy())
                    loss.forward(out, y)
                    saved = out if fn.saves == "output" else z
                    expected = fn.backward(loss.backward(), saved.copy())
            np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype], atol=0,
                                       err_msg=f"{name} s={s} y={label}")
            steps += 1
    record("numerics_models", **{f"{name}/{np.dtype(dtype).name}": steps})
