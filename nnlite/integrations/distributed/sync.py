"""What a data-parallel ``fit`` reduces besides the gradients: metrics, epoch logs and the
layers' non-trainable state.

* **Metrics** are merged from their accumulated state, so the result is the metric of the whole
  data set, not a mean of per-rank values: accuracy sums (correct, count), precision/recall/F1
  sum (tp, fp, fn), MSE/MAE sum (total, count), R² combines (count, mean, M2, SS_res) with
  Chan's parallel rule, AUC ranks the scores of all ranks together.  A metric class nnlite
  does not know is averaged over the ranks (exact only when it is a mean over equal shards).
* **Epoch logs**: the training ``loss`` (and each output's ``<output>_loss``) is the mean over
  the ranks (the shards are equal, so
  this is the mean over all examples; ``reduction="sum"``: the sum, which then counts a
  regularizer's penalty once per rank); ``val_loss`` weights each rank by its validation rows.
  One Allreduce per epoch, which also averages every
  layer's ``state`` (BatchNormalization's moving statistics) so all ranks keep the same model.
"""
from __future__ import annotations

import copy

import numpy as np

from ... import metrics as metrics_mod
from ...callbacks import Callback
from ...models.weights import leaf_layers

__all__ = ["EpochSync", "SyncedMetric", "is_loss_key", "reduce_loss"]

# metric class -> the attributes that add up over ranks
_SUMS = {metrics_mod.Accuracy: ("correct", "count"),
         metrics_mod.Precision: ("tp", "fp", "fn"), metrics_mod.Recall: ("tp", "fp", "fn"),
         metrics_mod.F1: ("tp", "fp", "fn"),
         metrics_mod.MeanSquaredError: ("total", "count"),
         metrics_mod.MeanAbsoluteError: ("total", "count")}


class SyncedMetric(metrics_mod.Metric):
    """A metric whose ``result()`` is computed from the state of every rank (a collective: all
    ranks call it at the same points of ``fit``/``evaluate``).  ``update``/``reset`` stay local,
    and the wrapped metric's own state is never changed by a merge."""

    def __init__(self, metric, collective):
        self.metric, self.collective = metric, collective

    @property
    def name(self):
        return self.metric.name

    def reset(self):
        self.metric.reset()

    def update(self, y_pred, y_true):
        self.metric.update(y_pred, y_true)

    def result(self) -> float:
        metric, coll = self.metric, self.collective
        what = f"the merge of metric {metric.name!r}"
        merged = copy.copy(metric)
        attrs = _SUMS.get(type(metric))
        if attrs is not None:
            totals = coll.allreduce(np.array([getattr(metric, a) for a in attrs], np.float64),
                                    what)
            for attr, total in zip(attrs, totals):
                setattr(merged, attr, type(getattr(metric, attr))(total))
        elif isinstance(metric, metrics_mod.AUC):
            parts = coll.allgather((metric._scores, metric._labels), what)
            merged._scores = [s for scores, _ in parts for s in scores]
            merged._labels = [lab for _, labels in parts for lab in labels]
        elif isinstance(metric, metrics_mod.R2):
            _merge_r2(merged, coll.allgather((metric.count, metric.ss_res, metric.mean,
                                              metric.m2), what))
        else:  # unknown state: the mean of the ranks' results
            value = coll.allreduce(np.array([metric.result()], np.float64), what)[0]
            return float(value / coll.size)
        return merged.result()


def _merge_r2(merged, parts):
    """Chan's parallel combination of (count, mean, M2) per column; SS_res adds up."""
    merged.count, merged.ss_res, merged.mean, merged.m2 = 0, None, None, None
    for count, ss_res, mean, m2 in parts:
        if not count:
            continue
        if not merged.count:
            merged.count, merged.ss_res, merged.mean, merged.m2 = count, ss_res, mean, m2
            continue
        total = merged.count + count
        delta = mean - merged.mean
        merged.mean = merged.mean + delta * (count / total)
        merged.m2 = merged.m2 + m2 + delta * delta * (merged.count * count / total)
        merged.ss_res = merged.ss_res + ss_res
        merged.count = total


def reduce_loss(total: float, all_rows: int, mean: bool, size: int, penalty: float = 0.0):
    """The whole set's loss from ``total``, a sum over the ranks of their logged losses.

    ``mean`` reduction: rank r logged mean_r + penalty over its rows n_r, and ``total`` must be
    Σ n_r (mean_r + penalty); the result is total / all_rows = mean + penalty.  ``sum``
    reduction: rank r logged sum_r + penalty, so ``total`` counts the (same) penalty ``size``
    times and the result keeps it once."""
    if mean:
        return total / all_rows
    return total - (size - 1) * penalty


class EpochSync(Callback):
    """First callback of a distributed ``fit``: at each epoch end, one Allreduce makes the
    logged losses those of all the data and averages every layer's ``state``, before any other
    callback (EarlyStopping, ModelCheckpoint, History, the progress bar) reads them.

    ``val_rows``/``all_val_rows``: this rank's and all ranks' validation rows (0 without
    validation)."""

    def __init__(self, collective, mean: bool, val_rows: int, all_val_rows: int, penalty):
        self.collective, self.mean = collective, mean
        self.val_rows, self.all_val_rows, self.penalty = val_rows, all_val_rows, penalty
        self._states = None

    def on_train_begin(self, logs=None):
        self._states = [a for layer in leaf_layers(self.model.layers)
                        for a in layer.state.values()]

    def on_epoch_end(self, epoch, logs=None):
        coll, size = self.collective, self.collective.size
        train = [k for k in logs if is_loss_key(k) and not k.startswith("val_")]
        val = [k for k in logs if is_loss_key(k) and k.startswith("val_")]
        # train shards are equal: mean of the ranks' means, or the sum of their sums;
        # validation shards may differ: weighted by rows (mean), or summed
        head = [logs[k] / size if self.mean else logs[k] for k in train]
        head += [logs[k] * (self.val_rows if self.mean else 1) for k in val]
        sizes = [a.size for a in self._states]
        buffer = np.concatenate([np.array(head, np.float64)]
                                + [a.astype(np.float64).ravel() for a in self._states])
        coll.allreduce(buffer, "the epoch-end Allreduce of the logs", epoch)
        penalty = self.penalty() if not self.mean and "val_loss" in val else 0.0
        for k, value in zip(train, buffer):
            logs[k] = float(value)
        for k, value in zip(val, buffer[len(train):]):
            logs[k] = reduce_loss(float(value), self.all_val_rows, self.mean, size,
                                  penalty if k == "val_loss" else 0.0)
        offset = len(head)
        for array, n in zip(self._states, sizes):
            array[...] = (buffer[offset:offset + n] / size).reshape(array.shape)
            offset += n


def is_loss_key(key: str) -> bool:
    """``loss``, an output's ``<output>_loss`` and their ``val_`` forms."""
    return key == "loss" or key.endswith("_loss")
