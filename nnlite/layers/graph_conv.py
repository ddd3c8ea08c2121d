"""Graph convolutions on node features (N, F) and a sparse adjacency A (N, N).

Both layers take two inputs, as in Spektral: ``GCNConv(16)([x, a])`` with ``x = Input(shape=
(F,))`` and ``a = Input(shape=(N,), sparse=True)``.  The N nodes are the batch axis: a graph
model trains full batch, and transductive training picks the labelled nodes with
``sample_weight`` (weight 0 for the others).  The adjacency is a ``scipy.sparse`` matrix all the
way (never densified); its normalization is computed once per training run and cached (keyed
on the adjacency object, which the model hands to every step unchanged), and once per call at
inference.

    GCNConv (Kipf & Welling 2017):   Â = D̂^-½ (A + I) D̂^-½,  D̂_ii = Σ_j (A + I)_ij
                                     Z = Â X W + b,  Y = f(Z)        W: (F, units)
                                     dW = Xᵀ (Âᵀ dZ),  dX = (Âᵀ dZ) Wᵀ,  db = Σ_nodes dZ
    SAGEConv (Hamilton et al. 2017): M = D^-1 A ("mean": the average over neighbours; a node
                                     without neighbours gets 0) or M = A ("sum")
                                     Z = X W_root + (M X) W_neighbor + b
                                     dX = dZ W_rootᵀ + Mᵀ dZ W_neighborᵀ

A is read as A[i, j] = weight of the edge j → i (row i aggregates its columns); for the usual
undirected graphs A is symmetric.  A node of degree 0 (no self loop) gets D̂^-½ = 0, not inf.
Each layer multiplies in the cheaper order: Â (X W) when units ≤ F, (Â X) W otherwise.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import activations, initializers, regularizers
from ..math.activations import activate, activation_grad
from .base import Layer, positive_int
from .dense import kernel_bias_config

__all__ = ["GCNConv", "SAGEConv", "gcn_normalize", "mean_normalize"]


def _csr(a, dtype):
    import scipy.sparse as sp
    return sp.csr_matrix(a, dtype=dtype)


def _scale(a, row, col):
    """diag(row) · a · diag(col) for a CSR matrix, as a new CSR matrix (data scaled)."""
    out = a.copy()
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    if row is not None:
        out.data *= row[rows]
    if col is not None:
        out.data *= col[a.indices]
    return out


def _inverse(values, power):
    """values^power where values > 0, else 0 (isolated nodes)."""
    out = np.zeros_like(values)
    np.power(values, power, out=out, where=values > 0)
    return out


def gcn_normalize(a, add_self_loops=True, dtype=np.float64):
    """Â = D̂^-½ (A + I) D̂^-½ as a CSR matrix (``add_self_loops=False``: D^-½ A D^-½)."""
    import scipy.sparse as sp

    a = _csr(a, dtype)
    if add_self_loops:
        a = (a + sp.identity(a.shape[0], dtype=dtype, format="csr")).tocsr()
    scale = _inverse(np.asarray(a.sum(axis=1), dtype=dtype).ravel(), -0.5)
    return _scale(a, scale, scale)


def mean_normalize(a, dtype=np.float64):
    """M = D^-1 A as a CSR matrix: row i averages node i's neighbours (0 if it has none)."""
    a = _csr(a, dtype)
    return _scale(a, _inverse(np.asarray(a.sum(axis=1), dtype=dtype).ravel(), -1.0), None)


