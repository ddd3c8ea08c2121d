"""PyTorch exporters of the attention, Transformer, Vision Transformer and graph layers,
registered into ``nnlite.export.EXPORTERS`` (``to_torch`` finds them by class name).

* ``MultiHeadAttention`` → ``nn.MultiheadAttention`` (batch_first) with mapped weights when the
  structure matches (key_dim = value_dim = D/heads, output D = the query's D), inside a small
  wrapper that converts the masks (nnlite: True = may attend; PyTorch: True = blocked) and
  returns the output bias for a query row with nothing to attend to, where PyTorch gives NaN;
  otherwise a faithful module of its own.  Positional inputs in the layer's input order.
* ``TransformerEncoder`` → ``nn.TransformerEncoderLayer`` (relu/gelu, its
  ``norm_first=normalize_first``); other activations and ``TransformerDecoder`` → a faithful
  module built from the exported sublayers.
* ``PatchEmbedding`` → ``nn.Conv2d(C, dim, p, stride=p)`` then flatten; ``GCNConv``/``SAGEConv``
  → modules taking ``(x, adjacency)``, the adjacency a dense or sparse (COO) torch tensor
  (``sparse_tensor(a)`` converts a scipy matrix), normalized in torch as nnlite does.

Nothing here imports torch or ``nnlite.export`` at import time: exporters get ``ctx`` (torch,
``nn``, the dtype, ``ctx.activation(fn, owner)`` and ``ctx.export(layer)``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["EXPORTERS", "sparse_tensor"]


def sparse_tensor(a, dtype=None):
    """A torch sparse COO tensor of the scipy matrix ``a`` (for exported graph models)."""
    import torch

    coo = a.tocoo()
    indices = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.int64)
    return torch.sparse_coo_tensor(indices, torch.tensor(coo.data, dtype=dtype), coo.shape,
                                   check_invariants=True)


# --------------------------------------------------------------------------- attention
def _torch_layout(layer):
    p = layer.params
    e = p["query_kernel"].shape[0]
    h = layer.num_heads
    return (layer.key_dim * h == e and layer.value_dim * h == e
            and p["output_kernel"].shape[-1] == e)


def _allowed(ctx, layer, query, value, attention_mask):
    """(batch or 1, T, S) bool 'may attend' pattern, or None."""
    torch = ctx.torch
    allowed = None
    if layer.use_causal_mask:
        t, s = query.shape[1], value.shape[1]
        allowed = torch.ones(t, s, dtype=torch.bool).tril()[None]
    if attention_mask is not None:
        m = attention_mask != 0
        allowed = m if allowed is None else allowed & m
    return allowed


def _mha(layer, ctx):
    torch, nn = ctx.torch, ctx.nn
    count = len(layer.input_shape) if isinstance(layer.input_shape, list) else 1
    roles = layer._roles or ("query", "value", "key", "attention_mask")[:count]
    p = layer.params
    h, e = layer.num_heads, p["query_kernel"].shape[0]
    native = _torch_layout(layer)
    if native:
        net = nn.MultiheadAttention(e, h, bias=layer.use_bias, kdim=p["key_kernel"].shape[0],
                                    vdim=p["value_kernel"].shape[0], batch_first=True,
                                    dtype=ctx.dtype)
        kernels = [p[f"{n}_kernel"].reshape(p[f"{n}_kernel"].shape[0], -1).T
                   for n in ("query", "key", "value")]
        if net._qkv_same_embed_dim:
            ctx.set(net.in_proj_weight, np.concatenate(kernels))
        else:
            for w, name in zip(kernels, ("q_proj_weight", "k_proj_weight", "v_proj_weight")):
                ctx.set(getattr(net, name), w)
        ctx.set(net.out_proj.weight, p["output_kernel"].reshape(-1, e).T)
        if layer.use_bias:
            ctx.set(net.in_proj_bias, np.concatenate(
                [p[f"{n}_bias"].reshape(-1) for n in ("query", "key", "value")]))
            ctx.set(net.out_proj.bias, p["output_bias"])
    weights = {k: nn.Parameter(ctx.tensor(v)) for k, v in p.items()} if not native else {}
    scale = 1.0 / np.sqrt(layer.key_dim)

    class MultiHeadAttention(nn.Module):
        def __init__(self):
            super().__init__()
            if native:
                self.attention = net
            else:
                self.weights = nn.ParameterDict(weights)

        def forward(self, *xs):
            given = dict(zip(roles, xs))
            q = given["query"]
            v = given.get("value", q)
            k = given.get("key", v)
            allowed = _allowed(ctx, layer, q, v, given.get("attention_mask"))
            y, a = (self._native if native else self._own)(q, k, v, allowed)
            if allowed is not None:  # a query row with no key: the output bias (not NaN)
                empty = ~allowed.any(dim=-1, keepdim=True)
                bias = (self.attention.out_proj.bias if native else
                        self.weights["output_bias"]) if layer.use_bias else torch.zeros(())
                y = torch.where(empty, bias.to(y.dtype), y)
                if a is not None:
                    a = torch.where(empty[:, None], torch.zeros((), dtype=a.dtype), a)
            return (y, a) if layer.return_attention_scores else y

        def _native(self, q, k, v, allowed):
            mask = None
            if allowed is not None:
                mask = (~allowed).expand(q.shape[0], -1, -1).repeat_interleave(h, dim=0)
            y, a = self.attention(q, k, v, attn_mask=mask,
                                  need_weights=layer.return_attention_scores,
                                  average_attn_weights=False)
            return y, a

        def _own(self, q, k, v, allowed):
            w = self.weights

            def project(x, name):
                z = torch.einsum("bld,dhk->bhlk", x, w[f"{name}_kernel"])
                return z + w[f"{name}_bias"][None, :, None] if layer.use_bias else z

            logits = torch.einsum("bhtk,bhsk->bhts", project(q, "query") * scale,
                                  project(k, "key"))
            if allowed is not None:
                logits = logits.masked_fill(~allowed[:, None], float("-inf"))
            top = logits.amax(dim=-1, keepdim=True)
            top = torch.where(torch.isinf(top), torch.zeros_like(top), top)
            a = torch.exp(logits - top)
            a = a / a.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
            y = torch.einsum("bhts,bhsv,hvo->bto", a, project(v, "value"), w["output_kernel"])
            return (y + w["output_bias"] if layer.use_bias else y), a

    return MultiHeadAttention()


# --------------------------------------------------------------------------- Transformer
def _block(layer, ctx):
    """A faithful module of a TransformerEncoder/Decoder from its exported sublayers."""
    nn = ctx.nn
    parts = {local: ctx.export(sub) for local, sub in layer._named
             if not local.endswith("dropout")}  # dropout: identity at inference
    pre = layer.normalize_first

    class TransformerBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = nn.ModuleDict(parts)

        def _residual(self, name, h, *others):
            norm = self.parts[f"{name}_layer_norm"]
            a = self.parts[name](norm(h) if pre else h, *others)
            return h + a if pre else norm(h + a)

        def forward(self, x, *encoder):
            h = self._residual("self_attention", x)
            if encoder:
                h = self._residual("cross_attention", h, encoder[0])
            norm = self.parts["feedforward_layer_norm"]
            f = norm(h) if pre else h
            f = self.parts["feedforward_output_dense"](
                self.parts["feedforward_intermediate_dense"](f))
            return h + f if pre else norm(h + f)

    return TransformerBlock()


def _encoder(layer, ctx):
    if layer.activation.name not in ("relu", "gelu"):
        return _block(layer, ctx)
    sub = dict(layer._named)
    mha = sub["self_attention"]
    e = layer.input_shape[-1]
    if not _torch_layout(mha):
        return _block(layer, ctx)
    net = ctx.nn.TransformerEncoderLayer(
        e, layer.num_heads, layer.intermediate_dim, dropout=layer.dropout,
        activation=layer.activation.name, layer_norm_eps=layer.layer_norm_epsilon,
        batch_first=True, norm_first=layer.normalize_first, dtype=ctx.dtype)
    net.self_attn = _mha(mha, ctx).attention
    for name, dense in (("linear1", "feedforward_intermediate_dense"),
                        ("linear2", "feedforward_output_dense")):
        ctx.set(getattr(net, name).weight, sub[dense].params["kernel"].T)
        ctx.set(getattr(net, name).bias, sub[dense].params["bias"])
    for name, norm in (("norm1", "self_attention_layer_norm"),
                       ("norm2", "feedforward_layer_norm")):
        ctx.set(getattr(net, name).weight, sub[norm].params["gamma"])
        ctx.set(getattr(net, name).bias, sub[norm].params["beta"])
    return net


# --------------------------------------------------------------------------- positions, ViT
def _module(ctx, fn, **tensors):
    """A module computing ``fn(self, x)`` with ``tensors`` as parameters."""
    nn = ctx.nn

    class Fn(nn.Module):
        def __init__(self):
            super().__init__()
            for key, value in tensors.items():
                setattr(self, key, nn.Parameter(ctx.tensor(value)))

        def forward(self, x):
            return fn(self, x)
    return Fn()


def _position_embedding(layer, ctx):
    return _module(ctx, lambda m, x: m.embeddings[:x.shape[1]].expand(x.shape),
                   embeddings=layer.params["embeddings"])


def _sine(layer, ctx):
    table = ctx.tensor(layer._sines)
    return _module(ctx, lambda m, x: table[:x.shape[1]].to(x.dtype).expand(x.shape))


def _patches(layer, ctx):
    c, p = layer.input_shape[0], layer.patch_size
    conv = ctx.nn.Conv2d(c, layer.dim, p, stride=p, bias=layer.use_bias, dtype=ctx.dtype)
    ctx.set(conv.weight, layer.params["kernel"])
    if layer.use_bias:
        ctx.set(conv.bias, layer.params["bias"])
    return ctx.nn.Sequential(conv, ctx.nn.Flatten(2), _module(ctx, lambda m, x:
                                                              x.transpose(1, 2)))


def _class_token(layer, ctx):
    torch = ctx.torch
    return _module(ctx, lambda m, x: torch.cat(
        [m.token.expand(x.shape[0], 1, -1), x], dim=1), token=layer.params["token"])


# --------------------------------------------------------------------------- graphs
def _graph_conv(layer, ctx):
    torch, nn = ctx.torch, ctx.nn
    act = ctx.activation(layer.activation, layer.name)
    sage = type(layer).__name__ == "SAGEConv"
    params = dict(layer.params)

    def degrees(a):
        return (torch.sparse.sum(a, dim=1).to_dense() if a.is_sparse else a.sum(dim=1))

    def inverse(d, power):
        return torch.where(d > 0, d.clamp_min(torch.finfo(d.dtype).tiny) ** power,
                           torch.zeros_like(d))

    class GraphConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterDict({k: nn.Parameter(ctx.tensor(v))
                                             for k, v in params.items()})

        def propagate(self, a, x):
            if sage:
                if layer.aggregator == "sum":
                    return a @ x
                return inverse(degrees(a), -1.0)[:, None] * (a @ x)
            if layer.add_self_loops:
                eye = torch.eye(a.shape[0], dtype=a.dtype)
                a = a + (eye.to_sparse() if a.is_sparse else eye)
            d = inverse(degrees(a), -0.5)[:, None]
            return d * (a @ (d * x))

        def forward(self, x, a):
            w = self.weights
            a = a.to(x.dtype)
            if sage:
                z = x @ w["root_kernel"] + self.propagate(a, x) @ w["neighbor_kernel"]
            else:
                z = self.propagate(a, x @ w["kernel"])
            return act(z + w["bias"] if layer.use_bias else z)

    return GraphConv()


EXPORTERS = {
    "MultiHeadAttention": _mha,
    "TransformerEncoder": _encoder,
    "TransformerDecoder": _block,
    "PositionEmbedding": _position_embedding,
    "SinePositionEncoding": _sine,
    "PatchEmbedding": _patches,
    "ClassToken": _class_token,
    "SelectToken": lambda layer, ctx: _module(ctx, lambda m, x: x[:, layer.index]),
    "GCNConv": _graph_conv,
    "SAGEConv": _graph_conv,
}
