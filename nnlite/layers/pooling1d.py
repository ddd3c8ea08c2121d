"""Pooling over time on sequences ``(batch, steps, channels)``.

    MaxPooling1D   y[n, i, c] = max_u x_pad[n, i·s + u, c]      (pad = -inf; dy to the first
                                                                 maximum of each window)
    GlobalAveragePooling1D   y[n, c] = Σ_t m_t x[n, t, c] / Σ_t m_t
    GlobalMaxPooling1D       y[n, c] = max_{t: m_t} x[n, t, c]   (dy to the first maximum)

with the mask m (True = a real step; all ones without a mask).  A sequence whose steps are all
masked pools to 0 with a zero gradient — never NaN (Keras divides 0 by 0 there).  Keras 3's
GlobalMaxPooling1D ignores masks; nnlite excludes the masked steps from the max too, so padding
never wins.  The global poolings drop the time axis, and with it the mask.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer
from .conv1d import pad_time, positive_int, time_geometry

__all__ = ["MaxPooling1D", "MaxPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
           "GlobalMaxPooling1D", "GlobalMaxPool1D"]


def _sequence_shape(owner, input_shape):
    if len(input_shape) != 2:
        raise ShapeError(f"{owner}: expects inputs (batch, steps, channels), got input shape "
                         f"(batch, {', '.join(map(str, input_shape))})")


class MaxPooling1D(Layer):
    """``MaxPooling1D(pool_size=2, strides=None (= pool_size), padding="valid")``:
    (batch, steps, channels) → (batch, out_steps, channels)."""

    default_name = "max_pooling1d"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_int(pool_size, "MaxPooling1D: pool_size")
        self.strides = self.pool_size if strides is None else \
            positive_int(strides, "MaxPooling1D: strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ConfigError(f"MaxPooling1D: padding must be 'valid' or 'same', got "
                              f"{padding!r}")
        self.padding = padding.lower()
        self._argmax = None

    def _geometry(self, input_shape):
        _sequence_shape(f"MaxPooling1D {self.name!r}", input_shape)
        return time_geometry(f"MaxPooling1D {self.name!r}", input_shape[0], self.pool_size,
                             self.strides, 1, self.padding, "pool")

    def compute_output_shape(self, input_shape):
        return (self._geometry(tuple(input_shape))[0], input_shape[1])

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self._out, self._before, self._after = self._geometry(self.input_shape)

    def _window(self, u):
        return slice(u, u + (self._out - 1) * self.strides + 1, self.strides)

    def forward(self, x, training=False):
        n, steps, c = x.shape
        padded = (n, steps + self._before + self._after, c)
        xp = pad_time(x, self._before, self._after,
                      self._buffer("xpad", padded) if training and (self._before or
                                                                    self._after) else None,
                      value=-np.inf)
        shape = (n, self._out, c)
        y = self._buffer("y", shape) if training else np.empty(shape, x.dtype)
        argmax = self._buffer("argmax", shape, np.int32) if training else None
        for u in range(self.pool_size):
            window = xp[:, self._window(u)]
            if u == 0:
                np.copyto(y, window)
                if training:
                    argmax.fill(0)
                continue
            if training:
                np.copyto(argmax, u, where=window > y)  # strictly: the first maximum wins
            np.maximum(y, window, out=y)
        if training:
            self._argmax, self._x_shape = argmax, x.shape
        return y

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        n, steps, c = self._x_shape
        dxp = self._buffer("dxpad", (n, steps + self._before + self._after, c))
        dxp.fill(0)
        routed = self._buffer("routed", dy.shape)
        for u in range(self.pool_size):
            np.multiply(dy, self._argmax == u, out=routed)
            dxp[:, self._window(u)] += routed
        if not (self._before or self._after):
            return dxp
        dx = self._buffer("dx", self._x_shape)
        np.copyto(dx, dxp[:, self._before:self._before + steps])
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._argmax = None

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return config


class _GlobalPooling1D(Layer):
    supports_masking = True

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise ConfigError(f"{type(self).__name__}: keepdims must be True or False, got "
                              f"{keepdims!r}")
        self.keepdims = bool(keepdims)
        self._cache = None

    def compute_output_shape(self, input_shape):
        _sequence_shape(f"{type(self).__name__} {self.name!r}", tuple(input_shape))
        return (1, input_shape[1]) if self.keepdims else (input_shape[1],)

    def compute_mask(self, inputs, mask=None):
        return None

    def _shape_out(self, y):
        return y[:, None, :] if self.keepdims else y

    def release_buffers(self):
        super().release_buffers()
        self._cache = None

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """``GlobalAveragePooling1D(keepdims=False)``: the mean over the (real) steps,
    (batch, steps, channels) → (batch, channels)."""

    default_name = "global_average_pooling1d"

    def forward(self, x, training=False, mask=None):
        n, steps, c = x.shape
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        if mask is None:
            weights = np.full((n, steps, 1), 1.0 / steps, dtype=x.dtype)
        else:
            count = np.maximum(np.count_nonzero(mask, axis=1), 1)[:, None]
            weights = (mask / count).astype(x.dtype)[:, :, None]
        y = np.einsum("ntc,nto->nc", x, weights)
        if training:
            self._cache = weights
        return self._shape_out(y)

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        weights = self._cache
        dy = dy.reshape(dy.shape[0], 1, -1)
        return np.multiply(dy, weights, out=self._buffer("dx", (dy.shape[0], weights.shape[1],
                                                                dy.shape[2])))


class GlobalMaxPooling1D(_GlobalPooling1D):
    """``GlobalMaxPooling1D(keepdims=False)``: the max over the (real) steps,
    (batch, steps, channels) → (batch, channels)."""

    default_name = "global_max_pooling1d"

    def forward(self, x, training=False, mask=None):
        n, steps, c = x.shape
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        if mask is not None:
            x = np.where(mask[:, :, None], x, -np.inf)
        index = np.argmax(x, axis=1)                                 # first maximum
        y = np.take_along_axis(x, index[:, None, :], axis=1)[:, 0, :]
        empty = None
        if mask is not None:
            empty = ~mask.any(axis=1)
            if empty.any():                                          # all steps masked: 0
                y[empty] = 0.0
            else:
                empty = None
        if training:
            self._cache = (index, empty, (n, steps, c))
        return self._shape_out(np.ascontiguousarray(y))

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        index, empty, shape = self._cache
        dy = dy.reshape(shape[0], shape[2])
        if empty is not None:
            dy = np.where(empty[:, None], 0.0, dy)
        dx = self._buffer("dx", shape)
        dx.fill(0)
        np.put_along_axis(dx, index[:, None, :], dy[:, None, :], axis=1)
        return dx


MaxPool1D = MaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
