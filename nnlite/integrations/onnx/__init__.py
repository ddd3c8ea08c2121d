"""``to_onnx(model, path=None, opset=17)``: the model as an ONNX graph with the same weights,
for serving with any ONNX runtime.  ``graph`` builds the protobuf (``OnnxGraph``), ``export``
holds the per-class exporter table and the driver.  onnx is imported only when it is called."""
from .export import ACTIVATIONS, EXPORTERS, MIN_OPSET, export_layer, to_onnx
from .graph import OnnxGraph

__all__ = ["to_onnx", "EXPORTERS", "ACTIVATIONS", "MIN_OPSET", "OnnxGraph", "export_layer"]
