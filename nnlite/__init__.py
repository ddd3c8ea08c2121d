"""nnlite: a vectorized NumPy neural-network framework with a Keras-like API.

>>> import nnlite
>>> from nnlite.layers import Dense
>>> model = nnlite.Sequential([Dense(16, activation="relu", input_dim=2),
...                            Dense(1, activation="sigmoid")], seed=0)
>>> model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
"""
from . import (activations, callbacks, datasets, errors, experiments, grad, gradcheck,
               initializers, layers, losses, metrics, monitors, optimizers, regularizers, saving,
               schedules)
from .models import Input, Model, Sequential
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["Sequential", "Model", "Input", "load_model", "activations", "callbacks", "datasets",
           "errors", "experiments", "grad", "gradcheck", "initializers", "layers", "losses",
           "metrics", "monitors", "optimizers", "regularizers", "saving", "schedules",
           "__version__"]
