"""Export an nnlite model to ONNX, for serving with any ONNX runtime.

    >>> proto = to_onnx(model, "model.onnx")               # doctest: +SKIP
    >>> import onnxruntime as ort                           # doctest: +SKIP
    >>> ort.InferenceSession("model.onnx").run(None, {"input": x})   # doctest: +SKIP

(the session returns ``[model.predict(x)]``).

The ONNX graph computes ``predict`` (inference mode: Dropout is the identity, BatchNormalization
uses its moving statistics, the last activation is applied) with copies of the weights, in the
model's dtype (float64 models give float64 graphs; onnxruntime's CPU provider has no float64
kernels for Conv, AveragePool, GlobalAveragePool, Erf and the recurrent operators, the ONNX
ReferenceEvaluator runs them all).  Tensors are batch first with a symbolic batch dimension
``"batch"`` (``"nodes"`` in a model with a graph adjacency).  Names:

* a ``Sequential`` model has one input ``"input"`` and one output named after its last layer;
* a graph ``Model`` keeps its ``Input`` names and names each output after its node, in the
  model's order (``"lstm"``, ``"lstm:1"``, ... for the outputs of a multi-output call), so
  ``session.run(None, {"a": xa, "b": xb})`` returns ``[out1, out2]``;
* initializers are ``<layer>/<weight>`` (``dense_1/kernel``), nodes ``<layer>/<Op>``.

Inputs: the model's dtype, except token ids read only by Embedding layers (int64) and a graph
adjacency (a dense (nodes, nodes) matrix, see ``nnlite.export_onnx_graph_conv``).

Layers are exported by a per-class table, ``EXPORTERS[class name](layer, g, x) -> y``: ``g``
is the ``OnnxGraph`` under construction, ``x`` the name of the input tensor (a list of names for
multi-input layers, as in ``Layer.forward``) and ``y`` the name of the output tensor (a list for
a ``multi_output`` layer).  An entry adds nodes with ``g.op`` and weights with ``g.weight``, and
exports its sublayers with ``g.export``; activations are looked up in
``ACTIVATIONS[name](g, x, params, hint)``.  The sequence, recurrent, attention and graph
layers' entries live in ``export_onnx_seq``, ``export_onnx_recurrent``,
``export_onnx_attention`` and ``export_onnx_graph_conv``.  Masks travel beside tensors in
``g.masks`` (tensor name → name of its boolean (batch, time) mask), by nnlite's rule: an entry
for a layer that overrides ``compute_mask`` sets ``g.masks`` for its outputs itself (Embedding,
Masking, the recurrent layers, attention, ...); for the others the driver passes the input masks
on (AND-ed) when the output keeps the (batch, time) axes.  A layer or activation without an
entry, and what ONNX cannot express (a ``stateful`` recurrent layer), raise ``ConfigError``
naming the layer.

Opset 17 or newer (17 brings LayerNormalization).  ``onnx`` is imported only when ``to_onnx``
is called: ``pip install "nnlite[onnx]"``.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...io.files import atomic_write
from ...layers.base import Layer
from .attention import EXPORTERS as ATTENTION_EXPORTERS
from .graph import ACTIVATIONS, OnnxGraph, activation
from .graph_conv import EXPORTERS as GRAPH_CONV_EXPORTERS
from .graph_conv import onnx_adjacency
from .recurrent import EXPORTERS as RECURRENT_EXPORTERS
from .sequences import EXPORTERS as SEQUENCE_EXPORTERS

__all__ = ["ACTIVATIONS", "EXPORTERS", "MIN_OPSET", "OnnxGraph", "export_layer", "onnx_adjacency",
           "to_onnx"]

MIN_OPSET = 17


# ---------------------------------------------------------------------------- layers
def _dense(layer, g, x):
    kernel = g.weight(layer.params["kernel"], f"{layer.name}/kernel")
    bias = g.weight(layer.params["bias"], f"{layer.name}/bias") if layer.use_bias else None
    if len(layer.input_shape) == 1:  # (batch, in): one Gemm
        z = g.op("Gemm", [x, kernel] + ([bias] if bias else []), f"{layer.name}/Gemm")
    else:                            # (batch, ..., in): over the last axis
        z = g.op("MatMul", [x, kernel], f"{layer.name}/MatMul")
        if bias:
            z = g.op("Add", [z, bias], f"{layer.name}/BiasAdd")
    return activation(g, layer.activation, z, layer.name)


def _activation_layer(layer, g, x):
    return activation(g, layer.activation, x, layer.name)


def _merge(op_type):
    def export(layer, g, xs):
        y = xs[0]
        for k, x in enumerate(xs[1:]):
            y = g.op(op_type, [y, x], f"{layer.name}/{op_type}" + (f"_{k}" if k else ""))
        return y
    return export


def _concatenate(layer, g, xs):
    return g.op("Concat", xs, f"{layer.name}/Concat", axis=layer.axis)  # axis counts the batch


def _residual(layer, g, x):
    # the block runs without the input's mask, as in Residual.forward
    h = x
    for inner in layer.block:
        h = g.export_unmasked(inner, h)
    proj = layer.projection
    skip = g.export_unmasked(proj, x) if proj is not None and not isinstance(proj, str) else x
    return g.op("Add", [h, skip], f"{layer.name}/Add")


def _pads(layer):
    """ONNX ``pads`` [top, left, bottom, right] from nnlite's (top, bottom, left, right), the
    extra row/column of "same" padding at the bottom/right as in nnlite."""
    top, bottom, left, right = layer._pads
    return [top, left, bottom, right]


def _conv2d(layer, g, x):
    inputs = [x, g.weight(layer.params["kernel"], f"{layer.name}/kernel")]
    if layer.use_bias:
        inputs.append(g.weight(layer.params["bias"], f"{layer.name}/bias"))
    z = g.op("Conv", inputs, f"{layer.name}/Conv", kernel_shape=list(layer.kernel_size),
             strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=_pads(layer))
    return activation(g, layer.activation, z, layer.name)


def _max_pool(layer, g, x):
    # padded pixels never win (ONNX and nnlite both pad max pooling with -inf)
    return g.op("MaxPool", [x], f"{layer.name}/MaxPool", kernel_shape=list(layer.pool_size),
                strides=list(layer.strides), pads=_pads(layer))


def _avg_pool(layer, g, x):
    # the mean over the window's real pixels: padded ones are not counted
    return g.op("AveragePool", [x], f"{layer.name}/AveragePool",
                kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                pads=_pads(layer), count_include_pad=0)


def _global_avg_pool(layer, g, x):
    y = g.op("GlobalAveragePool", [x], f"{layer.name}/GlobalAveragePool")  # (batch, C, 1, 1)
    return y if layer.keepdims else g.op("Flatten", [y], f"{layer.name}/Flatten", axis=1)


def _reshape(layer, g, x):
    # 0 copies the batch dimension, so the batch stays symbolic
    shape = g.constant(np.array([0, *layer.output_shape], dtype=np.int64), f"{layer.name}/shape")
    return g.op("Reshape", [x, shape], f"{layer.name}/Reshape")


def _batch_norm(layer, g, x):
    # inference form: γ (x - moving_mean) / √(moving_variance + ε) + β over axis 1
    if not g.fused_ops:  # x · scale + shift with float64 constants, as nnlite computes it
        shape = (-1,) + (1,) * (len(layer.input_shape) - 1)
        scale = layer.params["gamma"] / np.sqrt(layer.state["moving_variance"] + layer.epsilon)
        shift = layer.params["beta"] - layer.state["moving_mean"] * scale
        y = g.op("Mul", [x, g.weight(scale.reshape(shape), f"{layer.name}/scale")],
                 f"{layer.name}/Mul")
        return g.op("Add", [y, g.weight(shift.reshape(shape), f"{layer.name}/shift")],
                    f"{layer.name}/Add")
    names = [g.weight(layer.params["gamma"], f"{layer.name}/gamma"),
             g.weight(layer.params["beta"], f"{layer.name}/beta"),
             g.weight(layer.state["moving_mean"], f"{layer.name}/moving_mean"),
             g.weight(layer.state["moving_variance"], f"{layer.name}/moving_variance")]
    return g.op("BatchNormalization", [x, *names], f"{layer.name}/BatchNormalization",
                epsilon=layer.epsilon)


def _layer_norm(layer, g, x):
    # over the last axis: (x - μ) / √(σ² + ε) · γ + β
    gamma = g.weight(layer.params["gamma"], f"{layer.name}/gamma")
    beta = g.weight(layer.params["beta"], f"{layer.name}/beta")
    if g.fused_ops:
        return g.op("LayerNormalization", [x, gamma, beta], f"{layer.name}/LayerNormalization",
                    axis=-1, epsilon=layer.epsilon)
    hint = layer.name
    centered = g.op("Sub", [x, g.reduce_mean(x, [-1], f"{hint}/mean")], f"{hint}/centered")
    variance = g.reduce_mean(g.op("Mul", [centered, centered], f"{hint}/square"), [-1],
                             f"{hint}/variance")
    std = g.op("Sqrt", [g.op("Add", [variance, g.scalar(layer.epsilon, f"{hint}/epsilon")],
                             f"{hint}/var_eps")], f"{hint}/std")
    xhat = g.op("Div", [centered, std], f"{hint}/xhat")
    return g.op("Add", [g.op("Mul", [xhat, gamma], f"{hint}/scaled"), beta], f"{hint}/Add")


#: layer class name -> (layer, g, x) -> output tensor name (x: a list for multi-input layers)
EXPORTERS = {
    "Dense": _dense,
    **{name: _activation_layer for name in (
        "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Softmax", "Identity",
        "GELU", "ELU", "SiLU", "Softsign", "HardSigmoid")},
    "Add": _merge("Add"),
    "Subtract": _merge("Sub"),
    "Multiply": _merge("Mul"),
    "Concatenate": _concatenate,
    "Residual": _residual,
    "Conv2D": _conv2d,
    "MaxPool2D": _max_pool,
    "AvgPool2D": _avg_pool,
    "GlobalAveragePooling2D": _global_avg_pool,
    "Flatten": lambda layer, g, x: g.op("Flatten", [x], f"{layer.name}/Flatten", axis=1),
    "Reshape": _reshape,
    "Dropout": lambda layer, g, x: x,  # the identity at inference
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    **SEQUENCE_EXPORTERS,
    **RECURRENT_EXPORTERS,
    **ATTENTION_EXPORTERS,
    **GRAPH_CONV_EXPORTERS,
}


def export_layer(layer, g, x):
    """The output tensor of one built layer applied to ``x`` (a list of tensors for a
    ``multi_output`` layer), via ``EXPORTERS``.  Masks follow nnlite's rule: a layer that
    overrides ``compute_mask`` sets ``g.masks`` itself; for the others the input masks pass on
    (AND-ed) when the output keeps the (batch, time) axes (``Layer.compute_mask``)."""
    make = EXPORTERS.get(type(layer).__name__)
    if make is None:
        raise ConfigError(f"to_onnx: layer {layer.name!r} of type {type(layer).__name__} has no "
                          f"ONNX export; exportable: {sorted(EXPORTERS)} (an exporter is one "
                          "entry in nnlite.export_onnx.EXPORTERS)")
    y = make(layer, g, x)
    if type(layer).compute_mask is Layer.compute_mask and isinstance(y, str) \
            and y not in g.masks:
        _default_mask(layer, g, x, y)
    return y


def _default_mask(layer, g, x, y):
    xs = x if isinstance(x, list) else [x]
    shapes = layer.input_shape if isinstance(x, list) else [layer.input_shape]
    masked = [(g.masks[t], s) for t, s in zip(xs, shapes) if t in g.masks]
    out = layer.output_shape
    if not masked or isinstance(out, list) or len(out) < 2 \
            or any(s[0] != out[0] for _, s in masked):
        return
    mask = masked[0][0]
    for k, (other, _) in enumerate(masked[1:]):
        mask = g.op("And", [mask, other], f"{layer.name}/mask_and" + (f"_{k}" if k else ""))
    g.masks[y] = mask


# ---------------------------------------------------------------------------- models
def _check_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ConfigError(f"to_onnx: opset must be an int from {MIN_OPSET} (LayerNormalization) "
                          f"to {newest} (the newest this onnx package knows), got {opset!r}")
    return int(opset)


def _declare_input(g, name, shape, readers, sparse=False):
    """A graph input: token ids (every reader an Embedding) are int64; a graph adjacency is
    a dense (nodes, nodes) matrix of the model's dtype."""
    if sparse:
        g.inputs.append(g.value_info(name, [g.batch]))
    elif readers and all(type(r).__name__ == "Embedding" for r in readers):
        g.inputs.append(g.value_info(name, shape, g.helper.np_dtype_to_tensor_dtype(
            np.dtype(np.int64))))
        g.int64.add(name)
    else:
        g.inputs.append(g.value_info(name, shape))


