"""A model's weights: where they live and how they are read and written.

All trainable parameters of a model sit in one flat buffer (gradients in another), and each
layer's ``params``/``grads`` entries are views into them, so an optimizer step is a few NumPy
calls however many layers there are.
"""
from __future__ import annotations

import numpy as np

from ..layers.base import assign_checked

__all__ = ["leaf_layers", "limit_allocation", "pack_parameters", "weight_arrays",
           "assign_weights", "trainable_segments", "weight_lists"]


def leaf_layers(layers):
    """Layers in order, with containers (e.g. Residual) replaced by the layers they hold."""
    for layer in layers:
        inner = getattr(layer, "sublayers", None)
        if inner:
            yield from leaf_layers(inner)
        else:
            yield layer


def limit_allocation(layers, max_bytes) -> None:
    """Let the next build of ``layers`` allocate at most ``max_bytes`` of weights in total
    (``None``: no limit).  The limit is dropped once the model is built."""
    budget = None if max_bytes is None else [int(max_bytes)]
    for layer in leaf_layers(layers):
        layer.allocation_budget = budget


def pack_parameters(layers, dtype):
    """Move every parameter (and gradient) of ``layers`` into one flat buffer each, re-pointing
    the layers' entries at views; returns ``(flat_params, flat_grads)``."""
    entries = [(layer, key, value) for layer in leaf_layers(layers)
               for key, value in layer.params.items()]
    total = sum(value.size for _, _, value in entries)
    flat_params = np.empty(total, dtype=dtype)
    flat_grads = np.zeros(total, dtype=dtype)
    offset = 0
    for layer, key, value in entries:
        view = flat_params[offset:offset + value.size].reshape(value.shape)
        view[...] = value
        layer.params[key] = view
        layer.grads[key] = flat_grads[offset:offset + value.size].reshape(value.shape)
        offset += value.size
    return flat_params, flat_grads


def trainable_segments(layers):
    """None when every parameter is trainable, else the (start, stop) ranges of the flat buffer
    (``pack_parameters``' order) that hold the parameters of trainable layers — what the
    optimizer updates (``Optimizer.step(..., segments)``)."""
    segments, offset, frozen = [], 0, False
    for layer in leaf_layers(layers):
        size = sum(value.size for value in layer.params.values())
        if layer.trainable:
            if segments and segments[-1][1] == offset:
                segments[-1] = (segments[-1][0], offset + size)
            elif size:
                segments.append((offset, offset + size))
        elif size:
            frozen = True
        offset += size
    return segments if frozen else None


def weight_lists(layers):
    """``(trainable, non_trainable)`` lists of the live arrays (views into the model's buffers):
    parameters of trainable layers; parameters of frozen layers, then every state array."""
    leaves = list(leaf_layers(layers))
    trainable = [v for layer in leaves if layer.trainable for v in layer.params.values()]
    frozen = [v for layer in leaves if not layer.trainable for v in layer.params.values()]
    return trainable, frozen + [v for layer in leaves for v in layer.state.values()]


def weight_arrays(layers):
    """``(layer name, key, array)`` for every parameter, then state, layer by layer."""
    for layer in leaf_layers(layers):
        yield from ((layer.name, k, v) for k, v in layer.params.items())
        yield from ((layer.name, k, v) for k, v in layer.state.items())


def assign_weights(layers, weights) -> None:
    """Copy ``weights`` (in ``weight_arrays`` order) into the layers in place; every shape and
    value is checked first, so a mismatch changes nothing."""
    assign_checked(list(weight_arrays(layers)), weights, "set_weights")
