"""Dropout: randomly silence units while training (inverted dropout).

    training:   m ~ Bernoulli(1 - rate) per element,  y = x ⊙ m / (1 - rate)
                dL/dx = dy ⊙ m / (1 - rate)
    inference:  y = x                 (the 1/(1 - rate) scaling at training time keeps E[y] = x)

The mask comes from the layer's own ``numpy.random.Generator``: seeded by ``seed`` when given,
otherwise by a seed drawn from the generator the model builds with.  So the same model seed gives
the same masks, step after step, and nothing touches global random state.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """``Dropout(rate, seed=None)``: zero each input with probability ``rate`` in training.

    Training: y = x ⊙ m / (1 - rate), m ~ Bernoulli(1 - rate) per element; inference: y = x.
    (batch, ...) → the same shape.

    >>> Dropout(0.5)
    Dropout(rate=0.5, seed=None)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) \
                or not 0.0 <= rate < 1.0:
            raise ConfigError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ConfigError(f"Dropout: seed must be a non-negative int or None, got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self._rng = None
        self._mask = None

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        # Draw the child seed from the model's generator (rather than Generator.spawn): the model
        # restores that generator's state if building fails, so a retried build is identical.
        seed = self.seed if self.seed is not None else int(rng.integers(2**63))
        self._rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            if training:
                self._mask = None
            return x
        mask = self._rng.random(x.shape, dtype=self.dtype, out=self._buffer("mask", x.shape))
        # mask ← 1[u ≥ rate] / (1 - rate), in place
        keep = np.greater_equal(mask, self.rate, out=self._buffer("keep", x.shape, np.bool_))
        np.multiply(keep, 1.0 / (1.0 - self.rate), out=mask)
        self._mask = mask
        return np.multiply(x, mask, out=self._buffer("y", x.shape))

    def backward(self, dy, input_grad=True):
        if not input_grad:
            return None
        if self._mask is None:
            return dy
        return np.multiply(dy, self._mask, out=self._buffer("dx", dy.shape))

    def release_buffers(self):
        super().release_buffers()
        self._mask = None

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
