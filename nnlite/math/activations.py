"""Activation functions and their derivatives, as small pure functions in one table.

Each entry pairs ``forward(x, out=None) -> y`` with ``backward(dy, saved, out=None) -> dx``,
where ``saved`` is the forward *output* ``y`` when ``saves == "output"`` (cheaper: the derivative
is written from the output, Chainer-style) and the forward *input* ``x`` when ``saves == "input"``.
All functions are elementwise over arrays of any shape, except softmax which works on the last
axis.  They are stable for every finite input: no overflow warnings, no NaN, no inf.

Derivatives (the lecture's slide writes ReLU' as ``min{0, 1}``; the correct derivative is the step
function, checked by finite differences in the tests)::

    sigmoid   σ(x) = 1 / (1 + e^-x)         σ'  = y (1 - y)
    tanh      tanh(x)                       1 - y²
    relu      max(0, x)                     1[x > 0]      (0 at x = 0, as in PyTorch)
    leaky     max(αx, x), 0 ≤ α ≤ 1         1[x > 0] + α 1[x ≤ 0]
    softplus  log(1 + e^x)                  σ(x) = 1 - e^-y
    softmax   e^x_i / Σ_j e^x_j             y ⊙ (dy - <dy, y>)
    linear    x                             1
    gelu      x Φ(x), Φ(x) = erfc(-x/√2)/2        Φ(x) + x φ(x)   (exact erf form; from x;
              float32 evaluates erfc by a polynomial exact to float32 precision, see _gelu_tail32)
    elu       x if x > 0 else α(e^x - 1), α > 0   1[y > 0] + (y + α) 1[y ≤ 0]
    silu      x σ(x)  (alias swish)           σ(x) (1 + x (1 - σ(x)))           (from x)
    softsign  x / (1 + |x|)                  1 / (1 + |x|)² = (1 - |y|)²
    hard_sigmoid  relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)   1/6 · 1[0 < y < 1]
              (Keras 3 and PyTorch's formula; Keras 2 used clip(0.2 x + 0.5, 0, 1))
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc, expit

from ..errors import ConfigError, UnknownNameError

__all__ = ["ActivationFn", "activate", "activation_grad", "get", "names", "sigmoid", "softmax",
           "log_softmax"]


@dataclass(frozen=True)
class ActivationFn:
    """One activation: its name, the function, its derivative and what the derivative needs."""

    name: str
    forward: Callable
    backward: Callable
    saves: str  # "output" or "input": which forward array ``backward`` receives as ``saved``
    params: tuple = ()
    #: False for softmax, which works along the last axis (a layer that does not keep its
    #: channels last, e.g. Conv2D's NCHW output, hands it a channels-last view)
    elementwise: bool = True
    #: True when ``backward(dy, saved, out=saved)`` is exact: the derivative is one ufunc that
    #: reads each element of ``saved`` before writing it (ReLU: dy · 1[y > 0]).  A layer whose
    #: forward cache is consumed by its one backward (Conv2D) then writes dL/dz over the saved
    #: activation instead of into a buffer of its own.
    overwrites_saved: bool = False

    def __call__(self, x, out=None):
        return self.forward(x, out)


def activate(fn: ActivationFn, z, logits=False, out=None):
    """A layer's activation of its pre-activation ``z``: returns ``(y, saved)``, where ``saved``
    is what ``activation_grad`` needs.  In place on ``z`` when the derivative is written from the
    output; ``logits=True`` (the model fused the activation into the loss) or linear: ``y = z``.
    ``out`` is a zero-argument callable giving the output array, called only when one is needed
    (so a layer allocates no scratch buffer it would not use), or None."""
    if logits or fn.name == "linear":
        return z, z
    if fn.saves == "output":
        y = fn.forward(z, out=z)
        return y, y
    return fn.forward(z, out=out() if out is not None else None), z


def activation_grad(fn: ActivationFn, dy, saved, logits=False, out=None):
    """dL/dz from dL/dy for ``activate``'s ``(y, saved)``; ``dy`` itself when nothing was
    applied.  ``out`` as in ``activate``."""
    if logits or fn.name == "linear":
        return dy
    return fn.backward(dy, saved, out=out() if out is not None else None)


# ---------------------------------------------------------------- the functions themselves
def sigmoid(x, out=None):
    """σ(x) = 1 / (1 + exp(-x)), via scipy's ``expit`` (no overflow for any finite x)."""
    return expit(x, out=out)


