"""Layers: ``Dense``, the activation layers, and the ``Layer`` base class."""
from .activations import (ELU, GELU, Activation, HardSigmoid, Identity, LeakyReLU, ReLU, Sigmoid,
                          SiLU, Softmax, Softplus, Softsign, Swish, Tanh)
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .merge import Add, Concatenate, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                      MaxPool2D, MaxPooling2D)
from .regularization import Dropout
from .reshape import Flatten, Reshape
from .residual import Residual

__all__ = ["Layer", "Dense", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus",
           "Softmax", "Identity", "Add", "Subtract", "Multiply", "Concatenate", "Residual",
           "GELU", "ELU", "SiLU", "Swish", "Softsign", "HardSigmoid", "Conv2D", "MaxPool2D",
           "MaxPooling2D", "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "Flatten", "Reshape", "Dropout", "BatchNormalization",
           "LayerNormalization", "REGISTRY", "layer_from_spec"]

#: Every layer class nnlite can rebuild from a config, by class name (used when loading files).
REGISTRY = {cls.__name__: cls for cls in (Dense, Activation, Sigmoid, Tanh, ReLU, LeakyReLU,
                                          Softplus, Softmax, Identity)}
REGISTRY.update({cls.__name__: cls for cls in (Add, Subtract, Multiply, Concatenate, Residual)})
REGISTRY.update({cls.__name__: cls for cls in (
    GELU, ELU, SiLU, Softsign, HardSigmoid, Conv2D, MaxPool2D, AvgPool2D, GlobalAveragePooling2D,
    Flatten, Reshape, Dropout, BatchNormalization, LayerNormalization)})


def layer_from_spec(spec: dict) -> Layer:
    """A layer from ``{"class_name": type(layer).__name__, "config": layer.get_config()}``."""
    from ..errors import UnknownNameError

    cls = REGISTRY.get(spec.get("class_name")) if isinstance(spec, dict) else None
    if cls is None:
        raise UnknownNameError(f"unknown layer spec {spec!r}; valid class names: "
                               f"{sorted(REGISTRY)}")
    return cls.from_config(dict(spec.get("config", {})))
