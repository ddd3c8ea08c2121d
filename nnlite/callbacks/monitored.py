"""Callbacks that watch a monitored value or steer the learning rate (Keras' semantics):
``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau``, ``LearningRateScheduler``.

Import them from ``nnlite.callbacks``.  "Improved" means, for ``mode="min"``,
``current < best - min_delta`` (``"max"``: ``current > best + min_delta``); ``mode="auto"``
maximises names containing accuracy/precision/recall/f1/auc/r2 and minimises everything else.
"""
from __future__ import annotations

import math
import os
import sys
import warnings

from ..errors import ConfigError
from ..training.callbacks import Callback

__all__ = ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler"]

_MAXIMISED = ("acc", "precision", "recall", "f1", "auc", "r2")


def _resolve_mode(owner, mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if any(k in monitor for k in _MAXIMISED) else "min"
    return mode


def _non_negative(owner, name, value, integer=False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value < 0:
        kind = "int" if integer else "number"
        raise ConfigError(f"{owner}: {name} must be a non-negative {kind}, got {value!r}")
    return value


class _Monitor(Callback):
    """Shared bookkeeping: reading ``monitor`` from the epoch logs and comparing values."""

    def __init__(self, monitor, mode, min_delta):
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"{owner}: monitor must be a log key such as 'val_loss', "
                              f"got {monitor!r}")
        self.monitor = monitor
        self.mode = _resolve_mode(owner, mode, monitor)
        self.min_delta = abs(float(_non_negative(owner, "min_delta", min_delta)))
        self._seen, self._keys = False, []

    def _improved(self, current, reference):
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _initial_best(self):
        return math.inf if self.mode == "min" else -math.inf

    def _current(self, logs):
        """The monitored value, or None when this epoch's logs lack it (e.g. validation ran
        only every k epochs); a run that never logs it gets a warning at the end."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            self._keys = sorted(logs or {})
            return None
        self._seen = True
        return float(value)

    def set_model(self, model):
        super().set_model(model)
        self._seen, self._keys = False, []

    def _warn_if_never_seen(self):
        if not self._seen and self._keys:
            warnings.warn(f"{type(self).__name__}: the monitored value {self.monitor!r} was "
                          f"never in the epoch logs (they hold {self._keys}); it did nothing",
                          UserWarning, stacklevel=3)


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs.  Epochs before ``start_from_epoch`` are not watched (warm-up).

    ``restore_best_weights=True``: at the end of training (stopped early or not, but not when
    interrupted by Ctrl-C) the model gets back the weights of the best epoch.  ``baseline``:
    training stops if the value does not beat it within ``patience`` epochs.
    ``stopped_epoch`` and ``best_epoch`` are set after training."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
                 restore_best_weights=False, start_from_epoch=0, baseline=None, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _non_negative("EarlyStopping", "patience", patience, integer=True)
        self.start_from_epoch = _non_negative("EarlyStopping", "start_from_epoch",
                                              start_from_epoch, integer=True)
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = None if baseline is None else float(baseline)
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = self._initial_best()
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._warn_if_never_seen()
        if (logs or {}).get("interrupted"):
            return
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1} "
                      f"({self.monitor} = {self.best:.6g})", file=sys.stdout, flush=True)
        if self.stopped_epoch is not None and self.verbose:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}", flush=True)


class ModelCheckpoint(_Monitor):
    """Save the model (``save_weights_only``: only its weights) after each epoch to
    ``filepath``, which may use ``{epoch}`` (1-based) and log keys, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.nnlite"``.  With ``save_best_only`` a file is written only
    when ``monitor`` improved.  Writes are atomic (see ``nnlite.saving``)."""

    def __init__(self, filepath, monitor="val_loss", save_best_only=False,
                 save_weights_only=False, mode="auto", min_delta=0.0, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.filepath = os.fspath(filepath)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.verbose = verbose
        self.best = self._initial_best()

    def on_train_begin(self, logs=None):
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = self._current(logs)
            if current is None or not self._improved(current, self.best):
                return
            self.best = current
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"ModelCheckpoint: cannot fill filepath {self.filepath!r} from "
                              f"epoch and logs {sorted(logs)}: {err}") from None
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.saved.append(path)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}", flush=True)

    def on_train_end(self, logs=None):
        if self.save_best_only:
            self._warn_if_never_seen()


def _set_rate(model, owner, rate):
    optimizer = model.optimizer
    if getattr(optimizer, "schedule", None) is not None:
        raise ConfigError(f"{owner}: the optimizer's learning_rate is a schedule "
                          f"({optimizer.schedule!r}); use one or the other")
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ConfigError(f"{owner}: the learning rate must be a finite number > 0, got {rate!r}")
    optimizer.learning_rate = float(rate)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs, then wait ``cooldown`` epochs before watching again; never below
    ``min_lr``.  The current rate is logged as ``learning_rate``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, verbose=0):
        super().__init__(monitor, mode, min_delta)
        if not (isinstance(factor, (int, float)) and 0.0 < factor < 1.0):
            raise ConfigError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.factor = float(factor)
        self.patience = _non_negative("ReduceLROnPlateau", "patience", patience, integer=True)
        self.cooldown = _non_negative("ReduceLROnPlateau", "cooldown", cooldown, integer=True)
        self.min_lr = float(_non_negative("ReduceLROnPlateau", "min_lr", min_lr))
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = self._initial_best()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self._current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    _set_rate(self.model, "ReduceLROnPlateau", new)
                    if self.verbose:
                        print(f"ReduceLROnPlateau: epoch {epoch + 1}: learning rate "
                              f"{old:.3g} -> {new:.3g}", flush=True)
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def on_train_end(self, logs=None):
        self._warn_if_never_seen()


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, current_rate)``
    (epoch 0-based), as Keras does.  The rate used is logged as ``learning_rate``."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise ConfigError(f"LearningRateScheduler: schedule must be callable "
                              f"(epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.schedule(epoch, float(self.model.optimizer.learning_rate))
        _set_rate(self.model, "LearningRateScheduler", rate)
        if self.verbose:
            print(f"LearningRateScheduler: epoch {epoch + 1}: learning rate {rate:.3g}",
                  flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
