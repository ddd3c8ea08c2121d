"""ONNX exporters of the sequence layers that are not recurrent: Embedding, Masking, Conv1D,
the 1-D poolings and TimeDistributed (entries of ``nnlite.export_onnx.EXPORTERS``).

Sequences are (batch, time, features), masks boolean (batch, time) tensors kept in ``g.masks``
beside the tensor they belong to (see ``nnlite.export_onnx``):

    Embedding            y = Gather(E, ids, axis=0); mask_zero: mask = ids != 0.  Token ids are
                         an int64 graph input when every reader of the input is an Embedding,
                         else they are cast to int64 first (nnlite accepts ids in float arrays)
    Masking              mask = any_k(x[..., k] != v),  y = x · mask
    Conv1D, MaxPooling1D Transpose to (batch, channels, time), Conv / MaxPool with a 1-D window
                         and nnlite's padding (``"same"``: the extra step at the end,
                         ``"causal"``: (k - 1)·d steps in front; MaxPool's -inf padding as a
                         Pad before it), Transpose back
    GlobalAveragePooling1D  Σ_t m_t x_t / max(Σ_t m_t, 1)   (all ones without a mask)
    GlobalMaxPooling1D      max over the real steps; 0 for a sequence with none (as nnlite)
    TimeDistributed      the wrapped layer's exporter on (batch·time, ...) rows, via Reshape
"""
from __future__ import annotations

import numpy as np

from .graph import activation

__all__ = ["EXPORTERS"]


def _embedding(layer, g, x):
    hint = layer.name
    ids = x if x in g.int64 else g.cast(x, np.int64, f"{hint}/ids")
    table = g.weight(layer.params["embeddings"], f"{hint}/embeddings")
    y = g.op("Gather", [table, ids], f"{hint}/Gather", axis=0)
    if layer.mask_zero:   # id 0 is padding
        zero = g.constant(np.array(0, dtype=np.int64), f"{hint}/pad_id")
        g.masks[y] = g.op("Not", [g.op("Equal", [ids, zero], f"{hint}/is_pad")], f"{hint}/mask")
    return y


def _masking(layer, g, x):
    hint = layer.name
    real = g.op("Not", [g.op("Equal", [x, g.scalar(layer.mask_value, f"{hint}/mask_value")],
                             f"{hint}/equal")], f"{hint}/differs")
    # any over the last axis: the max of 0/1 (onnxruntime has no ReduceMax for bool)
    keep = g.reduce("ReduceMax", g.cast(real, np.int32, f"{hint}/differs_int"), [-1],
                    f"{hint}/any")                                       # (batch, time, 1)
    y = g.op("Mul", [x, g.cast(keep, g.dtype, f"{hint}/keep")], f"{hint}/Mul")
    g.masks[y] = g.cast(g.squeeze(keep, [-1], f"{hint}/keep_2d"), bool, f"{hint}/mask")
    return y


def _channels_first(g, x, hint):
    return g.op("Transpose", [x], hint, perm=[0, 2, 1])


def _conv1d(layer, g, x):
    hint = layer.name
    # Keras's kernel (k, in, filters) -> ONNX's (filters, in, k)
    inputs = [_channels_first(g, x, f"{hint}/to_channels_first"),
              g.weight(layer.params["kernel"].transpose(2, 1, 0), f"{hint}/kernel")]
    if layer.use_bias:
        inputs.append(g.weight(layer.params["bias"], f"{hint}/bias"))
    z = g.op("Conv", inputs, f"{hint}/Conv", kernel_shape=[layer.kernel_size],
             strides=[layer.strides], dilations=[layer.dilation_rate],
             pads=[layer._before, layer._after])
    z = _channels_first(g, z, f"{hint}/to_channels_last")
    return activation(g, layer.activation, z, hint)


def _max_pool1d(layer, g, x):
    # padded with -inf as nnlite (never the maximum), by a Pad before the pooling: the ONNX
    # ReferenceEvaluator drops the end padding of a 1-D MaxPool's own pads
    hint = layer.name
    x = _channels_first(g, x, f"{hint}/to_channels_first")
    if layer._before or layer._after:
        x = g.op("Pad", [x, g.ints([0, 0, layer._before, 0, 0, layer._after], f"{hint}/pads"),
                         g.scalar(-np.inf, f"{hint}/minus_inf")], f"{hint}/Pad")
    y = g.op("MaxPool", [x], f"{hint}/MaxPool", kernel_shape=[layer.pool_size],
             strides=[layer.strides])
    return _channels_first(g, y, f"{hint}/to_channels_last")


def _keepdims(layer, g, y):
    return g.unsqueeze(y, [1], f"{layer.name}/keepdims") if layer.keepdims else y


def _global_avg_pool1d(layer, g, x):
    hint = layer.name
    mask = g.masks.get(x)
    if mask is None:   # Σ_t x_t · (1/T), nnlite's weights
        weights = g.scalar(1.0 / layer.input_shape[0], f"{hint}/inv_steps")
    else:              # m_t / max(Σ m, 1): a fully masked sequence pools to 0
        real = g.cast(mask, g.dtype, f"{hint}/real")
        count = g.op("Max", [g.reduce("ReduceSum", real, [1], f"{hint}/count"),
                             g.scalar(1.0, f"{hint}/one")], f"{hint}/count_1")
        weights = g.unsqueeze(g.op("Div", [real, count], f"{hint}/weights_2d"), [-1],
                              f"{hint}/weights")
    y = g.reduce("ReduceSum", g.op("Mul", [x, weights], f"{hint}/weighted"), [1],
                 f"{hint}/ReduceSum", keepdims=0)
    return _keepdims(layer, g, y)


def _global_max_pool1d(layer, g, x):
    hint = layer.name
    mask = g.masks.get(x)
    if mask is None:
        return _keepdims(layer, g, g.reduce("ReduceMax", x, [1], f"{hint}/ReduceMax", keepdims=0))
    real = g.unsqueeze(mask, [-1], f"{hint}/real")                        # (batch, time, 1)
    lowest = g.scalar(-np.inf, f"{hint}/minus_inf")
    top = g.reduce("ReduceMax", g.op("Where", [real, x, lowest], f"{hint}/masked"), [1],
                   f"{hint}/ReduceMax", keepdims=0)
    count = g.reduce("ReduceSum", g.cast(mask, np.int64, f"{hint}/real_int"), [1],
                     f"{hint}/count")                                     # (batch, 1)
    any_real = g.op("Greater", [count, g.constant(np.array(0, np.int64), f"{hint}/zero")],
                    f"{hint}/any_real")
    y = g.op("Where", [any_real, top, g.scalar(0.0, f"{hint}/empty")], f"{hint}/Where")
    return _keepdims(layer, g, y)


def _time_distributed(layer, g, x):
    hint = layer.name
    inner = layer.layer
    steps = layer.input_shape[0]
    rows = g.reshape(x, [-1, *inner.input_shape], f"{hint}/rows")      # (batch·time, ...)
    y = g.export(inner, rows)
    return g.reshape(y, [-1, steps, *inner.output_shape], f"{hint}/steps")


#: layer class name -> (layer, g, x) -> output tensor name
EXPORTERS = {
    "Embedding": _embedding,
    "Masking": _masking,
    "Conv1D": _conv1d,
    "MaxPooling1D": _max_pool1d,
    "GlobalAveragePooling1D": _global_avg_pool1d,
    "GlobalMaxPooling1D": _global_max_pool1d,
    "TimeDistributed": _time_distributed,
}
