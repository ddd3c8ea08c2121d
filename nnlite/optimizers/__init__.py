"""Optimizers: update rules over (parameter, gradient) buffers, and the lecture's three
batching regimes (``GD``, ``SGD``, ``MiniBatchSGD``), selectable by name.

    "gd", "sgd", "minibatch_sgd" ("minibatch")    the regimes (``nnlite.optimizers.sgd``)
    "adam", "adamw", "nadam", "rmsprop", "adagrad"  adaptive rules (``...adaptive``)

Every optimizer takes ``learning_rate`` (a number or a schedule), ``clipnorm``/``clipvalue``
and ``weight_decay`` (see ``Optimizer``).  Keras spells ``RMSprop`` and ``Adagrad``; both
spellings work.
"""
from __future__ import annotations

from ..errors import UnknownNameError
from .adaptive import AdaGrad, Adam, AdamW, Nadam, RMSProp
from .base import Optimizer
from .schedules import deserialize
from .sgd import GD, SGD, MiniBatchSGD

RMSprop, Adagrad = RMSProp, AdaGrad  # Keras's spellings

__all__ = ["Optimizer", "GD", "SGD", "MiniBatchSGD", "Adam", "AdamW", "Nadam", "RMSProp",
           "AdaGrad", "RMSprop", "Adagrad", "get", "names", "from_config"]

_TABLE = {"gd": GD, "sgd": SGD, "minibatch_sgd": MiniBatchSGD, "adam": Adam, "adamw": AdamW,
          "nadam": Nadam, "rmsprop": RMSProp, "adagrad": AdaGrad}
_ALIASES = {"minibatch": "minibatch_sgd", "minibatchsgd": "minibatch_sgd"}
_CLASSES = {cls.__name__: cls for cls in _TABLE.values()}
_KERAS_NAMES = {"RMSprop": RMSProp, "Adagrad": AdaGrad}


def names() -> list[str]:
    """Every name ``get`` accepts (besides the class names)."""
    return sorted(set(_TABLE) | set(_ALIASES))


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"gd"``, ``"sgd"``, ``"minibatch"``, ``"adam"``, ...) or an
    instance (passed through)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        cls = _TABLE.get(key) or _CLASSES.get(identifier) or _KERAS_NAMES.get(identifier)
        if cls is not None:
            return cls()
    raise UnknownNameError(f"unknown optimizer {identifier!r}; valid names: {', '.join(names())}")


def from_config(class_name: str, config: dict, custom_objects=None) -> Optimizer:
    """Rebuild a registered optimizer from ``type(opt).__name__`` and ``get_config()`` (a
    schedule given as ``{"class_name", "config"}`` is rebuilt from ``nnlite.schedules``)."""
    if class_name not in _CLASSES:
        raise UnknownNameError(f"unknown optimizer class {class_name!r}; valid: {sorted(_CLASSES)}")
    config = dict(config)
    if isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = deserialize(config["learning_rate"], custom_objects)
    return _CLASSES[class_name](**config)
