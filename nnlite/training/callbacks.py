"""The callback machinery the training loop runs: the ``Callback`` base class, ``CallbackList``,
``History`` and ``ProgressBar``.

Every hook receives a ``logs`` dict.  Batch logs hold ``batch``, ``size`` and ``loss`` (the running
mean of the epoch so far); epoch logs hold the epoch's ``loss``, metrics and ``val_*`` entries;
``on_train_end`` gets ``{"interrupted": True}`` when fit was stopped by Ctrl-C.
A callback stops training by setting ``self.model.stop_training = True``.

The callbacks users add to ``fit`` (``EarlyStopping``, ``ModelCheckpoint``, monitors, ...) are in
``nnlite.callbacks``, which re-exports these.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Callback", "CallbackList", "History", "ProgressBar", "HOOKS"]

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin",
          "on_batch_end")


class Callback:
    """Base class; override the hooks you need.  ``self.model`` is set before training starts.

    ``checks_finite = True`` asks the training loop to look at each batch's loss and gradient
    *before* the optimizer step and to skip a non-finite step (used by ``TerminateOnNaN``)."""

    model = None
    checks_finite = False

    def set_model(self, model):
        """Called by the training loop before ``on_train_begin``: ``self.model = model``."""
        self.model = model

    def on_train_begin(self, logs=None):
        """Once, before the first epoch (``logs`` is empty)."""

    def on_train_end(self, logs=None):
        """Once, after the last epoch; ``logs`` is ``{"interrupted": True}`` after Ctrl-C."""

    def on_epoch_begin(self, epoch, logs=None):
        """Before each epoch; ``epoch`` counts from 0 (from ``initial_epoch`` when resuming)."""

    def on_epoch_end(self, epoch, logs=None):
        """After each epoch, with its ``loss``, metrics and ``val_*`` entries in ``logs``."""

    def on_batch_begin(self, batch, logs=None):
        """Before each training step (``batch`` is its index in the epoch)."""

    def on_batch_end(self, batch, logs=None):
        """After each step; ``logs`` holds ``batch``, ``size`` and ``loss`` (the running mean
        of the epoch so far)."""


def _overrides(callback, hook):
    # a hook counts when the class overrides it or the instance carries its own (LambdaCallback)
    if hook in getattr(callback, "_skip_hooks", ()):
        return False
    return hook in vars(callback) or getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """Dispatches each hook to the callbacks that implement it (batch hooks cost nothing when
    no callback overrides them)."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
        self._hooks = {hook: [cb for cb in self.callbacks if _overrides(cb, hook)]
                       for hook in HOOKS}
        self.wants_batches = bool(self._hooks["on_batch_begin"] or self._hooks["on_batch_end"])
        self.checks_finite = any(getattr(cb, "checks_finite", False) for cb in self.callbacks)

    def call(self, hook, *args):
        for cb in self._hooks[hook]:
            getattr(cb, hook)(*args)


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]``, ``["val_loss"]``, metric keys, and
    ``history.epoch`` (the epoch indices).  ``interrupted`` is True when fit stopped on Ctrl-C
    (the history then holds every epoch that completed)."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.interrupted = False

    def set_model(self, model):
        # the model exposes the live History during fit (callbacks may add series to it)
        super().set_model(model)
        model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def on_train_end(self, logs=None):
        self.interrupted = bool((logs or {}).get("interrupted", False))

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        return type(shell.get_ipython()).__name__ == "ZMQInteractiveShell"
    except Exception:  # no IPython instance
        return False


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, float))


class ProgressBar(Callback):
    """Progress display.  ``verbose=1``: a tqdm bar per epoch (a widget in Jupyter when
    ipywidgets is installed), refreshed at most every ``mininterval`` seconds; when the output is
    not a terminal or widget (a notebook without ipywidgets, a log file, CI) it prints one line
    per epoch instead, so the output grows with the epochs and never with the batches.
    ``verbose=2``: one line per epoch.  ``file`` defaults to ``sys.stderr`` for bars and
    ``sys.stdout`` for lines."""

    def __init__(self, verbose: int = 1, mininterval: float = 0.2, file=None):
        self.verbose = verbose
        self.mininterval = mininterval
        self.file = file
        self._bar = None
        self._tqdm = self._pick_bar() if verbose == 1 else None
        if self._tqdm is None:
            # one line per epoch: no per-batch hook, so the loop skips batch bookkeeping
            self._skip_hooks = ("on_batch_end",)

    def _pick_bar(self):
        if _in_notebook():
            try:
                import ipywidgets  # noqa: F401  (tqdm.notebook needs it)
                from tqdm.notebook import tqdm
                return tqdm
            except ImportError:
                return None
        stream = self.file or sys.stderr
        if hasattr(stream, "isatty") and stream.isatty():
            from tqdm import tqdm
            return tqdm
        return None

    def on_train_begin(self, logs=None):
        self.epochs = self.model._fit_info["epochs"]
        self.steps = self.model._fit_info["steps"]

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._last = self._start
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}",
                                   unit="batch", leave=True, mininterval=self.mininterval,
                                   file=self.file, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._last >= self.mininterval:
            self._last = now
            self._bar.set_postfix_str(f"loss={logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs), refresh=False)
            self._bar.close()
            self._bar = None
        else:
            seconds = time.perf_counter() - self._start
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {_format_logs(logs)}",
                  file=self.file or sys.stdout, flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # interrupted mid-epoch
            self._bar.close()
            self._bar = None
        if (logs or {}).get("interrupted"):
            print("Training interrupted (Ctrl-C): stopped after the current batch; the model "
                  "keeps the weights of the last completed step.", file=self.file or sys.stdout,
                  flush=True)