def _sigmoid_backward(dy, y, out=None):
    out = np.subtract(1.0, y, out=out)
    out *= y
    out *= dy
    return out


def _tanh(x, out=None):
    return np.tanh(x, out=out)


def _tanh_backward(dy, y, out=None):
    out = np.multiply(y, y, out=out)
    np.subtract(1.0, out, out=out)
    out *= dy
    return out


def _relu(x, out=None):
    return np.maximum(x, 0, out=out)


def _relu_backward(dy, y, out=None):
    # Multiply by the boolean step 1[y > 0] (y > 0 exactly when x > 0).
    return np.multiply(dy, y > 0, out=out)


def _linear(x, out=None):
    if out is None or out is x:
        return x
    np.copyto(out, x)
    return out


def _linear_backward(dy, saved, out=None):
    return _linear(dy, out)


def _softplus(x, out=None):
    # log(1 + e^x) = logaddexp(0, x): exact and overflow-free for every finite x.
    return np.logaddexp(0, x, out=out)


def _softplus_backward(dy, y, out=None):
    # softplus'(x) = σ(x) = 1 - e^{-y}; -expm1(-y) keeps full precision when y is tiny.
    out = np.negative(y, out=out)
    np.expm1(out, out=out)
    np.negative(out, out=out)
    out *= dy
    return out


