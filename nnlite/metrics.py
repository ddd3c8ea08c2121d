"""Metrics accumulated over batches: ``reset()``, ``update(y_pred, y_true)``, ``result()``.

A metric sees the model's raw head output (logits when the head is fused into the loss,
otherwise what the last layer returns) and the prepared targets.  Accuracy picks its rule from
the loss's task: ±1 labels, {0, 1} labels, one-hot rows or integer labels.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, UnknownNameError

__all__ = ["Metric", "Accuracy", "Precision", "Recall", "F1", "AUC", "MeanSquaredError",
           "MeanAbsoluteError", "R2", "get", "names"]


class Metric:
    """Base class: ``reset()``, ``update(y_pred, y_true)`` per batch, ``result()`` at the end."""

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
        correct = self.correct_mask(y_pred, y_true)
        self.correct += int(np.count_nonzero(correct))
        self.count += correct.size  # one per label: per example, or per time step

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


class _Binary(Metric):
    """Base of the confusion-count metrics of a binary task (±1 or {0, 1} labels): a score above
    ``threshold`` predicts the positive class."""

    def __init__(self, task: str, threshold: float = 0.0):
        if task not in ("pm1", "binary"):
            raise ConfigError(f"{self.name} is defined for binary classification losses "
                              f"(logistic, binary_crossentropy), not task {task!r}")
        self.task, self.threshold = task, threshold
        self.reset()

    def reset(self):
        self.tp = self.fp = self.fn = 0

    def update(self, y_pred, y_true):
        predicted = y_pred > self.threshold
        actual = y_true > (0.0 if self.task == "pm1" else 0.5)
        self.tp += int(np.count_nonzero(predicted & actual))
        self.fp += int(np.count_nonzero(predicted & ~actual))
        self.fn += int(np.count_nonzero(~predicted & actual))


class Precision(_Binary):
    """TP / (TP + FP); 0 when nothing was predicted positive (scikit-learn's zero_division=0)."""

    name = "precision"

    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_Binary):
    """TP / (TP + FN); 0 when there are no positives."""

    name = "recall"

    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class F1(_Binary):
    """2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall."""

    name = "f1"

    def result(self):
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


class AUC(_Binary):
    """Area under the ROC curve of a binary task, exactly: the probability that a random
    positive scores above a random negative (ties count ½), computed from the ranks of all
    scores seen since ``reset`` (Mann–Whitney U / (P · N)).  Scores may be logits or
    probabilities (the ranking is the same).  NaN when only one class was seen."""

    name = "auc"

    def reset(self):
        self._scores, self._labels = [], []

    def update(self, y_pred, y_true):
        self._scores.append(np.asarray(y_pred, dtype=np.float64).reshape(-1))
        self._labels.append(np.asarray(y_true).reshape(-1) > (0.0 if self.task == "pm1" else 0.5))

    def result(self):
        if not self._scores:
            return float("nan")
        from scipy.stats import rankdata

        scores, labels = np.concatenate(self._scores), np.concatenate(self._labels)
        positives = int(np.count_nonzero(labels))
        negatives = labels.size - positives
        if positives == 0 or negatives == 0:
            return float("nan")
        ranks = rankdata(scores)  # average ranks for ties
        u = float(np.sum(ranks[labels])) - positives * (positives + 1) / 2.0
        return u / (positives * negatives)


class _Regression(Metric):
    """Base of the regression metrics: running float64 sums over all output elements."""

    def __init__(self, task: str = "regression", threshold: float = 0.0):
        if task != "regression":
            raise ConfigError(f"{self.name} is defined for regression losses (mse), not task "
                              f"{task!r}")
        self.reset()

    def reset(self):
        self.count = 0
        self.total = 0.0

    def result(self):
        return self.total / self.count if self.count else float("nan")


class MeanSquaredError(_Regression):
    """mean (ŷ - y)² over all elements."""

    name = "mse"

    def update(self, y_pred, y_true):
        diff = np.asarray(y_pred, dtype=np.float64) - y_true
        self.total += float(np.vdot(diff, diff))
        self.count += diff.size


