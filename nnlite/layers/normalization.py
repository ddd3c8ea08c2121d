"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization``.

BatchNormalization normalizes each feature/channel (axis 1) over the batch and every other axis:
(batch, features) per feature, (batch, channels, h, w) per channel (PyTorch's BatchNorm1d/2d).

    training:   μ = mean(x), σ² = mean((x - μ)²)   over the m = batch·h·w values of a channel
                x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β
                moving = momentum · moving + (1 - momentum) · batch statistic   (Keras; the
                biased σ² is used, as Keras does — PyTorch stores the unbiased one)
    inference:  y = γ (x - moving_mean) / √(moving_variance + ε) + β
    frozen (``trainable = False``, Keras' rule): the inference form in training too — the
    moving statistics are used and not updated; backward is that of the inference form,
                dx = dy γ / √(moving_variance + ε)
    backward (training, through the batch statistics):
                dβ = Σ dy,  dγ = Σ dy ⊙ x̂,
                dx = γ / (m √(σ² + ε)) · (m dy - dβ - x̂ ⊙ dγ)

LayerNormalization normalizes each example over its last axis (Keras's default axis=-1):

    x̂ = (x - μ) / √(σ² + ε) with μ, σ² over the last axis (size D),  y = γ x̂ + β
    dx = 1 / √(σ² + ε) · (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂)),   g = γ ⊙ dy

It behaves the same in training and at inference.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or value <= 0:
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return float(value)


class BatchNormalization(Layer):
    """``BatchNormalization(momentum=0.99, epsilon=1e-3)``, per feature/channel (axis 1).

    y = γ (x - μ) / √(σ² + ε) + β with the batch's μ, σ² in training and the moving averages at
    inference; (batch, features) or (batch, channels, h, w) → the same shape.

    Parameters ``gamma`` (ones) and ``beta`` (zeros) of shape (features,); state
    ``moving_mean`` (zeros) and ``moving_variance`` (ones), saved with the model.
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
                or not 0.0 <= momentum < 1.0:
            raise ConfigError(f"BatchNormalization: momentum must be a number in [0, 1), "
                              f"got {momentum!r}")
        self.momentum = float(momentum)
        self.epsilon = _positive(epsilon, "BatchNormalization: epsilon")
        self._xhat = self._inv_std = None
        self._frozen = False

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ShapeError(f"BatchNormalization {self.name!r}: expects inputs (batch, "
                             f"features, ...), got input shape (batch,)")
        return tuple(input_shape)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        channels = self.input_shape[0]
        self.add_weight("gamma", (channels,), "ones")
        self.add_weight("beta", (channels,), "zeros")
        self.add_weight("moving_mean", (channels,), "zeros", trainable=False)
        self.add_weight("moving_variance", (channels,), "ones", trainable=False)
        self._axes = (0,) + tuple(range(2, len(self.input_shape) + 1))
        self._bshape = (1, channels) + (1,) * (len(self.input_shape) - 1)

    def forward(self, x, training=False):
        gamma = self.params["gamma"].reshape(self._bshape)
        beta = self.params["beta"].reshape(self._bshape)
        if not training or not self.trainable:
            inv_std = 1.0 / np.sqrt(self.state["moving_variance"].reshape(self._bshape)
                                    + self.epsilon)
            scale = gamma * inv_std
            shift = beta - self.state["moving_mean"].reshape(self._bshape) * scale
            y = x * scale
            y += shift
            if training:  # frozen: backward differentiates the inference form
                xhat = np.subtract(x, self.state["moving_mean"].reshape(self._bshape),
                                   out=self._buffer("xhat", x.shape))
                xhat *= inv_std
                self._xhat, self._inv_std, self._frozen = xhat, inv_std, True
            return y
        mean = np.mean(x, axis=self._axes, keepdims=True)
        xhat = np.subtract(x, mean, out=self._buffer("xhat", x.shape))
        var = np.mean(np.square(xhat, out=self._buffer("y", x.shape)), axis=self._axes,
                      keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        xhat *= inv_std
        y = np.multiply(xhat, gamma, out=self._buffer("y", x.shape))
        y += beta
        # moving = momentum · moving + (1 - momentum) · batch, in place (the arrays are the
        # ones get_weights/set_weights and saving see)
        for key, batch in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.state[key]
            moving *= self.momentum
            moving += (1.0 - self.momentum) * batch.reshape(-1)
        self._xhat, self._inv_std, self._frozen = xhat, inv_std, False
        return y

    def backward(self, dy, input_grad=True):
        xhat = self._xhat
        dbeta = np.sum(dy, axis=self._axes, keepdims=True)
        dgamma = np.sum(np.multiply(dy, xhat, out=self._buffer("tmp", dy.shape)),
                        axis=self._axes, keepdims=True)
        self.grads["beta"][...] = dbeta.reshape(-1)
        self.grads["gamma"][...] = dgamma.reshape(-1)
        if not input_grad:
            return None
        if self._frozen:  # the statistics are constants: a per-channel scale
            return np.multiply(dy, self.params["gamma"].reshape(self._bshape) * self._inv_std,
                               out=self._buffer("dx", dy.shape))
        m = dy.size // dy.shape[1]
        dx = np.multiply(xhat, dgamma, out=self._buffer("dx", dy.shape))
        dx += dbeta
        np.subtract(m * dy, dx, out=dx)  # m dy - dβ - x̂ dγ
        dx *= self.params["gamma"].reshape(self._bshape) * self._inv_std / m
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._xhat = self._inv_std = None

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon)
        return config


def _row_mean(x):
    """The mean over the last axis, keepdims: einsum's row sums cost a third of ``np.mean``'s
    on short rows, and (unlike a BLAS matrix-vector product) every row is summed the same way
    whatever the number of rows, so predictions do not depend on the batch."""
    total = np.einsum("...d->...", x)[..., None]
    total /= x.shape[-1]                # not × (1/D): that adds a rounding when D is not 2^k
    return total


class LayerNormalization(Layer):
    """``LayerNormalization(epsilon=1e-3)`` over the last axis; ``gamma``/``beta`` of shape
    (last axis,).

    y = γ (x - μ) / √(σ² + ε) + β, μ and σ² over the last axis of each example;
    (batch, ..., D) → the same shape, the same in training and at inference."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _positive(epsilon, "LayerNormalization: epsilon")
        self._xhat = self._inv_std = None

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.add_weight("gamma", self.input_shape[-1:], "ones")
        self.add_weight("beta", self.input_shape[-1:], "zeros")

    def forward(self, x, training=False):
        buf = self._buffer if training else (lambda key, shape: None)
        mean = _row_mean(x)
        xhat = np.subtract(x, mean, out=buf("xhat", x.shape))
        var = _row_mean(np.square(xhat, out=buf("y", x.shape)))
        var += self.epsilon
        inv_std = np.sqrt(var, out=var)
        np.divide(1.0, inv_std, out=inv_std)
        xhat *= inv_std
        y = np.multiply(xhat, self.params["gamma"], out=buf("y", x.shape))
        y += self.params["beta"]
        if training:
            self._xhat, self._inv_std = xhat, inv_std
        return y

    def backward(self, dy, input_grad=True):
        xhat = self._xhat
        d = dy.shape[-1]
        dy2 = dy.reshape(-1, d)
        np.add.reduce(dy2, axis=0, out=self.grads["beta"])
        np.add.reduce(np.multiply(dy2, xhat.reshape(-1, d), out=self._buffer("tmp", dy2.shape)),
                      axis=0, out=self.grads["gamma"])
        if not input_grad:
            return None
        g = np.multiply(dy, self.params["gamma"], out=self._buffer("g", dy.shape))
        dx = np.multiply(g, xhat, out=self._buffer("dx", dy.shape))
        proj = _row_mean(dx)                                  # mean(g ⊙ x̂)
        np.multiply(xhat, proj, out=dx)
        np.subtract(g, dx, out=dx)
        dx -= _row_mean(g)
        dx *= self._inv_std
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._xhat = self._inv_std = None

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config
