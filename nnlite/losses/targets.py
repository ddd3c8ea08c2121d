"""Checks and conversions of targets and sample weights, shared by the losses and the models.

A target array is aligned with the predictions it is compared to, never broadcast: ``(n,)``
targets meet ``(n, 1)`` outputs by a reshape, anything else that differs is a ShapeError.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputValueError, LabelError, ShapeError

__all__ = ["check_sample_weight", "float_targets", "match_shape"]


def check_sample_weight(sample_weight, n, dtype, what="sample_weight"):
    """``sample_weight`` as a contiguous (n,) array of ``dtype``: finite, ≥ 0, one per example."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise LabelError(f"{what}: sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise ShapeError(f"{what}: sample_weight must have shape ({n},) (one weight per "
                         f"example), got {w.shape}")
    w = np.ascontiguousarray(w, dtype=dtype)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputValueError(f"{what}: sample_weight must be finite and ≥ 0")
    return w


def float_targets(y_true, name, dtype):
    """``y_true`` as a finite float array of ``dtype``; ``name`` (the loss) heads the errors."""
    y = np.asarray(y_true)
    if y.dtype.kind not in "biuf":
        raise LabelError(f"{name}: targets must be numeric, got dtype {y.dtype}")
    source = y
    with np.errstate(over="ignore"):  # a finite value beyond the dtype's range: see below
        y = y.astype(dtype, copy=False)
    if not np.all(np.isfinite(y)):
        if np.all(np.isfinite(source)):
            raise LabelError(f"{name}: targets hold values up to {np.max(np.abs(source)):.3g}, "
                             f"beyond the range of {np.dtype(dtype)} "
                             f"(±{np.finfo(dtype).max:.3g})")
        raise LabelError(f"{name}: targets contain NaN or inf")
    return y


def match_shape(y, output_shape, name):
    """Align (n,) targets with (n, 1) outputs; refuse anything that would broadcast silently."""
    output_shape = tuple(output_shape)
    if y.shape == output_shape:
        return y
    if y.size == int(np.prod(output_shape)) and y.shape[:1] == output_shape[:1] and (
            y.ndim == 1 or output_shape[1:] == (1,) * (len(output_shape) - 1)):
        return y.reshape(output_shape)
    raise ShapeError(f"{name}: targets of shape {y.shape} do not match predictions of shape "
                     f"{output_shape}")
