"""PyTorch exporters of the sequence layers (registered into ``nnlite.export.EXPORTERS``).

Weight layouts (nnlite/Keras → PyTorch, batch_first modules):

* LSTM: Keras orders the gates i, f, c, o — the same as PyTorch's i, f, g, o (c is g) — so
  ``weight_ih = kernelᵀ`` (4H, F), ``weight_hh = recurrent_kernelᵀ``, ``bias_ih = bias`` and
  ``bias_hh = 0`` (Keras has one bias where PyTorch adds two).
* GRU (reset_after=True): Keras z, r, h → PyTorch r, z, n, so the column blocks are permuted;
  ``bias[0]`` is ``bias_ih`` and ``bias[1]`` is ``bias_hh`` (PyTorch's n gate is Keras's
  reset-after candidate, r ⊙ (h W_hn + b_hn)).  reset_after=False has no PyTorch equivalent.
* SimpleRNN: ``nn.RNN`` (tanh or relu), one bias.
* Conv1D: Keras (k, C, F) → PyTorch (F, C, k), applied to (N, C, T) and transposed back.

``go_backwards`` flips the input in time (the output sequence stays in processing order, as
Keras returns it); ``return_sequences=False`` takes the last step; ``Bidirectional`` runs two
modules and merges them as nnlite does.  The exported modules compute ``predict``: dropout is
off, ``stateful`` layers start from zero states, and masks are not exported (a model that
creates masks — ``Masking``, ``Embedding(mask_zero=True)`` — raises a ConfigError).
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from .core import activation_module, export_layer, function_module

__all__ = ["EXPORTERS"]


def _check_activations(layer, allowed):
    names = (layer.activation.name, getattr(layer, "recurrent_activation", None) and
             layer.recurrent_activation.name)
    if names[0] not in allowed[0] or (names[1] and names[1] not in allowed[1]):
        raise ConfigError(f"to_torch: layer {layer.name!r} uses activations {names}; PyTorch's "
                          f"{type(layer).__name__} supports {allowed}")


def _torch_rnn(layer, ctx):
    """The torch recurrent module with nnlite's weights, and a function to run it."""
    nn, h = ctx.nn, layer.units
    features = layer.input_shape[-1]
    kernel, recurrent = layer.params["kernel"], layer.params["recurrent_kernel"]
    bias = layer.params.get("bias")
    kind = type(layer).__name__
    if kind == "LSTM":
        _check_activations(layer, (("tanh",), ("sigmoid",)))
        module = nn.LSTM(features, h, batch_first=True, bias=layer.use_bias, dtype=ctx.dtype)
        w_ih, w_hh = kernel.T, recurrent.T
        b_ih, b_hh = (bias, np.zeros_like(bias)) if layer.use_bias else (None, None)
    elif kind == "GRU":
        _check_activations(layer, (("tanh",), ("sigmoid",)))
        if not layer.reset_after:
            raise ConfigError(f"to_torch: GRU {layer.name!r} has reset_after=False, which "
                              "PyTorch's nn.GRU does not implement")
        module = nn.GRU(features, h, batch_first=True, bias=layer.use_bias, dtype=ctx.dtype)
        order = np.r_[h:2 * h, 0:h, 2 * h:3 * h]                   # z, r, h → r, z, n
        w_ih, w_hh = kernel[:, order].T, recurrent[:, order].T
        b_ih, b_hh = (bias[0][order], bias[1][order]) if layer.use_bias else (None, None)
    else:
        _check_activations(layer, (("tanh", "relu"), ()))
        module = nn.RNN(features, h, nonlinearity=layer.activation.name, batch_first=True,
                        bias=layer.use_bias, dtype=ctx.dtype)
        w_ih, w_hh = kernel.T, recurrent.T
        b_ih, b_hh = (bias, np.zeros_like(bias)) if layer.use_bias else (None, None)
    ctx.set(module.weight_ih_l0, w_ih)
    ctx.set(module.weight_hh_l0, w_hh)
    if layer.use_bias:
        ctx.set(module.bias_ih_l0, b_ih)
        ctx.set(module.bias_hh_l0, b_hh)
    return module


