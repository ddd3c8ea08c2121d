"""nnlite: a vectorized NumPy neural-network framework with a Keras-like API.

>>> import nnlite
>>> from nnlite.layers import Dense
>>> model = nnlite.Sequential([Dense(16, activation="relu", input_dim=2),
...                            Dense(1, activation="sigmoid")], seed=0)
>>> model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
"""
import importlib

from . import (activations, callbacks, datasets, errors, experiments, grad, gradcheck,
               initializers, layers, losses, metrics, models, monitors, optimizers,
               regularizers, saving, schedules, utils)
from .models import Input, Model, Sequential
from .saving import load_model

__version__ = "0.1.0"

#: submodules imported on first use (PEP 562): ``nnlite.export.to_torch(m)`` works after a bare
#: ``import nnlite``, and plotting (matplotlib) or scikit-learn load only when asked for
_LAZY = ("export", "plotting", "sklearn", "graphview")

__all__ = ["Sequential", "Model", "Input", "load_model", "activations", "callbacks", "datasets",
           "errors", "experiments", "grad", "gradcheck", "initializers", "layers", "losses",
           "metrics", "models", "monitors", "optimizers", "regularizers", "saving", "schedules",
           "utils", *_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nnlite' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
