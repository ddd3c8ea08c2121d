"""Keras conveniences around a model: ``model(x)``, ``get_layer``, JSON of the architecture.

    model(x)                       predict-like forward pass of a batch (``training=`` as Keras)
    model.get_layer(name=..., index=...)
    model.to_json()                the architecture, no weights (read back by
                                   ``nnlite.models.model_from_json``, in ``serialization``)
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import ConfigError, GraphError
from ..layers.base import Layer, bool_flag
from ..layers.nodes import Node
from .weights import assign_weights, leaf_layers, weight_arrays, weight_lists

__all__ = ["LayersAndWeights", "call_model", "find_layer", "model_to_json"]


class LayersAndWeights:
    """The part of the model API that reads and writes layers and weights (a mixin of
    ``BaseModel``; it needs ``layers``, ``name`` and ``_require_built`` from it)."""

    def __call__(self, x, training=False):
        """``model(x)``: the outputs for a batch of arrays, as ``predict`` in one pass;
        ``training=True`` runs the training-mode forward (Dropout draws masks, BatchNormalization
        uses the batch statistics and updates its moving averages) without changing weights."""
        return call_model(self, x, training)

    def get_weights(self) -> list:
        """Copies of all parameters (then states), layer by layer, in the layers' key order."""
        self._require_built("get_weights")
        return [value.copy() for _, _, value in weight_arrays(self.layers)]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (as returned by ``get_weights``) into the model; checks every shape
        first, so a mismatch changes nothing."""
        self._require_built("set_weights")
        assign_weights(self.layers, weights)

    @property
    def weights(self) -> list:
        """The live weight arrays, in ``get_weights`` order (views into the model's buffers:
        writing into one changes the model)."""
        self._require_built("weights")
        return [value for _, _, value in weight_arrays(self.layers)]

    @property
    def trainable_weights(self) -> list:
        """The live parameter arrays of trainable layers."""
        self._require_built("trainable_weights")
        return weight_lists(self.layers)[0]

    @property
    def non_trainable_weights(self) -> list:
        """The live parameter arrays of frozen layers, then every state array (e.g. moving
        statistics)."""
        self._require_built("non_trainable_weights")
        return weight_lists(self.layers)[1]

    @property
    def trainable(self) -> bool:
        """Keras' ``model.trainable``: setting it sets ``trainable`` on every layer."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool_flag(value, f"model {self.name!r}: trainable")
        for layer in self.layers:
            layer.trainable = self._trainable

    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (inner layers of containers by their full name, e.g.
        ``"residual/dense"``) or at position ``index`` of ``model.layers``."""
        return find_layer(self, name, index)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (no weights); ``nnlite.models.model_from_json`` reads it
        back.  ``kwargs`` go to ``json.dumps`` (e.g. ``indent=2``)."""
        return model_to_json(self, **kwargs)



def call_model(model, x, training=False):
    """``model(x)``: checked inputs, one forward pass, the output(s) as arrays."""
    if isinstance(x, Node) or (isinstance(x, (list, tuple)) and any(isinstance(v, Node)
                                                                     for v in x)):
        raise GraphError(f"model {model.name!r} was called on a graph node: nnlite does not nest "
                         "models inside functional graphs; wrap a Sequential in "
                         "Residual(model) or call its layers on the node instead")
    training = bool_flag(training, "model(x, training=...)")
    model._require_built("model(x)")
    x = model._check_x(x)
    try:
        return model._forward(x, training, False)
    finally:
        if training:
            model._release_buffers()


def find_layer(model, name=None, index=None) -> Layer:
    """The layer of ``model`` called ``name`` (top-level or inside a container), or the one at
    ``index`` of ``model.layers``."""
    if (name is None) == (index is None):
        raise ConfigError("get_layer: give exactly one of name= or index=")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not -len(model.layers) <= index < len(model.layers):
            raise ConfigError(f"get_layer: index must be an int in [-{len(model.layers)}, "
                              f"{len(model.layers)}), got {index!r}")
        return model.layers[index]
    for layer in (*model.layers, *leaf_layers(model.layers)):
        if layer.name == name:
            return layer
    known = [layer.name for layer in model.layers]
    raise ConfigError(f"get_layer: model {model.name!r} has no layer {name!r}; its layers: "
                      f"{known}")


def model_to_json(model, **kwargs) -> str:
    """``model.get_config()`` as JSON text (``kwargs`` go to ``json.dumps``)."""
    return json.dumps(model.get_config(), **kwargs)