class _GraphConv(Layer):
    """Shared parts: the [features, adjacency] inputs, the cached propagation matrix, config."""

    multi_input = True

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        for key in ("input_shape", "input_dim"):
            if kwargs.get(key) is not None:
                raise ConfigError(f"{type(self).__name__}: takes its input shapes from the "
                                  f"graph; do not give {key}")
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.units = positive_int(units, f"{type(self).__name__}: units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._cached = None     # (adjacency object, its propagation matrix), training only
        self._x = self._matrix = self._saved = None

    def compute_output_shape(self, input_shape):
        what = f"{type(self).__name__} {self.name or self.default_name!r}"
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ShapeError(f"{what} takes [node features, adjacency], got {input_shape!r}")
        features, adjacency = (tuple(s) for s in input_shape)
        if len(features) != 1 or len(adjacency) != 1:
            raise ShapeError(f"{what} needs node features (N, F) and an adjacency (N, N) "
                             f"(declared Input(shape=(N,), sparse=True)), got (N, "
                             f"{', '.join(map(str, features))}) and (N, "
                             f"{', '.join(map(str, adjacency))})")
        return (self.units,)

    def build(self, input_shape, rng, dtype):
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = [tuple(s) for s in input_shape]
        self.dtype, self.built = np.dtype(dtype), True
        self._create_weights(self.input_shape[0][0], rng)

    def _kernel(self, name, fan_in, rng):
        self.add_weight(name, (fan_in, self.units), self.kernel_initializer, fan_in, self.units,
                        rng)

    def _propagation(self, x, a, training):
        """The layer's normalized adjacency for ``a``, from the cache when ``a`` is the same
        object as in the previous training step."""
        if a.shape != (x.shape[0], x.shape[0]):
            raise ShapeError(f"{type(self).__name__} {self.name!r}: the adjacency must be "
                             f"(N, N) for N = {x.shape[0]} nodes, got {a.shape}")
        if training and self._cached is not None and self._cached[0] is a:
            return self._cached[1]
        matrix = self.normalize(a)
        if training:
            self._cached = (a, matrix)
        return matrix

    def _propagate(self, matrix, x, kernel):
        """matrix · x · kernel in the cheaper order."""
        if kernel.shape[1] <= kernel.shape[0]:
            return matrix @ (x @ kernel)
        return (matrix @ x) @ kernel

    def _finish(self, z, x, matrix, logits, training):
        if self.use_bias:
            z += self.params["bias"]
        y, saved = activate(self.activation, z, logits, None)
        if training:  # as Dense: ``_saved`` is what the activation's derivative needs
            self._x, self._matrix, self._saved, self._logits = x, matrix, saved, logits
        return y

    def _dz(self, dy):
        return self._x, self._matrix, activation_grad(self.activation, dy, self._saved,
                                                      self._logits, None)

    def release_buffers(self):
        super().release_buffers()
        self._cached = self._x = self._matrix = self._saved = None

    def get_config(self):
        return {"name": self.name, "units": self.units, **kernel_bias_config(self)}


class GCNConv(_GraphConv):
    """``GCNConv(units, activation=None, use_bias=True, add_self_loops=True)``: Kipf & Welling's
    graph convolution f(D̂^-½ (A+I) D̂^-½ X W + b) (see the module docstring).  Parameters
    ``kernel`` (F, units) and ``bias`` (units,).

        H' = f(Â X W + b),  Â = D̂^-½ (A+I) D̂^-½
        shapes: X (N, F) and A (N, N) sparse → H' (N, units)

    >>> GCNConv(16, activation="relu")
    GCNConv(units=16, activation='relu')
    """

    def __init__(self, units, activation=None, use_bias=True, add_self_loops=True, **kwargs):
        super().__init__(units, activation, use_bias, **kwargs)
        if not isinstance(add_self_loops, (bool, np.bool_)):
            raise ConfigError(f"GCNConv: add_self_loops must be True or False, got "
                              f"{add_self_loops!r}")
        self.add_self_loops = bool(add_self_loops)

    def normalize(self, a):
        return gcn_normalize(a, self.add_self_loops, self.dtype)

    def _create_weights(self, features, rng):
        self._kernel("kernel", features, rng)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, features, self.units,
                            rng)

    def forward(self, xs, training=False, logits=False):
        x, a = xs
        matrix = self._propagation(x, a, training)
        z = self._propagate(matrix, x, self.params["kernel"])
        return self._finish(z, x, matrix, logits, training)

    def backward(self, dy, input_grad=True):
        x, matrix, dz = self._dz(dy)
        g = matrix.T @ dz                                   # Âᵀ dZ, (N, units)
        np.matmul(x.T, g, out=self.grads["kernel"])
        if self.use_bias:
            np.add.reduce(dz, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        return [g @ self.params["kernel"].T, None]           # no gradient for the adjacency

    def get_config(self):
        return {**super().get_config(), "add_self_loops": self.add_self_loops}

    def __repr__(self):
        return f"GCNConv(units={self.units}, activation={self.activation.name!r})"


class SAGEConv(_GraphConv):
    """``SAGEConv(units, aggregator="mean", activation=None, use_bias=True)``: GraphSAGE,
    f(X W_root + agg(X) W_neighbor + b) with agg the mean (or sum) over each node's neighbours.
    Parameters ``root_kernel``, ``neighbor_kernel`` (F, units) and ``bias`` (units,).  The
    weights do not depend on N, so a trained layer applies to other graphs (inductive).

        H' = f(X W_root + agg(X) W_neighbor + b)
        shapes: X (N, F) and A (N, N) sparse → H' (N, units)
    """

    AGGREGATORS = ("mean", "sum")

    def __init__(self, units, aggregator="mean", activation=None, use_bias=True, **kwargs):
        super().__init__(units, activation, use_bias, **kwargs)
        if aggregator not in self.AGGREGATORS:
            raise ConfigError(f"SAGEConv: aggregator must be one of {list(self.AGGREGATORS)}, "
                              f"got {aggregator!r}")
        self.aggregator = aggregator

    def normalize(self, a):
        return mean_normalize(a, self.dtype) if self.aggregator == "mean" \
            else _csr(a, self.dtype)

    def _create_weights(self, features, rng):
        self._kernel("root_kernel", features, rng)
        self._kernel("neighbor_kernel", features, rng)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, features, self.units,
                            rng)

    def forward(self, xs, training=False, logits=False):
        x, a = xs
        matrix = self._propagation(x, a, training)
        z = self._propagate(matrix, x, self.params["neighbor_kernel"])
        z += x @ self.params["root_kernel"]
        return self._finish(z, x, matrix, logits, training)

    def backward(self, dy, input_grad=True):
        x, matrix, dz = self._dz(dy)
        g = matrix.T @ dz                                   # Mᵀ dZ
        np.matmul(x.T, dz, out=self.grads["root_kernel"])
        np.matmul(x.T, g, out=self.grads["neighbor_kernel"])
        if self.use_bias:
            np.add.reduce(dz, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        dx = dz @ self.params["root_kernel"].T
        dx += g @ self.params["neighbor_kernel"].T
        return [dx, None]

    def get_config(self):
        return {**super().get_config(), "aggregator": self.aggregator}

    def __repr__(self):
        return (f"SAGEConv(units={self.units}, aggregator={self.aggregator!r}, "
                f"activation={self.activation.name!r})")
