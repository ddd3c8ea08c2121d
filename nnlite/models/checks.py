"""Checks of what users pass to a model, run before anything changes.

Each returns the converted array or raises an ``nnlite.errors`` exception naming the argument
(and layer), what was expected and what was given.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DTypeError, InputValueError, ShapeError
from .sequence_head import prepare_targets

__all__ = ["chunk_size", "check_array", "check_targets", "check_callbacks", "check_token_ids"]

_PREDICT_CHUNK = 4096


def chunk_size(batch_size, what) -> int:
    """Rows per forward pass of ``predict``/``evaluate``: None → 4096, else a positive int
    (a negative one would make the chunk loop empty and return nothing)."""
    if batch_size is None:
        return _PREDICT_CHUNK
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ConfigError(f"{what}: batch_size must be a positive int or None, got "
                          f"{batch_size!r}")
    return int(batch_size)


def check_array(x, what, expected, dtype, first_layer=None, model_name=None):
    """``x`` as a C-contiguous array of ``dtype`` with shape ``(batch, *expected)`` (any feature
    shape when ``expected`` is None), non-empty, real and finite."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ShapeError(f"{what} must be a rectangular array (batch, features...), got "
                         f"{type(x).__name__} that NumPy cannot convert: {exc}") from None
    if x.dtype.kind not in "biuf":
        raise DTypeError(f"{what} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ShapeError(f"{what} must have shape (batch, features...), got {x.shape}; "
                         "reshape a single feature with x.reshape(-1, 1) or a single "
                         "example with x.reshape(1, -1)")
    if x.shape[0] == 0:
        raise InputValueError(f"{what} is empty (shape {x.shape})")
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ShapeError(f"layer {first_layer!r} of model {model_name!r} expects {what} of shape "
                         f"(batch, {', '.join(map(str, expected))}), got {x.shape}")
    source = x
    with np.errstate(over="ignore"):  # a finite value beyond the dtype's range: see below
        x = np.ascontiguousarray(x, dtype=dtype)
    # x·x is finite only if every element is (NaN and ±inf propagate through the sum): one
    # multi-threaded BLAS pass without a temporary, twice as fast as isfinite(x).all() on
    # MNIST-sized inputs; only when the sum overflows is the exact elementwise test needed
    if not np.isfinite(np.vdot(x, x)) and not np.isfinite(x).all():
        if np.isfinite(source).all():  # e.g. float64 1e39 became inf in float32
            raise InputValueError(
                f"{what} holds values up to {np.max(np.abs(source)):.3g}, beyond the range "
                f"of the model's {dtype} (±{np.finfo(dtype).max:.3g}); build the "
                "model with dtype='float64' or rescale the inputs")
        raise InputValueError(f"{what} contains NaN or inf")
    return x


def check_token_ids(layers, x) -> None:
    """Let the layers reading ``x`` that take token ids (``Embedding.token_ids``) reject ids
    that are not valid tokens, before anything changes."""
    for layer in layers:
        check = getattr(layer, "token_ids", None)
        if check is not None:
            check(x)


def check_targets(model, x, y):
    """``y`` aligned with the checked ``x`` and prepared by the model's loss."""
    try:
        y_arr = np.asarray(y)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ShapeError(f"y must be a rectangular array, got {type(y).__name__} that "
                         f"NumPy cannot convert: {exc}") from None
    if y_arr.ndim == 0 or y_arr.shape[0] != x.shape[0]:
        raise ShapeError(f"x and y must have the same length, got x {x.shape[0]} and "
                         f"y {y_arr.shape[0] if y_arr.ndim else 'a scalar'}")
    out_shape = (x.shape[0],) + tuple(model.output_shape_for(x.shape[1:]))
    y_arr = prepare_targets(model.loss, y_arr, out_shape, model.dtype)
    return np.ascontiguousarray(y_arr)


def check_callbacks(callbacks) -> list:
    """``fit(callbacks=...)`` as a list of Callback instances, checked before anything runs."""
    from ..callbacks import Callback

    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        raise ConfigError(f"fit: callbacks must be a list of Callback instances, got a single "
                          f"{type(callbacks).__name__}; wrap it in a list")
    if not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(cb, Callback) for cb in callbacks):
        got = [type(cb).__name__ for cb in callbacks] if isinstance(callbacks, (list, tuple)) \
            else type(callbacks).__name__
        raise ConfigError(f"fit: callbacks must be a list of nnlite.callbacks.Callback "
                          f"instances, got {got}")
    return list(callbacks)
