"""Monitors through time: per-step gradient norms and unit health of the recurrent layers.

An RNN unrolled over T steps is a T-layer-deep network with shared weights, and backprop through
time multiplies one Jacobian per step::

    ∂L/∂h_{t-1} = (∂h_t/∂h_{t-1})ᵀ ∂L/∂h_t        (SimpleRNN: Uᵀ diag f'(z_t))

so the gradient reaching step t from a loss at the last step shrinks (or grows) geometrically
with the distance T-1-t — the lecture's vanishing gradient, through time instead of depth.

* ``time_step_gradient_norms(model, x, y)`` — ‖∂L/∂h_t‖ (the total gradient reaching each
  step's hidden state, over the batch) for every recurrent layer, in time order, from one
  forward/backward of the training loss on (x, y).
* ``time_step_activation_stats(model, x)`` — per step: ‖h_t‖ and the share of saturated gate
  units (σ outside [0.01, 0.99], tanh candidates with |g| > 0.99).
* ``GradientMonitor(time_steps=True)`` / ``ActivationMonitor(time_steps=True)`` record them
  every epoch (or every k batches) as lists, under ``grad_norm/<layer>/state_grad`` and
  ``activation/<layer>/state_norm`` / ``.../saturated``.

Nothing in the model changes: the probes run under ``nnlite.grad.Preserved``.
"""
from __future__ import annotations

import numpy as np

from ..layers.recurrent import Recurrent
from ..models.weights import leaf_layers
from .derivatives import Preserved
from .measures import check_ready, loss_gradient

__all__ = ["recurrent_layers", "time_step_gradient_norms", "time_step_activation_stats",
           "plot_time_step_norms"]


def recurrent_layers(model):
    """The recurrent leaf layers of ``model`` (inside Bidirectional too), in order."""
    return [layer for layer in leaf_layers(model.layers) if isinstance(layer, Recurrent)]


def time_step_gradient_norms(model, x, y, release=True) -> dict:
    """``{layer name: array (T,)}`` of ‖∂L/∂h_t‖ for every recurrent layer, t in time order
    (for a ``go_backwards`` layer too), from the training loss on one batch (x, y)."""

    check_ready(model, "time_step_gradient_norms")
    x, y = model._check_xy(x, y)
    layers = recurrent_layers(model)
    with Preserved(model):
        try:
            for layer in layers:
                layer.record_step_norms, layer.step_grad_norms = True, None
            out = model._forward(x, True, model._fused)
            model._backward(loss_gradient(model, out, y), False)
            return {layer.name: np.array(layer.step_grad_norms) for layer in layers}
        finally:
            for layer in layers:
                layer.record_step_norms = False
            if release:
                model._release_buffers()


def _saturation(layer, gates):
    """Share of saturated gate units per step from the layer's stored activations."""
    h = layer.units
    sig = getattr(layer, "recurrent_activation", None)
    if sig is None:                                   # SimpleRNN: the state itself
        return np.mean(np.abs(gates) > 0.99, axis=(1, 2))
    sigmoid_cols = {4: np.r_[0:2 * h, 3 * h:4 * h], 3: np.r_[0:2 * h]}[layer.gates]
    tanh_cols = {4: np.r_[2 * h:3 * h], 3: np.r_[2 * h:3 * h]}[layer.gates]
    s, g = gates[:, :, sigmoid_cols], gates[:, :, tanh_cols]
    saturated = np.sum((s < 0.01) | (s > 0.99), axis=(1, 2)) + \
        np.sum(np.abs(g) > 0.99, axis=(1, 2))
    return saturated / (gates.shape[1] * (s.shape[2] + g.shape[2]))


def time_step_activation_stats(model, x, release=True) -> dict:
    """Per recurrent layer and step (time order): ``"<layer>/state_norm"`` ‖h_t‖ over the
    batch and ``"<layer>/saturated"`` the share of saturated gate units (see the module)."""

    check_ready(model, "time_step_activation_stats")
    x = model._check_x(x)
    stats = {}
    with Preserved(model):
        try:
            model._forward(x, True, False)
            for layer in recurrent_layers(model):
                states, gates = layer.step_activations()
                order = slice(None, None, -1) if layer.go_backwards else slice(None)
                norm = np.sqrt(np.sum(states.astype(np.float64) ** 2, axis=(1, 2)))
                stats[f"{layer.name}/state_norm"] = norm[order]
                stats[f"{layer.name}/saturated"] = _saturation(
                    layer, states if gates is None else gates)[order]
        finally:
            if release:
                model._release_buffers()
    return stats


def plot_time_step_norms(norms, ax=None, loss_at_end=True):
    """``{label: ‖∂L/∂h_t‖ per step}`` against the distance to the loss (T-1-t when the loss
    reads the last step), log scale, one line per label.  Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        distance = np.arange(len(values))[::-1] if loss_at_end else np.arange(len(values))
        ax.plot(distance, np.where(values > 0, values, np.nan), marker="o", markersize=2,
                label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance to the loss (steps)" if loss_at_end else "time step")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.legend()
    return ax
