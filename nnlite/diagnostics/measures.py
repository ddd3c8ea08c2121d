"""Measures of a network's health on one batch: gradient norms per layer (vanishing/exploding)
and unit health (dead ReLUs, saturated sigmoids).

The lecture's gradient-vanishing argument, measured.  By the chain rule the gradient reaching
layer l of a plain stack is a product of one factor per layer above it::

    dL/dh_{l-1} = W_lᵀ (dL/dh_l ⊙ f'(z_l))           (σ' ≤ 1/4: the product shrinks with depth)

so ``||dL/dW_1|| / ||dL/dW_L||`` falls geometrically for sigmoid networks, stays O(1) for ReLU with
He initialization, and a skip connection ``h + F(h)`` adds the identity to every factor.

* ``layer_gradient_norms(model, x, y)`` — one probe: forward/backward on (x, y), returning the L2
  norm of every parameter gradient and of the gradient flowing into every layer's input.
* ``activation_stats(model, x)`` — the share of dead ReLU units and of saturated sigmoid/tanh
  outputs per layer.
* ``plot_gradient_norms`` — gradient norm vs layer index, log scale (drawn by
  ``nnlite.plotting``; re-exported here).

The callbacks that record these during ``fit`` (``GradientMonitor``, ``ActivationMonitor``) are
in ``nnlite.callbacks.monitors`` (public path ``nnlite.monitors``).  Each measure runs its own
forward/backward and restores the model's gradients, loss cache and random state afterwards.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..models.weights import leaf_layers
from .derivatives import Preserved

__all__ = ["GradientWarning", "layer_gradient_norms", "first_to_last_ratio", "activation_stats",
           "plot_gradient_norms", "check_ready", "loss_gradient"]


class GradientWarning(UserWarning):
    """Gradients vanish (first-to-last layer norm ratio below threshold) or explode (above)."""


def _norm(a) -> float:
    # float64 accumulation: a float32 sum of squares of ~1e5 elements loses digits.
    a = np.ravel(a)
    return float(np.sqrt(np.dot(a, a))) if a.dtype == np.float64 else \
        float(np.linalg.norm(a.astype(np.float64)))


def check_ready(model, what):
    """Raise unless ``model`` is a compiled, built nnlite model (``what`` names the caller)."""
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
    check_ready(model, "layer_gradient_norms")
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


def loss_gradient(model, outs, y):
    """dL/d(outputs) of the model's training loss for its outputs ``outs`` and targets ``y``."""
    loss = model._train_loss
    if hasattr(loss, "forward_many"):  # a graph model with several outputs
        loss.forward_many(outs, y)
        return loss.backward_many()
    loss._forward(outs, y)
    return loss._backward()


def _stack_input_norms(model, x, y):
    """Sequential: each layer's returned dx is the next layer's dy; norm it before moving on
    (it may live in a buffer the layer reuses)."""
    dy = loss_gradient(model, model._forward(x, True, model._fused), y)
    norms = {}
    for layer in reversed(model.layers):
        dy = layer.backward(dy)
        norms[layer.name] = _norm(dy)
    return norms


def _graph_input_norms(model, x, y):
    """Graph Model: its own reverse sweep sums gradients at fan-out; read each node's total."""
    record = {}
    outs = model._run(x, True, model._fused, record)
    model._run_backward(loss_gradient(model, outs, y), True, record)
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
    check_ready(model, "activation_stats")
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


def plot_gradient_norms(history_or_monitor, ax=None):
    """Moved to ``nnlite.plotting.plot_gradient_norms`` (the matplotlib helpers' home); kept
    here so ``from nnlite.monitors import plot_gradient_norms`` still works."""
    from .plotting import plot_gradient_norms as draw
    return draw(history_or_monitor, ax=ax)
