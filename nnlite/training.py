"""The training loop behind ``Model.fit``: batching, shuffling, callbacks, history.

Shuffling draws from a ``numpy.random.Generator`` (never the global NumPy state), so the same seed
gives the same batch order.  Batches are gathered with ``np.take(..., out=buffer)`` into arrays
reused for the whole run; a full batch in the original order is a view of the data, not a copy.
"""
from __future__ import annotations

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
        self.callbacks = CallbackList([self.history, *extra, *callbacks], model)

    def fit(self, x, y, epochs, batch_size, shuffle, rng, validation=None, initial_epoch=0):
        model, cbs = self.model, self.callbacks
        n = x.shape[0]
        steps = -(-n // batch_size)
        model._fit_info = {"epochs": epochs, "steps": steps, "batch_size": batch_size,
                           "samples": n}
        model.stop_training = False
        # A full batch needs no gather: order does not change a full-batch gradient.
        gather = shuffle and batch_size < n
        x_buf = np.empty((batch_size,) + x.shape[1:], dtype=x.dtype) if gather else None
        y_buf = np.empty((batch_size,) + y.shape[1:], dtype=y.dtype) if gather else None
        mean = model._train_loss.reduction == "mean"
        wants_batches = cbs.wants_batches
        batch_logs = {}

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
                if order is None:
                    xb, yb = x[start:stop], y[start:stop]
                else:
                    idx = order[start:stop]
                    xb = np.take(x, idx, axis=0, out=x_buf[:size], mode="clip")
                    yb = np.take(y, idx, axis=0, out=y_buf[:size], mode="clip")
                if wants_batches:
                    batch_logs = {"batch": step, "size": size}
                    cbs.call("on_batch_begin", step, batch_logs)
                value = model._train_step(xb, yb)
                total += value * size if mean else value
                seen += size
                if wants_batches:
                    batch_logs["loss"] = total / seen if mean else total
                    cbs.call("on_batch_end", step, batch_logs)
                if model.stop_training:
                    break
            logs = {"loss": total / seen if mean else total}
            logs.update(model._metric_results())
            if validation is not None:
                val = model._evaluate_checked(*validation)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.call("on_epoch_end", epoch, logs)
            if model.stop_training:
                break
        cbs.call("on_train_end", {})
        return self.history
