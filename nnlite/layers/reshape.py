"""Layers that only change the shape: ``Flatten`` and ``Reshape``.

Both are views in C order (no copy when the input is contiguous); backward reshapes ``dy``
back to the input's shape.  Flatten of (batch, C, H, W) gives (batch, C·H·W) in C order, as
PyTorch's ``nn.Flatten``.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer

__all__ = ["Flatten", "Reshape"]


class Flatten(Layer):
    """(batch, d1, d2, ...) → (batch, d1·d2·...)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        if training:
            self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, input_grad=True):
        return dy.reshape(self._x_shape) if input_grad else None


class Reshape(Layer):
    """``Reshape(target_shape)``: (batch, *input_shape) → (batch, *target_shape).

    ``target_shape`` excludes the batch axis and may contain one -1, inferred from the size.

    >>> Reshape((1, 28, 28), input_shape=(784,))
    Reshape(target_shape=[1, 28, 28])
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, (int, np.integer)):
            target_shape = (target_shape,)
        try:
            shape = tuple(int(v) for v in target_shape)
            ok = bool(shape) and all(v == -1 or v > 0 for v in shape) and shape.count(-1) <= 1 \
                and all(not isinstance(v, bool) and float(v) == int(v) for v in target_shape)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"Reshape: target_shape must be a tuple of positive ints with at "
                              f"most one -1, got {target_shape!r}")
        self.target_shape = shape

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(v for v in self.target_shape if v != -1)
        shape = tuple(size // known if v == -1 else v for v in self.target_shape)
        if math.prod(shape) != size:
            raise ShapeError(f"Reshape {self.name!r}: cannot reshape input of shape (batch, "
                             f"{', '.join(map(str, input_shape))}) ({size} values) to "
                             f"target_shape {self.target_shape}")
        return shape

    def forward(self, x, training=False):
        if training:
            self._x_shape = x.shape
        return x.reshape((x.shape[0],) + self.output_shape)

    def backward(self, dy, input_grad=True):
        return dy.reshape(self._x_shape) if input_grad else None

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
