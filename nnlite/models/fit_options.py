"""The options of ``fit`` that go beyond the plain loop, and the single-batch API.

* ``validation_split``: the *last* fraction of the rows (before any shuffling, as in Keras) is
  held out; ``validation_data=(x_val, y_val)`` gives the set explicitly (giving both is an
  error).  ``validation_freq``: an int k (validate after every k-th epoch) or a collection of
  1-based epoch numbers.
* ``sample_weight`` (one weight ≥ 0 per row) and ``class_weight`` ({class: weight}) multiply
  each example's loss: the training loss is Σ_i w_i ℓ_i / batch (Keras' rule), its gradient
  w_i ∂ℓ_i.  Classes are the loss's labels: ±1 for LogisticLoss, 0/1 for binary cross-entropy,
  indices for the categorical losses.  Metrics and the validation loss stay unweighted
  (``validation_data`` is a pair; a third element of validation weights is not supported).
* Regularizers (``kernel_regularizer=`` on layers) add their penalty to the loss and its
  gradient to the parameter's gradient, before the optimizer step.
* ``TerminateOnNaN`` asks for a check of the loss and the gradient before the optimizer step.

When none of these is used, ``fit`` runs ``model._train_step`` untouched; otherwise it runs
``train_step_ext`` below, which does the extra work.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, LabelError
from ..losses.targets import check_sample_weight
from .weights import leaf_layers, trainable_segments

__all__ = ["prepare", "check_validation_freq", "regularized", "penalty", "make_train_step",
           "train_step_ext", "train_on_batch", "test_on_batch"]


def _rows(a, sl):
    return [v[sl] for v in a] if isinstance(a, list) else a[sl]


def _length(a):
    return (a[0] if isinstance(a, list) else a).shape[0]


def check_validation_freq(freq):
    """``validation_freq`` of ``fit``: a positive int, or a non-empty collection of 1-based
    epoch numbers (returned as a frozenset); ConfigError otherwise."""
    if isinstance(freq, bool):
        raise ConfigError(f"fit: validation_freq must be a positive int or a list of epochs, "
                          f"got {freq!r}")
    if isinstance(freq, (int, np.integer)):
        if freq <= 0:
            raise ConfigError(f"fit: validation_freq must be ≥ 1, got {freq!r}")
        return int(freq)
    if isinstance(freq, (list, tuple, set, frozenset, range)) and freq and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1
            for e in freq):
        return frozenset(int(e) for e in freq)
    raise ConfigError(f"fit: validation_freq must be a positive int or a non-empty list of "
                      f"1-based epoch numbers, got {freq!r}")


def class_weights(model, y, class_weight):
    """Per-row weights from ``{class: weight}`` for the prepared targets ``y``."""
    task = model.loss.task if not isinstance(model.loss, list) else None
    if task not in ("pm1", "binary", "categorical", "sparse"):
        raise ConfigError("fit: class_weight needs a single-output classification loss, the "
                          f"model has {model.loss!r}")
    if not isinstance(class_weight, dict) or not class_weight:
        raise ConfigError(f"fit: class_weight must be a non-empty dict {{class: weight}}, got "
                          f"{class_weight!r}")
    if task in ("pm1", "binary") and y.ndim > 1 and y[0].size > 1:
        raise ConfigError(
            f"fit: class_weight needs one label per example, but the targets have shape "
            f"{y.shape} ({y[0].size} independent {'±1' if task == 'pm1' else '0/1'} labels per "
            "example, e.g. multi-label classification), where a class per row has no meaning; "
            "pass sample_weight= (one weight per example) instead")
    if task in ("categorical", "sparse") and y.ndim > (2 if task == "categorical" else 1):
        raise ConfigError(f"fit: class_weight needs one label per example, the targets have "
                          f"shape {y.shape} (a label per time step); pass sample_weight= instead")
    if task == "pm1":
        labels = np.where(y.reshape(-1) > 0, 1, -1)
    elif task == "binary":
        labels = (y.reshape(-1) > 0.5).astype(np.int64)
    elif task == "categorical":
        labels = np.argmax(y, axis=-1)  # Keras: the class of a one-hot row is its argmax
    else:
        labels = y.reshape(-1)
    present = np.unique(labels).tolist()
    missing = [c for c in present if c not in class_weight]
    if missing:
        raise LabelError(f"fit: class_weight has no weight for classes {missing} (it has "
                         f"{sorted(class_weight, key=str)})")
    table = np.zeros(max(present) - min(present) + 1, dtype=np.float64)
    for c in present:
        value = class_weight[c]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value) or value < 0:
            raise ConfigError(f"fit: class_weight[{c!r}] must be a finite number ≥ 0, "
                              f"got {value!r}")
        table[c - min(present)] = value
    return table[labels - min(present)]


def prepare(model, x, y, validation_data, validation_split, sample_weight, class_weight,
            validation_freq):
    """Checked (x, y, validation, weights, validation_freq) for ``fit``; raises before anything
    changes."""
    validation = None
    validation_freq = check_validation_freq(validation_freq)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("fit: validation_data must be a tuple (x_val, y_val)")
        validation = model._check_xy(*validation_data)
    n = _length(x)
    weights = None
    if sample_weight is not None:
        weights = check_sample_weight(sample_weight, n, model.dtype, "fit")
    if class_weight is not None:
        per_class = class_weights(model, y, class_weight).astype(model.dtype)
        weights = per_class if weights is None else weights * per_class
    if weights is not None and getattr(model, "_multi_out", False):
        raise ConfigError("fit: sample_weight/class_weight need a model with one output")
    if validation_split:
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
                or not 0.0 < validation_split < 1.0:
            raise ConfigError(f"fit: validation_split must be a float in (0, 1), got "
                              f"{validation_split!r}")
        if validation is not None:
            raise ConfigError("fit: give validation_data or validation_split, not both")
        split_at = int(math.ceil(n * (1.0 - validation_split)))
        if split_at <= 0 or split_at >= n:
            raise ConfigError(f"fit: validation_split={validation_split} of {n} rows leaves an "
                              "empty training or validation set")
        validation = (_rows(x, slice(split_at, None)), _rows(y, slice(split_at, None)))
        x, y = _rows(x, slice(None, split_at)), _rows(y, slice(None, split_at))
        if weights is not None:
            weights = weights[:split_at]
    return x, y, validation, weights, validation_freq


# --------------------------------------------------------------------------- the extended step
def regularized(model):
    """[(param, grad, regularizer)] for every ``<key>_regularizer`` set on a trainable leaf
    layer (Keras counts the penalties of trainable weights only)."""
    found = []
    for layer in leaf_layers(model.layers):
        if not layer.trainable:
            continue
        for key in layer.params:
            reg = getattr(layer, f"{key}_regularizer", None)
            if reg is not None:
                found.append((layer.params[key], layer.grads[key], reg))
    return found


def penalty(model) -> float:
    """Σ of the regularizers' penalties (0.0 without regularizers)."""
    return float(sum(reg.penalty(param) for param, _, reg in regularized(model)))


