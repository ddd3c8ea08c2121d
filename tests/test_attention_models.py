"""The new layers inside models: save/load round trips (the registry-wide test in
test_saving.py cannot make attention-mask or sparse inputs), summary, plot_graph with a call
of two outputs, gradient and activation monitors, saliency through attention and graphs."""
import matplotlib
import numpy as np
import pytest
from test_saving import check_round_trip

import nnlite
from nnlite.layers import Dense, Flatten, GCNConv, MultiHeadAttention, SAGEConv, TransformerEncoder
from nnlite.monitors import ActivationMonitor, GradientMonitor, layer_gradient_norms

matplotlib.use("Agg")
T, S = 4, 3


def _attention_model(dtype="float64"):
    q, v = nnlite.Input(shape=(T, 6), name="q"), nnlite.Input(shape=(S, 5), name="v")
    m = nnlite.Input(shape=(T, S), name="m")
    h = MultiHeadAttention(2, 3, dropout=0.2, name="mha")(q, v, attention_mask=m,
                                                          use_causal_mask=True)
    h = TransformerEncoder(8, 2, name="enc")(h)
    return nnlite.Model([q, v, m], Dense(2)(Flatten()(h)), seed=2, dtype=dtype)


def _attention_data(n=12):
    rng = np.random.default_rng(0)
    mask = (rng.random((n, T, S)) > 0.3).astype(np.float64)
    return [rng.standard_normal((n, T, 6)), rng.standard_normal((n, S, 5)), mask], \
        rng.standard_normal((n, 2))


def test_attention_model_round_trips_with_dropout_state(tmp_path):
    model = _attention_model()
    x, y = _attention_data()
    check_round_trip(tmp_path, model, x, y)           # includes continued training, bit for bit
    layer_rngs = nnlite.saving._layer_rngs(model)
    assert "mha" in layer_rngs and "enc/self_attention_dropout" in layer_rngs


@pytest.mark.parametrize("layer", [GCNConv, SAGEConv])
def test_graph_model_round_trips(tmp_path, layer):
    graph = nnlite.datasets.load_karate_club()
    x_in, a_in = nnlite.Input(shape=(34,)), nnlite.Input(shape=(34,), sparse=True)
    h = layer(4, activation="relu")([x_in, a_in])
    model = nnlite.Model([x_in, a_in], layer(2)([h, a_in]), seed=0, dtype="float64")
    y = np.random.default_rng(1).standard_normal((34, 2))
    check_round_trip(tmp_path, model, [graph.features, graph.adjacency], y, batch_size="full")


def test_monitors_and_saliency_through_attention_and_graphs():
    model = _attention_model()
    model.compile("adam", "mse")
    x, y = _attention_data()
    norms = layer_gradient_norms(model, x, y)
    assert norms["mha/input"] > 0 and norms["enc/input"] > 0
    assert all(np.isfinite(v) for v in norms.values())
    saliency = model.input_gradient(x, unit=0)
    assert saliency[0].shape == x[0].shape and saliency[2] is None   # the mask: no gradient
    gradient = GradientMonitor()
    activation = ActivationMonitor()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[gradient, activation])
    assert len(gradient.history["grad_norm/mha/query_kernel"]) == 2
    assert "activation/enc/feedforward_intermediate_dense/dead_relu" in activation.history

    graph = nnlite.datasets.load_karate_club()
    x_in, a_in = nnlite.Input(shape=(34,)), nnlite.Input(shape=(34,), sparse=True)
    gcn = nnlite.Model([x_in, a_in], GCNConv(2, activation="softmax")(
        [GCNConv(4, activation="relu", name="hidden")([x_in, a_in]), a_in]), seed=0)
    gcn.compile("adam", "sparse_categorical_crossentropy")
    monitor = ActivationMonitor()
    gcn.fit([graph.features, graph.adjacency], graph.labels, epochs=2, batch_size="full",
            verbose=0, callbacks=[monitor, GradientMonitor()])
    assert "activation/hidden/dead_relu" in monitor.history
    saliency = gcn.input_gradient([graph.features, graph.adjacency], unit=1)
    assert saliency[0].shape == (34, 34) and saliency[1] is None


def test_summary_and_plot_graph_with_two_outputs():
    q = nnlite.Input(shape=(T, 6))
    out, scores = MultiHeadAttention(2, 3, name="mha")(q, return_attention_scores=True)
    model = nnlite.Model(q, [Dense(1)(Flatten()(out)), scores], seed=0)
    text = model.summary(print_fn=None)
    assert "mha (MultiHeadAttention)  (None, 4, 6), (None, 2, 4, 4)" in text
    model.input_gradient(np.ones((2, T, 6)), output=1)
    fig = nnlite.plotting.plot_graph(model, values=True)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("mha (MultiHeadAttention)\n(None, 4, 6) ·") for t in labels)
    assert any(t.startswith("mha:1 (MultiHeadAttention)\n(None, 2, 4, 4) ·") for t in labels)


def test_whole_models_gradients_match_finite_differences():
    from nnlite.gradcheck import check_model
    from nnlite.layers import Add, ClassToken, PatchEmbedding, PositionEmbedding, SelectToken

    images = nnlite.Input(shape=(2, 4, 4))
    tokens = ClassToken()(PatchEmbedding(2, 6)(images))
    tokens = Add()([tokens, PositionEmbedding(5)(tokens)])
    tokens = TransformerEncoder(5, 2, activation="tanh", normalize_first=True)(tokens)
    vit = nnlite.Model(images, Dense(3, activation="softmax")(SelectToken()(tokens)), seed=0,
                       dtype="float64")
    vit.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    report = check_model(vit, rng.standard_normal((3, 2, 4, 4)), np.array([0, 2, 1]))
    errors = {k: v for k, v in report.errors.items() if not k.endswith("key_bias")}
    assert max(errors.values()) < 1e-6, str(report)

    graph = nnlite.datasets.load_karate_club()
    x_in, a_in = nnlite.Input(shape=(34,)), nnlite.Input(shape=(34,), sparse=True)
    h = SAGEConv(3, activation="tanh")([x_in, a_in])
    gcn = nnlite.Model([x_in, a_in], GCNConv(2, activation="softmax")([h, a_in]), seed=0,
                       dtype="float64")
    gcn.compile("adam", "sparse_categorical_crossentropy")
    # the mean loss over 34 nodes makes many input-gradient entries tiny: the five-point
    # stencil resolves them (the functions are smooth)
    report = check_model(gcn, [graph.features.astype(np.float64), graph.adjacency],
                         graph.labels, eps=1e-3, order=4)
    assert "input:1" not in report.errors and report.max_error < 1e-6, str(report)


def test_a_file_cannot_make_a_composite_allocate_more_than_it_holds(tmp_path):
    import json
    import zipfile

    model = nnlite.Sequential([TransformerEncoder(8, 2, input_shape=(T, 6)), Flatten(),
                               Dense(2)], seed=0)
    model.compile("adam", "mse")
    model.save(tmp_path / "good.nnlite")
    with zipfile.ZipFile(tmp_path / "good.nnlite") as good, \
            zipfile.ZipFile(tmp_path / "bad.nnlite", "w") as bad:
        for item in good.infolist():
            data = good.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["model"]["config"]["layers"][0]["config"]["intermediate_dim"] = 10**9
                data = json.dumps(config).encode()
            bad.writestr(item, data)
    # the sublayers are made at build, and still get the file's allocation budget
    with pytest.raises(nnlite.errors.FormatError, match="needs 24000000000 bytes"):
        nnlite.load_model(tmp_path / "bad.nnlite")
