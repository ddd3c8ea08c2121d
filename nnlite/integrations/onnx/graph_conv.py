"""ONNX exporters of GCNConv and SAGEConv (entries of ``nnlite.export_onnx.EXPORTERS``), and
``onnx_adjacency``, the array to feed as the graph adjacency.

**The adjacency convention.**  In nnlite the adjacency is a ``scipy.sparse`` model input
(``Input(shape=(N,), sparse=True)``).  ONNX has no sparse inputs that runtimes agree on, so the
exported graph takes it as a *dense* (nodes, nodes) matrix of the model's dtype — the same,
unnormalised A that ``predict`` receives, densified (``onnx_adjacency(model, a)`` makes it
from a sparse matrix or an edge list, by nnlite's rules) — and computes each layer's
normalisation inside the graph, exactly as nnlite does:

    GCNConv   Â = D̂^-½ (A + I) D̂^-½,  D̂_ii = Σ_j (A + I)_ij  (D̂^-½ = 0 where D̂ = 0)
              (add_self_loops=False: A without I)
    SAGEConv  M = D^-1 A ("mean", 0 for a node without neighbours) or M = A ("sum")
    Z = Â X W + b  (SAGE: X W_root + M X W_neighbor + b),  Y = f(Z)

so layers with different normalisations can share the one adjacency input.  The node count
is the symbolic first dimension ``"nodes"`` of every input and output (the features (nodes,
F), the adjacency (nodes, nodes)): a SAGE model applies to other graphs.  A dense matrix costs
N² numbers (Cora's 2,708 nodes: 29 MB in float32).
"""
from __future__ import annotations

from ...errors import ConfigError
from ...models.checks import _is_sparse, check_adjacency
from .graph import activation

__all__ = ["EXPORTERS", "onnx_adjacency"]


def onnx_adjacency(model, a):
    """The dense (N, N) adjacency, in ``model.dtype``, to feed to the exported graph for the
    adjacency ``a`` that ``model.predict`` takes: a ``scipy.sparse`` matrix (entries kept,
    repeated entries summed) or an edge list, an int array (E, 2) whose rows (i, j) set
    A[i, j] = 1 (N is then the node count the model's sparse input declares).

    >>> onnx_adjacency(model, graph.adjacency)               # doctest: +SKIP
    """
    sparse = [n for n in getattr(model, "inputs", []) if n.sparse]
    n = a.shape[0] if _is_sparse(a) else (sparse[0].shape[0] if sparse else None)
    if n is None:
        raise ConfigError("onnx_adjacency: the model has no sparse adjacency input "
                          "(nnlite.Input(shape=(N,), sparse=True)) to give the node count of an "
                          "edge list; pass a scipy.sparse matrix")
    return check_adjacency(a, "onnx_adjacency: a", n, model.dtype).toarray()


def _inverse_power(g, degree, power, hint):
    """degree^power where degree > 0, else 0 (isolated nodes), with no division by zero."""
    positive = g.op("Greater", [degree, g.scalar(0.0, f"{hint}/zero")], f"{hint}/positive")
    safe = g.op("Where", [positive, degree, g.scalar(1.0, f"{hint}/one")], f"{hint}/safe")
    raised = g.op("Pow", [safe, g.scalar(power, f"{hint}/power")], f"{hint}/Pow")
    return g.op("Where", [positive, raised, g.scalar(0.0, f"{hint}/isolated")], hint)


def _propagation(layer, g, a):
    """The layer's normalised adjacency (nodes, nodes), computed from the dense input ``a``."""
    hint = f"{layer.name}/adjacency"
    if type(layer).__name__ == "SAGEConv":
        if layer.aggregator == "sum":
            return a
        degree = g.reduce("ReduceSum", a, [1], f"{hint}/degree")                  # (N, 1)
        return g.op("Mul", [a, _inverse_power(g, degree, -1.0, f"{hint}/inv_degree")],
                    f"{hint}/mean")
    if layer.add_self_loops:
        a = g.op("Add", [a, g.op("EyeLike", [a], f"{hint}/identity")], f"{hint}/self_loops")
    scale = _inverse_power(g, g.reduce("ReduceSum", a, [1], f"{hint}/degree"), -0.5,
                           f"{hint}/inv_sqrt_degree")                              # (N, 1)
    rows = g.op("Mul", [a, scale], f"{hint}/rows")
    return g.op("Mul", [rows, g.op("Transpose", [scale], f"{hint}/scale_t", perm=[1, 0])],
                f"{hint}/normalized")


def _propagate(g, matrix, x, kernel, hint):
    """matrix · x · kernel in nnlite's order (the cheaper one); ``hint`` names the kernel."""
    w = g.weight(kernel, hint)
    if kernel.shape[1] <= kernel.shape[0]:
        return g.op("MatMul", [matrix, g.op("MatMul", [x, w], f"{hint}/xw")], f"{hint}/axw")
    return g.op("MatMul", [g.op("MatMul", [matrix, x], f"{hint}/ax"), w], f"{hint}/axw")


def _graph_conv(layer, g, xs):
    x, a = xs
    hint = layer.name
    matrix = _propagation(layer, g, a)
    if type(layer).__name__ == "SAGEConv":
        z = _propagate(g, matrix, x, layer.params["neighbor_kernel"], f"{hint}/neighbor_kernel")
        root = g.weight(layer.params["root_kernel"], f"{hint}/root_kernel")
        z = g.op("Add", [z, g.op("MatMul", [x, root], f"{hint}/root")], f"{hint}/z")
    else:
        z = _propagate(g, matrix, x, layer.params["kernel"], f"{hint}/kernel")
    if layer.use_bias:
        z = g.op("Add", [z, g.weight(layer.params["bias"], f"{hint}/bias")], f"{hint}/BiasAdd")
    return activation(g, layer.activation, z, hint)


#: layer class name -> (layer, g, [features, adjacency]) -> output tensor name
EXPORTERS = {"GCNConv": _graph_conv, "SAGEConv": _graph_conv}
