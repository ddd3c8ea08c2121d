"""Positional information for attention, which by itself ignores the order of its inputs.

Both layers follow keras_hub: they return the positional term only, shaped like their input
(batch, T, D), and the model adds it (``Add()([x, PositionEmbedding(T)(x)])``), so the input's
gradient through them is zero.

    PositionEmbedding(L):      y[b, t] = P[t]        P: (L, D) learned, T ≤ L
                               dP[t] = Σ_b dy[b, t]  (rows t ≥ T get 0)
    SinePositionEncoding(λ):   y[b, t, 2i]   = sin(t / λ^(2i/D))
                               y[b, t, 2i+1] = cos(t / λ^(2i/D))      (Vaswani et al. 2017)
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import initializers
from .base import Layer, positive_int

__all__ = ["PositionEmbedding", "SinePositionEncoding", "sine_table"]


def _sequence_shape(layer, input_shape):
    if len(input_shape) != 2:
        raise ShapeError(f"{type(layer).__name__} {layer.name!r}: expects sequences (batch, "
                         f"time, features), got (batch, {', '.join(map(str, input_shape))})")
    return tuple(input_shape)


def sine_table(length, dim, max_wavelength=10000.0, dtype=np.float64) -> np.ndarray:
    """The (length, dim) sinusoidal table of keras_hub's SinePositionEncoding: even features
    sin(t·ω_i), odd features cos(t·ω_i), ω_i = max_wavelength^(-2⌊i/2⌋/dim)."""
    position = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(dim)
    timescales = np.power(1.0 / max_wavelength, (2 * (i // 2)) / dim)
    angles = position * timescales[None, :]
    return np.where(i % 2 == 0, np.sin(angles), np.cos(angles)).astype(dtype)


class _Positional(Layer):
    """Shared forward/backward: y = table[:T] broadcast over the batch; dx = 0."""

    supports_masking = True

    def compute_output_shape(self, input_shape):
        return _sequence_shape(self, input_shape)

    def _table(self):
        raise NotImplementedError

    def forward(self, x, training=False):
        out = self._buffer("y", x.shape) if training else np.empty(x.shape, self.dtype)
        out[...] = self._table()[:x.shape[1]]
        return out

    def backward(self, dy, input_grad=True):
        self._table_grad(dy)
        if not input_grad:
            return None
        dx = self._buffer("dx", dy.shape)
        dx.fill(0.0)
        return dx

    def _table_grad(self, dy):
        pass


class PositionEmbedding(_Positional):
    """``PositionEmbedding(sequence_length, initializer="glorot_uniform")``: a learned
    embedding per position (keras_hub).  Parameter ``embeddings`` (sequence_length, D); the
    input's length T may be shorter than ``sequence_length`` (the first T rows are used).

        y[b, t] = embeddings[t]      x: (batch, T, D) → y: (batch, T, D), the positions only
                                     (add them to x, as keras_hub)

    >>> PositionEmbedding(16)
    PositionEmbedding(sequence_length=16, initializer='glorot_uniform')
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = positive_int(sequence_length, "PositionEmbedding: sequence_length")
        self.initializer = initializers.get(initializer)

    def compute_output_shape(self, input_shape):
        shape = _sequence_shape(self, input_shape)
        if shape[0] > self.sequence_length:
            raise ShapeError(f"PositionEmbedding {self.name!r}: inputs of length {shape[0]} are "
                             f"longer than sequence_length={self.sequence_length}")
        return shape

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        dim = self.input_shape[-1]
        self.add_weight("embeddings", (self.sequence_length, dim), self.initializer,
                        self.sequence_length, dim, rng)

    def _table(self):
        return self.params["embeddings"]

    def _table_grad(self, dy):
        grad = self.grads["embeddings"]
        t = dy.shape[1]
        np.add.reduce(dy, axis=0, out=grad[:t])
        grad[t:] = 0.0

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": initializers.name_of(self.initializer)}


class SinePositionEncoding(_Positional):
    """``SinePositionEncoding(max_wavelength=10000)``: the fixed sinusoidal encoding of
    "Attention is all you need" (keras_hub's feature order: sin on even, cos on odd features).

        y[b, t, 2i] = sin(t / w^(2i/D)),  y[b, t, 2i+1] = cos(t / w^(2i/D))  (w = max_wavelength)
        x: (batch, T, D) → y: (batch, T, D), the encoding only (add it to x)

    >>> SinePositionEncoding()
    SinePositionEncoding(max_wavelength=10000.0)
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_wavelength, bool) or not isinstance(
                max_wavelength, (int, float, np.integer, np.floating)) or not max_wavelength > 0:
            raise ConfigError(f"SinePositionEncoding: max_wavelength must be a positive number, "
                              f"got {max_wavelength!r}")
        self.max_wavelength = float(max_wavelength)
        self._sines = None

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        t, dim = self.input_shape
        self._sines = sine_table(t, dim, self.max_wavelength, self.dtype)

    def _table(self):
        return self._sines

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}
