"""The ONNX graph under construction (``OnnxGraph``) and the activations in ONNX operators
(``ACTIVATIONS``), used by ``nnlite.export_onnx``.

Every activation is written as nnlite computes it: softplus as relu(x) + log(1 + e^-|x|) (ONNX's
Softplus overflows where nnlite's logaddexp does not), GELU exactly with Erf (opset 17 has no
Gelu), hard_sigmoid as relu6(x + 3) / 6.  ``onnx`` is passed in, never imported here.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...version import __version__

__all__ = ["ACTIVATIONS", "OnnxGraph", "activation"]


class OnnxGraph:
    """The ONNX graph being built: nodes, initializers, inputs/outputs and unique names.

    ``dtype`` is the model's float dtype; every weight and constant is stored in it.
    ``exporter(layer, g, x)`` exports one layer (``nnlite.export_onnx.export_layer``); the
    exporters of containers reach it as ``g.export(layer, x)``.  ``batch`` names the symbolic
    first dimension (``"nodes"`` for graph-adjacency models)."""

    def __init__(self, onnx, dtype, opset, exporter=None, batch="batch"):
        self.onnx, self.helper, self.numpy_helper = onnx, onnx.helper, onnx.numpy_helper
        self.dtype = np.dtype(dtype)
        self.elem_type = self.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.opset = opset
        self.batch = batch
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        #: tensor name -> the name of its boolean (batch, time) mask
        self.masks: dict[str, str] = {}
        #: names of the int64 tensors (token ids given as int64 graph inputs)
        self.int64: set[str] = set()
        self._exporter = exporter
        self._taken: set[str] = set()

    def export(self, layer, x):
        """The output tensor(s) of ``layer`` applied to ``x`` (see ``export_layer``)."""
        return self._exporter(layer, self, x)

    def export_unmasked(self, layer, x):
        """``export`` for a sublayer its container calls without a mask (Residual's block, as
        in ``Residual.forward``): the masks stay out of sight meanwhile."""
        masks, self.masks = self.masks, {}
        try:
            return self._exporter(layer, self, x)
        finally:
            self.masks = masks

    @property
    def fused_ops(self) -> bool:
        """True for float32 graphs, which use ONNX's fused operators.  Float64 graphs spell the
        parametrised activations and the normalizations with float64 constants (ONNX stores
        alpha/beta/epsilon attributes as float32: 1e-3 becomes 1.00000005e-3) and Softsign from
        primitives (onnxruntime has no float64 Softsign kernel)."""
        return self.dtype == np.float32

    def name(self, hint: str) -> str:
        """A tensor/node name not used yet: ``hint``, else ``hint_1``, ``hint_2``, ..."""
        name, i = hint, 0
        while name in self._taken:
            i += 1
            name = f"{hint}_{i}"
        self._taken.add(name)
        return name

    def reserve(self, names) -> None:
        """Keep ``names`` (the graph's input and output names) away from internal tensors."""
        self._taken.update(names)

    def weight(self, array, hint: str) -> str:
        """An initializer holding ``array`` in the model's dtype; returns its name."""
        return self.constant(np.asarray(array, dtype=self.dtype), hint)

    def constant(self, array, hint: str) -> str:
        """An initializer holding ``array`` in its own dtype (e.g. int64 shapes)."""
        name = self.name(hint)
        # np.array, not np.ascontiguousarray, which turns a 0-d array into a 1-d one
        self.initializers.append(self.numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def scalar(self, value: float, hint: str) -> str:
        """A 0-d constant of the model's dtype (broadcasts against any tensor)."""
        return self.weight(np.array(value), hint)

    def op(self, op_type: str, inputs, hint: str, outputs: int = 1, **attrs):
        """Append one node; returns its output name (a list when ``outputs`` > 1).
        Attributes that are None are left out."""
        names = [self.name(f"{hint}:{k}" if outputs > 1 else hint) for k in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names,
                                                name=self.name(f"{hint}/node"), **attrs))
        return names if outputs > 1 else names[0]

    def ints(self, values, hint: str) -> str:
        """A 1-d int64 constant (shapes, axes, indices)."""
        return self.constant(np.array(values, dtype=np.int64).reshape(-1), hint)

    def reduce(self, op_type: str, x: str, axes, hint: str, keepdims: int = 1) -> str:
        """``op_type`` (ReduceMean, ReduceMax, ReduceSum, ...) over ``axes``.  Their axes are
        an input from opset 18 on (ReduceSum: from 13), an attribute before."""
        if self.opset < 18 and op_type != "ReduceSum":
            return self.op(op_type, [x], hint, axes=list(axes), keepdims=keepdims)
        return self.op(op_type, [x, self.ints(axes, f"{hint}/axes")], hint, keepdims=keepdims)

    def reduce_mean(self, x: str, axes, hint: str) -> str:
        """Mean over ``axes`` keeping them."""
        return self.reduce("ReduceMean", x, axes, hint)

    def unsqueeze(self, x: str, axes, hint: str) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes, f"{hint}/axes")], hint)

    def squeeze(self, x: str, axes, hint: str) -> str:
        return self.op("Squeeze", [x, self.ints(axes, f"{hint}/axes")], hint)

    def reshape(self, x: str, shape, hint: str) -> str:
        """``x`` reshaped to ``shape`` (0 copies that dimension, -1 is inferred: the batch
        stays symbolic)."""
        return self.op("Reshape", [x, self.ints(shape, f"{hint}/shape")], hint)

    def cast(self, x: str, to, hint: str) -> str:
        """``x`` cast to the NumPy dtype ``to`` (``bool``, ``np.int64``, the model's dtype)."""
        return self.op("Cast", [x], hint, to=self.helper.np_dtype_to_tensor_dtype(np.dtype(to)))

    def reverse_time(self, x: str, hint: str) -> str:
        """``x[:, ::-1]``: axis 1 reversed (a Slice with step -1)."""
        return self.op("Slice", [x, self.ints([-1], f"{hint}/starts"),
                                 self.ints([np.iinfo(np.int64).min], f"{hint}/ends"),
                                 self.ints([1], f"{hint}/axes"), self.ints([-1], f"{hint}/steps")],
                       hint)

    def batch_shape(self, x: str, tail, hint: str) -> str:
        """The int64 shape [batch of ``x``, *tail] (for Expand)."""
        batch = self.op("Slice", [self.op("Shape", [x], f"{hint}/shape_of"),
                                  self.ints([0], f"{hint}/zero"), self.ints([1], f"{hint}/one")],
                        f"{hint}/batch")
        return self.op("Concat", [batch, self.ints(list(tail), f"{hint}/tail")], hint, axis=0)

    def value_info(self, name, shape, elem_type=None):
        """A typed tensor of shape (batch, *shape) with a symbolic batch dimension (``shape``
        entries may be symbols too)."""
        return self.helper.make_tensor_value_info(
            name, self.elem_type if elem_type is None else elem_type, [self.batch, *shape])

    def output(self, tensor: str, name: str, shape) -> None:
        """Declare graph output ``name`` (reserved beforehand) as a copy of ``tensor``."""
        self.outputs.append(self.value_info(name, shape))
        self.nodes.append(self.helper.make_node("Identity", [tensor], [name],
                                                name=self.name(f"{name}/output")))

    def model(self, graph_name: str, doc: str):
        graph = self.helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs,
                                       self.initializers, doc_string=doc)
        opsets = [self.helper.make_opsetid("", self.opset)]
        proto = self.helper.make_model(graph, opset_imports=opsets, producer_name="nnlite",
                                       producer_version=__version__)
        # the oldest IR version that carries this opset, so older runtimes load the file
        proto.ir_version = self.helper.find_min_ir_version_for(opsets)
        return proto


