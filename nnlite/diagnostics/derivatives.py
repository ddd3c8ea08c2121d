"""Arbitrary derivatives of a (trained) model: saliency and parameter gradients.

One design, two questions, both answered by one forward and one reverse sweep of the graph:

* ``input_gradient(model, x, output=None, unit=None, weights=None)``: ∂s/∂x for the scalar

      s = Σ_b Σ_j w_bj · y_bj          y = the chosen output, shape (batch, *out)

  with ``w`` = ``weights`` if given, else the indicator of column ``unit``, else all ones.
  Examples do not interact, so row b of the result is ∂(Σ_j w_bj y_bj)/∂x_b: the saliency of
  example b (e.g. ``unit=c`` gives ∂p_c/∂x for each image).  Shape: like ``x`` (a list for a
  model with several inputs).
* ``gradients(model, x, y=None, output=None, unit=None, weights=None)``: ∂L/∂θ of the
  compiled training loss when ``y`` is given (the regularizers' penalties included, as
  training uses it), otherwise ∂s/∂θ of the scalar above, as a dict
  ``{"<layer name>/<param>": array}`` of the trainable parameters (copies; Residual inner
  layers appear as ``residual/dense/kernel``; frozen layers are left out, as Keras's
  ``trainable_weights``).

Both are also methods of every model (``model.input_gradient(x)``, ``model.gradients(x, y)``).
They run the layers in training mode, the mode that keeps what backward needs: for most layers
that is the inference function, but Dropout draws a mask and BatchNormalization uses the batch's
statistics, so for those the derivative is that of the training-mode function.  Either way the
model is left as it was (``Preserved``: weights, gradient buffer, optimizer state, random
generators, running statistics, history), and the norm of every node's value and gradient is
recorded for ``nnlite.plotting.plot_graph(model, values=True)``.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..models.fit_options import regularized
from ..models.masks import stack_forward
from ..models.services import provide
from ..models.weights import leaf_layers

__all__ = ["input_gradient", "gradients", "Preserved"]


def input_gradient(model, x, output=None, unit=None, weights=None):
    """∂(Σ w ⊙ y_output)/∂x for a batch (see module docstring); returns an array like ``x``."""
    model._require_built("input_gradient")
    x = model._check_x(x)
    try:
        return _sweep(model, x, _seed(model, output, unit, weights), logits=False)[0]
    finally:
        model._release_buffers()


def gradients(model, x, y=None, output=None, unit=None, weights=None) -> dict:
    """∂L/∂θ (``y`` given, model compiled) or ∂(Σ w ⊙ y_output)/∂θ, as {"layer/param": array}."""
    model._require_built("gradients")
    regs = []
    if y is None:
        x = model._check_x(x)
        seed, logits = _seed(model, output, unit, weights), False
    else:
        if output is not None or unit is not None or weights is not None:
            raise ConfigError("gradients: give targets y (loss gradient) or output/unit/weights "
                              "(output gradient), not both")
        model._require_compiled("gradients")
        x, y = model._check_xy(x, y)
        loss = model._train_loss
        regs = regularized(model)

        def seed(outs):
            if hasattr(loss, "forward_many"):
                loss.forward_many(outs, y)
                return loss.backward_many()
            loss._forward(outs, y)
            return loss._backward()
        logits = model._fused
    def collect():
        for param, grad, reg in regs:
            reg.add_gradient(param, grad)
        return {f"{layer.name}/{key}": g.copy() for layer in leaf_layers(model.layers)
                if layer.trainable for key, g in layer.grads.items()}
    try:
        return _sweep(model, x, seed, logits, collect)[1]
    finally:
        model._release_buffers()


def _seed(model, output, unit, weights):
    """A function of the outputs returning the upstream gradient(s) w."""
    multi = isinstance(model.output_shape, list)
    n_out = len(model.output_shape) if multi else 1
    k = 0 if output is None else output
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n_out:
        raise ConfigError(f"output must be an int in [0, {n_out}), got {output!r}")
    if unit is not None and weights is not None:
        raise ConfigError("give unit or weights, not both")

    def seed(outs):
        outs_list = outs if multi else [outs]
        target = outs_list[k]
        if weights is not None:
            w = np.asarray(weights, dtype=target.dtype)
            if w.shape != target.shape:
                raise ShapeError(f"weights must have the output's shape {target.shape}, "
                                 f"got {w.shape}")
        else:
            w = np.zeros_like(target) if unit is not None else np.ones_like(target)
            if unit is not None:
                width = target.shape[-1]
                if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) \
                        or not 0 <= unit < width:
                    raise ConfigError(f"unit must be an int in [0, {width}), got {unit!r}")
                w[..., unit] = 1.0
        dys = [w if i == k else np.zeros_like(o) for i, o in enumerate(outs_list)]
        return dys if multi else dys[0]
    return seed


class Preserved:
    """``with Preserved(model):`` snapshots what a training-mode pass that is not a training
    step may change, and restores it afterwards: the flat gradient buffer, the training loss's
    cache, the model's and the layers' random generators
    (Dropout masks), the layers' state arrays (e.g. batch-norm running statistics) and the
    carried states of stateful recurrent layers."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        m = self.model
        leaves = list(leaf_layers(m.layers))
        self.grads = m._flat_grads.copy() if m._flat_grads is not None else None
        loss = m._train_loss
        self.loss_state = dict(vars(loss)) if loss is not None else None
        self.rngs = [(g, g.bit_generator.state) for g in
                     [m.rng] + [v for leaf in leaves for v in vars(leaf).values()
                                if isinstance(v, np.random.Generator)]]
        self.states = [(leaf, key, a.copy()) for leaf in leaves for key, a in leaf.state.items()]
        # the carried states of stateful recurrent layers (replaced, never written in place)
        self.carried = [(leaf, leaf._states) for leaf in leaves if hasattr(leaf, "_states")]
        return self

    def __exit__(self, *exc):
        m = self.model
        if self.grads is not None:
            m._flat_grads[...] = self.grads
        if self.loss_state is not None:
            vars(m._train_loss).update(self.loss_state)
        for generator, state in self.rngs:
            generator.bit_generator.state = state
        for leaf, key, saved in self.states:
            leaf.state[key][...] = saved
        for leaf, carried in self.carried:
            leaf._states = carried
        return False


