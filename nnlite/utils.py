"""Small helpers Keras users reach for: ``nnlite.utils.to_categorical``.

>>> to_categorical([0, 2, 1]).tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
"""
from __future__ import annotations

import numpy as np

from .datasets import one_hot

__all__ = ["to_categorical"]


def to_categorical(x, num_classes=None, dtype="float32"):
    """One-hot rows for integer class labels, as ``keras.utils.to_categorical``.

    ``x`` of shape (...) — or (..., 1), whose last axis is dropped as Keras does — becomes
    (..., num_classes) with one 1 per row; ``num_classes`` defaults to ``max(x) + 1``.
    Raises ``LabelError`` for negative, non-integer or out-of-range labels."""
    x = np.asarray(x)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x[..., 0]
    return one_hot(x, num_classes=num_classes, dtype=np.dtype(dtype))
