"""The training loop behind ``Model.fit``: batching, shuffling, callbacks, history.

Shuffling draws from a ``numpy.random.Generator`` (never the global NumPy state), so the same seed
gives the same batch order.  Batches are gathered with ``np.take(..., out=buffer)`` into arrays
reused for the whole run; a full batch in the original order is a view of the data, not a copy.
"""
from __future__ import annotations

import signal
import threading

import numpy as np

from ..errors import ConfigError
from .callbacks import CallbackList, History, ProgressBar

__all__ = ["Trainer", "resolve_batch_size"]


def resolve_batch_size(batch_size, optimizer, n: int) -> int:
    """The number of examples per update: explicit ``batch_size`` (int or ``"full"``) wins,
    otherwise the optimizer's regime (GD: N, SGD: 1, MiniBatchSGD: k, others: 32)."""
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
        info = getattr(self.model, "_fit_info", None)
        if info:
            if info["batch"] is not None:  # a few rows kept for plot_graph(values=True)
                self.model._probe = tuple(_rows(part, _PROBE_ROWS) for part in info["batch"])
                self.model._trace = None  # plot_graph traces the trained model afresh
            info["batch"] = None  # hold no batch buffers after training
        return self.history

    def _epochs(self, x, y, epochs, batch_size, shuffle, rng, validation, initial_epoch,
                sample_weight, validation_freq, guard):
        model, cbs = self.model, self.callbacks
        # graph models with several inputs/outputs pass lists of arrays (rows aligned)
        xs = x if isinstance(x, list) else [x]
        ys = y if isinstance(y, list) else [y]
        nx, ny = len(xs), len(ys)
        n = xs[0].shape[0]
        steps = -(-n // batch_size)
        # what callbacks may read: sizes, and "batch", the (x, y) of the latest step (set after
        # every step when a callback has batch hooks, else at the end of each epoch)
        model._fit_info = fit_info = {"epochs": epochs, "steps": steps,
                                      "batch_size": batch_size, "samples": n, "batch": None}
        model.stop_training = False
        # A full batch needs no gather: order does not change a full-batch gradient.
        gather = shuffle and batch_size < n
        weighted = sample_weight is not None
        batches = _Batches([*xs, *ys, *([sample_weight] if weighted else [])], batch_size,
                           gather)
        mean = model._train_loss.reduction == "mean"
        wants_batches = cbs.wants_batches
        batch_logs = {}
        # options needing per-step work (weights, regularizers, NaN checks) swap the step
        train_step = model._make_train_step(weighted, cbs.checks_finite)

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
                parts = batches(order, start, stop)
                xb = parts[0] if nx == 1 else parts[:nx]
                yb = parts[nx] if ny == 1 else parts[nx:nx + ny]
                if wants_batches:
                    batch_logs = {"batch": step, "size": size}
                    cbs.call("on_batch_begin", step, batch_logs)
                value = train_step(xb, yb, parts[-1]) if weighted else train_step(xb, yb)
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



_PROBE_ROWS = 32


def _rows(part, n):
    """Copies of the first ``n`` rows of an array or of each array in a list."""
    if isinstance(part, list):
        return [p[:n].copy() for p in part]
    return part[:n].copy()


class _Batches:
    """Row-aligned arrays (inputs, targets, sample weights) cut into batches: views in the
    original order, or gathered along one permutation with ``np.take(..., out=)`` into buffers
    allocated once for the whole run."""

    def __init__(self, arrays, batch_size, gather):

        self.arrays = arrays
        self.n = arrays[0].shape[0]
        for a in arrays:
            if not isinstance(a, np.ndarray) and (batch_size < self.n or a.shape[0] != a.shape[1]):
                # a scipy.sparse graph adjacency: its rows cannot be cut or gathered
                raise ConfigError(
                    f"fit: a graph model with a sparse adjacency trains on the whole graph "
                    f"({a.shape[0]} nodes) in one batch; pass batch_size='full' and no "
                    f"validation_split (got batch_size={batch_size}; choose the training "
                    "nodes with sample_weight)")
        self.buffers = [np.empty((batch_size,) + a.shape[1:], dtype=a.dtype)
                        for a in arrays] if gather else None

    def __call__(self, order, start, stop):
        if order is None:
            if start == 0 and stop == self.n:  # the full batch: the arrays themselves
                return list(self.arrays)
            return [a[start:stop] for a in self.arrays]
        idx, size = order[start:stop], stop - start
        return [np.take(a, idx, axis=0, out=b[:size], mode="clip")
                for a, b in zip(self.arrays, self.buffers)]


def _validation_due(freq, epoch) -> bool:
    """``validation_freq`` k: after every k-th epoch; a set: after those 1-based epochs."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


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
