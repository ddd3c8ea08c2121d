"""The cross-entropies, from probabilities or (numerically stable) from logits.

    BinaryCrossEntropy            ℓ = -[y log p + (1 - y) log(1 - p)]  per element, y ∈ [0, 1]
                                  from logits s: softplus(s) - y s,  dℓ/ds = σ(s) - y
    CategoricalCrossEntropy       ℓ = -Σ_k y_k log p_k  per row of classes (one-hot rows)
                                  from logits: logsumexp(s) - <y, s>,  dℓ/ds = p Σ_k y - y
    SparseCategoricalCrossEntropy the same with integer labels, shape = outputs without classes

``label_smoothing`` ε replaces the targets by y (1 - ε) + ε/2 (binary) or y (1 - ε) + ε/K
(K classes), as Keras (and PyTorch's ``CrossEntropyLoss(label_smoothing=)`` for labels).
The probability forms clip p to [1e-7, 1 - 1e-7] as Keras does; where a prediction is clipped
the loss is flat, so its gradient there is 0 (not -y/1e-7).  Outputs may carry any leading axes:
(batch, classes) or (batch, time, classes) with (batch, time) labels.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..errors import LabelError, ShapeError
from .base import EPSILON, Loss, flag, unit_interval
from .stable import (
    categorical_rows,
    label_index,
    row_sums,
    softmax_parts,
    softplus_minus,
    sparse_rows,
)
from .targets import float_targets

__all__ = ["BinaryCrossEntropy", "CategoricalCrossEntropy", "SparseCategoricalCrossEntropy"]


def _clipped(y_pred):
    """(clip(p, ε, 1 - ε), mask of the entries left unclipped)."""
    inside = (y_pred >= EPSILON) & (y_pred <= 1.0 - EPSILON)
    return np.clip(y_pred, EPSILON, 1.0 - EPSILON), inside


class _CrossEntropy(Loss):
    """Shared constructor: ``from_logits``, ``label_smoothing``, ``reduction``."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str = "mean"):
        super().__init__(reduction)
        owner = type(self).__name__
        self.from_logits = flag(from_logits, owner, "from_logits")
        self.label_smoothing = unit_interval(label_smoothing, owner, "label_smoothing")

    def get_config(self):
        config = super().get_config()
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config


class BinaryCrossEntropy(_CrossEntropy):
    """Binary cross-entropy for targets in [0, 1], mean over every element;
    ``from_logits=True`` takes scores.

    ℓ = -[y log p + (1 - y) log(1 - p)] per element (from logits s: softplus(s) - y s);
    y_pred (batch, k) probabilities (or logits), y_true of the same shape ((batch,) for k = 1).

    >>> BinaryCrossEntropy(from_logits=True).forward(np.zeros((2, 1)), np.array([0, 1]))  # log 2
    0.6931471805599453
    """

    task = "binary"
    fuses_with = ("sigmoid",)

    def prepare_targets(self, y_true, output_shape, dtype):
        y = super().prepare_targets(y_true, output_shape, dtype)
        if not np.all((y >= 0) & (y <= 1)):
            raise LabelError(f"BinaryCrossEntropy expects targets in [0, 1], got values in "
                             f"[{y.min()}, {y.max()}]; for labels in {{-1, +1}} use LogisticLoss")
        return y

    def _smooth(self, y):
        ls = self.label_smoothing
        return y if not ls else y * (1.0 - ls) + 0.5 * ls

    def _forward(self, y_pred, y):
        y = self._smooth(y)
        if self.from_logits:
            self._cache = (y_pred, y)
            return float(np.sum(softplus_minus(y_pred, y)) * self._scale(y_pred.size))
        p, inside = _clipped(y_pred)
        self._cache = (p, y, inside)
        return float(-np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) * self._scale(p.size))

    def _backward(self):
        if self.from_logits:
            s, y = self._cache
            # σ(s) - y written as σ(s) (1 - y) - σ(-s) y: for y = 1 and s = 37 this is -e^-37,
            # where σ(s) - 1 would round to 0
            grad = expit(s)
            grad *= 1 - y
            grad -= expit(-s) * y
        else:
            p, y, inside = self._cache
            grad = (p - y) / (p * (1 - p))
            grad *= inside
        grad *= self._scale(grad.size)
        return grad

    def _per_example(self, y_pred, y):
        y = self._smooth(y)
        if self.from_logits:
            per = softplus_minus(y_pred, y)
        else:
            p, _ = _clipped(y_pred)
            per = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        return row_sums(per) * self._scale(y_pred.size)


