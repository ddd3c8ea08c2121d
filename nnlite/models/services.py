"""The one seam through which a model's convenience methods reach the floors above it.

``model.save`` / ``save_weights`` / ``load_weights`` are done by ``nnlite.io.saving`` and
``model.input_gradient`` / ``gradients`` by ``nnlite.diagnostics.derivatives``: packages that
sit *above* the models (they import models to do their work).  So that the models never import
them, those modules register the functions here when they are imported, and ``nnlite``'s
``__init__`` imports them; a model method looks its service up by name.

    provide("save_model", save_model)     # in nnlite/io/saving.py, at import
    service("save_model")(model, path)    # in BaseModel.save
"""
from __future__ import annotations

__all__ = ["provide", "service", "NAMES"]

#: the services models use, and the module that provides each
NAMES = {
    "save_model": "nnlite.io.saving",
    "save_weights": "nnlite.io.saving",
    "load_weights": "nnlite.io.saving",
    "input_gradient": "nnlite.diagnostics.derivatives",
    "gradients": "nnlite.diagnostics.derivatives",
}
_PROVIDED: dict = {}


def provide(name, function) -> None:
    """Register ``function`` as the service ``name`` (one of ``NAMES``)."""
    if name not in NAMES:
        raise KeyError(f"unknown model service {name!r}; known: {sorted(NAMES)}")
    _PROVIDED[name] = function


def service(name):
    """The function registered as ``name``; importing ``nnlite`` registers them all."""
    try:
        return _PROVIDED[name]
    except KeyError:
        raise RuntimeError(f"model service {name!r} is not registered: import nnlite (or "
                           f"{NAMES.get(name, 'its module')}) first") from None
