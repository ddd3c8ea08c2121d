"""Residual blocks: x + block(x) in Sequential and graph models (identical outputs and
gradients for the same weights), projection, naming, packing, weights, config, errors."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError
from nnlite.gradcheck import check_layer, check_model
from nnlite.layers import REGISTRY, Add, Dense, Residual, Tanh
from nnlite.models.base import leaf_layers

WIDTH, BLOCKS = 12, 8


def _resnet_sequential(seed=0, act="relu"):
    layers = [Dense(WIDTH, activation=act, input_dim=6)]
    layers += [Residual([Dense(WIDTH, activation=act), Dense(WIDTH)]) for _ in range(BLOCKS)]
    layers += [Dense(3, activation="softmax")]
    return nnlite.Sequential(layers, seed=seed, dtype="float64")


def _resnet_graph(seed=1):
    x = nnlite.Input(shape=(6,))
    h = Dense(WIDTH, activation="relu")(x)
    for _ in range(BLOCKS):
        h = Add()([h, Dense(WIDTH)(Dense(WIDTH, activation="relu")(h))])
    return nnlite.Model(x, Dense(3, activation="softmax")(h), seed=seed, dtype="float64")


def test_resnet_mlp_sequential_and_graph_give_identical_outputs_and_gradients():
    seq, graph = _resnet_sequential(), _resnet_graph()
    seq.build()
    assert seq.count_params() == graph.count_params()
    graph.set_weights(seq.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    np.testing.assert_array_equal(seq.predict(x), graph.predict(x))
    for m in (seq, graph):
        m.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    g_seq, g_graph = seq.gradients(x, y), graph.gradients(x, y)
    assert len(g_seq) == len(g_graph) == 2 * (2 * BLOCKS + 2)
    for a, b in zip(g_seq.values(), g_graph.values()):  # same order: layer by layer
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(seq.input_gradient(x, unit=1), graph.input_gradient(x, unit=1),
                               rtol=1e-13, atol=1e-15)
    # and training keeps them identical
    h1 = seq.fit(x, y, epochs=3, batch_size=4, seed=0, verbose=0).history["loss"]
    h2 = graph.fit(x, y, epochs=3, batch_size=4, seed=0, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-12)


def test_sequential_resnet_passes_gradient_check():
    # tanh: ReLU kinks inside a deep net make central differences unreliable
    model = _resnet_sequential(act="tanh")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(1)
    report = check_model(model, rng.standard_normal((5, 6)), rng.integers(0, 3, 5), eps=1e-5)
    assert report.max_error < 1e-6, str(report)
    assert "residual_7/dense_1/kernel" in report.errors


def test_residual_computes_x_plus_block_of_x():
    layer = Residual([Dense(4, activation="tanh"), Dense(4)])
    layer.build((4,), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).standard_normal((3, 4))
    (k1, b1), (k2, b2) = [(l.params["kernel"], l.params["bias"]) for l in layer.block]
    np.testing.assert_allclose(layer.forward(x), x + (np.tanh(x @ k1 + b1) @ k2 + b2),
                               rtol=1e-14)


def test_projection_when_widths_differ():
    layer = Residual(Dense(5, activation="relu"), projection="dense")
    layer.build((3,), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).standard_normal((4, 3))
    block, proj = layer.block[0], layer.projection
    expected = np.maximum(x @ block.params["kernel"] + block.params["bias"], 0) \
        + x @ proj.params["kernel"] + proj.params["bias"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14)
    assert layer.count_params() == (3 * 5 + 5) * 2
    assert set(layer.params) == {"dense/kernel", "dense/bias", "projection/kernel",
                                 "projection/bias"}
    x = np.where(np.abs(x) < 1e-2, 0.5, x)
    assert check_layer(Residual(Dense(5, activation="tanh"), projection="dense"), x).ok


def test_width_mismatch_without_projection_is_a_clear_error():
    model = nnlite.Sequential([Dense(4, input_dim=3), Residual(Dense(6))])
    with pytest.raises(ConfigError, match=r"Residual 'residual': the block maps \(batch, 4\) "
                                          r"to \(batch, 6\) .*projection='dense'"):
        model.build()
    assert not model.built


def test_naming_packing_weights_and_summary():
    model = nnlite.Sequential([Dense(4, input_dim=3), Residual([Dense(4), Tanh(), Dense(4)]),
                               Residual(Dense(4, name="inner")), Dense(1)], seed=0)
    model.build()
    names = [l.name for l in leaf_layers(model.layers)]
    assert names == ["dense", "residual/dense", "residual/tanh", "residual/dense_1",
                     "residual_1/inner", "dense_1"]
    # parameters are views into the model's flat buffer
    inner = model.layers[1].block[0]
    assert np.shares_memory(inner.params["kernel"], model._flat_params)
    weights = model.get_weights()
    assert len(weights) == 10
    new = [np.full_like(w, i) for i, w in enumerate(weights)]
    model.set_weights(new)
    np.testing.assert_array_equal(inner.params["kernel"], new[2])
    text = model.summary(print_fn=None)
    assert "residual (Residual)" in text and f"{4 * 4 * 2 + 8:,}" in text
    assert f"Total params: {model.count_params():,}" in text


def test_config_round_trip_nested():
    layer = Residual([Dense(4, activation="tanh"), Tanh(), Dense(4)], projection=None,
                     name="block")
    config = layer.get_config()
    assert [s["class_name"] for s in config["block"]] == ["Dense", "Tanh", "Dense"]
    assert [s["config"]["name"] for s in config["block"]] == ["dense", "tanh", "dense_1"]
    clone = REGISTRY["Residual"].from_config(config)
    assert clone.get_config() == config
    assert [l.name for l in clone.block] == ["block/dense", "block/tanh", "block/dense_1"]
    proj = Residual(Dense(3), projection=Dense(3, name="p"))
    again = Residual.from_config(proj.get_config())
    assert again.get_config() == proj.get_config()


def test_residual_in_graph_model_and_constructor_errors():
    x = nnlite.Input(shape=(4,))
    model = nnlite.Model(x, Dense(1)(Residual([Dense(4, activation="tanh")])(x)), seed=0,
                         dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(0)
    assert check_model(model, rng.standard_normal((3, 4)), rng.standard_normal(3)).ok
    with pytest.raises(ConfigError, match="non-empty list of layers"):
        Residual([])
    with pytest.raises(ConfigError, match="single-input layers, got Add"):
        Residual(Add())
    with pytest.raises(ConfigError, match="projection must be None, 'dense' or a Layer"):
        Residual(Dense(2), projection="conv")
