"""Dense (fully connected) layer: the lecture's linear unit, optionally followed by an activation.

    z = x W + b                      x: (batch, in), W: (in, units), b: (units,)
    y = f(z)                         y: (batch, units)

    dL/dz = dL/dy ⊙ f'(·)            (from y or z, whichever the activation needs)
    dL/dW = xᵀ dL/dz,  dL/db = Σ_batch dL/dz,  dL/dx = dL/dz Wᵀ

On inputs with more axes, (batch, ..., in) → (batch, ..., units), the same map is applied to the
last axis (as Keras; e.g. every step of a sequence): the leading axes are flattened into rows,
so it is still one matmul.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..math import activations, initializers, regularizers
from ..math.activations import activate, activation_grad
from .base import Layer, positive_int

__all__ = ["Dense"]


class Dense(Layer):
    """``Dense(units, activation=None, use_bias=True, kernel_initializer="glorot_uniform")``.

    y = f(x W + b): x (batch, in) → y (batch, units).

    ``activation`` is any name from ``nnlite.activations.names()`` (e.g. ``"relu"``).
    Parameters: ``kernel`` (in, units) and ``bias`` (units,).

    >>> layer = Dense(3, activation="relu", input_dim=4)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "Dense: units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        # penalties are applied by the model (see nnlite.regularizers), not in backward
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._x = self._saved = None
        self._logits = False

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ShapeError(f"Dense {self.name!r}: expects inputs (batch, ..., features), got "
                             f"input shape (batch, {', '.join(map(str, input_shape))})")
        return tuple(input_shape[:-1]) + (self.units,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        fan_in = input_shape[-1]
        self.add_weight("kernel", (fan_in, self.units), self.kernel_initializer, fan_in,
                        self.units, rng)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, fan_in, self.units, rng)

    def forward(self, x, training=False, logits=False):
        """``logits=True`` skips the activation (the model fuses it into the loss)."""
        if x.ndim != 2:  # (batch, ..., in): the last axis, as rows of one matmul
            y = self.forward(x.reshape(-1, x.shape[-1]), training, logits)
            return y.reshape(x.shape[:-1] + (self.units,))
        kernel = self.params["kernel"]
        shape = (x.shape[0], self.units)
        z = np.matmul(x, kernel, out=self._buffer("z", shape) if training else None)
        if self.use_bias:
            z += self.params["bias"]
        y, saved = activate(self.activation, z, logits,
                            (lambda: self._buffer("y", shape)) if training else None)
        if training:
            self._x, self._saved, self._logits = x, saved, logits
        return y

    def backward(self, dy, input_grad=True):
        if dy.ndim != 2:  # the rows of an input with more axes (see forward)
            dx = self.backward(dy.reshape(-1, self.units), input_grad)
            return None if dx is None else dx.reshape(dy.shape[:-1] + (dx.shape[-1],))
        dz = activation_grad(self.activation, dy, self._saved, self._logits,
                             lambda: self._buffer("dz", dy.shape))
        np.matmul(self._x.T, dz, out=self.grads["kernel"])
        if self.use_bias:
            # the ufunc method itself: np.sum's Python wrapper costs a µs per call, which adds
            # up in deep narrow networks
            np.add.reduce(dz, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        return np.matmul(dz, self.params["kernel"].T,
                         out=self._buffer("dx", self._x.shape))

    def get_config(self):
        return {**super().get_config(), "units": self.units, **kernel_bias_config(self)}


def kernel_bias_config(layer) -> dict:
    """The config entries of a layer with a kernel, an optional bias and an activation (Dense,
    Conv2D): activation, use_bias, initializers, and the regularizers that are set."""
    config = {"activation": activations.to_config(layer.activation), "use_bias": layer.use_bias,
              "kernel_initializer": initializers.name_of(layer.kernel_initializer),
              "bias_initializer": initializers.name_of(layer.bias_initializer)}
    for key in ("kernel_regularizer", "bias_regularizer"):
        if getattr(layer, key) is not None:
            config[key] = regularizers.serialize(getattr(layer, key))
    return config
