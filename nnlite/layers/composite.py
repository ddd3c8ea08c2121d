"""``Composite``: the base of layers built from nnlite layers (TransformerEncoder, ...).

A composite is a *container* like ``Residual``: its layers are ``self.sublayers`` (the model
packs their parameters into its flat buffer, ``get_weights``/``save`` list them), each named
``<composite>/<local>`` (e.g. ``transformer_encoder/self_attention``), and ``params``/``grads``/
``state`` are read-only views keyed ``<local>/<param>`` so a composite is gradient-checked like
any layer.  Sublayers whose sizes depend on the input are created in ``build`` (``adopt``); until
then the composite is its own leaf, so a model's weight-allocation limit reaches them too.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Layer

__all__ = ["Composite"]


class Composite(Layer):
    """Named sublayers, their parameter views, names, counts and buffers (see module doc)."""

    def __init__(self, **kwargs):
        self._named = []  # [(local name, layer)], set by adopt()
        super().__init__(**kwargs)

    @property
    def sublayers(self):
        return [layer for _, layer in self._named]

    def adopt(self, named) -> None:
        """Make ``named`` ([(local name, layer)], unbuilt) the sublayers, with this layer's
        allocation budget and prefixed names."""
        self._named = list(named)
        for _, layer in self._named:
            layer.allocation_budget = self.allocation_budget
            if not self.trainable:      # frozen before build: what it adopts is frozen too
                layer.trainable = False
        self.name = self._name

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = value
        prefix = f"{value}/" if value else ""
        for local, layer in self._named:
            layer.name = prefix + local

    def _view(self, attr):
        return {f"{local}/{k}": v for local, layer in self._named
                for k, v in getattr(layer, attr).items()}

    params = property(lambda self: self._view("params"), lambda self, v: _no_set(self, v))
    grads = property(lambda self: self._view("grads"), lambda self, v: _no_set(self, v))
    state = property(lambda self: self._view("state"), lambda self, v: _no_set(self, v))

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self.sublayers))

    def release_buffers(self) -> None:
        super().release_buffers()
        for layer in self.sublayers:
            layer.release_buffers()


def _no_set(layer, value):
    # the base class and BaseModel reset layers with empty dicts; the arrays live in sublayers
    if value:
        raise ConfigError(f"{type(layer).__name__}: params/grads/state are views of the "
                          "sublayers' arrays")
