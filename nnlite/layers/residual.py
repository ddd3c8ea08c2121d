"""``Residual(block)``: the lecture's skip connection  z_{l+1} = z_l + f(z_l).

    y = x + block(x)                    (or  P(x) + block(x)  with a projection P)
    dL/dx = dL/dy + J_block(x)ᵀ dL/dy  (the identity path carries the gradient unchanged,
                                        which is why deep residual nets do not vanish)

``block`` is a layer, a list of layers run in order (a small internal stack) or a
``Sequential`` model, whose layers (and weights, if it is built) the Residual takes over.  A
functional ``Model`` cannot be a block (nnlite does not nest graphs).  When the block
changes the width, ``projection="dense"`` adds a ``Dense`` without activation on the skip path
(P(x) = x W_p + b_p), or pass your own layer; without a projection the widths must agree.

A Residual is a *container*: its layers are ``self.sublayers`` (the model packs their parameters
into its flat buffer and ``get_weights`` lists them), they are named ``<residual>/<inner>``
(e.g. ``residual_1/dense``), and ``params``/``grads`` expose them read-only under the keys
``<inner>/<param>`` so a Residual can be gradient-checked like any layer.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Layer
from .dense import Dense
from .registry import layer_from_spec

__all__ = ["Residual"]


class Residual(Layer):
    """``Residual(block, projection=None)``; usable in ``Sequential`` and in graph models.

    y = x + block(x), or P(x) + block(x) with a projection P: (batch, ...) → the block's output
    shape; dL/dx = dL/dy + J_block(x)ᵀ dL/dy.

    >>> from nnlite.layers import Dense
    >>> Residual([Dense(16, activation="relu"), Dense(16)])
    Residual(block=['Dense', 'Dense'], projection=None)
    """

    def __init__(self, block, projection=None, **kwargs):
        layers = _block_layers(block)
        if not layers:
            raise ConfigError("Residual: block must be a layer or a non-empty list of layers")
        for layer in layers:
            if not isinstance(layer, Layer) or layer.multi_input:
                raise ConfigError(f"Residual: block entries must be single-input layers, got "
                                  f"{type(layer).__name__}")
        if len({id(l) for l in layers}) != len(layers):
            raise ConfigError("Residual: the block lists the same layer object twice")
        if projection not in (None, "dense") and not isinstance(projection, Layer):
            raise ConfigError(f"Residual: projection must be None, 'dense' or a Layer, "
                              f"got {projection!r}")
        self.block = layers
        self.projection = projection
        self._local = _local_names(layers)
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ container
    @property
    def sublayers(self):
        proj = self.projection
        return self.block + ([proj] if isinstance(proj, Layer) else [])

    def _named_sublayers(self):
        names = list(self._local)
        if isinstance(self.projection, Layer):
            names.append(self.projection.name.rsplit("/", 1)[-1]
                         if self.projection.name else "projection")
        return zip(names, self.sublayers)

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        # inner layers are named "<residual>/<inner>" so names stay unique within a model
        self._name = value
        prefix = f"{value}/" if value else ""
        for local, layer in self._named_sublayers():
            layer.name = prefix + local

    def _view(self, attr):
        return {f"{local}/{k}": v for local, layer in self._named_sublayers()
                for k, v in getattr(layer, attr).items()}

    params = property(lambda self: self._view("params"), lambda self, v: _no_set(v))
    grads = property(lambda self: self._view("grads"), lambda self, v: _no_set(v))
    state = property(lambda self: self._view("state"), lambda self, v: _no_set(v))

    # ------------------------------------------------------------------ building
    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.block:
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        shape = self.input_shape
        for layer in self.block:
            if not (layer.built and layer.input_shape == shape):  # a built Sequential's
                layer.build(shape, rng, dtype)                    # weights are kept
            shape = layer.output_shape
        if self.projection == "dense":
            self.projection = Dense(shape[-1], name="projection")
            self.name = self._name  # name the new sublayer
        if isinstance(self.projection, Layer):
            self.projection.build(self.input_shape, rng, dtype)
            skip = self.projection.output_shape
        else:
            skip = self.input_shape
        if skip != shape:
            raise ConfigError(
                f"Residual {self.name!r}: the block maps "
                f"(batch, {', '.join(map(str, self.input_shape))}) "
                f"to (batch, {', '.join(map(str, shape))}) but the skip path gives "
                f"(batch, {', '.join(map(str, skip))}); use projection='dense' when widths differ")
        self.output_shape = shape

    # ------------------------------------------------------------------ computing
    def forward(self, x, training=False):
        h = x
        for layer in self.block:
            h = layer.forward(h, training)
        skip = self.projection.forward(x, training) if isinstance(self.projection, Layer) else x
        return np.add(h, skip, out=self._buffer("y", h.shape) if training else None)

    def backward(self, dy, input_grad=True):
        g = dy
        for layer in reversed(self.block[1:]):
            g = layer.backward(g)
        g = self.block[0].backward(g, input_grad)
        if isinstance(self.projection, Layer):
            skip = self.projection.backward(dy, input_grad)
        else:
            skip = dy
        if not input_grad:
            return None
        return np.add(g, skip, out=self._buffer("dx", g.shape))

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self.sublayers))

    def release_buffers(self) -> None:
        super().release_buffers()
        for layer in self.sublayers:
            layer.release_buffers()

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        specs = []
        for local, layer in self._named_sublayers():
            inner = layer.get_config()
            inner["name"] = local  # the prefix is re-applied when the container is named
            inner.pop("input_shape", None)  # set by the container at build
            specs.append({"class_name": type(layer).__name__, "config": inner})
        config["block"] = specs[:len(self.block)]
        if isinstance(self.projection, Layer):
            config["projection"] = specs[-1]
        else:
            config["projection"] = self.projection
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        block = [layer_from_spec(spec) for spec in config.pop("block")]
        projection = config.pop("projection", None)
        if isinstance(projection, dict):
            projection = layer_from_spec(projection)
        return cls(block, projection=projection, **config)

    def __repr__(self):
        proj = self.projection if not isinstance(self.projection, Layer) else "Dense"
        return (f"Residual(block={[type(l).__name__ for l in self.block]!r}, "
                f"projection={proj!r})")


def _block_layers(block) -> list:
    """The layers of a Residual's block: a layer, a list of layers, or a Sequential's layers."""
    if isinstance(block, (list, tuple)):
        return list(block)
    if isinstance(block, Layer):
        return [block]
    if hasattr(block, "nodes") and hasattr(block, "layers"):
        raise ConfigError(f"Residual: block {block.name!r} is a functional Model; nnlite does "
                          "not nest graphs — write the skip connection in the graph with Add() "
                          "or pass a Sequential (or a list of layers)")
    if hasattr(block, "layers") and hasattr(block, "add"):  # a Sequential
        return list(block.layers)
    return [block]  # rejected with a clear error by __init__


def _local_names(layers):
    taken, names = set(), []
    for layer in layers:
        base = layer.name or layer.default_name
        name, i = base, 0
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        names.append(name)
    return names


def _no_set(value):
    # BaseModel resets layers with empty dicts; the real arrays live in the sublayers
    if value:
        raise ConfigError("Residual: params/grads/state are views of the sublayers' arrays")