def softmax(x, out=None):
    """Softmax over the last axis, shifted by the row maximum so exp never overflows."""
    out = np.subtract(x, np.max(x, axis=-1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= np.sum(out, axis=-1, keepdims=True)
    return out


def log_softmax(x):
    """log softmax over the last axis: x - logsumexp(x), finite for every finite x."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    shifted -= np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return shifted


def _softmax_backward(dy, y, out=None):
    inner = np.sum(dy * y, axis=-1, keepdims=True)
    out = np.subtract(dy, inner, out=out)
    out *= y
    return out


def leaky_relu(alpha: float) -> ActivationFn:
    """LeakyReLU with slope ``alpha`` for x ≤ 0 (0 ≤ alpha ≤ 1, so the output's sign is x's)."""
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise ConfigError(f"LeakyReLU: alpha must be a number in [0, 1], got {alpha!r}")
    alpha = float(alpha)

    def forward(x, out=None):
        return np.maximum(x, x * alpha, out=out)  # x * alpha first: out may alias x

    def backward(dy, y, out=None):
        # slope is 1 where y > 0 and alpha elsewhere: alpha + (1 - alpha) 1[y > 0]
        slope = (y > 0).astype(dy.dtype)
        slope *= 1.0 - alpha
        slope += alpha
        return np.multiply(dy, slope, out=out)

    return ActivationFn("leaky_relu", forward, backward, "output", (("alpha", alpha),))


# Python floats, not NumPy scalars: they keep float32 arrays float32 (NEP 50)
_SQRT_HALF = 0.5 ** 0.5
_INV_SQRT_2PI = 1.0 / (2.0 * 3.141592653589793) ** 0.5


def _gelu(x, out=None):
    # x Φ(x) with Φ(x) = erfc(-x / √2) / 2 (= (1 + erf(x / √2)) / 2, but erfc keeps the left
    # tail: 1 + erf(-7) rounds to 0 where Φ(-10) = 7.6e-24); x * ... last so out may alias x
    if x.dtype == np.float32:
        return _chunked(_gelu32, out if out is not None else np.empty_like(x), x)
    phi = erfc(x * -_SQRT_HALF)
    phi *= 0.5
    return np.multiply(x, phi, out=out)


def _gelu_backward(dy, x, out=None):
    # Φ(x) + x φ(x); |x| is clipped at 40 before squaring (φ underflows to 0 there anyway) so
    # x² never overflows
    if x.dtype == np.float32 and dy.dtype == np.float32:
        return _chunked(_gelu_backward32, out if out is not None else np.empty_like(x), x, dy)
    clipped = np.clip(x, -40.0, 40.0)
    density = np.exp(-0.5 * clipped * clipped)
    density *= _INV_SQRT_2PI
    density *= x
    cdf = erfc(x * -_SQRT_HALF)
    cdf *= 0.5
    density += cdf
    return np.multiply(dy, density, out=out)


def _gelu32(out, x):
    a, r, _ = _gelu_tail32(x)
    r *= a                                        # |x| Φ(-|x|)
    np.maximum(x, 0.0, out=out)                   # x Φ(x) = max(x, 0) - |x| Φ(-|x|)
    out -= r


def _gelu_backward32(out, x, dy):
    _, r, density = _gelu_tail32(x)               # Φ(-|x|) and exp(-x²/2)
    cdf = np.multiply(r, -2.0)
    cdf += 1.0
    cdf *= x > 0
    cdf += r                                      # Φ(x) = Φ(-|x|) + 1[x > 0] (1 - 2 Φ(-|x|))
    density *= x
    density *= _INV_SQRT_2PI
    density += cdf
    np.multiply(dy, density, out=out)


#: elements per pass of the float32 GELU: its dozen temporaries then stay in the core's L2
#: cache (and small allocations are reused, not page-faulted in afresh), 2.7x faster than one
#: pass over a (1088, 128) array
_CHUNK = 1 << 15


def _chunked(kernel, out, *arrays):
    """``kernel(out, *arrays)`` over slices of ``_CHUNK`` elements (whole arrays when one of
    them is not C-contiguous); returns ``out``.  ``out`` may alias an input: each slice is read
    before it is written."""
    if not all(a.flags.c_contiguous and a.shape == out.shape for a in (out, *arrays)):
        kernel(out, *arrays)
        return out
    flat = [a.reshape(-1) for a in (out, *arrays)]
    for start in range(0, out.size, _CHUNK):
        kernel(*(a[start:start + _CHUNK] for a in flat))
    return out


# Φ(-|x|) for float32 GELU without scipy's erfc (a scalar kernel, ~20 ns per element, half of
# a ViT's training step).  With z = |x|/√2 and t = 1/(1 + 0.45 z):
#     erfc(z) = exp(-z²) · t · Q(t),   Q a degree-9 polynomial
# (Q: a Chebyshev fit of erfcx(z)/t on t ∈ (0, 1], weighted for relative error; max relative
# error 3.4e-8 in exact arithmetic, tests/test_gelu32.py checks it; of the degrees and scales
# tried, the one whose float32 evaluation errs least).  exp(-x²/2) is taken as
# exp(-h²/2) · exp(-(|x| - h)(|x| + h)/2) with h = |x| cut to 12 significant bits, so h² is
# exact and no rounding of x² reaches the exponent.  Over every float32 input the result is
# within 7.5 ulp of the exact GELU (mean 0.54 ulp), where erfc of the float32-rounded x/√2 is
# up to 190 ulp off in the tail (mean 7.5); float64 keeps scipy's erfc.
_TAIL_T = 0.45 * _SQRT_HALF
_TAIL_Q = tuple(0.5 * c for c in (     # ½ Q: Φ(-|x|) = ½ erfc(z)
    0.25388532105, 0.25388309472, 0.22827407261, 0.17522016546, 0.12015389964, -0.02306618987,
    0.14381805131, -0.30220579662, 0.19167594071, -0.041638582109))
_HIGH_BITS = np.uint32(0xFFFFF000)


def _gelu_tail32(x):
    """(|x| clipped at 16, Φ(-|x|), exp(-x²/2)) for float32 ``x``, each a new array."""
    a = np.abs(x)
    np.minimum(a, 16.0, out=a)                    # Φ(-16) underflows float32; no x² overflow
    t = np.multiply(a, _TAIL_T)
    t += 1.0
    np.divide(1.0, t, out=t)
    q = np.multiply(t, _TAIL_Q[-1])
    for c in _TAIL_Q[-2:0:-1]:
        q += c
        q *= t
    q += _TAIL_Q[0]
    q *= t                                        # ½ t Q(t) = ½ erfcx(z)
    high = np.bitwise_and(a.view(np.uint32), _HIGH_BITS).view(np.float32)
    low = np.subtract(a, high)
    np.add(a, high, out=t)
    t *= low
    t *= -0.5
    np.exp(t, out=t)                              # exp(-(a² - h²)/2)
    high *= high
    high *= -0.5
    np.exp(high, out=high)
    high *= t                                     # exp(-x²/2)
    q *= high
    return a, q, high


def elu(alpha: float = 1.0) -> ActivationFn:
    """ELU with scale ``alpha`` > 0 for x ≤ 0 (so y > 0 exactly when x > 0, and the derivative
    can be written from the output: y + α for x ≤ 0)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ConfigError(f"ELU: alpha must be a positive number, got {alpha!r}")
    alpha = float(alpha)

    def forward(x, out=None):
        # max(x, 0) + α expm1(min(x, 0)): min first so expm1 never overflows, and the
        # negative part is computed before ``out`` (which may alias x) is written
        negative = np.expm1(np.minimum(x, 0.0))
        negative *= alpha
        out = np.maximum(x, 0.0, out=out)
        out += negative
        return out

    def backward(dy, y, out=None):
        slope = y + alpha
        np.copyto(slope, 1.0, where=y > 0)
        return np.multiply(dy, slope, out=out)

    return ActivationFn("elu", forward, backward, "output", (("alpha", alpha),))


def _silu(x, out=None):
    s = expit(x)
    return np.multiply(x, s, out=out)


def _silu_backward(dy, x, out=None):
    # σ(x) (1 + x (1 - σ(x)))
    s = expit(x)
    grad = np.subtract(1.0, s)
    grad *= x
    grad += 1.0
    grad *= s
    return np.multiply(dy, grad, out=out)


def _softsign(x, out=None):
    denom = np.abs(x)
    denom += 1.0
    return np.divide(x, denom, out=out)


def _softsign_backward(dy, y, out=None):
    # 1 / (1 + |x|)² = (1 - |y|)²
    grad = np.abs(y)
    np.subtract(1.0, grad, out=grad)
    grad *= grad
    return np.multiply(dy, grad, out=out)


def _hard_sigmoid(x, out=None):
    out = np.multiply(x, 1.0 / 6.0, out=out)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _hard_sigmoid_backward(dy, y, out=None):
    inside = (y > 0) & (y < 1)
    out = np.multiply(dy, inside, out=out)
    out *= 1.0 / 6.0
    return out


_TABLE = {
    "sigmoid": ActivationFn("sigmoid", sigmoid, _sigmoid_backward, "output"),
    "tanh": ActivationFn("tanh", _tanh, _tanh_backward, "output"),
    "relu": ActivationFn("relu", _relu, _relu_backward, "output", overwrites_saved=True),
    "leaky_relu": leaky_relu(0.01),
    "softplus": ActivationFn("softplus", _softplus, _softplus_backward, "output"),
    "softmax": ActivationFn("softmax", softmax, _softmax_backward, "output", elementwise=False),
    "linear": ActivationFn("linear", _linear, _linear_backward, "output"),
    "gelu": ActivationFn("gelu", _gelu, _gelu_backward, "input"),
    "elu": elu(1.0),
    "silu": ActivationFn("silu", _silu, _silu_backward, "input"),
    "softsign": ActivationFn("softsign", _softsign, _softsign_backward, "output"),
    "hard_sigmoid": ActivationFn("hard_sigmoid", _hard_sigmoid, _hard_sigmoid_backward, "output"),
}
_FACTORIES = {"leaky_relu": leaky_relu, "elu": elu}
_ALIASES = {"logistic": "sigmoid", "identity": "linear", "leakyrelu": "leaky_relu",
            "swish": "silu", "hardsigmoid": "hard_sigmoid"}


def to_config(fn: ActivationFn):
    """The JSON form ``get`` accepts back: the name, or ``{"name": ..., **params}``."""
    return fn.name if not fn.params else {"name": fn.name, **dict(fn.params)}


def register(fn: ActivationFn) -> ActivationFn:
    """Add an activation to the table (used by modules that define more activations)."""
    _TABLE[fn.name] = fn
    return fn


def names() -> list[str]:
    """The valid activation names, sorted."""
    return sorted(_TABLE)


def get(identifier) -> ActivationFn:
    """Look up an activation by name; ``None`` means linear; ActivationFn instances pass through."""
    if identifier is None:
        return _TABLE["linear"]
    if isinstance(identifier, ActivationFn):
        return identifier
    if isinstance(identifier, dict) and "name" in identifier:  # parametrised, from a config
        args = {k: v for k, v in identifier.items() if k != "name"}
        factory = _FACTORIES.get(identifier["name"])
        if factory is not None:
            return factory(**args)
    if isinstance(identifier, str):
        key = identifier.lower()
        key = _ALIASES.get(key, key)
        if key in _TABLE:
            return _TABLE[key]
    raise UnknownNameError(
        f"unknown activation {identifier!r}; valid names: {', '.join(names())}"
    )
