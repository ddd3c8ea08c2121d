"""The layer registry: every layer class nnlite can rebuild from a config, by class name.

``nnlite.layers`` registers its classes here once they are all imported; containers (Residual,
Bidirectional, TimeDistributed, ...) and the models rebuild inner layers with
:func:`layer_from_spec`, which instantiates only registered classes (or those the caller passes
in ``custom_objects``): a spec never names code to import.
"""
from __future__ import annotations

from ..errors import UnknownNameError
from .base import Layer

__all__ = ["REGISTRY", "register", "layer_from_spec"]

#: class name -> layer class (filled by ``nnlite.layers``)
REGISTRY: dict = {}


def register(*classes) -> None:
    """Add layer classes to ``REGISTRY`` under their class names."""
    for cls in classes:
        REGISTRY[cls.__name__] = cls


def layer_from_spec(spec: dict, custom_objects: dict | None = None) -> Layer:
    """A layer from ``{"class_name": type(layer).__name__, "config": layer.get_config()}``."""
    name = spec.get("class_name") if isinstance(spec, dict) else None
    cls = REGISTRY.get(name) or (custom_objects or {}).get(name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise UnknownNameError(f"unknown layer class {name!r}; registered: {sorted(REGISTRY)} "
                               "(pass your own classes in custom_objects)")
    return cls.from_config(dict(spec.get("config", {})))
