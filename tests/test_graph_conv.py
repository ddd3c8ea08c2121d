"""GCNConv and SAGEConv: finite-difference gradients, the dense formulas (f64, 1e-10), sparse
adjacencies through a model's input checks, fit (full batch, transductive sample_weight) and
predict, a big graph that is never densified, save/load, and the karate club from two labels
(a GCN finds the two communities, an MLP on the same features cannot)."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from layer_check import built, gradient_errors, randomize

import nnlite
from nnlite.errors import ConfigError, InputValueError, ShapeError
from nnlite.layers import Dense, GCNConv, SAGEConv
from nnlite.layers.graph_conv import gcn_normalize

N, F = 7, 5


def _graph(n=N, seed=0, density=0.3, weighted=False):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < density, 1)
    a = (upper | upper.T).astype(np.float64)
    a[3, :] = a[:, 3] = 0.0                               # an isolated node
    if weighted:
        a *= rng.uniform(0.5, 2.0, (n, n))
        a = (a + a.T) / 2
    return sp.csr_matrix(a)


def _dense_gcn(a, x, kernel, bias, add_self_loops=True):
    a_hat = a.toarray() + (np.eye(a.shape[0]) if add_self_loops else 0.0)
    d = a_hat.sum(axis=1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
    return (inv[:, None] * a_hat * inv[None, :]) @ x @ kernel + bias


def _dense_sage(a, x, layer):
    a = a.toarray()
    if layer.aggregator == "mean":
        d = a.sum(axis=1, keepdims=True)
        a = np.divide(a, d, out=np.zeros_like(a), where=d > 0)
    p = layer.params
    return x @ p["root_kernel"] + a @ x @ p["neighbor_kernel"] + p["bias"]


LAYERS = [
    ("gcn_tanh", lambda: GCNConv(3, activation="tanh")),
    ("gcn_wide_nobias", lambda: GCNConv(8, use_bias=False)),        # (Â X) W order
    ("gcn_no_self_loops", lambda: GCNConv(3, add_self_loops=False, activation="sigmoid")),
    ("sage_mean", lambda: SAGEConv(4, activation="tanh")),
    ("sage_sum_wide", lambda: SAGEConv(9, aggregator="sum")),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_gradients_match_finite_differences(case, weighted):
    layer = randomize(built(case[1](), [(F,), (N,)]))
    x = np.random.default_rng(1).standard_normal((N, F))
    errors = gradient_errors(layer, [x, _graph(weighted=weighted)])
    assert set(errors) == {"input:0"} | {f"param:{k}" for k in layer.params}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_forward_is_the_dense_formula(case):
    layer = randomize(built(case[1](), [(F,), (N,)]))
    a, x = _graph(weighted=True), np.random.default_rng(2).standard_normal((N, F))
    y = layer.forward([x, a], logits=True)                  # before the activation
    if isinstance(layer, GCNConv):
        expected = _dense_gcn(a, x, layer.params["kernel"], layer.params.get("bias", 0.0),
                              layer.add_self_loops)
    else:
        expected = _dense_sage(a, x, layer)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    # a dense ndarray adjacency gives the same numbers
    np.testing.assert_allclose(layer.forward([x, a.toarray()], logits=True), y, rtol=1e-12)


def test_normalization_is_cached_during_training_and_recomputed_at_inference(monkeypatch):
    layer = built(GCNConv(2), [(F,), (N,)])
    calls = []
    real = layer.normalize
    monkeypatch.setattr(layer, "normalize", lambda a: calls.append(1) or real(a))
    a, x = _graph(), np.ones((N, F))
    for _ in range(3):
        layer.forward([x, a], training=True)
    assert len(calls) == 1
    layer.forward([x, a.copy()], training=True)             # another object: a new graph
    assert len(calls) == 2
    layer.release_buffers()
    layer.forward([x, a])
    layer.forward([x, a])
    assert len(calls) == 4 and layer._cached is None


def _model(n, features=F, seed=0, layer=GCNConv, dtype="float32"):
    x_in = nnlite.Input(shape=(features,), name="x")
    a_in = nnlite.Input(shape=(n,), sparse=True, name="a")
    h = layer(8, activation="relu")([x_in, a_in])
    out = layer(2, activation="softmax")([h, a_in])
    return nnlite.Model([x_in, a_in], out, seed=seed, dtype=dtype)


def test_model_inputs_scipy_or_edge_list_and_full_batch_only():
    a = _graph()
    x = np.random.default_rng(0).standard_normal((N, F))
    model = _model(N)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rows, cols = a.nonzero()
    edges = np.stack([rows, cols], axis=1)
    np.testing.assert_array_equal(model.predict([x, a]), model.predict([x, edges]))
    np.testing.assert_array_equal(model.predict([x, a], batch_size=2), model.predict([x, a]))
    y, before = np.arange(N) % 2, model.get_weights()
    with pytest.raises(ConfigError, match="batch_size='full'"):
        model.fit([x, a], y, batch_size=4, verbose=0)
    with pytest.raises(ConfigError, match="no validation_split"):
        model.fit([x, a], y, batch_size="full", validation_split=0.3, verbose=0)
    assert all(np.array_equal(u, v) for u, v in zip(model.get_weights(), before))
    with pytest.raises(ShapeError, match=r"sparse adjacency of shape \(7, 7\)"):
        model.predict([x, sp.eye(6, format="csr")])
    with pytest.raises(InputValueError, match=r"node indices in \[0, 7\)"):
        model.predict([x, np.array([[0, 7]])])
    with pytest.raises(InputValueError, match="NaN or inf"):
        model.predict([x, sp.csr_matrix(np.where(a.toarray() > 0, np.nan, 0.0))])
    with pytest.raises(ShapeError, match="edge list"):
        model.predict([x, a.toarray()])                     # dense N×N is refused
    model.fit([x, a], y, batch_size="full", epochs=3, verbose=0)
    assert model.evaluate([x, a], y, return_dict=True)["accuracy"] >= 0.0


def test_transductive_training_ignores_the_labels_of_unlabelled_nodes():
    a, x = _graph(), np.random.default_rng(3).standard_normal((N, F))
    weights = np.zeros(N)
    weights[[0, 5]] = 1.0
    runs = []
    for other in (0, 1):
        y = np.full(N, other)
        y[0], y[5] = 1, 0
        model = _model(N, seed=4)
        model.compile(nnlite.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
        model.fit([x, a], y, sample_weight=weights, batch_size="full", epochs=5, verbose=0)
        runs.append(model.get_weights())
    for u, v in zip(*runs):
        np.testing.assert_array_equal(u, v)


def test_a_big_sparse_graph_is_never_densified():
    n, degree = 60_000, 8
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), degree // 2)
    cols = rng.integers(0, n, rows.size)
    edges = np.concatenate([np.stack([rows, cols], 1), np.stack([cols, rows], 1)])
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 2, n)
    model = _model(n, features=4, seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    tracemalloc.start()
    try:
        model.fit([x, edges], y, batch_size="full", epochs=2, verbose=0)
        out = model.predict([x, edges])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (n, 2) and np.isfinite(out).all()
    # one dense N×N float32 array would be 14.4 GB; the sparse work stays in tens of MB
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB"


def test_save_load_round_trip(tmp_path):
    from test_saving import check_round_trip

    a = _graph()
    rng = np.random.default_rng(0)
    for layer in (GCNConv, SAGEConv):
        x_in, a_in = nnlite.Input(shape=(F,)), nnlite.Input(shape=(N,), sparse=True)
        out = Dense(2)(layer(4, activation="tanh")([x_in, a_in]))
        model = nnlite.Model([x_in, a_in], out, seed=1, dtype="float64")
        check_round_trip(tmp_path, model, [rng.standard_normal((N, F)), a],
                         rng.standard_normal((N, 2)), batch_size="full")
        assert model.get_config()["config"]["inputs"][1] == {"name": model.inputs[1].name,
                                                             "shape": [N], "sparse": True}


def test_karate_club_two_labels_gcn_finds_the_communities_mlp_does_not():
    graph = nnlite.datasets.load_karate_club()
    x, a, y = graph.features, graph.adjacency, graph.labels
    weights = np.zeros(34)
    weights[[0, 33]] = 1.0                                  # the instructor and the officer
    others = np.setdiff1d(np.arange(34), [0, 33])
    gcn_correct, mlp_correct = [], []
    for seed in range(20):
        x_in, a_in = nnlite.Input(shape=(34,)), nnlite.Input(shape=(34,), sparse=True)
        h = GCNConv(16, activation="relu")([x_in, a_in])
        gcn = nnlite.Model([x_in, a_in], GCNConv(2, activation="softmax")([h, a_in]),
                           seed=seed)
        mlp = nnlite.Sequential([Dense(16, activation="relu", input_dim=34),
                                 Dense(2, activation="softmax")], seed=seed)
        for model, inputs, correct in ((gcn, [x, a], gcn_correct), (mlp, x, mlp_correct)):
            model.compile(nnlite.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
            model.fit(inputs, y, sample_weight=weights, epochs=200, batch_size="full",
                      verbose=0)
            predicted = model.predict_classes(inputs)
            correct.append(int(np.sum(predicted[others] == y[others])))
    assert min(gcn_correct) >= 30, gcn_correct             # PyTorch: 30 or 31 of 32
    assert np.mean(mlp_correct) / 32 < 0.65, mlp_correct    # about chance: the graph helps


def test_gcn_normalize_handles_isolated_nodes_and_errors():
    a = sp.csr_matrix((3, 3))
    np.testing.assert_array_equal(gcn_normalize(a).toarray(), np.eye(3))
    np.testing.assert_array_equal(gcn_normalize(a, add_self_loops=False).toarray(), 0.0)
    with pytest.raises(ConfigError, match="units must be a positive int"):
        GCNConv(0)
    with pytest.raises(ConfigError, match="aggregator must be one of"):
        SAGEConv(2, aggregator="max")
    with pytest.raises(nnlite.errors.GraphError, match="adjacency"):
        GCNConv(2)([nnlite.Input(shape=(3,)), nnlite.Input(shape=(4, 4))])
