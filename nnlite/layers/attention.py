"""``MultiHeadAttention``: scaled dot-product attention in several heads (Vaswani et al. 2017).

For a query sequence X_q (batch, T, D_q), a value sequence X_v (batch, S, D_v) and a key
sequence X_k (batch, S, D_k) (key defaults to value, value to the query: self-attention), per
head h with Keras 3's weight layout:

    Q_h = X_q W_q[:, h] + b_q[h]                 W_q: (D_q, heads, key_dim), b_q: (heads, key_dim)
    K_h = X_k W_k[:, h] + b_k[h]                 W_k: (D_k, heads, key_dim)
    V_h = X_v W_v[:, h] + b_v[h]                 W_v: (D_v, heads, value_dim)
    A_h = softmax(Q_h K_hᵀ / √key_dim  where allowed, over the S keys)      (batch, T, S)
    Y   = Σ_h (A_h V_h) W_o[h] + b_o             W_o: (heads, value_dim, out), Y: (batch, T, out)

``A`` is the "attention scores" output (before dropout; dropout multiplies A by one mask in
both passes).  Backward, with the context C_h = A_h V_h and the logits L_h = Q_h K_hᵀ / √key_dim:
    dA_h = dC_h V_hᵀ,  dV_h = A_hᵀ dC_h,  dL_h = A_h ⊙ (dA_h - Σ_s dA_h ⊙ A_h)   (softmax)
    dQ_h = dL_h K_h / √key_dim,  dK_h = dL_hᵀ Q_h / √key_dim

**Masks.** Keras's convention: True (or 1) = *may attend*.  The allowed (T, S) pattern is the
AND of ``attention_mask`` (batch, T, S), the causal mask (query t sees keys s ≤ t) and the
padding masks that arrive with the inputs (``mask=`` in ``forward``: a query mask (batch, T)
blocks whole rows, value/key masks (batch, S) block columns).  PyTorch's
``nn.MultiheadAttention`` uses the opposite sign — ``attn_mask`` True = *blocked*,
``key_padding_mask`` True = *padding* — so convert with ``~mask``.  The softmax is taken over
the allowed keys only, after subtracting their maximum (no overflow).  A query row with *no*
allowed key gets all-zero weights — PyTorch returns NaN there, Keras spreads the weights
uniformly (it adds -1e9 to masked logits) — so its attended value is 0, its output is the
output bias ``b_o``, and no gradient flows through that row.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, GraphError, ShapeError
from ..math import initializers
from .base import Layer, bool_flag, positive_int
from .nodes import call_layer

__all__ = ["MultiHeadAttention", "masked_softmax", "softmax_backward", "causal_mask"]

ROLES = ("query", "value", "key", "attention_mask")


def causal_mask(t, s) -> np.ndarray:
    """(t, s) boolean, True where query i may see key j: j ≤ i (Keras's lower triangle)."""
    return np.tri(t, s, dtype=bool)


def masked_softmax(logits, allowed=None, axis=-1):
    """Softmax over ``axis`` in place, restricted to ``allowed`` (broadcastable boolean, or
    None for all); a row with nothing allowed becomes all zeros (never NaN)."""
    if allowed is not None:
        np.copyto(logits, -np.inf, where=~allowed)
    top = np.maximum.reduce(logits, axis=axis, keepdims=True)
    if allowed is not None:
        top[np.isneginf(top)] = 0.0     # an empty row: exp(-inf - 0) = 0 below
    with np.errstate(over="ignore"):    # z - max beyond -1.8e308 is -inf: its weight is 0
        logits -= top
    np.exp(logits, out=logits)
    total = np.add.reduce(logits, axis=axis, keepdims=True)
    if allowed is not None:
        total[total == 0.0] = 1.0
    logits /= total
    return logits


def softmax_backward(p, dp, out=None, axis=-1):
    """dL/dz for p = softmax(z) over ``axis``: p ⊙ (dp - Σ dp ⊙ p); zero where p is zero
    (masked keys).  ``out`` may be ``dp`` itself."""
    product = np.multiply(dp, p)
    total = np.add.reduce(product, axis=axis, keepdims=True)
    out = np.subtract(dp, total, out=out)
    out *= p
    return out


def _flag(value, what):
    return bool_flag(value, f"MultiHeadAttention: {what}")


def _positive_int(value, what):
    return positive_int(value, f"MultiHeadAttention: {what}")


class MultiHeadAttention(Layer):
    """``MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0., use_bias=True,
    output_shape=None)`` on sequences (batch, time, features); see the module docstring.

    In the graph API, ``mha(query, value=None, key=None, attention_mask=None,
    use_causal_mask=False, return_attention_scores=False)`` with graph nodes (``mha(x)`` is
    self-attention); with ``return_attention_scores=True`` the call gives two nodes, the output
    (batch, T, out) and the scores (batch, heads, T, S).  In a ``Sequential`` model it is
    self-attention on the previous layer's output.  ``output_shape``: the output's last
    axis (default: the query's features).  Parameters ``query_kernel``/``query_bias``,
    ``key_*``, ``value_*``, ``output_kernel``/``output_bias`` in Keras 3's shapes; kernels are
    initialized with the fans of the equivalent Dense layer (D → heads·key_dim, ...).

    >>> mha = MultiHeadAttention(num_heads=2, key_dim=8)
    """

    multi_input = True
    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads")
        self.key_dim = _positive_int(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else _positive_int(value_dim,
                                                                              "value_dim")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)) \
                or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"MultiHeadAttention: dropout must be a number in [0, 1), got "
                              f"{dropout!r}")
        self.dropout = float(dropout)
        self.use_bias = _flag(use_bias, "use_bias")
        if isinstance(output_shape, (tuple, list)) and len(output_shape) == 1:
            output_shape = output_shape[0]
        self.output_dim = None if output_shape is None else _positive_int(output_shape,
                                                                          "output_shape")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ConfigError(f"MultiHeadAttention: seed must be a non-negative int or None, "
                              f"got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None
        self.bind_call()
        self._cache = None

    # ------------------------------------------------------------------ the call
    def bind_call(self, roles=None, use_causal_mask=False, return_attention_scores=False):
        """Fix what the inputs of ``forward`` are (``roles``: names from ``query, value, key,
        attention_mask``, in input order; None: by position) and the call's options.  The graph
        call does this; containers (TransformerEncoder) and direct use call it themselves."""
        if roles is not None:
            roles = tuple(roles)
            if not roles or roles[0] != "query" or len(set(roles)) != len(roles) \
                    or not set(roles) <= set(ROLES) or ("key" in roles and "value" not in roles):
                raise GraphError(f"MultiHeadAttention: inputs must be a query, optionally a "
                                 f"value, a key (with a value) and an attention_mask; got "
                                 f"{list(roles)}")
        causal = _flag(use_causal_mask, "use_causal_mask")
        scores = _flag(return_attention_scores, "return_attention_scores")
        self._roles, self.use_causal_mask, self.return_attention_scores = roles, causal, scores
        self.multi_output = scores

    def __call__(self, query, value=None, key=None, attention_mask=None, use_causal_mask=False,
                 return_attention_scores=False):
        """Symbolic call on graph nodes (see the class docstring); returns a node, or the
        nodes (output, scores) with ``return_attention_scores=True``."""

        given = {"query": query, "value": value, "key": key, "attention_mask": attention_mask}
        roles = [r for r in ROLES if given[r] is not None]
        before = (self._roles, self.use_causal_mask, self.return_attention_scores)
        self.bind_call(roles, use_causal_mask, return_attention_scores)
        try:
            return call_layer(self, [given[r] for r in roles], call={
                "inputs": roles, "use_causal_mask": self.use_causal_mask,
                "return_attention_scores": self.return_attention_scores})
        except Exception:
            self.bind_call(*before)
            raise

    def _role_index(self, n):
        roles = self._roles if self._roles is not None else ROLES[:n]
        if len(roles) != n:
            raise ShapeError(f"MultiHeadAttention {self.name!r}: bound to inputs {list(roles)} "
                             f"but given {n}")
        return {r: i for i, r in enumerate(roles)}

    # ------------------------------------------------------------------ shapes
    def _shapes(self, input_shape):
        what = f"MultiHeadAttention {self.name or self.default_name!r}"
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        shapes = [tuple(s) for s in shapes]
        idx = self._role_index(len(shapes))
        q = shapes[0]
        v = shapes[idx["value"]] if "value" in idx else q
        k = shapes[idx["key"]] if "key" in idx else v
        for name, s in (("query", q), ("value", v), ("key", k)):
            if len(s) != 2:
                raise ShapeError(f"{what}: {name} must be a sequence (batch, time, features), "
                                 f"got (batch, {', '.join(map(str, s))})")
        if k[0] != v[0]:
            raise ShapeError(f"{what}: key and value need the same length, got {k[0]} and "
                             f"{v[0]}")
        if "attention_mask" in idx and shapes[idx["attention_mask"]] != (q[0], v[0]):
            raise ShapeError(f"{what}: attention_mask must have shape (batch, {q[0]}, {v[0]}) "
                             f"(query length, value length), got (batch, "
                             f"{', '.join(map(str, shapes[idx['attention_mask']]))})")
        return q, v, k

    def compute_output_shape(self, input_shape):
        q, v, _ = self._shapes(input_shape)
        out = (q[0], self.output_dim or q[1])
        return [out, (self.num_heads, q[0], v[0])] if self.return_attention_scores else out

    def build(self, input_shape, rng, dtype):
        shapes = [tuple(s) for s in (input_shape if isinstance(input_shape, list)
                                     else [input_shape])]
        self.output_shape = self.compute_output_shape(shapes)
        self.dtype, self.built = np.dtype(dtype), True
        # a list for graph calls (one shape per input); one shape in Sequential
        self.input_shape = shapes if isinstance(input_shape, list) else shapes[0]
        q, v, k = self._shapes(shapes)
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        out = self.output_dim or q[1]
        init, binit = self.kernel_initializer, self.bias_initializer
        for name, dim, width in (("query", q[1], kd), ("key", k[1], kd), ("value", v[1], vd)):
            self.add_weight(f"{name}_kernel", (dim, h, width), init, dim, h * width, rng)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (h, width), binit, dim, h * width, rng)
        self.add_weight("output_kernel", (h, vd, out), init, h * vd, out, rng)
        if self.use_bias:
            self.add_weight("output_bias", (out,), binit, h * vd, out, rng)
        if self.dropout > 0.0:
            seed = self.seed if self.seed is not None else int(rng.integers(2**63))
            self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ computing
    def _project(self, x, name, width, training):
        """(batch, L, D) → X W (+ b) as (batch, L, heads, width) rows, and its (batch, heads,
        L, width) view (no copy: the batched products take the strided view)."""
        b, length, dim = x.shape
        kernel = self.params[f"{name}_kernel"].reshape(dim, -1)
        y = np.matmul(x.reshape(b * length, dim), kernel,
                      out=self._buffer(f"{name}_2d", (b * length, kernel.shape[1]))
                      if training else None)
        if self.use_bias:
            y += self.params[f"{name}_bias"].reshape(-1)
        if name == "query":
            y *= 1.0 / math.sqrt(self.key_dim)
        return y.reshape(b, length, self.num_heads, width).transpose(0, 2, 1, 3)

    def allowed(self, batch, t, s, attention_mask=None, masks=None):
        """The (batch or 1, T, S) boolean 'may attend' pattern of this call, or None (all)."""
        query_mask, value_mask, key_mask = masks if masks is not None else (None,) * 3
        allowed = None
        parts = []
        if query_mask is not None:
            parts.append(np.asarray(query_mask, dtype=bool)[:, :, None])
        for m in (value_mask, key_mask):
            if m is not None:
                parts.append(np.asarray(m, dtype=bool)[:, None, :])
        if self.use_causal_mask:
            parts.append(causal_mask(t, s)[None])
        if attention_mask is not None:
            parts.append(np.asarray(attention_mask) != 0)
        for part in parts:
            allowed = part if allowed is None else allowed & part
        return None if allowed is None else np.broadcast_to(allowed, (allowed.shape[0], t, s))

    def forward(self, xs, training=False, mask=None):
        y, scores = self._attend(xs, training, mask)
        return (y, scores) if self.return_attention_scores else y

    def attention_scores(self, xs, mask=None):
        """The attention weights A (batch, heads, T, S) for inputs ``xs`` (inference mode, no
        dropout): row t of head h says where query t looks."""
        return self._attend(xs, False, mask)[1]

    def _attend(self, xs, training, mask):
        listed = isinstance(xs, (list, tuple))  # a bare array: self-attention (Sequential)
        xs = xs if listed else [xs]
        idx = self._role_index(len(xs))
        query = xs[0]
        value = xs[idx["value"]] if "value" in idx else query
        key = xs[idx["key"]] if "key" in idx else value
        masks = None
        if mask is not None:
            mask = list(mask) if isinstance(mask, (list, tuple)) else [mask]
            qm = mask[0]
            vm = mask[idx["value"]] if "value" in idx else qm
            km = mask[idx["key"]] if "key" in idx else None
            masks = (qm, vm, km)
        b, t, s = query.shape[0], query.shape[1], value.shape[1]
        h, vd = self.num_heads, self.value_dim
        allowed = self.allowed(b, t, s, xs[idx["attention_mask"]] if "attention_mask" in idx
                               else None, masks)
        q = self._project(query, "query", self.key_dim, training)
        k = self._project(key, "key", self.key_dim, training)
        v = self._project(value, "value", vd, training)
        new = self._buffer if training else _fresh(self.dtype)
        # the weights are kept keys-first, (S, batch, heads, T): the softmax's sums and maxima
        # over S are then S long vector passes, not batch·heads·T reductions of length S
        weights_sbht = new("scores", (s, b, h, t))
        np.matmul(k, q.transpose(0, 1, 3, 2), out=weights_sbht.transpose(1, 2, 0, 3))
        masked_softmax(weights_sbht, None if allowed is None
                       else allowed.transpose(2, 0, 1)[:, :, None, :], axis=0)
        scores = weights_sbht.transpose(1, 2, 3, 0)             # (batch, heads, T, S)
        weights, keep = scores, None
        if training and self.dropout > 0.0:
            keep = self._rng.random(scores.shape, dtype=self.dtype)
            keep = np.greater_equal(keep, self.dropout).astype(self.dtype)
            keep *= 1.0 / (1.0 - self.dropout)
            weights = scores * keep
        context = new("context", (b, t, h, vd))                 # rows of the output product
        np.matmul(weights, v, out=context.transpose(0, 2, 1, 3))
        context2 = context.reshape(b * t, h * vd)
        out_kernel = self.params["output_kernel"].reshape(h * vd, -1)
        y = np.matmul(context2, out_kernel)
        if self.use_bias:
            y += self.params["output_bias"]
        y = y.reshape(b, t, -1)
        if training:
            self._cache = (xs, idx, query, key, value, q, k, v, weights_sbht, keep, weights,
                           context2, listed)
        return y, scores

    def backward(self, dy, input_grad=True):
        xs, idx, query, key, value, q, k, v, weights_sbht, keep, weights, context2, listed = \
            self._cache
        dscores = None
        if self.return_attention_scores:
            dy, dscores = dy
        b, t, s = query.shape[0], query.shape[1], value.shape[1]
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        out = self.params["output_kernel"].shape[-1]
        if dy is None:
            dy = np.zeros((b, t, out), dtype=self.dtype)
        dy2 = dy.reshape(b * t, out)
        np.matmul(context2.T, dy2, out=self.grads["output_kernel"].reshape(h * vd, out))
        if self.use_bias:
            np.add.reduce(dy2, axis=0, out=self.grads["output_bias"])
        dcontext = np.matmul(dy2, self.params["output_kernel"].reshape(h * vd, out).T,
                             out=self._buffer("dcontext", (b * t, h * vd)))
        dcontext = dcontext.reshape(b, t, h, vd).transpose(0, 2, 1, 3)
        dweights_sbht = self._buffer("dweights", (s, b, h, t))  # keys first, as the weights
        np.matmul(v, dcontext.transpose(0, 1, 3, 2), out=dweights_sbht.transpose(1, 2, 0, 3))
        dv = self._buffer("value_d", (b, s, h, vd))
        np.matmul(weights.transpose(0, 1, 3, 2), dcontext, out=dv.transpose(0, 2, 1, 3))
        if keep is not None:
            dweights_sbht *= keep.transpose(3, 0, 1, 2)
        if dscores is not None:
            dweights_sbht += dscores.transpose(3, 0, 1, 2)
        dlogits = softmax_backward(weights_sbht, dweights_sbht, out=dweights_sbht, axis=0)
        dq = self._buffer("query_d", (b, t, h, kd))             # d(scaled query)
        np.matmul(dlogits.transpose(1, 2, 3, 0), k, out=dq.transpose(0, 2, 1, 3))
        dq *= 1.0 / math.sqrt(kd)                        # q = (X W_q + b_q) / √key_dim
        dk = self._buffer("key_d", (b, s, h, kd))
        np.matmul(dlogits.transpose(1, 2, 0, 3), q, out=dk.transpose(0, 2, 1, 3))
        dx = {}
        for name, x, d in (("query", query, dq), ("key", key, dk), ("value", value, dv)):
            dx[name] = self._project_backward(name, x, d, input_grad)
        if not input_grad:
            return None
        grads = [None] * len(xs)
        grads[0] = dx["query"]
        if "value" not in idx:      # self-attention on one input: it was query, key and value
            grads[0] = dx["query"] + dx["key"] + dx["value"]
        elif "key" not in idx:      # the value input was also the key
            grads[idx["value"]] = dx["value"] + dx["key"]
        else:
            grads[idx["value"]], grads[idx["key"]] = dx["value"], dx["key"]
        return grads if listed else grads[0]

    def _project_backward(self, name, x, d, input_grad):
        """Parameter gradients of one projection from d (batch, L, heads, width); returns
        dX."""
        b, length, dim = x.shape
        d2 = d.reshape(b * length, -1)
        kernel = self.params[f"{name}_kernel"].reshape(dim, -1)
        np.matmul(x.reshape(b * length, dim).T, d2,
                  out=self.grads[f"{name}_kernel"].reshape(dim, -1))
        if self.use_bias:
            np.add.reduce(d2, axis=0, out=self.grads[f"{name}_bias"].reshape(-1))
        if not input_grad:
            return None
        return np.matmul(d2, kernel.T).reshape(b, length, dim)

    def compute_mask(self, inputs, mask=None):
        """The query's mask (Keras); None for the scores."""
        query_mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        return [query_mask, None] if self.return_attention_scores else query_mask

    def release_buffers(self):
        super().release_buffers()
        self._cache = None

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        if isinstance(self.input_shape, list):  # several inputs: the graph gives the shapes
            config.pop("input_shape", None)
        return {**config, "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_dim,
                "kernel_initializer": initializers.name_of(self.kernel_initializer),
                "bias_initializer": initializers.name_of(self.bias_initializer),
                "seed": self.seed}


def _fresh(dtype):
    """``_buffer``'s signature for inference: a new array each call (nothing is kept)."""
    return lambda key, shape: np.empty(shape, dtype)
