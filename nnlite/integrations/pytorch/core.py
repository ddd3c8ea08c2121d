"""Export an nnlite model to an equivalent ``torch.nn.Module`` with the same weights.

    >>> import numpy as np
    >>> import torch
    >>> import nnlite
    >>> model = nnlite.Sequential([nnlite.layers.Dense(3, activation="softmax", input_dim=4)],
    ...                           seed=0)
    >>> x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    >>> net = to_torch(model)
    >>> bool(np.allclose(net(torch.tensor(x)).detach().numpy(), model.predict(x), atol=1e-6))
    True

The module computes ``predict`` (inference mode: the last activation is applied, no fused
logits), in the model's dtype (float64 models give float64 modules).  A graph model with several
inputs takes them as positional arguments and returns a tuple when it has several outputs.
This is the way to PyTorch's tooling (distributed training, TorchScript, ONNX) and the test
oracle of nnlite's parity tests.  torch is imported only when ``to_torch`` is called.

Layers are exported by a per-class table, ``EXPORTERS[class name](layer, ctx) -> nn.Module``
(and activations by ``ACTIVATIONS[name](params)``): a new layer type adds one entry.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...layers.conv import window_geometry

__all__ = ["to_torch", "EXPORTERS", "ACTIVATIONS", "export_layer", "activation_module",
           "function_module"]


class _Ctx:
    """What exporters need: torch, nn, the dtype, and a weight converter."""

    def __init__(self, dtype):
        import torch
        from torch import nn
        self.torch, self.nn = torch, nn
        self.dtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32

    def tensor(self, array):
        return self.torch.tensor(np.array(array), dtype=self.dtype)

    def set(self, param, array):
        with self.torch.no_grad():
            param.copy_(self.tensor(array))

    def activation(self, fn, owner):
        return activation_module(fn, self, owner)

    def export(self, layer):
        return export_layer(layer, self)


def _softplus(ctx, params):
    class Softplus(ctx.nn.Module):  # exact log(1 + e^x) like nnlite (torch's has a threshold)
        def forward(self, x):
            return ctx.torch.logaddexp(x, ctx.torch.zeros_like(x))
    return Softplus()


#: activation name -> (ctx, params dict) -> nn.Module
ACTIVATIONS = {
    "linear": lambda ctx, p: ctx.nn.Identity(),
    "sigmoid": lambda ctx, p: ctx.nn.Sigmoid(),
    "tanh": lambda ctx, p: ctx.nn.Tanh(),
    "relu": lambda ctx, p: ctx.nn.ReLU(),
    "leaky_relu": lambda ctx, p: ctx.nn.LeakyReLU(p.get("alpha", 0.01)),
    "softplus": _softplus,
    "softmax": lambda ctx, p: ctx.nn.Softmax(dim=-1),
    "gelu": lambda ctx, p: ctx.nn.GELU(),
    "elu": lambda ctx, p: ctx.nn.ELU(p.get("alpha", 1.0)),
    "silu": lambda ctx, p: ctx.nn.SiLU(),
    "softsign": lambda ctx, p: ctx.nn.Softsign(),
    "hard_sigmoid": lambda ctx, p: ctx.nn.Hardsigmoid(),  # relu6(x + 3) / 6, as nnlite
}


def activation_module(fn, ctx, owner):
    """The torch module of an nnlite activation function (via ``ACTIVATIONS``)."""
    make = ACTIVATIONS.get(fn.name)
    if make is None:
        raise ConfigError(f"to_torch: layer {owner!r} uses activation {fn.name!r}, which has no "
                          f"PyTorch export; known: {sorted(ACTIVATIONS)}")
    return make(ctx, dict(fn.params))


def _dense(layer, ctx):
    fan_in = layer.input_shape[-1]
    linear = ctx.nn.Linear(fan_in, layer.units, bias=layer.use_bias, dtype=ctx.dtype)
    ctx.set(linear.weight, layer.params["kernel"].T)
    if layer.use_bias:
        ctx.set(linear.bias, layer.params["bias"])
    if layer.activation.name == "linear":
        return linear
    return ctx.nn.Sequential(linear, activation_module(layer.activation, ctx, layer.name))


def _activation_layer(layer, ctx):
    return activation_module(layer.activation, ctx, layer.name)


def _merge(op):
    def export(layer, ctx):
        class Merge(ctx.nn.Module):
            def forward(self, *xs):
                return op(ctx.torch, list(xs), layer)
        return Merge()
    return export


def _add(torch, xs, layer):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _mul(torch, xs, layer):
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def _residual(layer, ctx):
    block = ctx.nn.Sequential(*[export_layer(l, ctx) for l in layer.block])
    proj = layer.projection
    skip = export_layer(proj, ctx) if proj is not None and not isinstance(proj, str) else None

    class Residual(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block
            self.projection = skip

        def forward(self, x):
            return self.block(x) + (x if self.projection is None else self.projection(x))
    return Residual()


def _pads(layer, h, w, dilation=(1, 1)):
    """F.pad argument (left, right, top, bottom) for nnlite's padding (extra pixel last)."""
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    _, top, bottom = window_geometry(h, kernel[0], layer.strides[0], dilation[0], layer.padding)
    _, left, right = window_geometry(w, kernel[1], layer.strides[1], dilation[1], layer.padding)
    return (left, right, top, bottom)


