"""Checks of what users pass to a model, run before anything changes.

Each returns the converted array or raises an ``nnlite.errors`` exception naming the argument
(and layer), what was expected and what was given.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import losses, optimizers
from ..errors import ConfigError, DTypeError, InputValueError, ShapeError
from ..training.callbacks import Callback
from .sequence_head import prepare_targets

__all__ = ["chunk_size", "check_array", "check_adjacency", "check_targets", "check_callbacks",
           "check_compile_order", "check_verbose", "warn_ignored_from_logits", "check_token_ids"]

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
    if _is_sparse(x):
        raise DTypeError(f"{what} is a scipy.sparse matrix; declare its input with "
                         "nnlite.Input(shape=(N,), sparse=True) (a graph adjacency)")
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
        hint = ""
        if len(expected) == 3 and tuple(x.shape[1:]) == (expected[1], expected[2], expected[0]):
            hint = ("; the images look channels-last — nnlite's are channels-first (batch, "
                    "channels, height, width): pass x.transpose(0, 3, 1, 2)")
        raise ShapeError(f"layer {first_layer!r} of model {model_name!r} expects {what} of shape "
                         f"(batch, {', '.join(map(str, expected))}), got {x.shape}{hint}")
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


def _is_sparse(x) -> bool:
    return not isinstance(x, np.ndarray) and hasattr(x, "tocsr") and hasattr(x, "nnz")


def check_adjacency(a, what, n, dtype):
    """A graph adjacency for an ``Input(shape=(n,), sparse=True)``: a new CSR matrix (n, n) of
    ``dtype`` with finite entries, from a ``scipy.sparse`` matrix or from an edge list (an int
    array (E, 2), row (i, j) giving A[i, j] = 1, repeated edges counted once).  Never dense."""
    import scipy.sparse as sp

    if _is_sparse(a):
        if a.shape != (n, n):
            raise ShapeError(f"{what} must be a sparse adjacency of shape ({n}, {n}), got "
                             f"{a.shape}")
        if a.dtype.kind not in "biuf":
            raise DTypeError(f"{what} must hold real numbers, got dtype {a.dtype}")
        out = sp.csr_matrix(a, dtype=dtype, copy=True)  # a new object: see GCNConv's cache
        out.sum_duplicates()
        if not np.isfinite(out.data).all():
            raise InputValueError(f"{what} contains NaN or inf")
        return out
    try:
        edges = np.asarray(a)
    except (ValueError, TypeError):
        edges = None
    if edges is None or edges.dtype.kind not in "iu" or edges.ndim != 2 or edges.shape[1] != 2:
        got = f"an array of shape {edges.shape} and dtype {edges.dtype}" if edges is not None \
            else type(a).__name__
        raise ShapeError(f"{what} is a sparse input: give a scipy.sparse matrix of shape ({n}, "
                         f"{n}) or an edge list, an int array of shape (E, 2); got {got}")
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise InputValueError(f"{what}: edge list entries must be node indices in [0, {n}), "
                              f"got values in [{edges.min()}, {edges.max()}]")
    out = sp.csr_matrix((np.ones(len(edges), dtype=dtype), (edges[:, 0], edges[:, 1])),
                        shape=(n, n))
    out.sum_duplicates()
    out.data[:] = 1  # a repeated edge is one edge
    return out


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


def _is_loss(value):
    return isinstance(value, losses.Loss) or (
        isinstance(value, str) and value.lower() in losses.names()
        and value.lower() not in optimizers.names())


def _is_optimizer(value):
    return isinstance(value, optimizers.Optimizer) or (
        isinstance(value, str) and value.lower() in optimizers.names())


def check_compile_order(optimizer, loss):
    """``(optimizer, loss)`` of ``compile``, which follows Keras's positional order
    ``compile(optimizer, loss, metrics, loss_weights)``; the reversed order (nnlite's before
    0.2) is an error that says so."""
    if _is_loss(optimizer) and (loss is None or _is_optimizer(loss)):
        raise ConfigError(
            f"compile: the optimizer argument got the loss {optimizer!r}"
            + (f" and the loss argument the optimizer {loss!r}" if loss is not None else "")
            + "; nnlite follows Keras's order compile(optimizer, loss, metrics, loss_weights) "
            "— pass them in that order or by keyword (loss=..., optimizer=...)")
    if loss is None:
        raise ConfigError("compile: loss is required, e.g. compile(optimizer='adam', "
                          "loss='sparse_categorical_crossentropy')")
    return optimizer, loss


def check_verbose(verbose, what):
    """``verbose`` of evaluate/predict: 0, 1, 2 or Keras's "auto"."""
    if verbose == "auto":
        return 0
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ConfigError(f"{what}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def warn_ignored_from_logits(loss, activation, layer_name):
    """A loss told ``from_logits=True`` on a model that ends in its activation: nnlite fuses
    the pair (the loss gets the head's logits), so the flag changes nothing — say so."""
    if loss.asks_for_logits:
        warnings.warn(
            f"{type(loss).__name__}(from_logits=True): the model's last layer {layer_name!r} "
            f"applies {activation}, so its outputs are probabilities; nnlite fuses the "
            f"{activation} into the loss and trains on the logits, exactly as if from_logits "
            f"were False (Keras would apply {activation} twice). Remove the activation from "
            "the last layer if you want the model to output logits.", UserWarning,
            stacklevel=4)
