"""Layers: ``Dense``, the activation layers, and the ``Layer`` base class."""
from .activations import (Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus,
                          Tanh)
from .base import Layer
from .dense import Dense

__all__ = ["Layer", "Dense", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus",
           "Softmax", "Identity", "REGISTRY"]

#: Every layer class nnlite can rebuild from a config, by class name (used when loading files).
REGISTRY = {cls.__name__: cls for cls in (Dense, Activation, Sigmoid, Tanh, ReLU, LeakyReLU,
                                          Softplus, Softmax, Identity)}
