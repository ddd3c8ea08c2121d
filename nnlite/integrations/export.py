"""Export an nnlite model to other systems (public path ``nnlite.export``).

    >>> net = nnlite.export.to_torch(model)            # doctest: +SKIP
    >>> proto = nnlite.export.to_onnx(model, "m.onnx")  # doctest: +SKIP

``to_torch`` returns a ``torch.nn.Module`` computing ``model.predict`` (see
``nnlite.integrations.pytorch``); ``to_onnx`` writes or returns an ONNX model (see
``nnlite.integrations.onnx``).  ``EXPORTERS`` and ``ACTIVATIONS`` are the PyTorch tables.
"""
from .onnx import to_onnx
from .pytorch import ACTIVATIONS, EXPORTERS, export_layer, to_torch

__all__ = ["to_torch", "to_onnx", "EXPORTERS", "ACTIVATIONS", "export_layer"]