def make_train_step(model, weighted: bool, check_finite: bool):
    """``step(xb, yb[, wb])`` for fit: the model's own ``_train_step`` when no option needs
    per-step work, else ``train_step_ext`` bound to the options."""
    regs = regularized(model)
    if not (weighted or check_finite or regs):
        return model._train_step

    def step(xb, yb, wb=None):
        return train_step_ext(model, xb, yb, wb, check_finite, regs)
    return step


def train_step_ext(model, xb, yb, wb=None, check_finite=False, regs=()):
    """One training step with sample weights, regularizers and/or a finite check.

    With ``check_finite`` a non-finite loss or gradient skips the optimizer step (weights and
    optimizer state stay those of the last good step), sets ``model.stop_training`` and returns
    NaN/inf."""
    out = model._forward(xb, True, model._fused)
    loss = model._train_loss
    multi = getattr(model, "_multi_out", False)
    if multi:
        value = loss.forward_many(out, yb, model._loss_trackers)
        dy = loss.backward_many()
    elif wb is None:
        value = loss._forward(out, yb)
        dy = loss._backward()
    else:
        value = loss._forward_weighted(out, yb, wb)
        dy = loss._backward_weighted(wb)
    for param, _, reg in regs:
        value += reg.penalty(param)
    if check_finite and not math.isfinite(value):
        model.stop_training = True
        return value
    model._backward(dy, False)
    for param, grad, reg in regs:
        reg.add_gradient(param, grad)
    if check_finite and not np.isfinite(model._flat_grads).all():
        model.stop_training = True
        return float("nan")
    model.optimizer.step(model._flat_params, model._flat_grads, model._segments)
    if multi:
        for k, metric in zip(model._metric_outputs, model._metrics):
            metric.update(out[k], yb[k])
    else:
        for metric in model._metrics:
            metric.update(out, yb)
    return value


# --------------------------------------------------------------------------- single batches
def _result(logs, return_dict):
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def train_on_batch(model, x, y, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on exactly (x, y); returns the batch's loss (and metrics)."""
    model._require_compiled("train_on_batch")
    x, y = model._check_xy(x, y)
    x, y, _, weights, _ = prepare(model, x, y, None, 0.0, sample_weight, class_weight, 1)
    model.build(x.shape[1:] if isinstance(x, np.ndarray) else None)
    model._segments = trainable_segments(model.layers)
    step = make_train_step(model, weights is not None, False)
    model._reset_metrics()
    value = step(x, y) if weights is None else step(x, y, weights)
    return _result({"loss": float(value), **model._metric_results()}, return_dict)


def test_on_batch(model, x, y, sample_weight=None, return_dict=False):
    """Loss (and metrics) of one batch without changing the model."""
    model._require_compiled("test_on_batch")
    model._require_built("test_on_batch")
    x, y = model._check_xy(x, y)
    if sample_weight is None:
        return _result(model._evaluate_checked(x, y, _length(x)), return_dict)
    if getattr(model, "_multi_out", False):
        raise ConfigError("test_on_batch: sample_weight needs a model with one output")
    w = check_sample_weight(sample_weight, _length(x), model.dtype, "test_on_batch")
    out = model._forward(x, False, model._fused)
    value = model._train_loss._forward_weighted(out, y, w) + penalty(model)
    model._train_loss._cache = None
    model._reset_metrics()
    for metric in model._metrics:
        metric.update(out, y)
    return _result({"loss": float(value), **model._metric_results()}, return_dict)
