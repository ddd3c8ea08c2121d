"""Graph datasets: the shipped karate club (checked against networkx's copy when installed) and
the Planetoid (Cora/CiteSeer) reader on small files written here."""
import numpy as np
import pytest

import nnlite
from nnlite.datasets import GraphData, adjacency_from_edges, load_karate_club, load_planetoid
from nnlite.errors import FormatError


def test_karate_club_has_34_members_78_friendships_and_two_clubs():
    graph = load_karate_club()
    assert isinstance(graph, GraphData) and graph.num_nodes == 34
    a = graph.adjacency
    assert a.shape == (34, 34) and a.nnz == 2 * 78 and (a != a.T).nnz == 0
    assert a.diagonal().sum() == 0 and set(np.unique(a.data)) == {1.0}
    assert graph.edges.shape == (78, 2)
    np.testing.assert_array_equal(graph.features, np.eye(34))
    assert graph.classes == ("Mr. Hi", "Officer")
    assert graph.labels[0] == 0 and graph.labels[33] == 1 and np.bincount(graph.labels).tolist() \
        == [17, 17]
    assert graph.adjacency.getrow(33).nnz == 17 and graph.adjacency.getrow(0).nnz == 16
    weighted = load_karate_club(weighted=True).adjacency
    assert weighted[0, 1] == 4 and weighted[1, 0] == 4 and weighted.sum() == 2 * 231


def test_karate_club_matches_networkx():
    nx = pytest.importorskip("networkx")
    reference = nx.karate_club_graph()
    ours = load_karate_club(as_networkx=True)
    assert sorted(map(sorted, ours.edges())) == sorted(map(sorted, reference.edges()))
    for i in range(34):
        assert ours.nodes[i]["club"] == reference.nodes[i]["club"]
    for u, v, w in reference.edges(data="weight"):
        assert ours.edges[u, v]["weight"] == w
    graph = load_karate_club()
    np.testing.assert_array_equal(graph.adjacency.toarray(),
                                  nx.to_numpy_array(reference, weight=None, nodelist=range(34)))


def _write(tmp_path, content, cites):
    (tmp_path / "tiny.content").write_text(content)
    (tmp_path / "tiny.cites").write_text(cites)
    return tmp_path / "tiny.content", tmp_path / "tiny.cites"


def test_planetoid_reader(tmp_path):
    content = ("31336\t0\t1\t0\t1\tNeural_Networks\n"
               "1061127\t1\t0\t0\t0\tRule_Learning\n"
               "p3\t0\t0\t1\t1\tNeural_Networks\n\n"
               "p4\t1\t1\t1\t0\tTheory\n")
    cites = ("31336 1061127\n1061127 31336\n"       # both directions: one edge
             "p3 31336\n"
             "p3 p3\n"                             # a self-citation: dropped
             "p4 missing_paper\n")                 # a paper not in .content: dropped
    graph = load_planetoid(*_write(tmp_path, content, cites))
    assert graph.node_ids == ("31336", "1061127", "p3", "p4")
    assert graph.classes == ("Neural_Networks", "Rule_Learning", "Theory")
    assert graph.labels.tolist() == [0, 1, 0, 2]
    np.testing.assert_array_equal(graph.features, [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1],
                                                   [1, 1, 1, 0]])
    assert graph.features.dtype == np.float32
    np.testing.assert_array_equal(graph.adjacency.toarray(), [[0, 1, 1, 0], [1, 0, 0, 0],
                                                             [1, 0, 0, 0], [0, 0, 0, 0]])
    assert graph.edges.tolist() == [[0, 1], [0, 2]]
    # it feeds a GCN directly
    x_in, a_in = nnlite.Input(shape=(4,)), nnlite.Input(shape=(4,), sparse=True)
    model = nnlite.Model([x_in, a_in], nnlite.layers.GCNConv(3, activation="softmax")(
        [x_in, a_in]), seed=0)
    assert model.predict([graph.features, graph.adjacency]).shape == (4, 3)


@pytest.mark.parametrize("content, cites, message", [
    ("a 1 0 x\nb 1 y\n", "", "1 features, the first line has 2"),
    ("a 1 zero x\n", "", "features must be numbers"),
    ("a x\n", "", "expected '<id> <features...> <label>'"),
    ("", "", "no papers"),
    ("a 1 x\na 0 y\n", "", "appears twice"),
    ("a 1 x\nb 0 y\n", "a b c\n", "expected '<cited id> <citing id>'"),
])
def test_planetoid_reader_names_the_bad_line(tmp_path, content, cites, message):
    with pytest.raises(FormatError, match=message):
        load_planetoid(*_write(tmp_path, content, cites))


def test_adjacency_from_edges():
    a = adjacency_from_edges([[0, 1], [1, 0], [2, 2]], 3)
    np.testing.assert_array_equal(a.toarray(), [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    directed = adjacency_from_edges([[0, 1]], 2, symmetric=False, weights=[2.5])
    np.testing.assert_array_equal(directed.toarray(), [[0, 2.5], [0, 0]])
