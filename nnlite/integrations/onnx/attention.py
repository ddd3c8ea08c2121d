"""ONNX exporters of attention and the Vision Transformer parts: MultiHeadAttention,
TransformerEncoder/Decoder, PositionEmbedding, SinePositionEncoding, PatchEmbedding, ClassToken
and SelectToken (entries of ``nnlite.export_onnx.EXPORTERS``), in plain ONNX operators.

MultiHeadAttention, per head h (Keras 3's weights reshaped to matrices):

    Q = (X_q W_q + b_q) / √key_dim,  K = X_k W_k + b_k,  V = X_v W_v + b_v   MatMul, Add, Mul
    heads: Reshape (batch, L, heads, d), Transpose to (batch, heads, L, d)
    A = softmax(Q Kᵀ where allowed, else lowest/2)    Where, Softmax over the keys
    A = Where(allowed, A, 0)                          a row with no allowed key: all zeros
    Y = concat_h(A V) W_o + b_o                       Transpose, Reshape, MatMul, Add

"allowed" is the AND of the ``attention_mask`` input (≠ 0), the causal mask (a constant lower
triangle) and the padding masks that come with the inputs (query rows, value/key columns), as
nnlite computes it.  The masked logits are set to a very negative *finite* number, so the
softmax never sees -inf - (-inf) = NaN: the allowed keys get exactly nnlite's weights (the
others underflow to 0) and a fully masked row, uniform after the softmax, is zeroed — its
output is the bias b_o, as in nnlite.  ``return_attention_scores``: A is the second output.

TransformerEncoder/Decoder: their sublayers' exporters (LayerNormalization, Dense on
(batch·time, D) rows) around the attention above, with Add for the residuals, in both
``normalize_first`` orders; the decoder's causal self-attention and cross-attention on the
encoder sequence (whose padding mask masks the keys).  Dropout is the identity.

PatchEmbedding is written as nnlite computes it (Reshape to (batch, C, H/p, p, W/p, p),
Transpose, Reshape to (batch, patches, C·p²), MatMul with the kernel as a matrix), which
onnxruntime also runs in float64 (it has no float64 Conv).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["EXPORTERS", "attend"]


def _project(layer, g, x, name, width, length, hint):
    """(batch, L, D) → (batch, heads, L, width): X W (+ b), the query scaled by 1/√key_dim."""
    kernel = layer.params[f"{name}_kernel"]
    y = g.op("MatMul", [x, g.weight(kernel.reshape(kernel.shape[0], -1), f"{hint}/{name}_kernel")],
             f"{hint}/{name}_MatMul")
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(layer.params[f"{name}_bias"].reshape(-1),
                                     f"{hint}/{name}_bias")], f"{hint}/{name}_Add")
    if name == "query":
        y = g.op("Mul", [y, g.scalar(1.0 / math.sqrt(layer.key_dim), f"{hint}/inv_sqrt_key_dim")],
                 f"{hint}/query_scaled")
    y = g.reshape(y, [0, length, layer.num_heads, width], f"{hint}/{name}_split")
    return g.op("Transpose", [y], f"{hint}/{name}_heads", perm=[0, 2, 1, 3])


def _allowed(layer, g, t, s, attention_mask, masks, hint):
    """The boolean (batch or 1, 1, T, S) 'may attend' tensor, or None when all may."""
    query_mask, value_mask, key_mask = masks
    parts = []
    if query_mask is not None:
        parts.append(g.unsqueeze(query_mask, [2], f"{hint}/query_rows"))
    for what, m in (("value", value_mask), ("key", key_mask)):
        if m is not None:
            parts.append(g.unsqueeze(m, [1], f"{hint}/{what}_columns"))
    if layer.use_causal_mask:
        parts.append(g.constant(np.tri(t, s, dtype=bool)[None], f"{hint}/causal"))
    if attention_mask is not None:
        parts.append(g.op("Not", [g.op("Equal", [attention_mask, g.scalar(0.0, f"{hint}/zero")],
                                       f"{hint}/mask_zero")], f"{hint}/attention_mask"))
    allowed = parts[0] if parts else None
    for k, part in enumerate(parts[1:]):
        allowed = g.op("And", [allowed, part], f"{hint}/allowed_{k}")
    return None if allowed is None else g.unsqueeze(allowed, [1], f"{hint}/allowed")


def attend(layer, g, query, value=None, key=None, attention_mask=None, masks=(None,) * 3):
    """(output, scores) tensors of MultiHeadAttention ``layer`` (see the module docstring);
    ``masks``: the (query, value, key) padding mask tensors or None."""
    hint = layer.name
    q_shape, v_shape, _ = layer._shapes(layer.input_shape if isinstance(layer.input_shape, list)
                                        else [layer.input_shape])
    t, s = q_shape[0], v_shape[0]
    value = query if value is None else value
    key = value if key is None else key
    h, vd = layer.num_heads, layer.value_dim
    q = _project(layer, g, query, "query", layer.key_dim, t, hint)
    k = _project(layer, g, key, "key", layer.key_dim, s, hint)
    v = _project(layer, g, value, "value", vd, s, hint)
    scores = g.op("MatMul", [q, g.op("Transpose", [k], f"{hint}/key_t", perm=[0, 1, 3, 2])],
                  f"{hint}/logits")
    allowed = _allowed(layer, g, t, s, attention_mask, masks, hint)
    if allowed is None:
        weights = g.op("Softmax", [scores], f"{hint}/Softmax", axis=-1)
    else:
        lowest = g.scalar(np.finfo(g.dtype).min / 2, f"{hint}/blocked")
        masked = g.op("Where", [allowed, scores, lowest], f"{hint}/masked_logits")
        weights = g.op("Where", [allowed, g.op("Softmax", [masked], f"{hint}/Softmax", axis=-1),
                                 g.scalar(0.0, f"{hint}/none")], f"{hint}/weights")
    context = g.op("Transpose", [g.op("MatMul", [weights, v], f"{hint}/context")],
                   f"{hint}/context_t", perm=[0, 2, 1, 3])
    context = g.reshape(context, [0, t, h * vd], f"{hint}/context_2d")
    out_kernel = layer.params["output_kernel"]
    y = g.op("MatMul", [context, g.weight(out_kernel.reshape(h * vd, -1),
                                          f"{hint}/output_kernel")], f"{hint}/output_MatMul")
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(layer.params["output_bias"], f"{hint}/output_bias")],
                 f"{hint}/output_Add")
    return y, weights


def _multi_head_attention(layer, g, x):
    xs = x if isinstance(x, list) else [x]   # a bare tensor: self-attention in a Sequential
    idx = layer._role_index(len(xs))

    def role(name):
        return xs[idx[name]] if name in idx else None

    query_mask = g.masks.get(xs[0])
    value_mask = g.masks.get(role("value")) if "value" in idx else query_mask
    key_mask = g.masks.get(role("key")) if "key" in idx else None
    y, scores = attend(layer, g, xs[0], role("value"), role("key"), role("attention_mask"),
                       (query_mask, value_mask, key_mask))
    if query_mask is not None:
        g.masks[y] = query_mask
    return [y, scores] if layer.return_attention_scores else y


# ---------------------------------------------------------------------------- Transformer
def _block_attention(layer, g, prefix, h, encoder, masks):
    """h + MHA(n(h), encoder) with n = LN first (pre-norm) or LN after the sum (post-norm)."""
    named = dict(layer._named)
    mha, norm = named[prefix], named[f"{prefix}_layer_norm"]
    a = g.export(norm, h) if layer.normalize_first else h
    y, _ = attend(mha, g, a, encoder, masks=masks)
    out = g.op("Add", [y, h], f"{mha.name}/residual")
    return out if layer.normalize_first else g.export(norm, out)


def _block_feedforward(layer, g, h):
    named = dict(layer._named)
    norm = named["feedforward_layer_norm"]
    t, d = layer.output_shape
    f = g.export(norm, h) if layer.normalize_first else h
    f = g.reshape(f, [-1, d], f"{layer.name}/rows")                # (batch·T, D), as nnlite
    f = g.export(named["feedforward_intermediate_dense"], f)
    f = g.export(named["feedforward_output_dense"], f)
    f = g.reshape(f, [-1, t, d], f"{layer.name}/sequences")
    out = g.op("Add", [f, h], f"{layer.name}/feedforward_residual")
    return out if layer.normalize_first else g.export(norm, out)


def _transformer_encoder(layer, g, x):
    mask = g.masks.get(x)
    h = _block_attention(layer, g, "self_attention", x, None, (mask, mask, None))
    return _block_feedforward(layer, g, h)


def _transformer_decoder(layer, g, x):
    x, encoder = (x[0], x[1]) if layer.multi_input else (x, None)
    mask = g.masks.get(x)
    h = _block_attention(layer, g, "self_attention", x, None, (mask, mask, None))
    if encoder is not None:
        h = _block_attention(layer, g, "cross_attention", h, encoder,
                             (mask, g.masks.get(encoder), None))
    y = _block_feedforward(layer, g, h)
    if mask is not None:
        g.masks[y] = mask
    return y


# ---------------------------------------------------------------------------- positions, ViT
def _positional(table_of):
    def export(layer, g, x):
        # the (T, D) table broadcast over the batch: the positional term only (keras_hub)
        table = g.weight(table_of(layer)[:layer.input_shape[0]][None], f"{layer.name}/table")
        return g.op("Expand", [table, g.op("Shape", [x], f"{layer.name}/shape")],
                    f"{layer.name}/Expand")
    return export


def _patch_embedding(layer, g, x):
    hint = layer.name
    c, height, width = layer.input_shape
    p = layer.patch_size
    hp, wp = height // p, width // p
    patches = g.op("Transpose", [g.reshape(x, [0, c, hp, p, wp, p], f"{hint}/grid")],
                   f"{hint}/patches", perm=[0, 2, 4, 1, 3, 5])
    rows = g.reshape(patches, [0, hp * wp, c * p * p], f"{hint}/flat")
    kernel = layer.params["kernel"].reshape(layer.dim, -1).T           # (C·p², dim)
    y = g.op("MatMul", [rows, g.weight(kernel, f"{hint}/kernel")], f"{hint}/MatMul")
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(layer.params["bias"], f"{hint}/bias")], f"{hint}/Add")
    return y


def _class_token(layer, g, x):
    hint = layer.name
    d = layer.input_shape[-1]
    token = g.op("Expand", [g.weight(layer.params["token"].reshape(1, 1, d), f"{hint}/token"),
                            g.batch_shape(x, [1, d], f"{hint}/token_shape")], f"{hint}/tokens")
    y = g.op("Concat", [token, x], f"{hint}/Concat", axis=1)
    mask = g.masks.get(x)
    if mask is not None:   # the token is a real step
        real = g.op("Expand", [g.constant(np.ones((1, 1), dtype=bool), f"{hint}/true"),
                               g.batch_shape(mask, [1], f"{hint}/true_shape")], f"{hint}/real")
        g.masks[y] = g.op("Concat", [real, mask], f"{hint}/mask", axis=1)
    return y


def _select_token(layer, g, x):
    index = g.constant(np.array(layer.index, dtype=np.int64), f"{layer.name}/index")
    return g.op("Gather", [x, index], f"{layer.name}/Gather", axis=1)   # (batch, D)


#: layer class name -> (layer, g, x) -> output tensor name (a list with attention scores)
EXPORTERS = {
    "MultiHeadAttention": _multi_head_attention,
    "TransformerEncoder": _transformer_encoder,
    "TransformerDecoder": _transformer_decoder,
    "PositionEmbedding": _positional(lambda layer: layer.params["embeddings"]),
    "SinePositionEncoding": _positional(lambda layer: layer._sines),
    "PatchEmbedding": _patch_embedding,
    "ClassToken": _class_token,
    "SelectToken": _select_token,
}
