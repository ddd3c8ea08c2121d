"""``to_onnx(model, path=None, opset=17)``: the model as an ONNX graph with the same weights,
for serving with any ONNX runtime.  ``graph`` builds the protobuf (``OnnxGraph``), ``export``
holds the driver and the exporter table, whose entries for the sequence, recurrent, attention
and graph layers live in ``sequences``, ``recurrent``, ``attention`` and ``graph_conv``.  onnx
is imported only when it is called."""
from .export import ACTIVATIONS, EXPORTERS, MIN_OPSET, export_layer, onnx_adjacency, to_onnx
from .graph import OnnxGraph

__all__ = ["to_onnx", "onnx_adjacency", "EXPORTERS", "ACTIVATIONS", "MIN_OPSET", "OnnxGraph",
           "export_layer"]
