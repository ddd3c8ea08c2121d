"""Activation layers: thin wrappers over the functions in ``nnlite.activations``.

They have no parameters.  In training mode they keep the one array their derivative needs
(the output for sigmoid/tanh/ReLU/softplus/softmax, the input for activations that declare so).
"""
from __future__ import annotations

from ..math import activations
from .base import Layer

__all__ = ["Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Softmax",
           "Identity", "GELU", "ELU", "SiLU", "Swish", "Softsign", "HardSigmoid"]


class Activation(Layer):
    """``Activation(name)``: y = f(x) for the named activation, elementwise (softmax: over the
    last axis); (batch, ...) → the same shape.

    >>> Activation("tanh")
    Activation(activation='tanh')
    """

    def __init__(self, activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._saved = None
        self._logits = False

    @property
    def default_name(self):
        return self.activation.name if type(self) is Activation else super().default_name

    def forward(self, x, training=False, logits=False):
        """``logits=True`` returns ``x`` unchanged (the model fuses this activation into the
        loss)."""
        act = self.activation
        if logits:
            y = saved = x
        else:
            y = act.forward(x, out=self._buffer("y", x.shape) if training else None)
            saved = y if act.saves == "output" else x
        if training:
            self._saved, self._logits = saved, logits
        return y

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        if self._logits:
            return dy
        return self.activation.backward(dy, self._saved, out=self._buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.to_config(self.activation)
        return config


class _Named(Activation):
    """An Activation whose function is fixed by the subclass (``Sigmoid()``, ``ReLU()``, ...)."""

    function = "linear"

    def __init__(self, **kwargs):
        super().__init__(self.function, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class Sigmoid(_Named):
    """y = σ(x) = 1 / (1 + e^-x), elementwise on (batch, ...); derivative y(1 - y)."""
    function = "sigmoid"


class Tanh(_Named):
    """y = tanh(x), elementwise on (batch, ...); derivative 1 - y²."""
    function = "tanh"


class ReLU(_Named):
    """y = max(0, x), elementwise on (batch, ...); derivative 1[x > 0] (the slide's
    ``min{0, 1}`` is a typo)."""
    function = "relu"


class Softplus(_Named):
    """y = log(1 + e^x), computed as logaddexp(0, x), elementwise on (batch, ...); derivative
    σ(x)."""
    function = "softplus"


class Softmax(_Named):
    """y_i = e^x_i / Σ_j e^x_j over the last axis of (batch, ..., k) → the same shape; usually
    fused with CategoricalCrossEntropy."""
    function = "softmax"


class Identity(_Named):
    """y = x, on (batch, ...)."""
    function = "linear"


class LeakyReLU(Activation):
    """y = max(αx, x) with 0 ≤ α ≤ 1, elementwise on (batch, ...); derivative 1 for x > 0 and
    α otherwise.

    The default slope is PyTorch's 0.01 (Keras 3's layer uses 0.3); Keras 3's keyword
    ``negative_slope`` is accepted as another name for ``alpha``."""

    def __init__(self, alpha=0.01, negative_slope=None, **kwargs):
        if negative_slope is not None:
            alpha = negative_slope
        super().__init__(activations.leaky_relu(alpha), **kwargs)
        self.alpha = float(alpha)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        config["alpha"] = self.alpha
        return config


class GELU(_Named):
    """y = x Φ(x) with the exact Gaussian CDF Φ (erf form), elementwise on (batch, ...);
    derivative Φ(x) + x φ(x)."""
    function = "gelu"
    default_name = "gelu"


class SiLU(_Named):
    """y = x σ(x) (also called Swish), elementwise on (batch, ...); derivative
    σ(x)(1 + x(1 - σ(x)))."""
    function = "silu"
    default_name = "silu"


Swish = SiLU


class Softsign(_Named):
    """y = x / (1 + |x|), elementwise on (batch, ...); derivative (1 - |y|)²."""
    function = "softsign"


class HardSigmoid(_Named):
    """y = relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1) (Keras 3 = PyTorch), elementwise on
    (batch, ...); derivative 1/6 inside."""
    function = "hard_sigmoid"


class ELU(Activation):
    """y = x for x > 0, α(eˣ - 1) otherwise (α > 0), elementwise on (batch, ...); derivative 1
    for x > 0, y + α otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(activations.elu(alpha), **kwargs)
        self.alpha = float(alpha)

    default_name = "elu"

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        config["alpha"] = self.alpha
        return config
