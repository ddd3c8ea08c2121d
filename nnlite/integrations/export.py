"""Export an nnlite model to other systems (public path ``nnlite.export``).

    >>> net = nnlite.export.to_torch(model)            # doctest: +SKIP
    >>> proto = nnlite.export.to_onnx(model, "m.onnx")  # doctest: +SKIP

``to_torch`` returns a ``torch.nn.Module`` computing ``model.predict`` (see
``nnlite.integrations.pytorch``); ``to_onnx`` writes or returns an ONNX model (see
``nnlite.integrations.onnx``; ``onnx_adjacency`` makes the dense adjacency input of a graph
model).  ``EXPORTERS`` and ``ACTIVATIONS`` are the PyTorch tables.
"""
from .onnx import onnx_adjacency, to_onnx
from .pytorch import ACTIVATIONS, EXPORTERS, export_layer, to_torch

__all__ = ["to_torch", "to_onnx", "onnx_adjacency", "EXPORTERS", "ACTIVATIONS", "export_layer"]
