"""Export an nnlite model to ONNX, for serving with any ONNX runtime.

    >>> proto = to_onnx(model, "model.onnx")               # doctest: +SKIP
    >>> import onnxruntime as ort                           # doctest: +SKIP
    >>> ort.InferenceSession("model.onnx").run(None, {"input": x})   # doctest: +SKIP

(the session returns ``[model.predict(x)]``).

The ONNX graph computes ``predict`` (inference mode: Dropout is the identity, BatchNormalization
uses its moving statistics, the last activation is applied) with copies of the weights, in the
model's dtype (float64 models give float64 graphs; onnxruntime's CPU provider has no float64
kernels for Conv, AveragePool, GlobalAveragePool and Erf, the ONNX ReferenceEvaluator runs them
all).  Tensors are batch first with a symbolic batch dimension ``"batch"``.  Names:

* a ``Sequential`` model has one input ``"input"`` and one output named after its last layer;
* a graph ``Model`` keeps its ``Input`` names and names each output after its layer, in the
  model's order, so ``session.run(None, {"a": xa, "b": xb})`` returns ``[out1, out2]``;
* initializers are ``<layer>/<weight>`` (``dense_1/kernel``), nodes ``<layer>/<Op>``.

Layers are exported by a per-class table, ``EXPORTERS[class name](layer, g, x) -> y``: ``g``
is the ``OnnxGraph`` under construction, ``x`` the name of the input tensor (a list of names for
multi-input layers, as in ``Layer.forward``) and ``y`` the name of the output tensor.  An entry
adds nodes with ``g.op`` and weights with ``g.weight``; activations are looked up in
``ACTIVATIONS[name](g, x, params, hint)``.  Masks travel beside tensors in ``g.masks``
(tensor name → name of its boolean (batch, time) mask): an entry that makes a mask sets
``g.masks[y]``, one that consumes it reads ``g.masks.get(x)``, and the driver passes a mask on
through layers that keep the (batch, time) axes (the masking contract's default rule).
A layer or activation without an entry raises ``ConfigError`` naming it.

Opset 17 or newer (17 brings LayerNormalization).  ``onnx`` is imported only when ``to_onnx``
is called: ``pip install "nnlite[onnx]"``.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...io.files import atomic_write
from .graph import ACTIVATIONS, OnnxGraph, activation

__all__ = ["ACTIVATIONS", "EXPORTERS", "MIN_OPSET", "OnnxGraph", "export_layer", "to_onnx"]

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
    h = x
    for inner in layer.block:
        h = export_layer(inner, g, h)
    proj = layer.projection
    skip = export_layer(proj, g, x) if proj is not None and not isinstance(proj, str) else x
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
}


def export_layer(layer, g, x):
    """The output tensor of one built layer applied to ``x`` (via ``EXPORTERS``); carries the
    input's mask on when the layer keeps the (batch, time) axes and set none itself."""
    make = EXPORTERS.get(type(layer).__name__)
    if make is None:
        raise ConfigError(f"to_onnx: layer {layer.name!r} of type {type(layer).__name__} has no "
                          f"ONNX export; exportable: {sorted(EXPORTERS)} (an exporter is one "
                          "entry in nnlite.export_onnx.EXPORTERS)")
    y = make(layer, g, x)
    if isinstance(x, str) and x in g.masks and y not in g.masks \
            and _keeps_time_axis(layer.input_shape, layer.output_shape):
        g.masks[y] = g.masks[x]
    return y


def _keeps_time_axis(input_shape, output_shape):
    return (len(input_shape) >= 2 and len(output_shape) >= 2
            and input_shape[0] == output_shape[0])


# ---------------------------------------------------------------------------- models
def _check_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ConfigError(f"to_onnx: opset must be an int from {MIN_OPSET} (LayerNormalization) "
                          f"to {newest} (the newest this onnx package knows), got {opset!r}")
    return int(opset)


def _sequential(model, g):
    output = model.layers[-1].name
    g.reserve(["input", output])
    g.inputs.append(g.value_info("input", model.input_shape))
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
        g.inputs.append(g.value_info(node.name, node.shape))
    for node in model.nodes:
        if node.is_input:
            continue
        xs = [values[id(p)] for p in node.parents]
        values[id(node)] = export_layer(node.layer, g, xs if node.layer.multi_input else xs[0])
    for node, name in zip(model.outputs, out_names):
        g.output(values[id(node)], name, node.shape)


def to_onnx(model, path=None, opset=MIN_OPSET):
    """An ``onnx.ModelProto`` computing ``model.predict`` with copies of the model's weights;
    also written to ``path`` (atomically) when given.

    Inputs and outputs: (batch, *shape) tensors of the model's dtype, batch symbolic.  The
    result passes ``onnx.checker.check_model``.  Raises ``ConfigError`` naming the layer (or
    activation) that has no ONNX form, and for an ``opset`` below 17."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('to_onnx needs the onnx package: pip install "nnlite[onnx]"') from None
    opset = _check_opset(onnx, opset)
    model._require_built("to_onnx")
    g = OnnxGraph(onnx, model.dtype, opset)
    (_graph if hasattr(model, "nodes") else _sequential)(model, g)
    proto = g.model(model.name, f"nnlite model {model.name!r}, exported for inference")
    onnx.checker.check_model(proto)
    if path is not None:
        with atomic_write(path, "wb") as f:
            f.write(proto.SerializeToString())
    return proto
