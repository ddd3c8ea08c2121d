"""Transformer blocks (Vaswani et al. 2017) built from nnlite's own layers, as in keras_hub.

On a sequence x (batch, T, D), with MHA = MultiHeadAttention(heads, key_dim=D // heads) and
FFN(h) = Dense(D)(f(Dense(intermediate_dim)(h))) applied at every position:

    post-norm (normalize_first=False, the original):    h = LN₁(x + MHA(x, x))
                                                        y = LN₂(h + FFN(h))
    pre-norm  (normalize_first=True, GPT-2 and ViT):     h = x + MHA(LN₁(x), LN₁(x))
                                                        y = h + FFN(LN₂(h))

Each residual branch ends in Dropout(dropout); attention weights get the same rate.  The skip
connections are the lecture's z + f(z): the identity carries the gradient past every block.
``TransformerDecoder`` adds causal self-attention (query t sees positions ≤ t) and, when called
with an encoder sequence, a cross-attention block MHA(h, encoder) between the two.

Padding masks (``mask=`` in ``forward``, True = a real step) reach the attention as query and
key masks, as in Keras; the blocks are containers (see ``Composite``) whose sublayers carry
keras_hub's names (``self_attention``, ``feedforward_intermediate_dense``, ...).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import activations
from .attention import MultiHeadAttention
from .base import positive_int
from .composite import Composite
from .dense import Dense
from .nodes import call_layer
from .normalization import LayerNormalization
from .regularization import Dropout

__all__ = ["TransformerEncoder", "TransformerDecoder"]


def _check(name, intermediate_dim, num_heads, dropout, epsilon):
    for what, value in (("intermediate_dim", intermediate_dim), ("num_heads", num_heads)):
        positive_int(value, f"{name}: {what}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)) \
            or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating)) \
            or not epsilon > 0:
        raise ConfigError(f"{name}: layer_norm_epsilon must be a positive number, got "
                          f"{epsilon!r}")


class _Block(Composite):
    """What the encoder and decoder share: hyper-parameters, the attention and feed-forward
    sub-blocks with their residual connections, config."""

    supports_masking = True

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, activation="relu",
                 layer_norm_epsilon=1e-5, normalize_first=False, **kwargs):
        super().__init__(**kwargs)
        _check(type(self).__name__, intermediate_dim, num_heads, dropout, layer_norm_epsilon)
        self.intermediate_dim, self.num_heads = int(intermediate_dim), int(num_heads)
        self.dropout = float(dropout)
        self.activation = activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if not isinstance(normalize_first, (bool, np.bool_)):
            raise ConfigError(f"{type(self).__name__}: normalize_first must be True or False, "
                              f"got {normalize_first!r}")
        self.normalize_first = bool(normalize_first)

    def _hidden(self, shape):
        if len(shape) != 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expects sequences (batch, "
                             f"time, features), got (batch, {', '.join(map(str, shape))})")
        if shape[1] < self.num_heads:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: {shape[1]} features cannot "
                             f"be split into num_heads={self.num_heads} heads")
        return shape[1]

    def _attention_parts(self, prefix, hidden, roles, causal):
        mha = MultiHeadAttention(self.num_heads, hidden // self.num_heads, dropout=self.dropout)
        mha.bind_call(roles, use_causal_mask=causal)
        return [(f"{prefix}", mha),
                (f"{prefix}_layer_norm", LayerNormalization(epsilon=self.layer_norm_epsilon)),
                (f"{prefix}_dropout", Dropout(self.dropout))]

    def _feedforward_parts(self, hidden):
        return [("feedforward_layer_norm", LayerNormalization(epsilon=self.layer_norm_epsilon)),
                ("feedforward_intermediate_dense", Dense(self.intermediate_dim,
                                                         activation=self.activation)),
                ("feedforward_output_dense", Dense(hidden)),
                ("feedforward_dropout", Dropout(self.dropout))]

    def _layers(self, prefix):
        named = dict(self._named)
        return (named[prefix], named[f"{prefix}_layer_norm"], named[f"{prefix}_dropout"])

    def _build_parts(self, seq_shape, rng, dtype, encoder_shape=None):
        """Build the sublayers in order (the order the model's generator is drawn in)."""
        shapes = {"self_attention": [seq_shape], "cross_attention": [seq_shape, encoder_shape],
                  "feedforward_intermediate_dense": seq_shape[1:],
                  "feedforward_output_dense": (self.intermediate_dim,)}
        for local, layer in self._named:
            layer.build(shapes.get(local, seq_shape), rng, dtype)

    # ------------------------------------------------------------------ sub-blocks
    def _attend(self, prefix, h, others, training, masks):
        """h + Dropout(MHA(n(h), *others)) with n = LN (pre-norm) or LN after (post-norm)."""
        mha, norm, drop = self._layers(prefix)
        a = norm.forward(h, training) if self.normalize_first else h
        a = drop.forward(mha.forward([a, *others], training, mask=masks), training)
        out = np.add(a, h, out=self._buffer(f"{prefix}_sum", h.shape) if training else None)
        return out if self.normalize_first else norm.forward(out, training)

    def _attend_backward(self, prefix, g):
        """Gradients of the query input and of the other attention inputs (a list)."""
        mha, norm, drop = self._layers(prefix)
        if not self.normalize_first:
            g = norm.backward(g)
        d = mha.backward(drop.backward(g))
        dh = d[0] if not self.normalize_first else norm.backward(d[0])
        return np.add(dh, g, out=self._buffer(f"{prefix}_dx", g.shape)), d[1:]

    def _feedforward(self, h, training):
        named = dict(self._named)
        norm, drop = named["feedforward_layer_norm"], named["feedforward_dropout"]
        b, t, d = h.shape
        f = norm.forward(h, training) if self.normalize_first else h
        f = named["feedforward_intermediate_dense"].forward(f.reshape(b * t, d), training)
        f = named["feedforward_output_dense"].forward(f, training).reshape(b, t, d)
        f = drop.forward(f, training)
        out = np.add(f, h, out=self._buffer("feedforward_sum", h.shape) if training else None)
        return out if self.normalize_first else norm.forward(out, training)

    def _feedforward_backward(self, g):
        named = dict(self._named)
        norm = named["feedforward_layer_norm"]
        if not self.normalize_first:
            g = norm.backward(g)
        b, t, d = g.shape
        f = named["feedforward_dropout"].backward(g).reshape(b * t, d)
        f = named["feedforward_output_dense"].backward(f)
        f = named["feedforward_intermediate_dense"].backward(f).reshape(b, t, d)
        if self.normalize_first:
            f = norm.backward(f)
        return np.add(f, g, out=self._buffer("feedforward_dx", g.shape))

    def attention_scores(self, x, mask=None):
        """The self-attention weights (batch, heads, T, T) this block computes for its input
        ``x`` (inference mode): row t of head h says where position t looks."""
        mha, norm, _ = self._layers("self_attention")
        h = norm.forward(x) if self.normalize_first else x
        return mha.attention_scores([h], None if mask is None else [mask])

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        if isinstance(self.input_shape, list):  # several inputs: the graph gives the shapes
            config.pop("input_shape", None)
        return {**config, "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads, "dropout": self.dropout,
                "activation": activations.to_config(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first}

    def __repr__(self):
        return (f"{type(self).__name__}(intermediate_dim={self.intermediate_dim}, "
                f"num_heads={self.num_heads}, normalize_first={self.normalize_first})")


class TransformerEncoder(_Block):
    """``TransformerEncoder(intermediate_dim, num_heads, dropout=0., activation="relu",
    layer_norm_epsilon=1e-5, normalize_first=False)``: (batch, T, D) → (batch, T, D), self-
    attention then a position-wise feed-forward network, each with a residual connection (see
    the module docstring); key_dim = D // num_heads.  Same computation as PyTorch's
    ``nn.TransformerEncoderLayer(D, num_heads, intermediate_dim, norm_first=normalize_first)``.

    >>> TransformerEncoder(128, num_heads=4)
    TransformerEncoder(intermediate_dim=128, num_heads=4, normalize_first=False)
    """

    def compute_output_shape(self, input_shape):
        self._hidden(tuple(input_shape))
        return tuple(input_shape)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        hidden = self._hidden(self.input_shape)
        self.adopt(self._attention_parts("self_attention", hidden, ["query"], False)
                   + self._feedforward_parts(hidden))
        self._build_parts(self.input_shape, rng, dtype)

    def forward(self, x, training=False, mask=None):
        h = self._attend("self_attention", x, [], training, None if mask is None else [mask])
        return self._feedforward(h, training)

    def backward(self, dy, input_grad=True):
        g = self._feedforward_backward(dy)
        dx, _ = self._attend_backward("self_attention", g)
        return dx if input_grad else None


class TransformerDecoder(_Block):
    """``TransformerDecoder(intermediate_dim, num_heads, dropout=0., activation="relu",
    layer_norm_epsilon=1e-5, normalize_first=False)``: causal self-attention, then (when called
    with an encoder sequence) cross-attention on it, then the feed-forward network, each with a
    residual connection.  In the graph API ``decoder(decoder_sequence, encoder_sequence=None,
    use_causal_mask=True)``; output (batch, T, D) like the decoder sequence.  Without an encoder
    sequence it is a GPT-style block (usable in Sequential).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.multi_input = False
        self.use_causal_mask = True

    def __call__(self, decoder_sequence, encoder_sequence=None, use_causal_mask=True):
        """Symbolic call on graph nodes; returns the output node."""

        if not isinstance(use_causal_mask, (bool, np.bool_)):
            raise ConfigError(f"TransformerDecoder: use_causal_mask must be True or False, got "
                              f"{use_causal_mask!r}")
        cross = encoder_sequence is not None
        before = (self.multi_input, self.use_causal_mask)
        self.multi_input, self.use_causal_mask = cross, bool(use_causal_mask)
        inputs = ["decoder_sequence"] + (["encoder_sequence"] if cross else [])
        try:
            return call_layer(self, [decoder_sequence, encoder_sequence] if cross
                              else decoder_sequence,
                              call={"inputs": inputs, "use_causal_mask": self.use_causal_mask})
        except Exception:
            self.multi_input, self.use_causal_mask = before
            raise

    def _shapes(self, input_shape):
        if isinstance(input_shape, list):
            if len(input_shape) != 2:
                raise ShapeError(f"TransformerDecoder {self.name!r}: takes a decoder sequence "
                                 f"and optionally an encoder sequence, got {len(input_shape)} "
                                 "inputs")
            decoder, encoder = (tuple(s) for s in input_shape)
            if len(encoder) != 2:
                raise ShapeError(f"TransformerDecoder {self.name!r}: the encoder sequence must "
                                 f"be (batch, time, features), got (batch, "
                                 f"{', '.join(map(str, encoder))})")
            return decoder, encoder
        return tuple(input_shape), None

    def compute_output_shape(self, input_shape):
        decoder, _ = self._shapes(input_shape)
        self._hidden(decoder)
        return decoder

    def build(self, input_shape, rng, dtype):
        decoder, encoder = self._shapes(input_shape)
        self.multi_input = encoder is not None
        super().build(decoder, rng, dtype)
        self.input_shape = [decoder, encoder] if self.multi_input else decoder
        hidden = self._hidden(decoder)
        parts = self._attention_parts("self_attention", hidden, ["query"], self.use_causal_mask)
        if self.multi_input:
            parts += self._attention_parts("cross_attention", hidden, ["query", "value"], False)
        self.adopt(parts + self._feedforward_parts(hidden))
        self._build_parts(decoder, rng, dtype, encoder)

    def forward(self, xs, training=False, mask=None):
        x, encoder = (xs[0], xs[1]) if self.multi_input else (xs, None)
        masks = mask if isinstance(mask, (list, tuple)) else [mask, None]
        h = self._attend("self_attention", x, [], training,
                         None if masks[0] is None else [masks[0]])
        if self.multi_input:
            h = self._attend("cross_attention", h, [encoder], training,
                             None if masks[0] is None and masks[1] is None else list(masks))
        return self._feedforward(h, training)

    def backward(self, dy, input_grad=True):
        g = self._feedforward_backward(dy)
        d_encoder = None
        if self.multi_input:
            g, (d_encoder,) = self._attend_backward("cross_attention", g)
        dx, _ = self._attend_backward("self_attention", g)
        if not input_grad:
            return None
        return [dx, d_encoder] if self.multi_input else dx

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask
