"""nnlite: a vectorized NumPy neural-network framework with a Keras-like API.

>>> import nnlite
>>> from nnlite.layers import Dense
>>> model = nnlite.Sequential([Dense(16, activation="relu", input_dim=2),
...                            Dense(1, activation="sigmoid")], seed=0)
>>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

The package's folders are its floors (ARCHITECTURE.md): ``math`` < ``layers`` / ``losses`` /
``optimizers`` / ``metrics`` < ``training`` < ``models`` < ``io`` < ``datasets`` <
``diagnostics`` < ``callbacks`` < ``integrations`` < ``experiments``.  The names users import
are kept short and stable by ``PUBLIC_MODULES`` below: ``nnlite.gradcheck`` *is*
``nnlite.diagnostics.gradcheck`` (the same module object, ``import nnlite.gradcheck`` works), so
code written against the flat names of nnlite 0.1 keeps working.
"""
import importlib
import sys
from importlib.machinery import ModuleSpec

from . import callbacks, datasets, errors, layers, losses, metrics, models, optimizers, utils
from .diagnostics import derivatives as _derivatives  # noqa: F401 (registers model.gradients)
from .io import saving as _saving  # registers model.save & co. (see models/services.py)
from .models import Input, Model, Sequential
from .version import __version__

load_model = _saving.load_model

#: public module name -> the module that implements it; the one place public paths are defined
PUBLIC_MODULES = {
    "activations": "nnlite.math.activations",
    "initializers": "nnlite.math.initializers",
    "regularizers": "nnlite.math.regularizers",
    "schedules": "nnlite.optimizers.schedules",
    "saving": "nnlite.io.saving",
    "archive": "nnlite.io.archive",
    "grad": "nnlite.diagnostics.derivatives",
    "gradcheck": "nnlite.diagnostics.gradcheck",
    "monitors": "nnlite.callbacks.monitors",
    "monitors_time": "nnlite.diagnostics.time_steps",
    "plotting": "nnlite.diagnostics.plotting",
    "graphview": "nnlite.diagnostics.graphview",
    "export": "nnlite.integrations.export",
    "sklearn": "nnlite.integrations.sklearn",
    "distributed": "nnlite.integrations.distributed",
}


class _PublicPaths:
    """``import nnlite.<public name>`` finds the implementing module (loaded on first use, so
    plotting's matplotlib or scikit-learn load only when asked for) and binds it under both
    names; the module keeps its own ``__name__``."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix == __name__ and name in PUBLIC_MODULES:
            return ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(PUBLIC_MODULES[spec.name.partition(".")[2]])
        spec.loader_state = module.__spec__  # importlib rebinds __spec__ to the alias: undone
        return module

    def exec_module(self, module):
        """The implementing module ran when it was imported; only its own spec goes back."""
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(finder, _PublicPaths) for finder in sys.meta_path):
    sys.meta_path.insert(0, _PublicPaths())  # before any editable-install finder

__all__ = ["Sequential", "Model", "Input", "load_model", "callbacks", "datasets", "errors",
           "layers", "losses", "metrics", "models", "optimizers", "utils", *PUBLIC_MODULES,
           "__version__"]


def __getattr__(name):
    # ``nnlite.gradcheck`` after a bare ``import nnlite`` (PEP 562)
    if name in PUBLIC_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nnlite' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(PUBLIC_MODULES))
