"""Embedding: token ids to dense vectors, a lookup table trained by scatter-add.

    y[b, t] = E[ids[b, t]]                      E: (input_dim, output_dim), ids: (batch, time)
    dL/dE[v] = Σ_{(b, t): ids[b, t] = v} dL/dy[b, t]

The gradient is a scatter-*add*: an id that occurs several times in the batch accumulates all of
its rows (a fancy-index assignment ``grad[ids] = dy`` would keep only the last of the repeated
rows).  It is computed as ONE sparse product over the whole batch, dL/dE = Sᵀ dy with S the
(tokens, input_dim) one-hot matrix of the ids, built directly in compressed-column form (one
entry per token, no sorting) and kept for the next batch of the same size: 20× faster than
``np.add.at`` for the char-LM's batch (28 vs 610 µs for 2,048 tokens × 32, 97 ids; one thread)
and still ahead for large vocabularies.  The ids themselves are not differentiable:
``backward`` returns zeros for them and the gradient checks
skip them (``differentiable_input = False``).

``mask_zero=True`` reserves id 0 for padding: the layer's output mask is ``ids != 0`` (True =
a real step), which the recurrent layers, pooling over time and the loss honour.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csc_array

from ..errors import InputValueError
from ..math import initializers, regularizers
from .base import Layer, bool_flag, positive_int

__all__ = ["Embedding"]


class Embedding(Layer):
    """``Embedding(input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False)``.

    Input: ids ``(batch, *d)`` (integers stored in any numeric dtype, e.g. the model's float);
    output ``(batch, *d, output_dim)``.  Weight: ``embeddings`` (input_dim, output_dim),
    initialised U(-0.05, 0.05) like Keras.

    >>> Embedding(1000, 64, mask_zero=True)  # doctest: +ELLIPSIS
    Embedding(input_dim=1000, output_dim=64, ...)
    """

    differentiable_input = False

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "Embedding: input_dim")
        self.output_dim = positive_int(output_dim, "Embedding: output_dim")
        bool_flag(mask_zero, "Embedding: mask_zero")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self._ids = None
        self._onehot_t = None      # backward's sparse one-hot matrix (transposed), reused

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.add_weight("embeddings", (self.input_dim, self.output_dim),
                        self.embeddings_initializer, self.input_dim, self.output_dim, rng)
        self._onehot_t = None

    def token_ids(self, x):
        """``x`` as an intp array of ids, or InputValueError naming the layer."""
        ids = np.asarray(x)
        if ids.dtype.kind != "i":
            if ids.dtype.kind not in "uif":
                raise InputValueError(f"Embedding {self.name!r}: expects integer token ids, got "
                                      f"dtype {ids.dtype}")
            as_int = ids.astype(np.intp)
            if ids.dtype.kind == "f" and not np.array_equal(as_int, ids):
                raise InputValueError(f"Embedding {self.name!r}: expects integer token ids, got "
                                      "non-integer values")
            ids = as_int
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise InputValueError(f"Embedding {self.name!r}: token ids must be in 0.."
                                  f"{self.input_dim - 1} (input_dim={self.input_dim}), got "
                                  f"values in [{ids.min()}, {ids.max()}]")
        return ids

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def forward(self, x, training=False):
        ids = self.token_ids(x)
        shape = ids.shape + (self.output_dim,)
        out = self._buffer("y", shape) if training else np.empty(shape, self.dtype)
        np.take(self.params["embeddings"], ids, axis=0, out=out)
        if training:
            self._ids, self._x_shape = ids, np.shape(x)
        return out

    def backward(self, dy, input_grad=True):
        ids = self._ids.reshape(-1)
        count = ids.shape[0]
        onehot_t = self._onehot_t
        if onehot_t is None or onehot_t.shape[1] != count:
            # column j of Sᵀ holds a single 1, in row ids[j]; kept for the next batches of
            # the same size, whose ids replace its row indices (scipy's constructor checks
            # cost more than the product)
            onehot_t = self._onehot_t = csc_array(
                (np.ones(count, self.dtype), ids.copy(), np.arange(count + 1)),
                shape=(self.input_dim, count))
        else:
            np.copyto(onehot_t.indices, ids)
        np.copyto(self.grads["embeddings"], onehot_t @ dy.reshape(count, self.output_dim))
        if not input_grad:
            return None
        zeros = self._buffer("dx", self._x_shape)
        zeros.fill(0)
        return zeros

    def release_buffers(self):
        super().release_buffers()
        self._ids = self._onehot_t = None

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=initializers.name_of(self.embeddings_initializer),
                      mask_zero=self.mask_zero)
        if self.embeddings_regularizer is not None:
            config["embeddings_regularizer"] = regularizers.serialize(self.embeddings_regularizer)
        return config
