"""Metrics accumulated over batches: ``reset()``, ``update(y_pred, y_true)``, ``result()``.

A metric sees the model's raw head output (logits when the head is fused into the loss,
otherwise what the last layer returns) and the prepared targets.  Accuracy picks its rule from
the loss's task: ±1 labels, {0, 1} labels, one-hot rows or integer labels.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, UnknownNameError

__all__ = ["Metric", "Accuracy", "get", "names"]


class Metric:
    name = "metric"

    def reset(self):
        raise NotImplementedError

    def update(self, y_pred, y_true):
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError


class Accuracy(Metric):
    """Share of correct predictions.

    ``task``: ``"pm1"`` (sign of the score vs ±1), ``"binary"`` (score above ``threshold`` vs
    {0, 1}), ``"categorical"`` (argmax vs argmax of one-hot) or ``"sparse"`` (argmax vs label).
    ``threshold`` is 0 for logits/scores and 0.5 for probabilities.
    """

    name = "accuracy"

    def __init__(self, task: str, threshold: float = 0.0):
        if task not in ("pm1", "binary", "categorical", "sparse"):
            raise ConfigError(f"accuracy is defined for classification losses, not task {task!r}")
        self.task, self.threshold = task, threshold
        self.reset()

    def reset(self):
        self.correct = 0
        self.count = 0

    def update(self, y_pred, y_true):
        self.correct += int(np.count_nonzero(self.correct_mask(y_pred, y_true)))
        self.count += y_pred.shape[0]

    def correct_mask(self, y_pred, y_true):
        if self.task == "pm1":
            return (y_pred > self.threshold) == (y_true > 0)
        if self.task == "binary":
            return (y_pred > self.threshold) == (y_true > 0.5)
        predicted = np.argmax(y_pred, axis=-1)
        if self.task == "categorical":
            return predicted == np.argmax(y_true, axis=-1)
        return predicted == y_true

    def result(self):
        return self.correct / self.count if self.count else float("nan")


_TABLE = {"accuracy": Accuracy}
_ALIASES = {"acc": "accuracy"}


def names():
    return sorted(_TABLE)


def get(identifier, task: str, threshold: float) -> Metric:
    """A metric for a model whose loss has ``task`` and whose outputs split classes at
    ``threshold``.  Metric instances pass through."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        if key in _TABLE:
            return _TABLE[key](task, threshold)
    raise UnknownNameError(f"unknown metric {identifier!r}; valid names: {', '.join(names())}")
