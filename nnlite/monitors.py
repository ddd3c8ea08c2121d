"""Training monitors: gradient norms per layer (vanishing/exploding) and unit health.

The lecture's gradient-vanishing argument, measured.  By the chain rule the gradient reaching
layer l of a plain stack is a product of one factor per layer above it::

    dL/dh_{l-1} = W_lᵀ (dL/dh_l ⊙ f'(z_l))           (σ' ≤ 1/4: the product shrinks with depth)

so ``||dL/dW_1|| / ||dL/dW_L||`` falls geometrically for sigmoid networks, stays O(1) for ReLU with
He initialization, and a skip connection ``h + F(h)`` adds the identity to every factor.

* ``layer_gradient_norms(model, x, y)`` — one probe: forward/backward on (x, y), returning the L2
  norm of every parameter gradient and of the gradient flowing into every layer's input.
* ``GradientMonitor`` — a callback calling it every epoch (or every k batches) and warning once
  (``GradientWarning``) when the first-to-last ratio leaves [threshold, explode_threshold].
* ``ActivationMonitor`` — a callback recording the share of dead ReLU units and of saturated
  sigmoid/tanh outputs per layer.
* ``plot_gradient_norms`` — gradient norm vs layer index, log scale (drawn by
  ``nnlite.plotting``; re-exported here).

Neither callback adds work to the training step: each recording runs its own forward/backward on
a probe batch (a fixed ``probe=(x, y)`` or the last training batch), restoring the model's
gradients, loss cache and random state afterwards.
"""
from __future__ import annotations

import warnings

import numpy as np

from .callbacks import Callback
from .errors import ConfigError
from .grad import Preserved
from .models.base import leaf_layers

__all__ = ["GradientWarning", "GradientMonitor", "ActivationMonitor", "layer_gradient_norms",
           "activation_stats", "plot_gradient_norms"]


class GradientWarning(UserWarning):
    """Gradients vanish (first-to-last layer norm ratio below threshold) or explode (above)."""


def _norm(a) -> float:
    # float64 accumulation: a float32 sum of squares of ~1e5 elements loses digits.
    a = np.ravel(a)
    return float(np.sqrt(np.dot(a, a))) if a.dtype == np.float64 else \
        float(np.linalg.norm(a.astype(np.float64)))


def _check_model(model, what):
    if not hasattr(model, "_train_loss") or not hasattr(model, "layers"):
        raise ConfigError(f"{what}: expected an nnlite model, got {type(model).__name__}")
    model._require_compiled(what)
    model._require_built(what)


def layer_gradient_norms(model, x, y, release=True) -> dict:
    """L2 norms of ``dL/dθ`` for every parameter and ``dL/dx`` into every layer, on one batch.

    Runs ``model``'s training forward (with its fused head) on ``x``, the training loss on ``y``,
    then the layers' ``backward`` from last to first with input gradients switched on:

    * ``"<layer>/<param>"``: ``||dL/dθ||`` of every leaf layer's parameters (inner layers of a
      ``Residual`` appear as ``residual/dense/kernel``);
    * ``"<layer>/input"``: ``||dL/dx||`` at the input of every top-level layer (a container such
      as ``Residual`` counts as one layer).  In a graph ``Model`` it is the full gradient at the
      layer's input node(s) — summed over all consumers where a value fans out — and, for a
      merge, the norm over all its inputs together.

    Nothing in the model changes: gradients, loss cache, random generators (model and layers)
    and layer state (running statistics) are restored; ``release=True`` frees the scratch
    buffers afterwards (a monitor inside ``fit`` keeps them for the next step).

    Args:
        model: a compiled, built ``Sequential`` or graph ``Model``.
        x: inputs ``(batch, *input_shape)``; y: targets as ``fit`` accepts them.

    Returns:
        ``{"<layer>/<param>": norm, ..., "<layer>/input": norm}`` in forward layer order
        (a layer's parameters before its input entry); values are Python floats.
    """
    _check_model(model, "layer_gradient_norms")
    x, y = model._check_xy(x, y)
    with Preserved(model):
        try:
            inputs = (_graph_input_norms if hasattr(model, "_run_backward")
                      else _stack_input_norms)(model, x, y)
            params = {f"{leaf.name}/{key}": _norm(g)
                      for leaf in leaf_layers(model.layers) for key, g in leaf.grads.items()}
        finally:
            if release:
                model._release_buffers()
    result = {}
    for layer in model.layers:
        for leaf in leaf_layers([layer]):
            for key in leaf.grads:
                result[f"{leaf.name}/{key}"] = params[f"{leaf.name}/{key}"]
        result[f"{layer.name}/input"] = inputs[layer.name]
    return result


