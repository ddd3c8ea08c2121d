"""Losses on a real score s for labels in {-1, +1}: the lecture's logistic loss and the hinge.

    LogisticLoss   ℓ = log(1 + exp(-y s))        dℓ/ds = -y σ(-y s)
      (the slide writes the gradient as Σ y x / (1 + exp(wᵀx)); the correct expression is
       -Σ y x / (1 + exp(y wᵀx)): both the sign and the y inside the exponent were lost.)
    Hinge          ℓ = max(0, 1 - y s)           dℓ/ds = -y 1[y s < 1]   (Keras' ``hinge``;
                                                 labels {0, 1} are mapped to {-1, +1}, as Keras)

Both average over every element of the output (``reduction="mean"``) or sum (``"sum"``).
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..errors import LabelError
from .base import Loss
from .stable import row_sums

__all__ = ["LogisticLoss", "Hinge"]


def _pm1(y, name, hint):
    if not np.all((y == 1) | (y == -1)):
        bad = np.unique(y[(y != 1) & (y != -1)])[:5]
        raise LabelError(f"{name} expects labels in {{-1, +1}}, got values {bad.tolist()}{hint}")
    return y


class LogisticLoss(Loss):
    """The lecture's loss for labels in {-1, +1} on a real score s: ``log(1 + exp(-y s))``.

    ``y_pred`` has shape (batch, 1) (or (batch, k): k independent scores); targets (batch,) or
    (batch, 1) of ±1.

    >>> LogisticLoss(reduction="sum").forward(np.array([[0.0]]), np.array([1]))  # log 2
    0.6931471805599453
    """

    task = "pm1"
    fuses_with = ("sigmoid",)

    def prepare_targets(self, y_true, output_shape, dtype):
        y = super().prepare_targets(y_true, output_shape, dtype)
        return _pm1(y, "LogisticLoss", "; for labels in {0, 1} use BinaryCrossEntropy (or map "
                    "them with 2*y - 1)")

    def _forward(self, s, y):
        margin = -y * s
        self._cache = (margin, y)
        return float(np.sum(np.logaddexp(0.0, margin)) * self._scale(s.size))

    def _backward(self):
        margin, y = self._cache
        grad = expit(margin)
        grad *= -y
        grad *= self._scale(grad.size)
        return grad

    def _per_example(self, s, y):
        return row_sums(np.logaddexp(0.0, -y * s)) * self._scale(s.size)


class Hinge(Loss):
    """The hinge loss ``max(0, 1 - y s)`` of the linear SVM, for labels ±1 (or 0/1, mapped to
    ±1 as Keras does).  Its gradient at the kink y s = 1 is taken as 0 (PyTorch's choice).
    ℓ = max(0, 1 - y s) per element; y_pred (batch, k) scores, y_true (batch,) or (batch, k).

    >>> Hinge().forward(np.array([[0.5], [2.0]]), np.array([1, 0]))  # (0.5 + 3) / 2
    1.75
    """

    task = "pm1"

    def prepare_targets(self, y_true, output_shape, dtype):
        y = super().prepare_targets(y_true, output_shape, dtype)
        if np.all((y == 0) | (y == 1)):
            y = 2.0 * y - 1.0
        return _pm1(y, "Hinge", " (or in {0, 1})")

    def _forward(self, s, y):
        margin = 1.0 - y * s
        self._cache = (margin, y)
        return float(np.sum(np.maximum(margin, 0.0)) * self._scale(s.size))

    def _backward(self):
        margin, y = self._cache
        grad = np.negative(y, dtype=margin.dtype)
        grad *= margin > 0
        grad *= self._scale(grad.size)
        return grad

    def _per_example(self, s, y):
        return row_sums(np.maximum(1.0 - y * s, 0.0)) * self._scale(s.size)
