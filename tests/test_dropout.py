"""Dropout: inverted scaling, seeding, frozen-mask gradients, inference behaviour, and
bit-identical training of models that use it."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError
from nnlite.gradcheck import check_layer
from nnlite.layers import Dense, Dropout


def _built(layer, shape, dtype=np.float64, seed=0):
    layer.build(shape, np.random.default_rng(seed), dtype)
    return layer


def test_inference_is_the_identity_and_caches_nothing():
    layer = _built(Dropout(0.5), (10,))
    x = np.random.default_rng(0).standard_normal((4, 10))
    np.testing.assert_array_equal(layer.forward(x), x)
    assert layer._mask is None and layer._buffers == {}


def test_training_drops_the_rate_and_scales_the_rest():
    rate = 0.3
    layer = _built(Dropout(rate), (1000,))
    x = np.random.default_rng(0).uniform(1.0, 2.0, (200, 1000))   # no zeros in x
    y = layer.forward(x, training=True)
    dropped = y == 0
    assert abs(dropped.mean() - rate) < 0.005                      # 200,000 Bernoulli draws
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - rate), rtol=1e-15)
    # inverted dropout keeps the expectation: E[y] = x
    assert abs(y.mean() / x.mean() - 1) < 0.01


def test_backward_uses_the_same_mask():
    layer = _built(Dropout(0.5), (50,))
    x = np.random.default_rng(0).uniform(1.0, 2.0, (8, 50))
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * y / x, rtol=1e-14)
    assert layer.backward(dy, input_grad=False) is None


def test_gradient_check_with_the_mask_frozen():
    # the layer draws a new mask per call; re-seeding before every forward freezes it, so the
    # finite differences see one fixed function
    layer = _built(Dropout(0.4, seed=7), (6,))
    forward = layer.forward

    def frozen_forward(x, training=False):
        layer._rng = np.random.default_rng(7)
        return forward(x, training)

    layer.forward = frozen_forward
    x = np.random.default_rng(0).standard_normal((5, 6))
    y = layer.forward(x, training=True)
    assert 0 < np.count_nonzero(y == 0) < y.size                  # some, not all, dropped
    report = check_layer(layer, x, seed=1)
    assert report.ok and report.max_error < 1e-6, str(report)


def test_masks_follow_the_seed():
    x = np.ones((4, 20))
    a = _built(Dropout(0.5, seed=3), (20,), seed=0)
    b = _built(Dropout(0.5, seed=3), (20,), seed=99)     # own seed wins over the build rng
    c = _built(Dropout(0.5), (20,), seed=0)
    d = _built(Dropout(0.5), (20,), seed=0)
    e = _built(Dropout(0.5), (20,), seed=1)
    np.testing.assert_array_equal(a.forward(x, True), b.forward(x, True))
    np.testing.assert_array_equal(c.forward(x, True), d.forward(x, True))
    assert not np.array_equal(c.forward(x, True), e.forward(x, True))
    # consecutive calls draw fresh masks (copy: training output lives in a reused buffer)
    assert not np.array_equal(c.forward(x, True).copy(), c.forward(x, True))


def test_rate_zero_is_the_identity_in_training():
    layer = _built(Dropout(0.0), (5,))
    x = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(np.ones((3, 5))), np.ones((3, 5)))


@pytest.mark.parametrize("rate", [1.0, -0.1, "0.5", True, None])
def test_bad_rate_raises(rate):
    with pytest.raises(ConfigError, match=f"Dropout: rate must be a number in \\[0, 1\\), "
                                          f"got {rate!r}"):
        Dropout(rate)


def test_bad_seed_raises():
    with pytest.raises(ConfigError, match="Dropout: seed must be a non-negative int or None, "
                                          "got -1"):
        Dropout(0.5, seed=-1)


def _model(seed):
    model = nnlite.Sequential([Dense(32, activation="relu", input_dim=10), Dropout(0.5),
                               Dense(32, activation="relu"), Dropout(0.2),
                               Dense(3, activation="softmax")], seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return model


def test_same_seed_gives_bit_identical_training_and_predict_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 10)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    runs = []
    for seed in (5, 5, 6):
        model = _model(seed)
        history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        runs.append((history.history["loss"], model.get_weights(), model))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][0] != runs[2][0]
    model = runs[0][2]
    p1, p2 = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(p1, p2)
    # dropout is off in predict: it equals the network without the Dropout layers
    h = x
    for layer in model.layers:
        if not isinstance(layer, Dropout):
            h = layer.forward(h)
    np.testing.assert_allclose(p1, h, rtol=1e-6)


def test_saved_and_loaded_model_continues_with_the_same_masks(tmp_path):
    saving = pytest.importorskip("nnlite.saving")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = _model(1)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    saving.save_model(model, tmp_path / "m.nnlite")
    clone = nnlite.load_model(tmp_path / "m.nnlite")
    assert clone.layers[1].get_config() == model.layers[1].get_config()
    for m in (model, clone):
        m.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=3)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
