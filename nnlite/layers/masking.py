"""Masking: mark the time steps whose features all equal ``mask_value`` as padding.

    keep[b, t] = any_k x[b, t, k] != mask_value           (the output mask, True = real)
    y = x ⊙ keep[..., None]                                (masked steps become 0, as Keras)
    dL/dx = dL/dy ⊙ keep[..., None]

The layers after it that support masking (recurrent layers, pooling over time, the loss and
metrics) skip the masked steps.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer

__all__ = ["Masking"]


class Masking(Layer):
    """``Masking(mask_value=0.0)`` on inputs (batch, time, features).

    >>> Masking(mask_value=-1.0)
    Masking(mask_value=-1.0)
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)) \
                or not np.isfinite(mask_value):
            raise ConfigError(f"Masking: mask_value must be a finite number, got {mask_value!r}")
        self.mask_value = float(mask_value)
        self._keep = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"Masking {self.name!r}: expects inputs (batch, time, features), "
                             f"got input shape (batch, {', '.join(map(str, input_shape))})")
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return np.any(inputs != self.mask_value, axis=-1)

    def forward(self, x, training=False, mask=None):
        keep = np.any(x != self.mask_value, axis=-1)[..., None]
        y = np.multiply(x, keep, out=self._buffer("y", x.shape) if training else None)
        if training:
            self._keep = keep
        return y

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        return np.multiply(dy, self._keep, out=self._buffer("dx", dy.shape))

    def release_buffers(self):
        super().release_buffers()
        self._keep = None

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
