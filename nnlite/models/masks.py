"""Masks in models: which layers see them, and the forward passes that thread them.

A mask is a boolean ``(batch, time)`` array, True = a real step.  ``Masking`` and
``Embedding(mask_zero=True)`` create one; every layer maps its input mask to its output mask
with ``Layer.compute_mask(inputs, mask)`` (by default: kept while the output keeps the time
axis); layers with ``supports_masking = True`` receive it in ``forward(x, training, mask=...)``
and keep what they need of it for ``backward`` — so backward needs nothing from the model.
The mask of each model output is left in ``model._output_masks`` for the loss and the metrics
(``nnlite.models.sequence_head``), which then skip the masked steps.

The plan is decided once, at build: ``plan(model)`` probes every layer's ``compute_mask``
with zeros of its input shape (and an all-True mask where one arrives).  When no layer creates
a mask the models run their plain forward, untouched — masks cost nothing then.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["plan", "stack_forward", "graph_run"]


def _probe(layer, shape, dtype):
    return np.zeros((1,) + tuple(shape), dtype=dtype)


def _arrives(shape):
    return np.ones((1, shape[0]), dtype=bool)


def plan(model) -> bool:
    """True when some layer of the built ``model`` creates a mask (so masks must be threaded).
    Also rejects ``return_state`` layers in a ``Sequential`` (one output per layer)."""
    dtype = model.dtype
    if not hasattr(model, "_plan"):  # a stack
        has, any_mask = False, False
        for layer in model.layers:
            if getattr(layer, "return_state", False):
                raise ConfigError(f"layer {layer.name!r} has return_state=True, which gives "
                                  "several outputs; a Sequential model has one output per "
                                  "layer, so use the graph API (nnlite.Model)")
            shape = layer.input_shape
            mask = layer.compute_mask(_probe(layer, shape, dtype),
                                      _arrives(shape) if has else None)
            has = mask is not None
            any_mask = any_mask or has
        return any_mask
    has = [False] * len(model.nodes)
    for i, layer, parents in model._plan:
        shapes = [model.nodes[p].shape for p in parents]
        if layer.multi_input:
            mask = layer.compute_mask([_probe(layer, s, dtype) for s in shapes],
                                      [_arrives(s) if has[p] else None
                                       for s, p in zip(shapes, parents)])
        else:
            mask = layer.compute_mask(_probe(layer, shapes[0], dtype),
                                      _arrives(shapes[0]) if has[parents[0]] else None)
        has[i] = mask is not None
    return any(has)


def _call(layer, x, mask, training, logits=False):
    kwargs = {"logits": True} if logits else {}
    if layer.supports_masking:
        kwargs["mask"] = mask
    return layer.forward(x, training, **kwargs)


def stack_forward(model, x, training, logits, values=None):
    """Sequential forward with masks; the output's mask goes to ``model._output_masks``.
    ``values`` (a list) collects the input and every layer's output, for ``nnlite.grad``."""
    layers = model.layers
    last = len(layers) - 1
    mask = None
    if values is not None:
        values.append(x)
    for i, layer in enumerate(layers):
        out_mask = layer.compute_mask(x, mask)
        x = _call(layer, x, mask, training, logits and i == last)
        mask = out_mask
        if values is not None:
            values.append(x)
    model._output_masks = [mask]
    return x


def graph_run(model, x, training, logits, record):
    """``Model._run`` with masks (same arguments and result)."""
    nodes = model.nodes
    values, masks = [None] * len(nodes), [None] * len(nodes)
    xs = x if model._multi_in else (x,)
    for i, v in zip(model._input_index, xs):
        values[i] = v
    heads = model._logit_heads(logits)
    for i, layer, parents in model._plan:
        if layer.multi_input:
            inputs = [values[p] for p in parents]
            mask = [masks[p] for p in parents]
        else:
            inputs, mask = values[parents[0]], masks[parents[0]]
        masks[i] = layer.compute_mask(inputs, mask)
        values[i] = _call(layer, inputs, mask, training, i in heads)
    if record is not None:
        record["values"] = values
    model._output_masks = [masks[i] for i in model._output_index]
    outs = [values[i] for i in model._output_index]
    return outs if model._multi_out else outs[0]
