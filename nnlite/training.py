"""The training loop behind ``Model.fit``: batching, shuffling, callbacks, history.

Shuffling draws from a ``numpy.random.Generator`` (never the global NumPy state), so the same seed
gives the same batch order.  Batches are gathered with ``np.take(..., out=buffer)`` into arrays
reused for the whole run; a full batch in the original order is a view of the data, not a copy.
"""
from __future__ import annotations

import signal
import threading

import numpy as np

from .callbacks import CallbackList, History, ProgressBar

__all__ = ["Trainer", "resolve_batch_size"]


def resolve_batch_size(batch_size, optimizer, n: int) -> int:
    """The number of examples per update: explicit ``batch_size`` (int or ``"full"``) wins,
    otherwise the optimizer's regime (GD: N, SGD: 1, MiniBatchSGD: k, others: 32)."""
    from .errors import ConfigError

    if batch_size is None:
        batch_size = optimizer.batch_size if optimizer.batch_size is not None else 32
    if batch_size == "full":
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ConfigError(f"fit: batch_size must be a positive int or 'full', got {batch_size!r}")
    return min(int(batch_size), n)


class Trainer:
    """Runs epochs of ``model._train_step`` over (x, y) with callbacks.

    ``x`` and ``y`` must already be checked and converted by the model (contiguous, model dtype).
    """

    def __init__(self, model, callbacks=(), verbose: int = 1):
        self.model = model
        self.history = History()
        extra = [ProgressBar(verbose)] if verbose else []
        # History and the progress display come last, so they see what callbacks add to the
        # epoch logs (e.g. ReduceLROnPlateau's learning_rate), as in Keras
        self.callbacks = CallbackList([*callbacks, *extra, self.history], model)

    def fit(self, x, y, epochs, batch_size, shuffle, rng, validation=None, initial_epoch=0,
            sample_weight=None, validation_freq=1):
        """Run the epochs; returns the History.

        Ctrl-C (SIGINT in the main thread) only asks the loop to stop after the current batch;
        a ``KeyboardInterrupt`` raised by a callback stops it at that point.  Either way the
        unfinished epoch is not recorded, ``on_train_end`` gets ``{"interrupted": True}`` and
        the History is returned (not re-raised).  A second Ctrl-C raises at once."""
        guard = _InterruptGuard(self.model)
        with guard:
            try:
                self._epochs(x, y, epochs, batch_size, shuffle, rng, validation, initial_epoch,
                             sample_weight, validation_freq, guard)
            except KeyboardInterrupt:
                if guard.hit:  # the second Ctrl-C: abort now
                    raise
                guard.hit = True
                self.model.stop_training = True
        self.callbacks.call("on_train_end", {"interrupted": True} if guard.hit else {})
        if getattr(self.model, "_fit_info", None):
            self.model._fit_info["batch"] = None  # hold no batch buffers after training
        return self.history

    def _epochs(self, x, y, epochs, batch_size, shuffle, rng, validation, initial_epoch,
                sample_weight, validation_freq, guard):
        model, cbs = self.model, self.callbacks
        # graph models with several inputs/outputs pass lists of arrays (rows aligned)
        multi = isinstance(x, list) or isinstance(y, list)
        n = _rows_of(x).shape[0]
        steps = -(-n // batch_size)
        # what callbacks may read: sizes, and "batch", the (x, y) of the latest step (set after
        # every step when a callback has batch hooks, else at the end of each epoch)
        model._fit_info = fit_info = {"epochs": epochs, "steps": steps,
                                      "batch_size": batch_size, "samples": n, "batch": None}
        model.stop_training = False
        # A full batch needs no gather: order does not change a full-batch gradient.
        gather = shuffle and batch_size < n
        if multi:
            fetch = _ListBatches(x, y, batch_size, gather)
        else:
            x_buf = np.empty((batch_size,) + x.shape[1:], dtype=x.dtype) if gather else None
            y_buf = np.empty((batch_size,) + y.shape[1:], dtype=y.dtype) if gather else None
        mean = model._train_loss.reduction == "mean"
        wants_batches = cbs.wants_batches
        batch_logs = {}
        # options needing per-step work (weights, regularizers, NaN checks) swap the step
        train_step = model._make_train_step(sample_weight is not None, cbs.checks_finite)
        weights = None if sample_weight is None else \
            _WeightBatches(sample_weight, batch_size, gather)

        cbs.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            cbs.call("on_epoch_begin", epoch, {})
            model._reset_metrics()
            order = rng.permutation(n) if gather else None
            total = 0.0
            seen = 0
            for step in range(steps):
                start = step * batch_size
                stop = min(start + batch_size, n)
                size = stop - start
                if multi:
                    xb, yb = fetch(order, start, stop)
                elif order is None:
                    xb, yb = x[start:stop], y[start:stop]
                else:
                    idx = order[start:stop]
                    xb = np.take(x, idx, axis=0, out=x_buf[:size], mode="clip")
                    yb = np.take(y, idx, axis=0, out=y_buf[:size], mode="clip")
                if wants_batches:
                    batch_logs = {"batch": step, "size": size}
                    cbs.call("on_batch_begin", step, batch_logs)
                if weights is None:
                    value = train_step(xb, yb)
                else:
                    value = train_step(xb, yb, weights(order, start, stop))
                total += value * size if mean else value
                seen += size
                if wants_batches:
                    batch_logs["loss"] = total / seen if mean else total
                    fit_info["batch"] = (xb, yb)
                    cbs.call("on_batch_end", step, batch_logs)
                if model.stop_training:
                    break
            if guard.hit:  # Ctrl-C: this epoch did not complete, so it is not recorded
                return
            fit_info["batch"] = (xb, yb)  # the epoch's last batch, e.g. a monitor's probe
            logs = {"loss": total / seen if mean else total}
            logs.update(model._metric_results())
            if validation is not None and _validation_due(validation_freq, epoch):
                val = model._evaluate_checked(*validation)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.call("on_epoch_end", epoch, logs)
            if model.stop_training:
                break



def _rows_of(a):
    return a[0] if isinstance(a, list) else a


class _ListBatches:
    """Batches of lists of row-aligned arrays (graph models with several inputs/outputs),
    gathered with one index order into buffers reused for the whole run."""

    def __init__(self, x, y, batch_size, gather):
        self.x_list, self.y_list = isinstance(x, list), isinstance(y, list)
        self.xs, self.ys = (x if self.x_list else [x]), (y if self.y_list else [y])
        arrays = self.xs + self.ys
        self.bufs = [np.empty((batch_size,) + a.shape[1:], dtype=a.dtype) for a in arrays] \
            if gather else None

    def __call__(self, order, start, stop):
        arrays = self.xs + self.ys
        if order is None:
            got = [a[start:stop] for a in arrays]
        else:
            idx, size = order[start:stop], stop - start
            got = [np.take(a, idx, axis=0, out=b[:size], mode="clip")
                   for a, b in zip(arrays, self.bufs)]
        xb, yb = got[:len(self.xs)], got[len(self.xs):]
        return (xb if self.x_list else xb[0]), (yb if self.y_list else yb[0])


def _validation_due(freq, epoch) -> bool:
    """``validation_freq`` k: after every k-th epoch; a set: after those 1-based epochs."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


class _WeightBatches:
    """Per-example weights of each batch, gathered with the same order as the rows."""

    def __init__(self, weights, batch_size, gather):
        self.weights = weights
        self.buf = np.empty(batch_size, dtype=weights.dtype) if gather else None

    def __call__(self, order, start, stop):
        if order is None:
            return self.weights[start:stop]
        return np.take(self.weights, order[start:stop], out=self.buf[:stop - start], mode="clip")


class _InterruptGuard:
    """During fit, the first SIGINT sets ``hit`` and ``model.stop_training`` instead of raising,
    so the loop ends after the current batch with consistent weights; the previous handler is
    put back at once, so a second Ctrl-C raises KeyboardInterrupt.  Installed only in the main
    thread and only over Python's default handler (a custom handler is left alone)."""

    def __init__(self, model):
        self.model = model
        self.hit = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.hit = True
        self.model.stop_training = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
