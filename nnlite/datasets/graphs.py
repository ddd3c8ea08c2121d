"""Graph datasets: Zachary's karate club (shipped) and a reader of the Planetoid citation
format (Cora, CiteSeer files a user supplies).  Re-exported by ``nnlite.datasets``.

Every loader returns a ``GraphData``: node features (N, F) float32, a symmetric 0/1 adjacency
as a ``scipy.sparse`` CSR matrix (N, N) without self loops, integer labels (N,), the class
names and the node ids — what a graph model's inputs ``[features, adjacency]`` take.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError

__all__ = ["GraphData", "load_karate_club", "load_planetoid", "adjacency_from_edges"]

_KARATE = Path(__file__).parent.parent / "data" / "karate" / "karate_club.json"


@dataclass(frozen=True)
class GraphData:
    """One graph: ``features`` (N, F) float32, ``adjacency`` (N, N) CSR float32 (symmetric,
    1 per edge), ``labels`` (N,) int64 indexing ``classes``, and ``node_ids`` (N,) as in the
    source files."""

    features: np.ndarray
    adjacency: object
    labels: np.ndarray
    classes: tuple
    node_ids: tuple

    @property
    def num_nodes(self) -> int:
        return self.adjacency.shape[0]

    @property
    def edges(self) -> np.ndarray:
        """The undirected edges (E, 2), each once with i < j."""
        upper = self.adjacency.tocoo()
        keep = upper.row < upper.col
        return np.stack([upper.row[keep], upper.col[keep]], axis=1).astype(np.int64)


def adjacency_from_edges(edges, num_nodes, symmetric=True, weights=None, dtype=np.float32):
    """A CSR adjacency (N, N) from index pairs (E, 2): A[i, j] = 1, or the edge's weight;
    ``symmetric=True`` also sets A[j, i].  Without weights a repeated pair counts once; with
    weights, the weights of a repeated pair add up (give each undirected edge once)."""
    import scipy.sparse as sp

    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    values = np.ones(len(edges)) if weights is None else np.asarray(weights, dtype=np.float64)
    rows, cols = edges[:, 0], edges[:, 1]
    if symmetric:
        rows, cols = np.concatenate([rows, cols]), np.concatenate([cols, rows])
        values = np.concatenate([values, values])
    a = sp.coo_matrix((values, (rows, cols)), shape=(num_nodes, num_nodes)).tocsr()
    a.sum_duplicates()
    if weights is None:
        a.data[:] = 1.0
    return a.astype(dtype)


def load_karate_club(weighted=False, as_networkx=False):
    """Zachary's karate club (W. W. Zachary, J. Anthropological Research 33:452-473, 1977):
    34 members, 78 friendships, and the club each joined after the split.

    Returns a ``GraphData`` with identity features (34, 34) (one-hot node ids, as in Kipf &
    Welling's karate experiment), labels 0 = "Mr. Hi" (node 0, the instructor) and 1 =
    "Officer" (node 33); ``weighted=True`` puts Zachary's interaction counts in the adjacency
    instead of 1s.  ``as_networkx=True`` returns a ``networkx.Graph`` instead (nodes with a
    ``"club"`` attribute, edges with ``"weight"``), the layout of ``networkx.karate_club_graph()``;
    networkx is optional and needed only for that."""
    data = json.loads(_KARATE.read_text())
    clubs, edges = data["clubs"], np.array(data["edges"], dtype=np.int64)
    if as_networkx:
        try:
            import networkx as nx
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("load_karate_club(as_networkx=True) needs networkx: "
                              "pip install networkx") from None
        graph = nx.Graph(name=data["name"])
        graph.add_nodes_from((i, {"club": c}) for i, c in enumerate(clubs))
        graph.add_weighted_edges_from(edges.tolist())
        return graph
    classes = ("Mr. Hi", "Officer")
    n = len(clubs)
    adjacency = adjacency_from_edges(edges[:, :2], n,
                                     weights=edges[:, 2] if weighted else None)
    return GraphData(np.eye(n, dtype=np.float32), adjacency,
                     np.array([classes.index(c) for c in clubs], dtype=np.int64), classes,
                     tuple(range(n)))


def load_planetoid(content, cites, dtype=np.float32):
    """Read a citation graph in the Planetoid (LINQS) format of Cora and CiteSeer.

    ``content``: one line per paper, ``<paper id> <feature_1> ... <feature_F> <class label>``
    (whitespace-separated, features numbers — 0/1 word indicators in Cora);
    ``cites``: one line per citation, ``<cited paper id> <citing paper id>``.  Citations are
    made undirected (A[i, j] = A[j, i] = 1, as in Kipf & Welling); self-citations and
    citations of papers missing from ``content`` (CiteSeer has some) are dropped.  Classes are
    the sorted label names.  Bad lines raise ``FormatError`` naming the file and line."""
    ids, rows, names = [], [], []
    content = Path(content)
    with content.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3:
                raise FormatError(f"{content}:{number}: expected '<id> <features...> <label>', "
                                  f"got {line.strip()!r}")
            if rows and len(parts) - 2 != len(rows[0]):
                raise FormatError(f"{content}:{number}: {len(parts) - 2} features, the first "
                                  f"line has {len(rows[0])}")
            try:
                rows.append([float(v) for v in parts[1:-1]])
            except ValueError:
                raise FormatError(f"{content}:{number}: features must be numbers, got "
                                  f"{line.strip()[:80]!r}") from None
            ids.append(parts[0])
            names.append(parts[-1])
    if not ids:
        raise FormatError(f"{content}: no papers")
    index = {}
    for i, paper in enumerate(ids):
        if paper in index:
            raise FormatError(f"{content}: paper id {paper!r} appears twice")
        index[paper] = i
    pairs = []
    cites = Path(cites)
    with cites.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise FormatError(f"{cites}:{number}: expected '<cited id> <citing id>', got "
                                  f"{line.strip()!r}")
            a, b = index.get(parts[0]), index.get(parts[1])
            if a is not None and b is not None and a != b:
                pairs.append((a, b))
    classes = tuple(sorted(set(names)))
    labels = np.array([classes.index(c) for c in names], dtype=np.int64)
    features = np.array(rows, dtype=dtype)
    return GraphData(features, adjacency_from_edges(pairs, len(ids), dtype=dtype), labels,
                     classes, tuple(ids))
