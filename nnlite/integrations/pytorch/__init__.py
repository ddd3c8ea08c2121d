"""``to_torch(model)``: an equivalent ``torch.nn.Module`` with copies of the model's weights.

The exporters are one table, ``EXPORTERS[class name](layer, ctx) -> nn.Module``: ``core`` holds
the machinery and the entries of the dense, image and normalization layers; ``recurrent`` and
``attention`` hold the entries of the sequence, attention and graph layers, registered into the
table here.  torch is imported only when ``to_torch`` is called.
"""
from . import attention, recurrent
from .core import ACTIVATIONS, EXPORTERS, activation_module, export_layer, function_module, to_torch

EXPORTERS.update(recurrent.EXPORTERS)
EXPORTERS.update(attention.EXPORTERS)

__all__ = ["to_torch", "EXPORTERS", "ACTIVATIONS", "export_layer", "activation_module",
           "function_module"]
