"""Callbacks that need no monitored value: ``TerminateOnNaN``, ``CSVLogger``,
``LambdaCallback`` (import them from ``nnlite.callbacks``)."""
from __future__ import annotations

import csv
import math
import os
import sys

from ..errors import ConfigError
from ..training.callbacks import HOOKS, Callback

__all__ = ["TerminateOnNaN", "CSVLogger", "LambdaCallback"]


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss (or gradient) is NaN or infinite.

    The loop checks the loss and the gradient *before* the optimizer step and skips that step,
    so the weights and the optimizer state stay those of the last good step.  ``stopped_at`` is
    ``(epoch, batch)`` of the faulting batch (None if training never failed); that epoch's logs
    report ``loss`` NaN."""

    checks_finite = True

    def __init__(self, verbose: bool = True):
        self.verbose = verbose
        self.stopped_at = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.stopped_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_at = (self._epoch, batch)
            self.model.stop_training = True
            if self.verbose:
                print(f"TerminateOnNaN: non-finite loss at epoch {self._epoch + 1}, batch "
                      f"{batch}; training stopped with the weights of the last good step",
                      file=sys.stderr, flush=True)


class CSVLogger(Callback):
    """Write one row per epoch (``epoch`` then the log keys, sorted) to ``filename``.

    ``append=True`` continues an existing file (the header is written only if it is empty).
    The file is flushed after every epoch, so it survives an interrupted run."""

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        mode = "a" if self.append else "w"
        has_header = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, mode, newline="", encoding="utf-8")
        self._keys = None
        self._has_header = has_header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._has_header:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(logs.get(k, "") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback from plain functions, e.g.
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))``.

    Signatures: ``on_epoch_begin/on_epoch_end(epoch, logs)``, ``on_batch_begin/on_batch_end(batch,
    logs)``, ``on_train_begin/on_train_end(logs)``.  Only the hooks given are called (so a
    callback without batch functions adds no per-batch work)."""

    def __init__(self, **hooks):
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise ConfigError(f"LambdaCallback: unknown hooks {unknown}; valid: {list(HOOKS)}")
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise ConfigError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)