# ---------------------------------------------------------------------------- activations
def _softplus(g, x, p, hint):
    # log(1 + e^x) = relu(x) + log(1 + e^-|x|): no overflow for any x (ONNX's Softplus
    # computes log(exp(x) + 1), which overflows where nnlite's logaddexp does not)
    tail = g.op("Exp", [g.op("Neg", [g.op("Abs", [x], f"{hint}/abs")], f"{hint}/neg")],
                f"{hint}/exp")
    log1p = g.op("Log", [g.op("Add", [tail, g.scalar(1.0, f"{hint}/one")], f"{hint}/add1")],
                 f"{hint}/log")
    return g.op("Add", [g.op("Relu", [x], f"{hint}/relu"), log1p], hint)


def _gelu(g, x, p, hint):
    # exact x Φ(x) = x (1 + erf(x / √2)) / 2 (opset 17 has no Gelu operator)
    erf = g.op("Erf", [g.op("Mul", [x, g.scalar(0.5 ** 0.5, f"{hint}/inv_sqrt2")],
                            f"{hint}/scaled")], f"{hint}/erf")
    phi = g.op("Mul", [g.op("Add", [erf, g.scalar(1.0, f"{hint}/one")], f"{hint}/add1"),
                       g.scalar(0.5, f"{hint}/half")], f"{hint}/cdf")
    return g.op("Mul", [x, phi], hint)