def _recurrent(layer, ctx):
    rnn = _torch_rnn(layer, ctx)
    torch = ctx.torch

    class Recurrent(ctx.nn.Module):
        """nnlite's recurrent layer: go_backwards, last step or sequence, (output, *states)
        with return_state."""

        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            out, states = self.rnn(torch.flip(x, (1,)) if layer.go_backwards else x)
            states = states if isinstance(states, tuple) else (states,)
            y = out if layer.return_sequences else out[:, -1]
            if not layer.return_state:
                return y
            return (y, *[s[0] for s in states])                  # (1, n, H) -> (n, H)

    return Recurrent()


def _bidirectional(layer, ctx):
    fw, bw = _recurrent(layer.forward_layer, ctx), _recurrent(layer.backward_layer, ctx)
    torch, mode, seq = ctx.torch, layer.merge_mode, layer.return_sequences

    class Bidirectional(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.forward_layer, self.backward_layer = fw, bw

        def forward(self, x):
            y_f, y_b = self.forward_layer(x), self.backward_layer(x)
            states = ()
            if layer.return_state:
                states, y_f, y_b = (*y_f[1:], *y_b[1:]), y_f[0], y_b[0]
            if seq:
                y_b = torch.flip(y_b, (1,))
            if mode == "concat":
                out = torch.cat([y_f, y_b], dim=-1)
            elif mode == "mul":
                out = y_f * y_b
            else:
                out = (y_f + y_b) * 0.5 if mode == "ave" else y_f + y_b
            return (out, *states) if layer.return_state else out

    return Bidirectional()


def _no_masks(layer, what):
    raise ConfigError(f"to_torch: layer {layer.name!r} creates a mask ({what}); masks have no "
                      "PyTorch export")


def _embedding(layer, ctx):
    if layer.mask_zero:
        _no_masks(layer, "mask_zero=True")
    table = ctx.nn.Embedding(layer.input_dim, layer.output_dim, dtype=ctx.dtype)
    ctx.set(table.weight, layer.params["embeddings"])

    class Embedding(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = table

        def forward(self, ids):
            return self.table(ids.long())
    return Embedding()


def _conv1d(layer, ctx):
    F = ctx.torch.nn.functional
    conv = ctx.nn.Conv1d(layer.input_shape[1], layer.filters, layer.kernel_size,
                         stride=layer.strides, dilation=layer.dilation_rate,
                         bias=layer.use_bias, dtype=ctx.dtype)
    ctx.set(conv.weight, layer.params["kernel"].transpose(2, 1, 0))
    if layer.use_bias:
        ctx.set(conv.bias, layer.params["bias"])
    pads = (layer._before, layer._after)
    act = None if layer.activation.name == "linear" else \
        activation_module(layer.activation, ctx, layer.name)

    class Conv1D(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = conv, act

        def forward(self, x):
            y = self.conv(F.pad(x.transpose(1, 2), pads)).transpose(1, 2)
            return y if self.act is None else self.act(y)
    return Conv1D()


def _max_pool1d(layer, ctx):
    F = ctx.torch.nn.functional
    pads = (layer._before, layer._after)
    return function_module(ctx, lambda x: F.max_pool1d(F.pad(x.transpose(1, 2), pads,
                                                     value=float("-inf")),
                                               layer.pool_size, layer.strides).transpose(1, 2))


def _global_pool1d(reduce):
    def export(layer, ctx):
        return function_module(ctx, lambda x: reduce(x, layer.keepdims))
    return export


def _time_distributed(layer, ctx):
    inner = export_layer(layer.layer, ctx)

    class TimeDistributed(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = inner

        def forward(self, x):
            n, steps = x.shape[:2]
            y = self.layer(x.reshape((n * steps,) + tuple(x.shape[2:])))
            return y.reshape((n, steps) + tuple(y.shape[1:]))
    return TimeDistributed()


EXPORTERS = {
    "SimpleRNN": _recurrent, "LSTM": _recurrent, "GRU": _recurrent,
    "Bidirectional": _bidirectional,
    "Embedding": _embedding,
    "Masking": lambda layer, ctx: _no_masks(layer, "Masking"),
    "Conv1D": _conv1d,
    "MaxPooling1D": _max_pool1d,
    "GlobalAveragePooling1D": _global_pool1d(lambda x, keep: x.mean(dim=1, keepdim=keep)),
    "GlobalMaxPooling1D": _global_pool1d(lambda x, keep: x.amax(dim=1, keepdim=keep)),
    "TimeDistributed": _time_distributed,
}
