"""Numerically stable pieces of the cross-entropies: finite for every finite logit, and without
the cancellations of the textbook forms (log(1 + e^-37) is e^-37, not 0).

Every function works on logits of shape (..., classes) with any leading axes (a batch, or a
batch of sequences).
"""
from __future__ import annotations

import numpy as np

__all__ = ["softplus_minus", "softmax_parts", "categorical_rows", "sparse_rows", "label_index",
           "row_sums"]


def softplus_minus(s, y):
    """softplus(s) - y s elementwise, as max(s, 0) - y s + log1p(e^-|s|): no cancellation for
    y ∈ {0, 1} (s = 37, y = 1 gives e^-37 rather than 37 - 37 = 0), no overflow for finite s."""
    value = np.maximum(s, 0.0)
    value -= y * s
    value += np.log1p(np.exp(-np.abs(s)))
    return value


def softmax_parts(s):
    """``(p, shifted, top, rest)`` for logits (..., classes): ``p`` the softmax, ``shifted = s -
    s_top`` with ``top`` the arg-max index (keepdims), and ``rest = Σ_{j≠top} exp(shifted_j)``,
    so that ``logsumexp(s) = s_top + log1p(rest)`` keeps e.g. log(1 + e^-37) = e^-37 (a plain
    log Σ exp rounds it to 0)."""
    # flat indices of the arg-max entries and np.take/np.put: a few µs per call, where
    # take_along_axis/put_along_axis cost tens of µs in index building on every training step
    k = s.shape[-1]
    top = np.argmax(s, axis=-1)
    flat = np.arange(0, s.size, k)
    flat += top.reshape(-1)
    shifted = s - np.take(s, flat).reshape(top.shape + (1,))
    p = np.exp(shifted)
    np.put(p, flat, 0.0)
    rest = np.add.reduce(p, axis=-1, keepdims=True)
    np.put(p, flat, 1.0)
    p /= 1.0 + rest
    return p, shifted, top[..., None], rest


def categorical_rows(parts, y):
    """Per-row Σ_k y_k (log1p(rest) - shifted_k) = -Σ_k y_k log p_k, shape (...)."""
    _, shifted, _, rest = parts
    return np.log1p(rest[..., 0]) * np.sum(y, axis=-1) - np.sum(y * shifted, axis=-1)


def label_index(y, classes):
    """Flat indices of the label entries: row r's label y_r sits at r·classes + y_r of the
    flattened (..., classes) array."""
    flat = np.arange(0, y.size * classes, classes)
    flat += y.reshape(-1)
    return flat


def sparse_rows(parts, y):
    """Per-row -log p_y = log1p(rest) - shifted_y, shape ``y.shape``."""
    _, shifted, _, rest = parts
    picked = np.take(shifted, label_index(y, shifted.shape[-1])).reshape(y.shape)
    return np.log1p(rest[..., 0]) - picked


def row_sums(a):
    """Σ over every axis but the first: per-example totals of shape (n,)."""
    return a.reshape(a.shape[0], -1).sum(axis=1)
