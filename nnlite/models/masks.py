"""Masks in models: which layers see them, and the forward passes that thread them.

A mask is a boolean ``(batch, time)`` array, True = a real step.  ``Masking`` and
``Embedding(mask_zero=True)`` create one; every layer maps its input mask to its output mask
with ``Layer.compute_mask(inputs, mask)`` (by default: kept while the output keeps the time
axis; a list, one per output, for a ``multi_output`` layer); a layer whose ``forward`` has a
``mask`` parameter receives it there (as Keras passes ``mask`` to a ``call`` that takes it —
the layers that consume masks also set ``supports_masking = True``) and keeps what it needs of
it for ``backward``, so backward needs nothing from the model.
The mask of each model output is left in ``model._output_masks`` for the loss and the metrics
(``nnlite.models.sequence_head``), which then skip the masked steps.

The plan is decided once, at build: ``plan(model)`` probes every layer's ``compute_mask``
with zeros of its input shape (and an all-True mask where one arrives).  When no layer creates
a mask the models run their plain forward, untouched — masks cost nothing then.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError

__all__ = ["plan", "refuse_multi_output", "stack_forward", "graph_run", "takes_mask"]


def _probe(layer, shape, dtype):
    return np.zeros((1,) + tuple(shape), dtype=dtype)


def _arrives(shape):
    return np.ones((1, shape[0]), dtype=bool)


_TAKES_MASK: dict = {}


def takes_mask(layer) -> bool:
    """Whether ``layer.forward`` has a ``mask`` parameter (looked up once per class)."""
    cls = type(layer)
    if cls not in _TAKES_MASK:
        _TAKES_MASK[cls] = "mask" in inspect.signature(cls.forward).parameters
    return _TAKES_MASK[cls]


def refuse_multi_output(layers) -> None:
    """A ``Sequential`` has one output per layer: ConfigError for a layer with several (e.g. a
    recurrent layer with ``return_state=True``), before anything is built."""
    for layer in layers:
        if getattr(layer, "multi_output", False):
            raise ConfigError(f"layer {layer.name!r} gives several outputs (e.g. "
                              "return_state=True); a Sequential model has one output per "
                              "layer, so use the graph API (nnlite.Model)")


def plan(model) -> bool:
    """True when some layer of the built ``model`` creates a mask (so masks must be
    threaded)."""
    dtype = model.dtype
    if not hasattr(model, "_plan"):  # a stack
        has, any_mask = False, False
        for layer in model.layers:
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
        for j, m in _per_output(i, mask):
            has[j] = m is not None
    return any(has)


def _per_output(i, value):
    """(node index, value) pairs of a plan entry: one, or one per output of a multi-output
    call (whose node indices are a tuple, None for an output no model output needs)."""
    if type(i) is not tuple:
        return ((i, value),)
    values = value if isinstance(value, (list, tuple)) else [value] * len(i)
    return [(j, v) for j, v in zip(i, values) if j is not None]


def _call(layer, x, mask, training, logits=False):
    kwargs = {"logits": True} if logits else {}
    if takes_mask(layer):
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
        out_mask = layer.compute_mask(inputs, mask)
        out = _call(layer, inputs, mask, training, i in heads)
        for j, m in _per_output(i, out_mask):
            masks[j] = m
        for j, v in _per_output(i, out):
            values[j] = v
    if record is not None:
        record["values"] = values
    model._output_masks = [masks[i] for i in model._output_index]
    outs = [values[i] for i in model._output_index]
    return outs if model._multi_out else outs[0]
