"""Finite-difference gradient checks of layers, losses and whole models (float64).

Each check compares the analytic gradient from ``backward`` with central differences

    ∂f/∂θ_i ≈ (f(θ + ε e_i) - f(θ - ε e_i)) / (2ε)

and reports, per parameter and for the input, the maximum relative error
``|a - n| / max(|a| + |n|, tiny)`` (CS231n's definition) — for layers, of the part of the
discrepancy beyond the difference quotient's round-off (``noise_aware_error``).  Layers are
checked through the scalar ``f = Σ r ⊙ layer(x)`` with a fixed random ``r``; losses and models
through their loss.

>>> from nnlite.layers import Dense
>>> report = check_layer(Dense(3, activation="tanh"), np.ones((2, 4)))
>>> report.ok
True
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..models.fit_options import regularized
from ..models.serialization import model_from_config
from ..models.weights import leaf_layers

__all__ = ["GradCheckReport", "check_layer", "check_loss", "check_model", "float64_copy",
           "relative_error", "noise_aware_error"]

_TINY = 1e-12


def relative_error(analytic, numeric) -> float:
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-12)."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), _TINY)))


@dataclass
class GradCheckReport:
    """Relative errors per checked array, the tolerance, and ``ok``."""

    errors: dict = field(default_factory=dict)
    tolerance: float = 1e-6
    note: str = ""
    #: check_layer: the plain relative errors too (before the round-off allowance), for reading
    relative: dict = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_error < self.tolerance

    def __bool__(self):
        return self.ok

    def __str__(self):
        plain = f"{'(plain)':>12}" if self.relative else ""
        lines = [f"{'gradient':<32}{'max rel. error':>16}{plain}"]
        for name, err in self.errors.items():
            flag = "" if err < self.tolerance else "   <-- FAIL"
            raw = f"{self.relative[name]:>12.1e}" if name in self.relative else ""
            lines.append(f"{name:<32}{err:>16.3e}{raw}{flag}")
        lines.append(f"{'ok' if self.ok else 'FAILED'} (tolerance {self.tolerance:g})")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _numeric(f, array, eps, order=2):
    """Central differences of the scalar function ``f()`` w.r.t. every entry of ``array``
    (perturbed in place and restored).  ``order=4`` uses the five-point stencil
    (8 (f(+ε) - f(-ε)) - (f(+2ε) - f(-2ε))) / 12ε, error O(ε⁴): with ε ≈ 1e-3 it resolves
    gradient entries near zero that the O(ε²) rule loses to round-off (smooth functions only:
    the wider stencil must not cross a ReLU kink)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat, gflat = array.reshape(-1), grad.reshape(-1)

    def at(i, old, h):
        flat[i] = old + h
        value = f()
        flat[i] = old
        return value

    for i in range(flat.size):
        old = flat[i]
        diff = at(i, old, eps) - at(i, old, -eps)
        if order == 4:
            gflat[i] = (8 * diff - (at(i, old, 2 * eps) - at(i, old, -2 * eps))) / (12 * eps)
        else:
            gflat[i] = diff / (2 * eps)
    return grad


def _generators(layer):
    """Every numpy Generator of ``layer`` and its sublayers (dropout masks)."""
    found = [v for v in vars(layer).values() if isinstance(v, np.random.Generator)]
    for inner in getattr(layer, "sublayers", None) or ():
        found.extend(_generators(inner))
    return found


