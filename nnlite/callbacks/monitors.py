"""Callbacks that watch a network's health during ``fit`` (public path ``nnlite.monitors``).

* ``GradientMonitor`` — records ``layer_gradient_norms`` every epoch (or every k batches) and
  warns once (``GradientWarning``) when the first-to-last ratio leaves [threshold,
  explode_threshold].
* ``ActivationMonitor`` — records ``activation_stats``: the share of dead ReLU units and of
  saturated sigmoid/tanh outputs per layer.

Neither callback adds work to the training step: each recording runs its own forward/backward on
a probe batch (a fixed ``probe=(x, y)`` or the last training batch), restoring the model's
gradients, loss cache and random state afterwards.  The measures themselves are in
``nnlite.diagnostics.measures`` and are re-exported here.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..diagnostics.measures import (
    GradientWarning,
    activation_stats,
    check_ready,
    first_to_last_ratio,
    layer_gradient_norms,
    plot_gradient_norms,
)
from ..diagnostics.time_steps import time_step_activation_stats, time_step_gradient_norms
from ..errors import ConfigError
from ..training.callbacks import Callback

__all__ = ["GradientWarning", "GradientMonitor", "ActivationMonitor", "layer_gradient_norms",
           "activation_stats", "first_to_last_ratio", "plot_gradient_norms"]


class _ProbeCallback(Callback):
    """Shared plumbing: when to record (every epoch or every k batches), the probe batch, and
    where records go (``self.history`` and the fit's ``History`` when the model exposes it)."""

    _name = "monitor"

    def __init__(self, every="epoch", probe=None):
        if every != "epoch" and (isinstance(every, bool) or not isinstance(every, (int, np.integer))
                                 or every <= 0):
            raise ConfigError(f"{type(self).__name__}: every must be 'epoch' or a positive int "
                              f"(batches), got {every!r}")
        if probe is not None and (not isinstance(probe, (tuple, list)) or len(probe) != 2):
            raise ConfigError(f"{type(self).__name__}: probe must be None (the last training "
                              f"batch) or a tuple (x, y), got {type(probe).__name__}")
        self.every = every
        self.probe = probe
        self.history: dict[str, list] = {}
        self.rows: list[dict] = []
        self._probe = self._fit_history = None
        self._steps = 0
        if every != "epoch":
            # an instance hook: only a per-batch monitor makes the loop dispatch batch hooks
            self.on_batch_end = self._batch_end

    # hooks --------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        check_ready(model, type(self).__name__)
        self._probe = model._check_xy(*self.probe) if self.probe is not None else None
        self._steps = 0
        fit_history = getattr(model, "history", None)
        # A History that registered itself at train begin (as Keras does) is fresh: empty.
        self._fit_history = fit_history if (hasattr(fit_history, "history") and
                                            not getattr(fit_history, "epoch", True)) else None

    def on_epoch_end(self, epoch, logs=None):
        if self.every == "epoch":
            self._record(epoch, None)

    def _batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps % self.every == 0:
            self._record(None, self._steps)

    # recording ------------------------------------------------------------------------------
    def _probe_batch(self):
        if self._probe is not None:
            return self._probe
        return (getattr(self.model, "_fit_info", None) or {}).get("batch")

    def _record(self, epoch, step):
        batch = self._probe_batch()
        if batch is None:
            return
        values = self._measure(*batch)
        when = {"epoch": epoch, "step": step}
        for key, value in values.items():
            full = f"{self._name}/{key}"
            self.history.setdefault(full, []).append(value)
            if self._fit_history is not None:
                self._fit_history.history.setdefault(full, []).append(value)
            layer, _, what = key.rpartition("/")
            if isinstance(value, list):  # one value per time step (time_steps=True)
                self.rows.extend({**when, "layer": layer or None, "quantity": what,
                                  "time": t, "value": v} for t, v in enumerate(value))
                continue
            self.rows.append({**when, "layer": layer or None, "quantity": what,
                              "value": value})
        self._after_record(values)

    def _after_record(self, values):
        pass

    def table(self) -> list[dict]:
        """The records as tidy rows: ``{"epoch", "step", "layer", "quantity", "value"}``
        (``epoch`` set when recording per epoch, ``step`` when every k batches)."""
        return [dict(row) for row in self.rows]


class GradientMonitor(_ProbeCallback):
    """Record per-layer gradient norms during training; warn once if they vanish or explode.

    ``GradientMonitor(every="epoch", threshold=1e-3, explode_threshold=1e3, probe=None)``

    Each recording (after every epoch, or every ``every`` batches) runs ``layer_gradient_norms``
    on the probe batch — ``probe=(x, y)`` or, by default, the last training batch — and appends
    to ``history.history["grad_norm/<layer>/<param>"]`` and ``["grad_norm/<layer>/input"]``
    (also kept in ``monitor.history``; ``monitor.table()`` gives tidy rows).  The ratio
    ``||dL/dθ_first|| / ||dL/dθ_last||`` goes to ``"grad_norm/ratio"``; the first time it is below
    ``threshold`` (vanishing) or above ``explode_threshold`` (exploding), a ``GradientWarning``
    is issued (once per fit).  ``time_steps=True`` also records, for every recurrent layer,
    ‖∂L/∂h_t‖ per time step as a list under ``grad_norm/<layer>/state_grad`` (table rows get a
    ``"time"`` key; see ``nnlite.monitors_time``).

    >>> monitor = GradientMonitor(every="epoch")
    >>> # model.fit(x, y, epochs=5, callbacks=[monitor]); monitor.table()[:2]
    """

    _name = "grad_norm"

    def __init__(self, every="epoch", threshold=1e-3, probe=None, explode_threshold=1e3,
                 time_steps=False):
        super().__init__(every, probe)
        self.time_steps = bool(time_steps)
        for name, value in (("threshold", threshold), ("explode_threshold", explode_threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"GradientMonitor: {name} must be a positive number, "
                                  f"got {value!r}")
        if not threshold < explode_threshold:
            raise ConfigError(f"GradientMonitor: threshold ({threshold}) must be below "
                              f"explode_threshold ({explode_threshold})")
        self.threshold = float(threshold)
        self.explode_threshold = float(explode_threshold)
        self._warned = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._warned = False

    def _measure(self, x, y):
        norms = layer_gradient_norms(self.model, x, y, release=False)
        norms["ratio"] = first_to_last_ratio(norms)
        if self.time_steps:
            for name, per_step in time_step_gradient_norms(self.model, x, y, False).items():
                norms[f"{name}/state_grad"] = per_step.tolist()
        return norms

    def _after_record(self, values):
        ratio = values["ratio"]
        if self._warned or not np.isfinite(ratio) and ratio != np.inf:
            return
        if ratio < self.threshold:
            kind, bound = "vanishing", f"below threshold={self.threshold:g}"
        elif ratio > self.explode_threshold:
            kind, bound = "exploding", f"above explode_threshold={self.explode_threshold:g}"
        else:
            return
        self._warned = True
        warnings.warn(f"GradientMonitor: {kind} gradients in model {self.model.name!r}: "
                      f"||dL/dθ|| of the first layer is {ratio:.3g} × that of the last layer "
                      f"({bound}); consider ReLU with He initialization or skip connections",
                      GradientWarning, stacklevel=2)


class ActivationMonitor(_ProbeCallback):
    """Record the share of dead ReLU units and saturated sigmoid/tanh outputs per layer.

    ``ActivationMonitor(every="epoch", probe=None)``: appends
    ``history.history["activation/<layer>/dead_relu"]`` and ``["activation/<layer>/saturated"]``
    (see ``activation_stats`` for the definitions), also in ``monitor.history`` / ``table()``.
    ``time_steps=True`` adds per-step lists for the recurrent layers, ``<layer>/state_norm``
    and ``<layer>/saturated`` (``nnlite.monitors_time.time_step_activation_stats``).
    """

    _name = "activation"

    def __init__(self, every="epoch", probe=None, time_steps=False):
        super().__init__(every, probe)
        self.time_steps = bool(time_steps)

    def _measure(self, x, y):
        stats = activation_stats(self.model, x, release=False)
        if self.time_steps:
            stats.update((k, v.tolist()) for k, v in
                         time_step_activation_stats(self.model, x, False).items())
        return stats
