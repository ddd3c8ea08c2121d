"""Vision Transformer parts (Dosovitskiy et al. 2021): images to token sequences and back.

    PatchEmbedding(p, d):  (batch, C, H, W) → (batch, N, d),  N = (H/p)(W/p) patches in row-major
                           order, each flattened in (C, p, p) order and mapped linearly:
                           y[b, n] = W · patch_n(x_b) + β     W: (d, C, p, p) (Conv2D's layout;
                           the same as a p×p convolution with stride p, PyTorch's usual ViT stem)
    ClassToken():          (batch, T, D) → (batch, T + 1, D): a learned token c (D,) first
    SelectToken(i=0):      (batch, T, D) → (batch, D): the token at position i (the class token)
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import initializers
from .base import Layer, positive_int

__all__ = ["PatchEmbedding", "ClassToken", "SelectToken"]


def _sequence(layer, input_shape):
    if len(input_shape) != 2:
        raise ShapeError(f"{type(layer).__name__} {layer.name!r}: expects sequences (batch, "
                         f"time, features), got (batch, {', '.join(map(str, input_shape))})")
    return tuple(input_shape)


class PatchEmbedding(Layer):
    """``PatchEmbedding(patch_size, dim, use_bias=True, kernel_initializer="glorot_uniform")``
    on images (batch, channels, height, width) whose sides are multiples of ``patch_size``.
    Parameters ``kernel`` (dim, channels, p, p) and ``bias`` (dim,); the initializer's fans are
    those of the linear map, C·p² → dim.

    >>> PatchEmbedding(7, 64, input_shape=(1, 28, 28)).compute_output_shape((1, 28, 28))
    (16, 64)
    """

    def __init__(self, patch_size, dim, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.patch_size = positive_int(patch_size, "PatchEmbedding: patch_size")
        self.dim = positive_int(dim, "PatchEmbedding: dim")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._patches = None

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        if len(input_shape) != 3 or input_shape[1] % p or input_shape[2] % p:
            raise ShapeError(f"PatchEmbedding {self.name!r}: expects images (batch, channels, "
                             f"height, width) with height and width multiples of patch_size={p}, "
                             f"got (batch, {', '.join(map(str, input_shape))})")
        return ((input_shape[1] // p) * (input_shape[2] // p), self.dim)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        c, p = self.input_shape[0], self.patch_size
        fan_in = c * p * p
        self.add_weight("kernel", (self.dim, c, p, p), self.kernel_initializer, fan_in,
                        self.dim, rng)
        if self.use_bias:
            self.add_weight("bias", (self.dim,), self.bias_initializer, fan_in, self.dim, rng)

    def _grid(self, x):
        b, c, h, w = x.shape
        p = self.patch_size
        return b, c, h // p, w // p, p

    def forward(self, x, training=False):
        b, c, hp, wp, p = self._grid(x)
        view = x.reshape(b, c, hp, p, wp, p).transpose(0, 2, 4, 1, 3, 5)
        patches = self._buffer("patches", view.shape) if training else np.empty(view.shape,
                                                                               self.dtype)
        np.copyto(patches, view)
        patches = patches.reshape(b * hp * wp, c * p * p)
        kernel = self.params["kernel"].reshape(self.dim, -1)
        y = np.matmul(patches, kernel.T, out=self._buffer("y", (b * hp * wp, self.dim))
                      if training else None)
        if self.use_bias:
            y += self.params["bias"]
        if training:
            self._patches = patches
        return y.reshape(b, hp * wp, self.dim)

    def backward(self, dy, input_grad=True):
        patches = self._patches
        dy2 = dy.reshape(-1, self.dim)
        np.matmul(dy2.T, patches, out=self.grads["kernel"].reshape(self.dim, -1))
        if self.use_bias:
            np.add.reduce(dy2, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        c, h, w = self.input_shape
        p = self.patch_size
        b, hp, wp = dy.shape[0], h // p, w // p
        dpatches = np.matmul(dy2, self.params["kernel"].reshape(self.dim, -1))
        dx = self._buffer("dx", (b, c, h, w))
        np.copyto(dx.reshape(b, c, hp, p, wp, p),
                  dpatches.reshape(b, hp, wp, c, p, p).transpose(0, 3, 1, 4, 2, 5))
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._patches = None

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "dim": self.dim,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.name_of(self.kernel_initializer),
                "bias_initializer": initializers.name_of(self.bias_initializer)}


class ClassToken(Layer):
    """``ClassToken(initializer="zeros")``: prepend a learned token (parameter ``token`` (D,),
    zeros as in the ViT paper) to every sequence; a padding mask gains a True in front.

        y = [token; x_1; ...; x_T]        x: (batch, T, D)  →  y: (batch, T + 1, D)
    """

    supports_masking = True

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = initializers.get(initializer)

    def compute_output_shape(self, input_shape):
        t, d = _sequence(self, input_shape)
        return (t + 1, d)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        d = self.input_shape[-1]
        self.add_weight("token", (d,), self.initializer, d, d, rng)

    def forward(self, x, training=False):
        b, t, d = x.shape
        y = self._buffer("y", (b, t + 1, d)) if training else np.empty((b, t + 1, d), self.dtype)
        y[:, 0] = self.params["token"]
        y[:, 1:] = x
        return y

    def backward(self, dy, input_grad=True):
        np.add.reduce(dy[:, 0], axis=0, out=self.grads["token"])
        return dy[:, 1:] if input_grad else None

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        mask = np.asarray(mask, dtype=bool)
        return np.concatenate([np.ones((mask.shape[0], 1), dtype=bool), mask], axis=1)

    def get_config(self):
        return {**super().get_config(), "initializer": initializers.name_of(self.initializer)}


class SelectToken(Layer):
    """``SelectToken(index=0)``: (batch, T, D) → (batch, D), the token at ``index`` (a negative
    index counts from the end); with ClassToken, the ViT's classification head input."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ConfigError(f"SelectToken: index must be an int, got {index!r}")
        self.index = int(index)

    def compute_output_shape(self, input_shape):
        t, d = _sequence(self, input_shape)
        if not -t <= self.index < t:
            raise ShapeError(f"SelectToken {self.name!r}: index {self.index} is out of range "
                             f"for sequences of length {t}")
        return (d,)

    def forward(self, x, training=False):
        shape = (x.shape[0], x.shape[2])
        y = self._buffer("y", shape) if training else np.empty(shape, self.dtype)
        np.copyto(y, x[:, self.index])
        return y

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        dx = self._buffer("dx", (dy.shape[0],) + self.input_shape)
        dx.fill(0.0)
        dx[:, self.index] = dy
        return dx

    def compute_mask(self, inputs, mask=None):
        return None  # the time axis is gone

    def get_config(self):
        return {**super().get_config(), "index": self.index}