def _sequential(model, g):
    output = model.layers[-1].name
    g.reserve(["input", output])
    _declare_input(g, "input", model.input_shape, model.layers[:1])
    x = "input"
    for layer in model.layers:
        x = export_layer(layer, g, x)
    g.output(x, output, model.output_shape)


def _graph(model, g):
    out_names = [n.label for n in model.outputs]
    g.reserve([n.name for n in model.inputs] + out_names)
    values = {}
    for node in model.inputs:
        values[id(node)] = node.name
        readers = [n.layer for n in model.nodes if any(p is node for p in n.parents)]
        _declare_input(g, node.name, node.shape, readers, node.sparse)
    calls = {}  # a multi-output call runs once: its sibling nodes take their outputs from it
    for node in model.nodes:
        if node.is_input:
            continue
        if node.group is not None and id(node.group) in calls:
            values[id(node)] = calls[id(node.group)][node.index]
            continue
        xs = [values[id(p)] for p in node.parents]
        y = export_layer(node.layer, g, xs if node.layer.multi_input else xs[0])
        if node.group is not None:
            calls[id(node.group)] = y
            y = y[node.index]
        values[id(node)] = y
    for node, name in zip(model.outputs, out_names):
        g.output(values[id(node)], name, node.shape)


def to_onnx(model, path=None, opset=MIN_OPSET):
    """An ``onnx.ModelProto`` computing ``model.predict`` with copies of the model's weights;
    also written to ``path`` (atomically) when given.

    Inputs and outputs: (batch, *shape) tensors of the model's dtype, batch symbolic (token ids
    for Embedding layers: int64; a graph adjacency: dense (nodes, nodes), see
    ``onnx_adjacency``).  The result passes ``onnx.checker.check_model``.  Raises
    ``ConfigError`` naming the layer (or activation) that has no ONNX form or cannot be
    expressed (``stateful=True``), and for an ``opset`` below 17."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('to_onnx needs the onnx package: pip install "nnlite[onnx]"') from None
    opset = _check_opset(onnx, opset)
    model._require_built("to_onnx")
    sparse = any(n.sparse for n in getattr(model, "inputs", []))
    g = OnnxGraph(onnx, model.dtype, opset, export_layer, "nodes" if sparse else "batch")
    (_graph if hasattr(model, "nodes") else _sequential)(model, g)
    proto = g.model(model.name, f"nnlite model {model.name!r}, exported for inference")
    onnx.checker.check_model(proto)
    if path is not None:
        with atomic_write(path, "wb") as f:
            f.write(proto.SerializeToString())
    return proto
