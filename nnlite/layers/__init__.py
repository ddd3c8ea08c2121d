"""Layers: ``Dense``, the activation layers, convolutions, recurrent layers, attention and
Transformer blocks, graph convolutions, and the ``Layer`` base class."""
from .activations import (ELU, GELU, Activation, HardSigmoid, Identity, LeakyReLU, ReLU, Sigmoid,
                          SiLU, Softmax, Softplus, Softsign, Swish, Tanh)
from .attention import MultiHeadAttention
from .base import Layer
from .conv import Conv2D
from .conv1d import Conv1D
from .dense import Dense
from .embedding import Embedding
from .graph_conv import GCNConv, SAGEConv
from .gru import GRU
from .lstm import LSTM
from .masking import Masking
from .merge import Add, Concatenate, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .patches import ClassToken, PatchEmbedding, SelectToken
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                      MaxPool2D, MaxPooling2D)
from .pooling1d import (GlobalAveragePooling1D, GlobalAvgPool1D, GlobalMaxPool1D,
                        GlobalMaxPooling1D, MaxPool1D, MaxPooling1D)
from .position import PositionEmbedding, SinePositionEncoding
from .regularization import Dropout
from .reshape import Flatten, Reshape
from .residual import Residual
from .simple_rnn import SimpleRNN
from .token_position import TokenAndPositionEmbedding
from .transformer import TransformerDecoder, TransformerEncoder
from .wrappers import Bidirectional, TimeDistributed

__all__ = ["Layer", "Dense", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus",
           "Softmax", "Identity", "Add", "Subtract", "Multiply", "Concatenate", "Residual",
           "GELU", "ELU", "SiLU", "Swish", "Softsign", "HardSigmoid", "Conv2D", "MaxPool2D",
           "MaxPooling2D", "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "Flatten", "Reshape", "Dropout", "BatchNormalization",
           "LayerNormalization", "MultiHeadAttention", "PositionEmbedding",
           "SinePositionEncoding", "TokenAndPositionEmbedding", "TransformerEncoder",
           "TransformerDecoder", "PatchEmbedding", "ClassToken", "SelectToken", "GCNConv",
           "SAGEConv", "SimpleRNN", "LSTM", "GRU",
           "Embedding", "Masking", "Bidirectional", "TimeDistributed", "Conv1D", "MaxPooling1D",
           "MaxPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D",
           "GlobalMaxPool1D", "REGISTRY", "layer_from_spec"]

#: Every layer class nnlite can rebuild from a config, by class name (used when loading files).
REGISTRY = {cls.__name__: cls for cls in (Dense, Activation, Sigmoid, Tanh, ReLU, LeakyReLU,
                                          Softplus, Softmax, Identity)}
REGISTRY.update({cls.__name__: cls for cls in (Add, Subtract, Multiply, Concatenate, Residual)})
REGISTRY.update({cls.__name__: cls for cls in (
    GELU, ELU, SiLU, Softsign, HardSigmoid, Conv2D, MaxPool2D, AvgPool2D, GlobalAveragePooling2D,
    Flatten, Reshape, Dropout, BatchNormalization, LayerNormalization)})
REGISTRY.update({cls.__name__: cls for cls in (
    MultiHeadAttention, PositionEmbedding, SinePositionEncoding, TokenAndPositionEmbedding,
    TransformerEncoder,
    TransformerDecoder, PatchEmbedding, ClassToken, SelectToken, GCNConv, SAGEConv)})
REGISTRY.update({cls.__name__: cls for cls in (
    SimpleRNN, LSTM, GRU, Embedding, Masking, Bidirectional, TimeDistributed, Conv1D,
    MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D)})


def __getattr__(name):
    # ``from nnlite.layers import Input`` (Keras's keras.layers.Input): graph inputs are built
    # by nnlite.models, which sits above the layers, so the name is looked up on first use
    if name == "Input":
        from ..models.graph_build import Input
        return Input
    raise AttributeError(f"module 'nnlite.layers' has no attribute {name!r}")


def layer_from_spec(spec: dict, custom_objects: dict | None = None) -> Layer:
    """A layer from ``{"class_name": type(layer).__name__, "config": layer.get_config()}``.

    Only classes of ``REGISTRY`` and those the caller passes in ``custom_objects`` (by class
    name) are instantiated: a spec never names code to import."""
    from ..errors import UnknownNameError

    name = spec.get("class_name") if isinstance(spec, dict) else None
    cls = REGISTRY.get(name) or (custom_objects or {}).get(name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise UnknownNameError(f"unknown layer class {name!r}; registered: {sorted(REGISTRY)} "
                               "(pass your own classes in custom_objects)")
    return cls.from_config(dict(spec.get("config", {})))