def _norm(a):
    """‖a‖₂ without overflow: scaled by max |a| first (the plain sum of squares overflows for
    entries beyond ~1e154 in float64, ~1e19 in float32, though the norm itself is finite)."""
    if a is None:
        return None
    if not isinstance(a, np.ndarray):  # a scipy.sparse adjacency: the norm of its entries
        a = a.data
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        return scale
    return scale * float(np.linalg.norm(a / scale))


def _sweep(model, x, seed, logits, collect=None):
    """Forward (training mode), seed, backward with input gradient; returns ``(dx, collect())``
    with ``collect`` run before the model is restored, and records norms in ``model._trace`` as
    {"values": [...], "grads": [...]} per graph node."""
    with Preserved(model):
        dx = _sweep_unpreserved(model, x, seed, logits)
        return dx, (collect() if collect is not None else None)


def _sweep_unpreserved(model, x, seed, logits):
    if hasattr(model, "_run"):  # graph Model
        record = {}
        outs = model._run(x, True, logits, record)
        dx = model._run_backward(seed(outs), True, record)
        values, grads = record["values"], record["grads"]
    else:  # a stack: node 0 is the input, node i+1 the output of layer i
        layers = model.layers
        values = [x]
        if getattr(model, "_masks", False):  # some layer creates a mask: thread it
            values = []
            stack_forward(model, x, True, logits, values)
        else:
            for i, layer in enumerate(layers):
                last = i == len(layers) - 1
                values.append(layer.forward(values[-1], True, logits=True) if last and logits
                              else layer.forward(values[-1], True))
        grads = [None] * len(values)
        g = seed(values[-1])
        for i in range(len(layers) - 1, -1, -1):
            grads[i + 1] = g
            g = layers[i].backward(g)
        grads[0] = dx = g
    model._trace = {"values": [_norm(v) for v in values], "grads": [_norm(g) for g in grads]}
    if isinstance(dx, list):  # None for an input no gradient reaches (a mask, an adjacency)
        return [None if d is None else d.copy() for d in dx]
    return dx.copy()


provide("input_gradient", input_gradient)  # model.input_gradient (see models/services.py)
provide("gradients", gradients)            # model.gradients
