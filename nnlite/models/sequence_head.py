"""The loss and metrics of outputs with a time axis, masked steps excluded (Keras 3's rule).

An output ``(batch, time, ..., k)`` — e.g. ``Dense(classes, activation="softmax")`` after an
``LSTM(return_sequences=True)`` — is scored as ``batch·time·…`` rows of ``k``: sparse
categorical cross-entropy and accuracy take integer targets ``(batch, time)``, the other losses
targets shaped like the output.  With ``reduction="mean"`` the loss is the mean over the rows,
i.e. over the n·T steps.

When the output carries a mask (``model._output_masks``, see ``nnlite.models.masks``), the
masked steps are excluded.  As Keras 3 (``losses.loss.apply_mask``), the mask becomes per-row
weights ``m · N / Σm`` (N rows), so

    mean:  L = Σ_rows m ℓ / Σ m                 (the mean over the real steps)
    sum:   L = Σ_rows m ℓ
    with fit's sample_weight w_i:  L = Σ_rows w_i m ℓ / Σ m   (mean)  — divided by the count of
                                   real steps, not by Σ w m, as Keras

and a batch whose steps are all masked has loss 0 and gradient 0 (never NaN).  Metrics see
only the real steps (and are 0, not NaN, when every step was masked).  Outputs without a time
axis are untouched: the model keeps the plain loss
and metric objects, so none of this costs anything there.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError

__all__ = ["prepare_targets", "SequenceLoss", "SequenceMetric", "wrap_sequence_head"]


def _has_time(shape) -> bool:
    return shape is not None and len(shape) >= 2


def prepare_targets(loss, y, output_shape, dtype):
    """``loss.prepare_targets`` for outputs of any rank (``output_shape`` includes the batch):
    an output with a time axis is checked as rows of its last axis."""
    output_shape = tuple(output_shape)
    if len(output_shape) < 3:
        return loss.prepare_targets(y, output_shape, dtype)
    y = np.asarray(y)
    lead, width = output_shape[:-1], output_shape[-1]
    rows = math.prod(lead)
    name = type(loss).__name__
    if getattr(loss, "task", None) == "sparse":
        if y.shape == lead + (1,):
            y = y[..., 0]
        if y.shape != lead:
            raise ShapeError(f"{name} expects integer labels of shape {lead} for outputs of "
                             f"shape {output_shape}, got {y.shape}")
        return loss.prepare_targets(y.reshape(rows), (rows, width), dtype).reshape(lead)
    if y.shape == lead and width == 1:
        y = y.reshape(output_shape)
    if y.shape != output_shape:
        raise ShapeError(f"{name} expects targets of shape {output_shape} like the outputs, got "
                         f"{y.shape}")
    return loss.prepare_targets(y.reshape(rows, width), (rows, width), dtype).reshape(
        output_shape)


def _rows(out, y):
    rows = out.reshape(-1, out.shape[-1])
    return rows, y.reshape((rows.shape[0],) + y.shape[out.ndim - 1:])


def _output_mask(model, index):
    masks = getattr(model, "_output_masks", None)
    return masks[index] if masks else None


class SequenceLoss:
    """The compiled loss of output ``index`` of ``model`` with a time axis (see the module
    docstring); everything else is the wrapped loss's."""

    def __init__(self, loss, model, index=0):
        self.loss, self._model, self._index = loss, model, index
        self.reduction, self.from_logits = loss.reduction, loss.from_logits
        self._shape = self._weights = None

    def __getattr__(self, name):
        if name == "loss":
            raise AttributeError(name)
        return getattr(self.loss, name)

    @property
    def _cache(self):
        return self.loss._cache

    @_cache.setter
    def _cache(self, value):
        self.loss._cache = value

    def prepare_targets(self, y, output_shape, dtype):
        return prepare_targets(self.loss, y, output_shape, dtype)

    def _row_weights(self, out, sample_weight):
        mask = _output_mask(self._model, self._index)
        rows = out.size // out.shape[-1]
        weights = None
        if mask is not None:
            keep = mask.reshape(-1)
            if rows != keep.size:  # axes between time and the last one share the step's mask
                keep = np.repeat(keep, rows // keep.size)
            weights = keep.astype(out.dtype)
            if self.reduction == "mean":
                weights *= rows / max(int(np.count_nonzero(keep)), 1)
        if sample_weight is not None:
            per_row = np.repeat(sample_weight, rows // out.shape[0]).astype(out.dtype)
            weights = per_row if weights is None else weights * per_row
        return weights

    def _forward(self, out, y):
        return self._forward_weighted(out, y, None)

    def _forward_weighted(self, out, y, w):
        rows, y_rows = _rows(out, y)
        self._shape = out.shape
        self._weights = self._row_weights(out, w)
        if self._weights is None:
            return self.loss._forward(rows, y_rows)
        return self.loss._forward_weighted(rows, y_rows, self._weights)

    def _backward(self):
        w = self._weights
        grad = self.loss._backward() if w is None else self.loss._backward_weighted(w)
        return grad.reshape(self._shape)

    def _backward_weighted(self, w):
        return self._backward()  # the weights of the last forward are already folded in

    def __repr__(self):
        return f"SequenceLoss({self.loss!r})"


class SequenceMetric:
    """A metric of output ``index`` of ``model`` with a time axis: it sees one row per real
    (unmasked) step."""

    def __init__(self, metric, model, index=0):
        self.metric, self._model, self._index = metric, model, index
        self._seen = 0

    def __getattr__(self, name):
        if name == "metric":
            raise AttributeError(name)
        return getattr(self.metric, name)

    @property
    def name(self):
        return self.metric.name

    @name.setter
    def name(self, value):
        self.metric.name = value

    def reset(self):
        self.metric.reset()
        self._seen = 0

    def result(self):
        # no real step seen (every step masked): 0, as Keras's divide_no_nan, never NaN
        return self.metric.result() if self._seen else 0.0

    def update(self, y_pred, y_true):
        rows, y_rows = _rows(y_pred, y_true)
        mask = _output_mask(self._model, self._index)
        if mask is not None:
            keep = mask.reshape(-1)
            if rows.shape[0] != keep.size:
                keep = np.repeat(keep, rows.shape[0] // keep.size)
            rows, y_rows = rows[keep], y_rows[keep]
        self._seen += rows.shape[0]
        self.metric.update(rows, y_rows)


def wrap_sequence_head(model) -> None:
    """Wrap the compiled loss(es) and metrics of every output of ``model`` that has a time axis
    (idempotent; does nothing before the output shapes are known)."""
    shapes = model.output_shape
    shapes = shapes if isinstance(shapes, list) else [shapes]
    timed = [_has_time(s) for s in shapes]
    if not any(timed) or model._train_loss is None:
        return
    train = model._train_loss
    if hasattr(train, "losses"):  # several outputs: WeightedLosses
        train.losses = [SequenceLoss(loss, model, k) if timed[k] and
                        not isinstance(loss, SequenceLoss) else loss
                        for k, loss in enumerate(train.losses)]
        outputs = getattr(model, "_metric_outputs", [0] * len(model._metrics))
    else:
        if not isinstance(train, SequenceLoss):
            model._train_loss = SequenceLoss(train, model, 0)
        outputs = [0] * len(model._metrics)
    model._metrics = [SequenceMetric(m, model, k) if timed[k] and
                      not isinstance(m, SequenceMetric) else m
                      for m, k in zip(model._metrics, outputs)]