class CategoricalCrossEntropy(_CrossEntropy):
    """Cross-entropy for one-hot (or probability) targets of shape (..., classes), mean over
    the rows: ℓ = -Σ_k y_k log p_k per row (from logits s: logsumexp(s) - <y, s>); y_pred and
    y_true both (batch, classes) or (batch, time, classes)."""

    task = "categorical"
    fuses_with = ("softmax",)

    def prepare_targets(self, y_true, output_shape, dtype):
        y = float_targets(y_true, type(self).__name__, dtype)
        if y.shape != tuple(output_shape):
            raise ShapeError(f"{type(self).__name__} expects one-hot targets of shape "
                             f"{tuple(output_shape)}, got {y.shape}; for integer labels use "
                             "SparseCategoricalCrossEntropy")
        if np.any(y < 0):
            raise LabelError(f"{type(self).__name__} expects non-negative targets, got min "
                             f"{y.min()}")
        return y

    def _smooth(self, y):
        ls = self.label_smoothing
        return y if not ls else y * (1.0 - ls) + ls / y.shape[-1]

    def _forward(self, y_pred, y):
        rows = y_pred.size // y_pred.shape[-1]
        y = self._smooth(y)
        if self.from_logits:
            parts = softmax_parts(y_pred)
            value = float(np.sum(categorical_rows(parts, y)))
            self._cache = (parts, y)
        else:
            p, inside = _clipped(y_pred)
            value = float(-np.sum(y * np.log(p)))
            self._cache = (p, y, inside)
        return value * self._scale(rows)

    def _backward(self):
        if self.from_logits:
            (p, _, top, rest), y = self._cache
            total = np.sum(y, axis=-1, keepdims=True)
            grad = p * total
            grad -= y
            # at the arg-max p ≈ 1 and p Σy - y cancels; there it equals
            # (Σ_{j≠top} y_j - y_top rest) / (1 + rest), exact for one-hot rows
            y_top = np.take_along_axis(y, top, axis=-1)
            np.put_along_axis(grad, top, ((total - y_top) - y_top * rest) / (1.0 + rest),
                              axis=-1)
        else:
            p, y, inside = self._cache
            grad = -y / p
            grad *= inside
        grad *= self._scale(grad.size // grad.shape[-1])
        return grad

    def _per_example(self, y_pred, y):
        y = self._smooth(y)
        if self.from_logits:
            per = categorical_rows(softmax_parts(y_pred), y)
        else:
            per = -np.sum(y * np.log(_clipped(y_pred)[0]), axis=-1)
        return row_sums(per.reshape(y_pred.shape[0], -1)) \
            * self._scale(y_pred.size // y_pred.shape[-1])


class SparseCategoricalCrossEntropy(CategoricalCrossEntropy):
    """Cross-entropy for integer labels in ``0 .. classes-1`` of the outputs' shape without the
    class axis: (batch,) for (batch, classes), (batch, time) for (batch, time, classes).
    ℓ = -log p_label per row (from logits s: logsumexp(s) - s_label)."""

    task = "sparse"

    def prepare_targets(self, y_true, output_shape, dtype):
        y = np.asarray(y_true)
        name = type(self).__name__
        expected, classes = tuple(output_shape[:-1]), output_shape[-1]
        if y.shape == expected + (1,):
            y = y[..., 0]
        if y.shape == tuple(output_shape) and classes > 1:
            raise ShapeError(f"{name} expects integer labels of shape {expected}, got shape "
                             f"{y.shape}, the shape of one-hot targets; for one-hot targets use "
                             "loss='categorical_crossentropy' (or pass y.argmax(axis=-1))")
        if y.shape != expected:
            raise ShapeError(f"{name} expects integer labels of shape {expected}, got {y.shape}")
        if y.dtype.kind == "f":
            bad = ~np.isfinite(y)
            bad[~bad] = y[~bad] != np.round(y[~bad])
            if bad.any():
                raise LabelError(f"{name} expects integer class labels, got non-integer values "
                                 f"{np.unique(y[bad])[:5].tolist()}")
        elif y.dtype.kind not in "iub":
            raise LabelError(f"{name} expects integer class labels, got dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise LabelError(f"{name}: labels must be in 0..{classes - 1} for {classes} outputs, "
                             f"got values in [{y.min()}, {y.max()}]")
        return np.ascontiguousarray(y, dtype=np.intp)

    def _dense(self, y, like):
        """The smoothed target distribution (1 - ε) one_hot(y) + ε / K."""
        k = like.shape[-1]
        dense = np.full(like.shape, self.label_smoothing / k, dtype=like.dtype)
        np.put(dense, label_index(y, k), 1.0 - self.label_smoothing + self.label_smoothing / k)
        return dense

    def _forward(self, y_pred, y):
        rows = y.size
        ls = self.label_smoothing
        if self.from_logits and not ls:
            return self._forward_logits(y_pred, y) * self._scale(rows)
        if self.from_logits:
            parts = softmax_parts(y_pred)
            per = sparse_rows(parts, y)
            if ls:  # (1 - ε)(-log p_y) + ε mean_k(-log p_k)
                _, shifted, _, rest = parts
                per = (1.0 - ls) * per + ls * (np.log1p(rest[..., 0]) - shifted.mean(axis=-1))
            value = float(np.sum(per))
            self._cache = (parts, y)
        else:
            p, inside = _clipped(y_pred)
            if ls:
                value = float(-np.sum(self._dense(y, p) * np.log(p)))
            else:
                value = float(-np.sum(np.log(np.take(p, label_index(y, p.shape[-1])))))
            self._cache = (p, y, inside)
        return value * self._scale(rows)

    def _forward_logits(self, s, y):
        """Σ_rows -log p_y from logits (the training hot path: ~15 NumPy calls on method
        fast paths, with the arg-max form of ``softmax_parts``: log Σ exp = s_top + log1p(rest)
        keeps log(1 + e^-37) = e^-37).  Caches e = exp(s - s_top) (1 at the arg-max), rest,
        and the flat indices of the arg-max and label entries."""
        k = s.shape[-1]
        rows = s.reshape(-1, k)
        starts = self._row_starts(rows.shape[0], k)
        top = rows.argmax(axis=1)
        top += starts
        e = np.subtract(rows, rows.reshape(-1).take(top)[:, None])  # s - s_top ≤ 0
        label = y.reshape(-1) + starts
        picked = e.reshape(-1).take(label)                          # s_y - s_top
        np.exp(e, out=e)
        flat = e.reshape(-1)
        flat.put(top, 0.0)
        rest = np.add.reduce(e, axis=1)                             # Σ_{j≠top} e_j
        flat.put(top, 1.0)
        per_row = np.log1p(rest)
        per_row -= picked                                           # -log p_y
        self._cache = (e, rest, label, s.shape)
        return float(per_row.sum())

    def _row_starts(self, rows, k):
        """0, k, 2k, ...: the flat index of each row's first class (kept between steps)."""
        if getattr(self, "_starts_for", None) != (rows, k):
            self._starts, self._starts_for = np.arange(0, rows * k, k), (rows, k)
        return self._starts

    def _backward(self):
        ls = self.label_smoothing
        if self.from_logits and not ls:
            # (p - onehot(y)) · scale with p = e / (1 + rest); at the label entry
            # p_y - 1 = ((e_y - 1) - rest) / (1 + rest), exact where the label is the arg-max
            # (e_y = 1: -rest / (1 + rest), where 1/(1 + rest) - 1 would round to 0)
            e, rest, label, shape = self._cache
            self._cache = None  # e becomes the gradient: consumed once
            inv = np.add(rest, 1.0)
            np.divide(self._scale(label.size), inv, out=inv)
            at_label = e.reshape(-1).take(label)
            at_label -= 1.0
            at_label -= rest
            at_label *= inv
            e *= inv[:, None]
            e.reshape(-1).put(label, at_label)
            return e.reshape(shape)
        if self.from_logits:
            (grad, _, top, rest), y = self._cache  # p is owned by the cache: consumed once
            self._cache = None
            k = grad.shape[-1]
            flat = label_index(y, k)
            values = grad.reshape(-1)
            values[flat] -= 1.0 - ls
            if ls:
                grad -= ls / k
            else:
                # where the label is the arg-max, p - 1 = -rest / (1 + rest) exactly (p - 1
                # would round to 0 for a confident, correct prediction)
                hit = np.flatnonzero(y.reshape(-1) == top.reshape(-1))
                values[flat[hit]] = -(rest.reshape(-1)[hit] / (1.0 + rest.reshape(-1)[hit]))
        else:
            p, y, inside = self._cache
            if ls:
                grad = -self._dense(y, p) / p
            else:
                grad = np.zeros_like(p)
                flat = label_index(y, p.shape[-1])
                np.put(grad, flat, -1.0 / np.take(p, flat))
            grad *= inside
        grad *= self._scale(y.size)
        return grad

    def _per_example(self, y_pred, y):
        if self.label_smoothing or not self.from_logits:
            per = self._per_term(y_pred, y)
        else:
            per = sparse_rows(softmax_parts(y_pred), y)
        return row_sums(per.reshape(y_pred.shape[0], -1)) * self._scale(y.size)

    def _per_term(self, y_pred, y):
        """-Σ_k y'_k log p_k per row, through the general (smoothed / probability) forms."""
        if self.from_logits:
            parts = softmax_parts(y_pred)
            _, shifted, _, rest = parts
            ls = self.label_smoothing
            return (1.0 - ls) * sparse_rows(parts, y) + ls * (np.log1p(rest[..., 0])
                                                              - shifted.mean(axis=-1))
        p, _ = _clipped(y_pred)
        return -np.sum(self._dense(y, p) * np.log(p), axis=-1)