def _softsign(g, x, p, hint):
    if g.fused_ops:
        return g.op("Softsign", [x], hint)
    denominator = g.op("Add", [g.op("Abs", [x], f"{hint}/abs"), g.scalar(1.0, f"{hint}/one")],
                       f"{hint}/denominator")
    return g.op("Div", [x, denominator], hint)


def _leaky_relu(g, x, p, hint):
    alpha = p.get("alpha", 0.01)
    if g.fused_ops:
        return g.op("LeakyRelu", [x], hint, alpha=alpha)
    # max(x, αx) with α in float64 (0 ≤ α ≤ 1, nnlite's formula)
    return g.op("Max", [x, g.op("Mul", [x, g.scalar(alpha, f"{hint}/alpha")], f"{hint}/ax")],
                hint)


def _elu(g, x, p, hint):
    alpha = p.get("alpha", 1.0)
    if g.fused_ops:
        return g.op("Elu", [x], hint, alpha=alpha)
    # max(x, 0) + α (exp(min(x, 0)) - 1)
    negative = g.op("Min", [x, g.scalar(0.0, f"{hint}/zero")], f"{hint}/min")
    expm1 = g.op("Sub", [g.op("Exp", [negative], f"{hint}/exp"), g.scalar(1.0, f"{hint}/one")],
                 f"{hint}/expm1")
    scaled = g.op("Mul", [expm1, g.scalar(alpha, f"{hint}/alpha")], f"{hint}/scaled")
    return g.op("Add", [g.op("Relu", [x], f"{hint}/relu"), scaled], hint)


def _hard_sigmoid(g, x, p, hint):
    if g.fused_ops:
        return g.op("HardSigmoid", [x], hint, alpha=1.0 / 6.0, beta=0.5)
    shifted = g.op("Add", [g.op("Mul", [x, g.scalar(1.0 / 6.0, f"{hint}/sixth")],
                                f"{hint}/scaled"), g.scalar(0.5, f"{hint}/half")],
                   f"{hint}/shifted")
    return g.op("Clip", [shifted, g.scalar(0.0, f"{hint}/lo"), g.scalar(1.0, f"{hint}/hi")],
                hint)


def _simple(op_type, **attrs):
    return lambda g, x, p, hint: g.op(op_type, [x], hint, **attrs)


#: activation name -> (g, x, params dict, hint) -> output tensor name
ACTIVATIONS = {
    "linear": lambda g, x, p, hint: x,
    "sigmoid": _simple("Sigmoid"),
    "tanh": _simple("Tanh"),
    "relu": _simple("Relu"),
    "leaky_relu": _leaky_relu,
    "softplus": _softplus,
    "softmax": _simple("Softmax", axis=-1),
    "gelu": _gelu,
    "elu": _elu,
    "silu": lambda g, x, p, hint: g.op("Mul", [x, g.op("Sigmoid", [x], f"{hint}/sigmoid")],
                                       hint),
    "softsign": _softsign,
    "hard_sigmoid": _hard_sigmoid,
}


def activation(g, fn, x, owner: str) -> str:
    """``fn`` (an ``ActivationFn``) applied to tensor ``x``; ConfigError naming ``owner``."""
    make = ACTIVATIONS.get(fn.name)
    if make is None:
        raise ConfigError(f"to_onnx: layer {owner!r} uses activation {fn.name!r}, which has no "
                          f"ONNX export; exportable: {sorted(ACTIVATIONS)}")
    return make(g, x, dict(fn.params), f"{owner}/{fn.name}")