def _loss_gradient(model, outs, y):
    loss = model._train_loss
    if hasattr(loss, "forward_many"):  # a graph model with several outputs
        loss.forward_many(outs, y)
        return loss.backward_many()
    loss._forward(outs, y)
    return loss._backward()


def _stack_input_norms(model, x, y):
    """Sequential: each layer's returned dx is the next layer's dy; norm it before moving on
    (it may live in a buffer the layer reuses)."""
    dy = _loss_gradient(model, model._forward(x, True, model._fused), y)
    norms = {}
    for layer in reversed(model.layers):
        dy = layer.backward(dy)
        norms[layer.name] = _norm(dy)
    return norms


def _graph_input_norms(model, x, y):
    """Graph Model: its own reverse sweep sums gradients at fan-out; read each node's total."""
    record = {}
    outs = model._run(x, True, model._fused, record)
    model._run_backward(_loss_gradient(model, outs, y), True, record)
    grads = record["grads"]
    return {layer.name: float(np.sqrt(sum(_norm(grads[p]) ** 2 for p in parents
                                          if grads[p] is not None)))  # None: a mask, a graph
            for _, layer, parents in model._plan}


def first_to_last_ratio(norms: dict) -> float:
    """``||dL/dθ_first|| / ||dL/dθ_last||`` over the layers that have parameters (each layer's
    norm taken over all its parameters); ``nan`` with fewer than two such layers."""
    per_layer: dict[str, float] = {}
    for key, value in norms.items():
        layer, _, param = key.rpartition("/")
        if param != "input":
            per_layer[layer] = per_layer.get(layer, 0.0) + value * value
    if len(per_layer) < 2:
        return float("nan")
    values = list(per_layer.values())
    last = np.sqrt(values[-1])
    return float(np.sqrt(values[0]) / last) if last > 0 else float("inf")


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
        _check_model(model, type(self).__name__)
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
            from .monitors_time import time_step_gradient_norms
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


_SATURATION = {"sigmoid": (0.01, 0.99), "tanh": (-0.99, 0.99)}


def activation_stats(model, x, release=True) -> dict:
    """Unit health per layer on one batch ``x``.

    ``"<layer>/dead_relu"``: the share of ReLU units whose output is 0 for every example of the
    batch (a unit is one output position, all non-batch axes flattened).
    ``"<layer>/saturated"``: for sigmoid (tanh) layers, the share of outputs below 0.01 (−0.99)
    or above 0.99, over all examples and units — where σ' = y(1 − y) < 0.0099.

    Runs a training-mode forward (so inner layers of containers are seen) and reads each leaf
    layer's kept output.  Nothing in the model changes (see ``layer_gradient_norms``).
    """
    _check_model(model, "activation_stats")
    x = model._check_x(x)
    stats = {}
    with Preserved(model):
        try:
            model._forward(x, True, False)
            for leaf in leaf_layers(model.layers):
                act = getattr(leaf, "activation", None)
                # Dense/Activation keep their output as ``_saved`` when the derivative uses it.
                y = getattr(leaf, "_saved", None)
                if act is None or act.saves != "output" or y is None:
                    continue
                units = y.reshape(y.shape[0], -1)
                if act.name == "relu":
                    stats[f"{leaf.name}/dead_relu"] = float(np.mean(~np.any(units > 0, axis=0)))
                elif act.name in _SATURATION:
                    low, high = _SATURATION[act.name]
                    stats[f"{leaf.name}/saturated"] = float(np.mean((units < low) |
                                                                    (units > high)))
        finally:
            if release:
                model._release_buffers()
    return stats


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
            from .monitors_time import time_step_activation_stats
            stats.update((k, v.tolist()) for k, v in
                         time_step_activation_stats(self.model, x, False).items())
        return stats


def plot_gradient_norms(history_or_monitor, ax=None):
    """Moved to ``nnlite.plotting.plot_gradient_norms`` (the matplotlib helpers' home); kept
    here so ``from nnlite.monitors import plot_gradient_norms`` still works."""
    from .plotting import plot_gradient_norms as draw
    return draw(history_or_monitor, ax=ax)
