"""Layers: ``Dense``, the activation layers, convolutions, recurrent layers, attention and
Transformer blocks, graph convolutions, and the ``Layer`` base class."""
from .activations import (
                          ELU,
                          GELU,
                          Activation,
                          HardSigmoid,
                          Identity,
                          LeakyReLU,
                          ReLU,
                          Sigmoid,
                          SiLU,
                          Softmax,
                          Softplus,
                          Softsign,
                          Swish,
                          Tanh,
)
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
from .nodes import Input
from .normalization import BatchNormalization, LayerNormalization
from .patches import ClassToken, PatchEmbedding, SelectToken
from .pooling import (
                          AveragePooling2D,
                          AvgPool2D,
                          GlobalAveragePooling2D,
                          GlobalAvgPool2D,
                          MaxPool2D,
                          MaxPooling2D,
)
from .pooling1d import (
                          GlobalAveragePooling1D,
                          GlobalAvgPool1D,
                          GlobalMaxPool1D,
                          GlobalMaxPooling1D,
                          MaxPool1D,
                          MaxPooling1D,
)
from .position import PositionEmbedding, SinePositionEncoding
from .registry import REGISTRY, layer_from_spec, register
from .regularization import Dropout
from .reshape import Flatten, Reshape
from .residual import Residual
from .simple_rnn import SimpleRNN
from .transformer import TransformerDecoder, TransformerEncoder
from .wrappers import Bidirectional, TimeDistributed

__all__ = ["Layer", "Dense", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus",
           "Softmax", "Identity", "Add", "Subtract", "Multiply", "Concatenate", "Residual",
           "GELU", "ELU", "SiLU", "Swish", "Softsign", "HardSigmoid", "Conv2D", "MaxPool2D",
           "MaxPooling2D", "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "Flatten", "Reshape", "Dropout", "BatchNormalization",
           "LayerNormalization", "MultiHeadAttention", "PositionEmbedding",
           "SinePositionEncoding", "TransformerEncoder", "TransformerDecoder", "PatchEmbedding",
           "ClassToken", "SelectToken", "GCNConv", "SAGEConv", "SimpleRNN", "LSTM", "GRU",
           "Embedding", "Masking", "Bidirectional", "TimeDistributed", "Conv1D", "MaxPooling1D",
           "MaxPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D",
           "GlobalMaxPool1D", "Input", "REGISTRY", "layer_from_spec"]

register(Dense, Activation, Sigmoid, Tanh, ReLU, LeakyReLU, Softplus, Softmax, Identity,
         Add, Subtract, Multiply, Concatenate, Residual,
         GELU, ELU, SiLU, Softsign, HardSigmoid, Conv2D, MaxPool2D, AvgPool2D,
         GlobalAveragePooling2D, Flatten, Reshape, Dropout, BatchNormalization,
         LayerNormalization,
         MultiHeadAttention, PositionEmbedding, SinePositionEncoding, TransformerEncoder,
         TransformerDecoder, PatchEmbedding, ClassToken, SelectToken, GCNConv, SAGEConv,
         SimpleRNN, LSTM, GRU, Embedding, Masking, Bidirectional, TimeDistributed, Conv1D,
         MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D)