def noise_aware_error(analytic, numeric, allowance) -> float:
    """max_i max(|a_i - n_i| - allowance, 0) / max(|a_i| + |n_i|, 1e-12): the relative error
    of the part of each discrepancy that finite differences can resolve."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if a.size == 0:
        return 0.0
    excess = np.maximum(np.abs(a - n) - allowance, 0.0)
    return float(np.max(excess / np.maximum(np.abs(a) + np.abs(n), _TINY)))


#: the central difference of f = Σ r ⊙ y is resolved to about ε_mach·Σ|r ⊙ y| / ε (measured over
#: every layer of the contract harness: never above 1.25 times that); discrepancies within
#: this many times it are round-off, not errors
NOISE_ALLOWANCE = 10.0


def check_layer(layer, x, eps=1e-6, tolerance=1e-6, seed=0, mask=None) -> GradCheckReport:
    """Check ``layer.backward`` against central differences at input ``x`` (float64).

    The checked scalar is ``f = Σ_k Σ r_k ⊙ y_k`` over the layer's output(s) (several for a
    ``multi_output`` layer, e.g. a recurrent layer with ``return_state=True``) with random
    upstream gradients ``r_k`` drawn from ``seed``.  ``mask`` (boolean (batch, time)) is passed
    to layers that support masking.
    Random generators of the layer (dropout) are reset before every forward pass, so a
    stochastic layer is checked with fixed masks; a ``stateful`` layer is checked from zero
    states.  Layers whose input is not differentiable (``differentiable_input = False``, e.g.
    ``Embedding`` on token ids) get no input check.

    Error measure, per array: ``max_i max(|a_i - n_i| - δ, 0) / (|a_i| + |n_i|)`` with the
    round-off allowance ``δ = 10 ε_mach Σ|r ⊙ y| / eps`` (see ``NOISE_ALLOWANCE``).  The plain
    relative error fails correct layers whose gradients have entries far below the scale of
    ``f`` (an RNN's early steps: about 1 input in 8 missed 1e-6 at eps=1e-6), because the
    difference quotient cannot resolve them; the allowance removes exactly that round-off and
    nothing more, so a gradient off by more than ~1e-9 of ``f``'s scale still fails (a BPTT
    truncated by one step fails by 1e-2 or more).  ``report.ok``: every error < ``tolerance``.
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    if not layer.built:
        layer.build(x.shape[1:], rng, np.float64)
    kwargs = {"mask": mask} if mask is not None and getattr(layer, "supports_masking", False) \
        else {}
    generators = [(g, g.bit_generator.state) for g in _generators(layer)]
    several = bool(getattr(layer, "multi_output", False))

    def run():
        for generator, state in generators:
            generator.bit_generator.state = state
        if hasattr(layer, "reset_state"):
            layer.reset_state()
        y = layer.forward(x, training=True, **kwargs)
        return list(y) if several else [y]

    outs = run()
    weights = [rng.standard_normal(o.shape) for o in outs]
    scale = sum(float(np.sum(np.abs(w * o))) for w, o in zip(weights, outs))
    allowance = NOISE_ALLOWANCE * np.finfo(np.float64).eps * scale / eps

    def f():
        return sum(float(np.sum(w * o)) for w, o in zip(weights, run()))

    run()
    upstream = [w.astype(layer.dtype) for w in weights]
    dx = layer.backward(upstream if several else upstream[0])
    analytic = {k: np.array(g, dtype=np.float64) for k, g in layer.grads.items()}
    report = GradCheckReport(tolerance=tolerance)
    pairs = [("input", np.array(dx, np.float64), x)] \
        if getattr(layer, "differentiable_input", True) else []
    pairs += [(f"param:{key}", analytic[key], param) for key, param in layer.params.items()]
    for name, a, array in pairs:
        n = _numeric(f, array, eps)
        report.errors[name] = noise_aware_error(a, n, allowance)
        report.relative[name] = relative_error(a, n)
    return report


def check_loss(loss, y_pred, y_true, eps=1e-6, tolerance=1e-6) -> GradCheckReport:
    """Check ``loss.backward`` against finite differences of ``loss.forward`` at ``y_pred``."""
    y_pred = np.array(y_pred, dtype=np.float64)
    loss.forward(y_pred, y_true)
    analytic = np.array(loss.backward(), dtype=np.float64)
    report = GradCheckReport(tolerance=tolerance)
    report.errors["y_pred"] = relative_error(
        analytic, _numeric(lambda: loss.forward(y_pred, y_true), y_pred, eps))
    return report


