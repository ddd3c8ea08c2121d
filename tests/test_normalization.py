"""BatchNormalization and LayerNormalization beyond the shared contract (test_layers.py):
training vs inference statistics, the moving-average update, state in get/set_weights and
save/load, bit-identical training, and errors."""
import cnn_ref
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError
from nnlite.gradcheck import check_layer
from nnlite.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    LayerNormalization,
    MaxPool2D,
)


def _built(layer, shape, dtype=np.float64):
    layer.build(shape, np.random.default_rng(0), dtype)
    return layer


@pytest.mark.parametrize("shape", [(32, 3), (8, 3, 4, 5)])
def test_training_normalizes_with_batch_statistics(shape):
    x = np.random.default_rng(0).normal(3.0, 2.0, shape)
    layer = _built(BatchNormalization(), shape[1:])
    layer.params["gamma"][...] = [1.0, 2.0, 0.5]
    layer.params["beta"][...] = [0.0, -1.0, 4.0]
    y = layer.forward(x, training=True)
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(y.mean(axis=axes), [0.0, -1.0, 4.0], atol=1e-12)
    var = x.var(axis=axes)
    np.testing.assert_allclose(y.std(axis=axes), [1.0, 2.0, 0.5] * np.sqrt(var / (var + 1e-3)),
                               rtol=1e-12)
    np.testing.assert_allclose(y, cnn_ref.batch_norm_training(layer, x), rtol=1e-12)


def test_moving_statistics_follow_the_keras_update():
    x = np.random.default_rng(0).normal(3.0, 2.0, (16, 4, 3, 3))
    layer = _built(BatchNormalization(momentum=0.9), (4, 3, 3))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))     # biased variance
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.state["moving_variance"], 0.9 + 0.1 * var, rtol=1e-12)
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], 0.9 * 0.1 * mean + 0.1 * mean,
                               rtol=1e-12)
    before = {k: v.copy() for k, v in layer.state.items()}
    layer.forward(x)                                             # inference changes nothing
    for key, value in before.items():
        np.testing.assert_array_equal(layer.state[key], value)


def test_moving_mean_matches_pytorch_running_mean():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(1.0, 3.0, (10, 3, 4, 4))
    layer = _built(BatchNormalization(momentum=0.8), (3, 4, 4))
    bn = torch.nn.BatchNorm2d(3, momentum=0.2, eps=1e-3, dtype=torch.float64)  # 1 - momentum
    for _ in range(3):
        layer.forward(x, training=True)
        bn(torch.tensor(x))
    np.testing.assert_allclose(layer.state["moving_mean"], bn.running_mean.numpy(), rtol=1e-12)
    # PyTorch stores the unbiased variance (m / (m - 1) larger); Keras and nnlite the biased one
    m = 10 * 4 * 4
    expected = 0.8 ** 3 + 0.2 * sum(0.8 ** k for k in range(3)) * x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.state["moving_variance"], expected, rtol=1e-12)
    assert np.all(bn.running_var.numpy() > layer.state["moving_variance"]) and m > 1


def test_inference_uses_moving_statistics():
    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3))
    layer = _built(BatchNormalization(momentum=0.0), (3,))      # moving = last batch
    y_train = layer.forward(x, training=True).copy()
    y_infer = layer.forward(x)
    np.testing.assert_allclose(y_infer, cnn_ref.batch_norm_inference(layer, x), rtol=1e-12)
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-12)    # same statistics now
    fresh = _built(BatchNormalization(), (3,))                  # moving 0 / 1: ≈ identity
    np.testing.assert_allclose(fresh.forward(x), x / np.sqrt(1 + 1e-3), rtol=1e-12)


def test_training_gradients_flow_through_the_batch_statistics():
    x = np.random.default_rng(0).standard_normal((5, 3, 2, 2))
    report = check_layer(BatchNormalization(momentum=0.5), x, seed=1)
    assert report.ok, str(report)
    # ignoring the statistics (treating μ and σ as constants) would give a different dx
    layer = _built(BatchNormalization(), (3, 2, 2))
    layer.forward(x, training=True)
    dy = np.random.default_rng(2).standard_normal(x.shape)
    dx = layer.backward(dy)
    naive = dy / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-3)
    assert np.abs(dx - naive).max() > 0.1
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0.0, atol=1e-12)   # Σ dx = 0 per channel


def test_layer_normalization_is_per_example():
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 4, 5))
    layer = _built(LayerNormalization(), (4, 5))
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(layer.forward(x[2:3]), y[2:3], rtol=1e-14)   # no batch coupling
    np.testing.assert_array_equal(layer.forward(x, training=True), y)


def _cnn(seed):
    model = nnlite.Sequential([
        Conv2D(4, 3, input_shape=(1, 8, 8)), BatchNormalization(), MaxPool2D(2), Flatten(),
        Dense(8, activation="relu"), LayerNormalization(), Dense(3, activation="softmax")],
        seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((96, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, 96)


def test_state_is_in_get_weights_after_params_and_in_summary():
    model = _cnn(0)
    model.build()
    bn = model.layers[1]
    weights = model.get_weights()
    # conv kernel, conv bias, gamma, beta, moving_mean, moving_variance, ...
    assert [w.shape for w in weights[:6]] == [(4, 1, 3, 3), (4,), (4,), (4,), (4,), (4,)]
    np.testing.assert_array_equal(weights[5], 1.0)
    weights[4][...] = 7.0
    model.set_weights(weights)
    np.testing.assert_array_equal(bn.state["moving_mean"], 7.0)
    text = model.summary(print_fn=None)
    assert "Non-trainable params: 8" in text
    assert "batch_normalization (BatchNormalization)" in text


def test_same_seed_bit_identical_training_and_deterministic_predict():
    x, y = _data()
    results = []
    for seed in (3, 3, 4):
        model = _cnn(seed)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        results.append((history.history["loss"], model.get_weights(), model))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)
    assert results[0][0] != results[2][0]
    model = results[0][2]
    bn = model.layers[1]
    assert not np.allclose(bn.state["moving_mean"], 0.0)       # training moved the statistics
    p = model.predict(x)
    np.testing.assert_array_equal(p, model.predict(x))
    np.testing.assert_array_equal(p[:10], model.predict(x[:10]))   # no batch dependence


def test_save_and_load_keep_moving_statistics(tmp_path):
    saving = pytest.importorskip("nnlite.saving")
    x, y = _data()
    model = _cnn(0)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "cnn.nnlite"
    saving.save_model(model, path)
    clone = nnlite.load_model(path)
    np.testing.assert_array_equal(clone.layers[1].state["moving_variance"],
                                  model.layers[1].state["moving_variance"])
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert clone.layers[0].get_config() == model.layers[0].get_config()


@pytest.mark.parametrize("make,match", [
    (lambda: BatchNormalization(momentum=1.0),
     r"BatchNormalization: momentum must be a number in \[0, 1\), got 1.0"),
    (lambda: BatchNormalization(epsilon=0), "BatchNormalization: epsilon must be a positive "
                                            "number, got 0"),
    (lambda: LayerNormalization(epsilon=-1e-3), "LayerNormalization: epsilon must be a positive "
                                                "number, got -0.001"),
])
def test_bad_hyper_parameters_raise(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
