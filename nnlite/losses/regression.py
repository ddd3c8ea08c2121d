"""Regression losses, averaged over every output element (``"mean"``) or summed (``"sum"``).

    MeanSquaredError    ℓ = e²,   e = y_pred - y          dℓ/de = 2e
    MeanAbsoluteError   ℓ = |e|                           dℓ/de = sign(e)  (0 at e = 0)
    Huber(delta=1)      ℓ = e²/2 if |e| ≤ δ else δ(|e| - δ/2)    dℓ/de = clip(e, -δ, δ)
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Loss
from .stable import row_sums

__all__ = ["MeanSquaredError", "MeanAbsoluteError", "Huber"]


class _Elementwise(Loss):
    """ℓ(e) per element of e = y_pred - y; subclasses give ``_terms(e)`` and ``_slope(e)``."""

    task = "regression"

    def _forward(self, y_pred, y):
        diff = y_pred - y
        self._cache = diff
        return float(np.sum(self._terms(diff))) * self._scale(diff.size)

    def _backward(self):
        diff = self._cache
        grad = self._slope(diff)
        grad *= self._scale(diff.size)
        return grad

    def _per_example(self, y_pred, y):
        diff = y_pred - y
        return row_sums(self._terms(diff)) * self._scale(diff.size)


class MeanSquaredError(_Elementwise):
    """Squared error averaged (``"mean"``) or summed (``"sum"``) over all elements:
    ℓ = (y_pred - y)²; y_pred and y_true of the same shape (batch, k) ((batch,) for k = 1)."""

    def _forward(self, y_pred, y):  # one BLAS dot instead of a squared temporary
        diff = y_pred - y
        self._cache = diff
        return float(np.vdot(diff, diff)) * self._scale(diff.size)

    def _terms(self, diff):
        return diff * diff

    def _slope(self, diff):
        return diff * 2.0


class MeanAbsoluteError(_Elementwise):
    """Absolute error ℓ = |y_pred - y| averaged or summed over all elements; y_pred and y_true
    of the same shape (batch, k) ((batch,) for k = 1)."""

    def _terms(self, diff):
        return np.abs(diff)

    def _slope(self, diff):
        return np.sign(diff)


class Huber(_Elementwise):
    """``Huber(delta=1.0)``: quadratic within δ of the target, linear beyond (Keras' ``huber``,
    PyTorch's ``HuberLoss``): ℓ = e²/2 if |e| ≤ δ else δ(|e| - δ/2), e = y_pred - y; y_pred
    and y_true of the same shape (batch, k) ((batch,) for k = 1)."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) \
                or not np.isfinite(delta) or delta <= 0:
            raise ConfigError(f"Huber: delta must be a positive number, got {delta!r}")
        self.delta = float(delta)

    def _terms(self, diff):
        # c²/2 + δ(|e| - |c|) with c = clip(e, -δ, δ): both pieces in one formula, and no e²
        # that could overflow where the loss itself is linear
        c = np.clip(diff, -self.delta, self.delta)
        terms = np.abs(diff)
        terms -= np.abs(c)
        terms *= self.delta
        terms += 0.5 * c * c
        return terms

    def _slope(self, diff):
        return np.clip(diff, -self.delta, self.delta)

    def get_config(self):
        return {"delta": self.delta, **super().get_config()}