def _differentiable_inputs(model):
    """Per model input: False when every layer reading it has ``differentiable_input = False``
    (e.g. the token ids of an ``Embedding``)."""
    if not hasattr(model, "nodes"):
        return [getattr(model.layers[0], "differentiable_input", True)]
    return [any(getattr(n.layer, "differentiable_input", True) for n in model.nodes
                if any(p is node for p in n.parents)) for node in model.inputs]


def check_model(model, x, y, eps=1e-6, tolerance=1e-6, order=2) -> GradCheckReport:
    """Check a compiled model's gradients of its training loss — the regularizers' penalties
    included — w.r.t. every parameter and the input (each input, reported as ``input:k``, for
    a graph model with several inputs; ``x``/``y`` are then lists; inputs no gradient
    reaches, such as masks and adjacencies, are skipped).  ``order=4``: the five-point stencil
    (see ``_numeric``).  Finite differences need float64: a float32 model is
    checked through a float64 copy with the same weights (``report.note`` says so).  The model
    is unchanged afterwards (no optimizer step).

    The error measure is ``check_layer``'s: the relative error of what exceeds the difference
    quotient's round-off, δ = 10 ε_mach |L| / eps with L the loss at ``x`` (the plain relative
    errors are in ``report.relative``).  A recurrent model's gradients reach early time steps
    with entries far below |L|; the plain measure fails them at eps = 1e-6."""
    model._require_compiled("check_model")
    note = ""
    if model.dtype != np.float64:
        model = float64_copy(model)
        note = ("checked a float64 copy of the float32 model (same weights and loss): finite "
                "differences cannot resolve float32 round-off")
    x, y = model._check_xy(x, y)
    multi = isinstance(x, list)  # a graph model with several inputs
    x = [v.copy() for v in x] if multi else x.copy()
    model.build(None if multi else x.shape[1:])
    loss = model._train_loss
    regs = regularized(model)

    def f():
        value = loss._forward(model._forward(x, True, model._fused), y)
        return value + sum(reg.penalty(param) for param, _, reg in regs)

    allowance = NOISE_ALLOWANCE * np.finfo(np.float64).eps * abs(f()) / eps
    dx = model._backward(loss._backward(), True)
    for param, grad, reg in regs:
        reg.add_gradient(param, grad)

    def record(name, analytic, array):
        numeric = _numeric(f, array, eps, order)
        report.errors[name] = noise_aware_error(analytic, numeric, allowance)
        report.relative[name] = relative_error(analytic, numeric)
    dx = [None if d is None else np.array(d, dtype=np.float64) for d in dx] if multi \
        else np.array(dx, np.float64)
    report = GradCheckReport(tolerance=tolerance, note=note)
    smooth = _differentiable_inputs(model)  # token ids (Embedding) cannot be perturbed
    if multi:
        for k, (d, v) in enumerate(zip(dx, x)):
            # None: no gradient flows into this input (a mask, an adjacency)
            if d is not None and smooth[k]:
                record(f"input:{k}", d, v)
    elif smooth[0]:
        record("input", dx, x)
    for layer in leaf_layers(model.layers):
        analytic = {k: g.copy() for k, g in layer.grads.items()}
        for key, param in layer.params.items():
            record(f"{layer.name}/{key}", analytic[key], param)
    model._release_buffers()
    return report


def float64_copy(model):
    """A float64 twin of a compiled model: same architecture, weights and loss (an SGD
    optimizer, which a gradient check never steps)."""
    spec = model.get_config()
    spec["config"]["dtype"] = "float64"
    twin = model_from_config(spec)
    loss = model.loss
    copy = [_loss_copy(l) for l in loss] if isinstance(loss, list) else _loss_copy(loss)
    twin.compile("sgd", copy, loss_weights=getattr(model, "_loss_weights", None))
    twin.build(model.input_shape if not isinstance(model.input_shape, list) else None)
    twin.set_weights(model.get_weights())
    return twin


def _loss_copy(loss):
    return type(loss)(**loss.get_config())
