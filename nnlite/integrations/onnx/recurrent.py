"""ONNX exporters of SimpleRNN, LSTM, GRU and Bidirectional: ONNX's native ``RNN``, ``LSTM`` and
``GRU`` operators with the weights remapped (entries of ``nnlite.export_onnx.EXPORTERS``).

Weights (Keras layout → ONNX, one direction):

    W = kernelᵀ              (1, G·H, features)     G = 1, 4, 3 gates
    R = recurrent_kernelᵀ    (1, G·H, H)
    B = [input bias, recurrent bias]  (1, 2·G·H)    the recurrent half is 0, except GRU's
                                                    reset_after bias (2, 3H): its row 1
    LSTM gates: Keras i, f, c, o → ONNX i, o, f, c;  GRU: z, r, h in both, reset_after ↔
    ``linear_before_reset=1``;  activations = [recurrent_activation, activation(, activation)]

The operators run time-major (``layout=0``): onnxruntime refuses ``layout=1`` ("Batchwise
recurrent operations (layout == 1) are not supported"), so the exporter transposes (batch,
time, features) to (time, batch, features) and back.  ``go_backwards`` reverses the input (and
its mask) first, so the outputs come in processing order, as nnlite and Keras return them.
``Bidirectional`` is the two layers' operators and the merge (concat, sum, mul, ave), the
backward outputs put back in time order.  ``return_state``: the outputs (y, h(, c)).

**Masks** (any pattern, not only post-padding): nnlite carries h (and c) through a masked
step, so the result is the recurrence run over the real steps alone.  The exporter moves the
real steps of every sequence to the front, in order (a TopK of t + T·[masked]), runs the
operator with ``sequence_lens`` = the number of real steps, and reads the output of step t at
compacted position (real steps up to t) - 1 — 0 before the first real step, the initial state
(with ``zero_output_for_mask``, Bidirectional's rule: 0 at every masked step).  The final h is
the output at the last real step.  The LSTM's final cell state c comes from the operator's
``Y_c``, which honours ``sequence_lens`` in onnxruntime (the ONNX ReferenceEvaluator ignores
``sequence_lens``: only that output differs there).

Refused with ``ConfigError``: ``stateful=True`` (the states carried between batches are not
part of a stateless graph; export a copy built with ``stateful=False`` and the same weights).
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError

__all__ = ["EXPORTERS"]

#: nnlite activation -> (ONNX recurrent activation, alpha or None, beta or None)
_ACTIVATIONS = {
    "tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None), "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),   # relu6(x + 3) / 6
    "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
}
_PARAMETRISED = {"leaky_relu": ("LeakyRelu", "alpha", 0.01), "elu": ("Elu", "alpha", 1.0)}


def _onnx_activations(layer, fns):
    """The ``activations`` attribute, and ``activation_alpha``/``activation_beta`` holding the
    parameters of those that take them, consumed in order (the ONNX rule)."""
    names, alphas, betas = [], [], []
    for fn in fns:
        if fn.name in _PARAMETRISED:
            op, key, default = _PARAMETRISED[fn.name]
            entry = (op, dict(fn.params).get(key, default), None)
        elif fn.name in _ACTIVATIONS:
            entry = _ACTIVATIONS[fn.name]
        else:
            raise ConfigError(f"to_onnx: layer {layer.name!r} uses activation {fn.name!r}, "
                              f"which ONNX's recurrent operators do not have; exportable: "
                              f"{sorted(_ACTIVATIONS) + sorted(_PARAMETRISED)}")
        names.append(entry[0])
        alphas += [] if entry[1] is None else [float(entry[1])]
        betas += [] if entry[2] is None else [float(entry[2])]
    return {"activations": names, "activation_alpha": alphas or None,
            "activation_beta": betas or None}


def _weights(layer):
    """(op type, W, R, B or None, extra attributes) of one recurrent layer, ONNX layout."""
    h = layer.units
    kernel, recurrent = layer.params["kernel"], layer.params["recurrent_kernel"]
    bias = layer.params.get("bias")
    kind = type(layer).__name__
    if kind == "LSTM":
        order = np.r_[0:h, 3 * h:4 * h, h:2 * h, 2 * h:3 * h]          # i, f, c, o -> i, o, f, c
        kernel, recurrent = kernel[:, order], recurrent[:, order]
        bias = None if bias is None else np.concatenate([bias[order], np.zeros_like(bias)])
        fns = [layer.recurrent_activation, layer.activation, layer.activation]
        extra = {}
    elif kind == "GRU":
        if bias is not None:
            bias = bias.reshape(-1) if layer.reset_after else \
                np.concatenate([bias, np.zeros_like(bias)])
        fns = [layer.recurrent_activation, layer.activation]
        extra = {"linear_before_reset": int(layer.reset_after)}
    else:
        bias = None if bias is None else np.concatenate([bias, np.zeros_like(bias)])
        fns = [layer.activation]
        extra = {}
    extra.update(_onnx_activations(layer, fns))
    return ({"LSTM": "LSTM", "GRU": "GRU"}.get(kind, "RNN"), kernel.T[None], recurrent.T[None],
            None if bias is None else bias[None], extra)


def _run(layer, g, x, mask):
    """``layer`` (one direction) on tensor ``x`` with boolean mask tensor ``mask`` (or None);
    returns (output, [final states])."""
    hint = layer.name
    if layer.stateful:
        raise ConfigError(f"to_onnx: layer {layer.name!r} is stateful: its predictions depend on "
                          "the states carried over from the previous batch, which a stateless "
                          "ONNX graph cannot hold; export a copy built with stateful=False and "
                          "the same weights (model.get_weights())")
    if layer.go_backwards:
        x = g.reverse_time(x, f"{hint}/reverse")
        mask = None if mask is None else g.reverse_time(mask, f"{hint}/reverse_mask")
    op_type, w, r, b, attrs = _weights(layer)
    steps = layer.input_shape[0]
    lengths = None
    if mask is not None:
        x, lengths, positions, count = _compact(g, x, mask, steps, hint)
    inputs = [g.op("Transpose", [x], f"{hint}/time_major", perm=[1, 0, 2]),
              g.weight(w, f"{hint}/W"), g.weight(r, f"{hint}/R"),
              "" if b is None else g.weight(b, f"{hint}/B")]
    if lengths is not None:
        inputs.append(lengths)
    outs = g.op(op_type, inputs, f"{hint}/{op_type}", outputs=3 if op_type == "LSTM" else 2,
                hidden_size=layer.units, direction="forward", **attrs)
    ys = g.op("Transpose", [g.squeeze(outs[0], [1], f"{hint}/Y_squeeze")], f"{hint}/Y",
              perm=[1, 0, 2])                                             # (batch, time, H)
    cell = [g.squeeze(outs[2], [0], f"{hint}/Y_c")] if op_type == "LSTM" else []
    if mask is None:
        final = g.squeeze(outs[1], [0], f"{hint}/Y_h")
        return (ys if layer.return_sequences else final), [final, *cell]
    final = _at(g, ys, g.op("Sub", [count, g.ints([1], f"{hint}/one")], f"{hint}/last"),
                f"{hint}/final_h")
    if layer.return_sequences:
        source = mask if layer.zero_output_for_mask else \
            g.op("GreaterOrEqual", [positions, g.ints([0], f"{hint}/zero")], f"{hint}/started")
        ys = _at(g, ys, positions, f"{hint}/outputs", valid=source)
    return (ys if layer.return_sequences else final), [final, *cell]


def _compact(g, x, mask, steps, hint):
    """The real steps of every sequence moved to the front, in order: (x compacted, int32
    lengths (batch,), int64 positions (batch, time) = real steps up to t - 1, int64 count
    (batch,))."""
    masked = g.cast(g.op("Not", [mask], f"{hint}/masked"), np.int64, f"{hint}/masked_int")
    key = g.op("Add", [g.op("Mul", [masked, g.ints([steps], f"{hint}/steps")], f"{hint}/late"),
                       g.ints(np.arange(steps), f"{hint}/time")], f"{hint}/order_key")
    _, order = g.op("TopK", [key, g.ints([steps], f"{hint}/k")], f"{hint}/order", outputs=2,
                    axis=1, largest=0, sorted=1)
    x = g.op("GatherND", [x, g.unsqueeze(order, [-1], f"{hint}/order_3d")], f"{hint}/compact",
             batch_dims=1)
    real = g.cast(mask, np.int64, f"{hint}/real")
    count = g.reduce("ReduceSum", real, [1], f"{hint}/count", keepdims=0)
    seen = g.op("CumSum", [real, g.constant(np.array(1, np.int64), f"{hint}/time_axis")],
                f"{hint}/seen")                                   # real steps up to t
    positions = g.op("Sub", [seen, g.ints([1], f"{hint}/one_")], f"{hint}/positions")
    return x, g.cast(count, np.int32, f"{hint}/sequence_lens"), positions, count


def _at(g, ys, index, hint, valid=None):
    """ys[b, index[b, ...]] for int64 ``index`` (batch,) or (batch, time); 0 where the index is
    negative (no real step yet) — or where ``valid`` (bool, same shape as index) is False."""
    safe = g.op("Max", [index, g.ints([0], f"{hint}/zero")], f"{hint}/index")
    picked = g.op("GatherND", [ys, g.unsqueeze(safe, [-1], f"{hint}/index_nd")],
                  f"{hint}/GatherND", batch_dims=1)
    if valid is None:
        valid = g.op("GreaterOrEqual", [index, g.ints([0], f"{hint}/zero_")], f"{hint}/valid")
    return g.op("Where", [g.unsqueeze(valid, [-1], f"{hint}/valid_nd"), picked,
                          g.scalar(0.0, f"{hint}/none")], hint)


def _recurrent(layer, g, x):
    mask = g.masks.get(x)
    y, states = _run(layer, g, x, mask)
    if layer.return_sequences and mask is not None:
        g.masks[y] = mask
    return [y, *states] if layer.return_state else y


def _bidirectional(layer, g, x):
    hint = layer.name
    mask = g.masks.get(x)
    y_f, states_f = _run(layer.forward_layer, g, x, mask)
    y_b, states_b = _run(layer.backward_layer, g, x, mask)
    if layer.return_sequences:
        y_b = g.reverse_time(y_b, f"{hint}/backward_in_time_order")
    mode = layer.merge_mode
    if mode == "concat":
        y = g.op("Concat", [y_f, y_b], f"{hint}/Concat", axis=-1)
    elif mode == "mul":
        y = g.op("Mul", [y_f, y_b], f"{hint}/Mul")
    else:
        y = g.op("Add", [y_f, y_b], f"{hint}/Add")
        if mode == "ave":
            y = g.op("Mul", [y, g.scalar(0.5, f"{hint}/half")], f"{hint}/Ave")
    if layer.return_sequences and mask is not None:
        g.masks[y] = mask
    if not layer.return_state:
        return y
    k = layer.forward_layer.state_count
    return [y, *states_f[:k], *states_b[:k]]


#: layer class name -> (layer, g, x) -> output tensor name (a list with return_state)
EXPORTERS = {"SimpleRNN": _recurrent, "LSTM": _recurrent, "GRU": _recurrent,
             "Bidirectional": _bidirectional}
