"""``TokenAndPositionEmbedding``: token ids to vectors plus a learned vector per position
(keras_hub's layer of the same name), built from ``Embedding`` and ``PositionEmbedding``.

    y[b, t] = E[ids[b, t]] + P[t]          ids: (batch, T) integers, T ≤ sequence_length
                                           E: (vocabulary_size, D), P: (sequence_length, D)
    dE[v] = Σ_{(b, t): ids[b, t] = v} dy[b, t]          (a scatter-add, as Embedding)
    dP[t] = Σ_b dy[b, t]                                 (rows t ≥ T get 0)

With ``mask_zero=True`` id 0 is padding: the output's mask is ``ids != 0`` (True = a real
step), which attention, the Transformer blocks, the recurrent layers and the loss honour.
(keras_hub's ``tie_weights`` — reusing E as the output projection — is not offered: nnlite's
Dense has its own kernel.)
"""
from __future__ import annotations

from ..errors import ShapeError
from .base import bool_flag, positive_int
from .composite import Composite
from .embedding import Embedding
from .position import PositionEmbedding

__all__ = ["TokenAndPositionEmbedding"]


def _positive_int(value, what):
    return positive_int(value, f"TokenAndPositionEmbedding: {what}")


class TokenAndPositionEmbedding(Composite):
    """``TokenAndPositionEmbedding(vocabulary_size, sequence_length, embedding_dim,
    embeddings_initializer="uniform", mask_zero=False)``: ids (batch, T) → (batch, T,
    embedding_dim), the token's embedding plus its position's (see the module docstring).

    Sublayers (keras_hub's names): ``token_embedding`` (an ``Embedding``, weight
    ``token_embedding/embeddings`` of shape (vocabulary_size, embedding_dim)) and
    ``position_embedding`` (a ``PositionEmbedding``, ``position_embedding/embeddings`` of shape
    (sequence_length, embedding_dim), Glorot-uniform).  Inputs may be shorter than
    ``sequence_length`` (the first T position rows are used).

    >>> TokenAndPositionEmbedding(100, 32, 16, mask_zero=True)  # doctest: +ELLIPSIS
    TokenAndPositionEmbedding(vocabulary_size=100, sequence_length=32, embedding_dim=16, ...)
    """

    differentiable_input = False  # token ids

    def __init__(self, vocabulary_size, sequence_length, embedding_dim,
                 embeddings_initializer="uniform", mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = _positive_int(vocabulary_size, "vocabulary_size")
        self.sequence_length = _positive_int(sequence_length, "sequence_length")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim")
        self.mask_zero = bool_flag(mask_zero, "TokenAndPositionEmbedding: mask_zero")
        # checked now (a bad name fails at construction), used at build
        self._token = Embedding(self.vocabulary_size, self.embedding_dim,
                                embeddings_initializer=embeddings_initializer,
                                mask_zero=self.mask_zero)
        self.embeddings_initializer = embeddings_initializer

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 1:
            raise ShapeError(f"TokenAndPositionEmbedding {self.name!r}: expects token ids "
                             f"(batch, time), got (batch, {', '.join(map(str, shape))})")
        if shape[0] > self.sequence_length:
            raise ShapeError(f"TokenAndPositionEmbedding {self.name!r}: inputs of length "
                             f"{shape[0]} are longer than sequence_length="
                             f"{self.sequence_length}")
        return shape + (self.embedding_dim,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.adopt([("token_embedding", self._token),
                    ("position_embedding", PositionEmbedding(self.sequence_length))])
        self._token.build(self.input_shape, rng, dtype)
        self._position.build(self.output_shape, rng, dtype)

    @property
    def _position(self):
        return self._named[1][1]

    def compute_mask(self, inputs, mask=None):
        return self._token.compute_mask(inputs, mask)

    def forward(self, x, training=False):
        # the Embedding's output is its own fresh array or buffer, which its backward does not
        # read: the positions are added in place
        y = self._token.forward(x, training)                        # (batch, T, D)
        y += self._position.params["embeddings"][:y.shape[1]]
        return y

    def backward(self, dy, input_grad=True):
        self._position.backward(dy, input_grad=False)  # dP[t] = Σ_b dy[b, t]
        return self._token.backward(dy, input_grad)     # the scatter-add; zeros for the ids

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "embeddings_initializer": self._token.get_config()["embeddings_initializer"],
                "mask_zero": self.mask_zero}