def function_module(ctx, fn):
    """A parameter-free module computing ``fn(x)``."""
    class Fn(ctx.nn.Module):
        def forward(self, x):
            return fn(x)
    return Fn()


def _conv2d(layer, ctx):
    F = ctx.torch.nn.functional
    h, w = layer.input_shape[1:]
    pads = _pads(layer, h, w, layer.dilation_rate)
    conv = ctx.nn.Conv2d(layer.input_shape[0], layer.filters, layer.kernel_size,
                         stride=layer.strides, dilation=layer.dilation_rate,
                         bias=layer.use_bias, dtype=ctx.dtype)
    ctx.set(conv.weight, layer.params["kernel"])
    if layer.use_bias:
        ctx.set(conv.bias, layer.params["bias"])
    parts = [function_module(ctx, lambda x: F.pad(x, pads))] if any(pads) else []
    parts.append(conv)
    if layer.activation.name != "linear":
        parts.append(activation_module(layer.activation, ctx, layer.name))
    return ctx.nn.Sequential(*parts)


def _max_pool(layer, ctx):
    F = ctx.torch.nn.functional
    pads = _pads(layer, *layer.input_shape[1:])
    return function_module(ctx, lambda x: F.max_pool2d(F.pad(x, pads, value=float("-inf")),
                                               layer.pool_size, layer.strides))


def _avg_pool(layer, ctx):
    # padded pixels are not counted: the sum over real pixels / their number
    F = ctx.torch.nn.functional
    pads = _pads(layer, *layer.input_shape[1:])

    def avg(x):
        total = F.avg_pool2d(F.pad(x, pads), layer.pool_size, layer.strides)
        count = F.avg_pool2d(F.pad(ctx.torch.ones_like(x), pads), layer.pool_size,
                             layer.strides)
        return total / count
    return function_module(ctx, avg)


def _batch_norm(layer, ctx):
    # inference: γ (x - moving_mean) / √(moving_variance + ε) + β over axis 1
    shape = (1, -1) + (1,) * (len(layer.input_shape) - 1)

    class BatchNorm(ctx.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = ctx.nn.Parameter(ctx.tensor(layer.params["gamma"]))
            self.bias = ctx.nn.Parameter(ctx.tensor(layer.params["beta"]))
            self.register_buffer("running_mean", ctx.tensor(layer.state["moving_mean"]))
            self.register_buffer("running_var", ctx.tensor(layer.state["moving_variance"]))

        def forward(self, x):
            scale = self.weight.reshape(shape) / ctx.torch.sqrt(
                self.running_var.reshape(shape) + layer.epsilon)
            return (x - self.running_mean.reshape(shape)) * scale + self.bias.reshape(shape)
    return BatchNorm()


def _layer_norm(layer, ctx):
    norm = ctx.nn.LayerNorm(layer.input_shape[-1], eps=layer.epsilon, dtype=ctx.dtype)
    ctx.set(norm.weight, layer.params["gamma"])
    ctx.set(norm.bias, layer.params["beta"])
    return norm


#: layer class name -> (layer, ctx) -> nn.Module (multi-input layers take positional inputs)
EXPORTERS = {
    "Dense": _dense,
    "Activation": _activation_layer,
    "Sigmoid": _activation_layer, "Tanh": _activation_layer, "ReLU": _activation_layer,
    "LeakyReLU": _activation_layer, "Softplus": _activation_layer, "Softmax": _activation_layer,
    "Identity": _activation_layer,
    "Add": _merge(_add),
    "Subtract": _merge(lambda torch, xs, layer: xs[0] - xs[1]),
    "Multiply": _merge(_mul),
    "Concatenate": _merge(lambda torch, xs, layer: torch.cat(xs, dim=layer.axis)),
    "Residual": _residual,
    "GELU": _activation_layer, "ELU": _activation_layer, "SiLU": _activation_layer,
    "Softsign": _activation_layer, "HardSigmoid": _activation_layer,
    "Conv2D": _conv2d,
    "MaxPool2D": _max_pool,
    "AvgPool2D": _avg_pool,
    "GlobalAveragePooling2D": lambda layer, ctx: function_module(
        ctx, lambda x: x.mean(dim=(2, 3), keepdim=layer.keepdims)),
    "Flatten": lambda layer, ctx: function_module(ctx, lambda x: ctx.torch.flatten(x, 1)),
    "Reshape": lambda layer, ctx: function_module(
        ctx, lambda x: x.reshape((x.shape[0],) + tuple(layer.output_shape))),
    "Dropout": lambda layer, ctx: ctx.nn.Dropout(layer.rate),  # identity in eval mode
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
}  # the sequence, attention and graph layers' entries are added by the package (__init__)


def export_layer(layer, ctx):
    """The torch module for one built layer (via ``EXPORTERS``)."""
    make = EXPORTERS.get(type(layer).__name__)
    if make is None:
        raise ConfigError(f"to_torch: layer {layer.name!r} of type {type(layer).__name__} has no "
                          f"PyTorch export; known: {sorted(EXPORTERS)}")
    return make(layer, ctx)


def to_torch(model):
    """An ``nn.Module`` computing ``model.predict`` with copies of the model's weights."""
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("to_torch needs PyTorch: pip install torch") from None
    model._require_built("to_torch")
    ctx = _Ctx(model.dtype)
    modules = {layer.name: export_layer(layer, ctx) for layer in model.layers}
    if hasattr(model, "nodes"):
        return _graph_module(model, modules, ctx)
    seq = ctx.nn.Sequential()
    for layer in model.layers:
        seq.add_module(_key(layer.name), modules[layer.name])
    return seq.train(False)  # inference mode (Dropout off, BatchNorm running statistics)


def _key(name):
    return name.replace("/", ".").replace(".", "__")


def _graph_module(model, modules, ctx):
    nodes = model.nodes
    plan = [(i, _key(layer.name), parents) for i, layer, parents in model._plan]
    inputs, outputs = model._input_index, model._output_index
    multi_out = isinstance(model.output_shape, list)

    class GraphModule(ctx.nn.Module):
        """Runs the layers in nnlite's topological order."""

        def __init__(self):
            super().__init__()
            self.layers = ctx.nn.ModuleDict({_key(k): m for k, m in modules.items()})

        def forward(self, *xs):
            if len(xs) != len(inputs):
                raise ValueError(f"expected {len(inputs)} inputs, got {len(xs)}")
            values = [None] * len(nodes)
            for i, x in zip(inputs, xs):
                values[i] = x
            for i, key, parents in plan:
                out = self.layers[key](*[values[p] for p in parents])
                for j, v in zip(i, out) if type(i) is tuple else ((i, out),):  # several outputs
                    if j is not None:
                        values[j] = v
            outs = tuple(values[i] for i in outputs)
            return outs if multi_out else outs[0]

    return GraphModule().train(False)
