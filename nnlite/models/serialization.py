"""Models from their configs: ``model_from_config`` (used by ``nnlite.load_model``) and
``model_from_json`` (the reader of ``model.to_json()``).

Only the two model classes and the registered layer classes (plus ``custom_objects``) are ever
instantiated: a config names no code to import.
"""
from __future__ import annotations

import json

from ..errors import FormatError
from .graph import Model
from .sequential import Sequential

__all__ = ["model_from_config", "model_from_json"]


def model_from_config(spec, custom_objects=None, seed=None, max_weight_bytes=None):
    """A new, unbuilt model from ``model.get_config()`` (Sequential or Model by its
    ``class_name``); only registered layer classes (and ``custom_objects``) are built."""
    classes = {"Sequential": Sequential, "Model": Model}
    cls = classes.get(spec.get("class_name")) if isinstance(spec, dict) else None
    if cls is None or not isinstance(spec.get("config"), dict):
        got = spec.get("class_name") if isinstance(spec, dict) else type(spec).__name__
        raise FormatError(f"a model config needs class_name 'Sequential' or 'Model' and a "
                          f"config dict, got {got!r}")
    return cls.from_config(spec, seed=seed, custom_objects=custom_objects,
                           max_weight_bytes=max_weight_bytes)


def model_from_json(text, custom_objects=None, seed=None):
    """The model ``model.to_json()`` describes, with fresh weights (drawn from ``seed``)."""
    try:
        spec = json.loads(text)
    except (TypeError, ValueError) as err:
        raise FormatError(f"model_from_json: not a JSON model config ({err})") from None
    return model_from_config(spec, custom_objects, seed)