class MeanAbsoluteError(_Regression):
    """mean |ŷ - y| over all elements."""

    name = "mae"

    def update(self, y_pred, y_true):
        diff = np.asarray(y_pred, dtype=np.float64) - y_true
        self.total += float(np.sum(np.abs(diff)))
        self.count += diff.size


class R2(_Regression):
    """Coefficient of determination 1 - SS_res / SS_tot per output column, averaged over the
    columns (scikit-learn's ``r2_score`` with ``multioutput="uniform_average"``).  SS_tot is
    accumulated with Chan's parallel update of mean and M2, so batches combine exactly."""

    name = "r2"

    def reset(self):
        self.count = 0
        self.ss_res = self.mean = self.m2 = None

    def update(self, y_pred, y_true):
        y = np.asarray(y_true, dtype=np.float64).reshape(y_true.shape[0], -1)
        diff = np.asarray(y_pred, dtype=np.float64).reshape(y.shape) - y
        n = y.shape[0]
        batch_mean = y.mean(axis=0)
        batch_m2 = np.sum((y - batch_mean) ** 2, axis=0)
        if self.count == 0:
            self.ss_res = np.sum(diff * diff, axis=0)
            self.mean, self.m2 = batch_mean, batch_m2
        else:
            total = self.count + n
            delta = batch_mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + batch_m2 + delta * delta * (self.count * n / total)
            self.ss_res = self.ss_res + np.sum(diff * diff, axis=0)
        self.count += n

    def result(self):
        if not self.count:
            return float("nan")
        # a constant column: perfect predictions score 1, others 0 (scikit-learn's convention)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(self.m2 > 0, 1.0 - self.ss_res / np.where(self.m2 > 0, self.m2, 1),
                              np.where(self.ss_res == 0, 1.0, 0.0))
        return float(np.mean(scores))


_TABLE = {"accuracy": Accuracy, "precision": Precision, "recall": Recall, "f1": F1, "auc": AUC,
          "mse": MeanSquaredError, "mae": MeanAbsoluteError, "r2": R2}
_TASK_TARGETS = {"pm1": "labels ±1", "binary": "labels in [0, 1]",
                 "categorical": "one-hot rows", "sparse": "integer class labels",
                 "regression": "real values (a regression loss)"}
_ALIASES = {"acc": "accuracy", "f1_score": "f1", "mean_squared_error": "mse",
            "mean_absolute_error": "mae", "r2_score": "r2"}


#: Keras's accuracy names: each is ``accuracy`` for the label format it names (nnlite's
#: "accuracy" picks the rule from the loss, so these only add a check that the formats agree)
_KERAS_ACCURACY = {
    "binary_accuracy": (("pm1", "binary"), "labels in {0, 1} (or ±1) and one score per label"),
    "categorical_accuracy": (("categorical",), "one-hot targets"),
    "sparse_categorical_accuracy": (("sparse",), "integer class labels"),
}


def names():
    """The valid metric names (with Keras's ``*_accuracy`` spellings), sorted."""
    return sorted(set(_TABLE) | set(_KERAS_ACCURACY))


def get(identifier, task: str, threshold: float) -> Metric:
    """A metric for a model whose loss has ``task`` and whose outputs split classes at
    ``threshold``.  Metric instances pass through."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        if key in _TABLE:
            return _TABLE[key](task, threshold)
        if key in _KERAS_ACCURACY:
            tasks, wants = _KERAS_ACCURACY[key]
            if task not in tasks:
                raise ConfigError(f"metric {key!r} compares predictions with {wants}, but the "
                                  f"loss's targets are {_TASK_TARGETS.get(task, task)}; use "
                                  "'accuracy', which follows the loss")
            metric = Accuracy(task, threshold)
            metric.name = key
            return metric
    raise UnknownNameError(f"unknown metric {identifier!r}; valid names: {', '.join(names())}")
