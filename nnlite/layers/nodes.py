"""Calling a layer on symbolic nodes: the graph-building half of the functional API.

``x = Input(shape=(4,))`` makes a source node; ``h = Dense(8)(x)`` makes a node whose parent is
``x`` (``Layer.__call__`` lands in :func:`call_layer`).  Nothing is computed: a node only knows
its layer, its parents and its output shape (batch excluded).  ``nnlite.models`` turns the
nodes into a model (topological order, checks, configs: ``nnlite.models.graph_build``).

Two extensions serve layers such as ``MultiHeadAttention``:

* **keyword node arguments** — ``mha(q, v, key=k, attention_mask=m, use_causal_mask=True)``:
  the layer's own ``__call__`` orders its node arguments into the parent list and passes
  ``call={"inputs": [argument names, in parent order], **options}`` (JSON values only).  The
  node keeps that record, the model's config stores it with the layer, and rebuilding calls
  ``layer(**dict(zip(call["inputs"], parents)), **options)``.
* **several outputs** — a layer whose ``multi_output`` is True (e.g. ``return_attention_scores=
  True``) returns a list of shapes from ``compute_output_shape``, and the call returns a tuple
  of sibling nodes (``index`` 0, 1, ...; labels ``name``, ``name:1``, ...).  The model runs the
  layer once for all of them: ``forward`` returns a tuple, ``backward`` gets a list of
  gradients (None for an output that receives none).

This module knows layers only by their protocol (``compute_output_shape``, ``multi_input``,
``multi_output``, ``name``), so ``layers/base.py`` can import it.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, GraphError, ShapeError

__all__ = ["Node", "Input", "call_layer", "as_shape"]


def as_shape(value, what: str) -> tuple:
    """A shape (batch excluded) as a tuple of positive ints; ConfigError naming ``what``."""
    if isinstance(value, (int, np.integer)):
        value = (value,)
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a tuple of positive ints, got {value!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise ConfigError(f"{what} must be a tuple of positive ints, got {value!r}")
    return shape


class Node:
    """One value in the graph: the output of ``layer`` applied to ``parents`` (an ``Input``
    node has no layer and no parents).  ``shape`` excludes the batch axis."""

    __slots__ = ("layer", "parents", "shape", "name", "call", "index", "group", "sparse")

    def __init__(self, layer, parents, shape, name=None, call=None, sparse=False):
        self.layer = layer
        self.parents = tuple(parents)
        self.shape = tuple(shape)
        self.name = name
        self.call = call        # the keyword-call record (see the module docstring) or None
        self.index = 0          # which output of its layer's call
        self.group = None       # the tuple of sibling nodes of a multi-output call, else None
        self.sparse = sparse    # an Input taking scipy.sparse matrices (a graph adjacency)

    @property
    def is_input(self) -> bool:
        return self.layer is None

    @property
    def label(self) -> str:
        """The name used in messages: the input's or layer's name, else its type."""
        if self.layer is None:
            return self.name or "input"
        name = self.layer.name or self.layer.default_name
        return f"{name}:{self.index}" if self.index else name

    def __repr__(self):
        kind = "Input" if self.layer is None else type(self.layer).__name__
        return f"<Node {self.label!r} ({kind}) shape=(None, {', '.join(map(str, self.shape))})>"


def Input(shape, name=None, sparse=False) -> Node:  # noqa: N802 (Keras name)
    """A graph input of shape ``(batch, *shape)``: ``x = nnlite.Input(shape=(784,))``.

    ``sparse=True`` declares a graph adjacency of ``N`` nodes, ``Input(shape=(N,),
    sparse=True)``: its value is a ``scipy.sparse`` matrix of shape (N, N) or an edge list, an
    integer array of shape (E, 2) whose rows (i, j) set A[i, j] = 1 (list both directions for
    an undirected graph).  It stays sparse through the model (see ``GCNConv``), which then
    trains and predicts full batch: the N node rows of every input form one batch."""
    shape = as_shape(shape, "Input: shape")
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise ConfigError(f"Input: name must be a non-empty str without '/', got {name!r}")
    if not isinstance(sparse, bool):
        raise ConfigError(f"Input: sparse must be True or False, got {sparse!r}")
    if sparse and len(shape) != 1:
        raise ConfigError(f"Input: a sparse input is an (N, N) adjacency, declared with "
                          f"shape=(N,); got shape={shape}")
    return Node(None, (), shape, name, sparse=sparse)


def call_layer(layer, inputs, call=None):
    """The node ``layer(inputs)`` (a tuple of nodes when ``layer.multi_output``); checks the
    shapes now, so a bad merge fails at the call.  ``call``: the record of a call with keyword
    arguments (see the module docstring)."""
    what = f"{type(layer).__name__} {layer.name or layer.default_name!r}"
    if layer.multi_input:
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(n, Node) for n in inputs):
            raise GraphError(f"{what} takes a list of graph nodes, got {_describe(inputs)}")
        parents = tuple(inputs)
        in_shape = [p.shape for p in parents]
    else:
        if not isinstance(inputs, Node):
            raise GraphError(f"{what} must be called on a graph node (from nnlite.Input or "
                             f"another layer call), got {_describe(inputs)}; use "
                             "model.predict(x) to compute with arrays")
        parents = (inputs,)
        in_shape = inputs.shape
        if layer.input_shape is not None and tuple(layer.input_shape) != in_shape:
            raise GraphError(f"{what} was declared with input_shape {tuple(layer.input_shape)} "
                             f"but is called on {parents[0].label!r} of shape {in_shape}")
    try:
        shape = layer.compute_output_shape(in_shape)
    except (ShapeError, ConfigError) as err:
        given = ", ".join(f"{p.label!r} {p.shape}" for p in parents)
        raise GraphError(f"{what} cannot take {given}: {err}") from None
    if not getattr(layer, "multi_output", False):
        return Node(layer, parents, shape, call=call)
    group = tuple(Node(layer, parents, s, call=call) for s in shape)
    for k, node in enumerate(group):
        node.index, node.group = k, group
    return group


def _describe(value):
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of " + ", ".join(type(v).__name__ for v in value)
    return type(value).__name__
