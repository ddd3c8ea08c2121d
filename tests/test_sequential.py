"""Sequential end to end: the lecture's regimes converge, XOR is solved, results are
reproducible, and bad input fails with clear errors that change nothing."""
import hashlib

import numpy as np
import pytest
from scipy.optimize import minimize

import nnlite
from nnlite import optimizers
from nnlite.errors import (
    ConfigError,
    DTypeError,
    InputValueError,
    NotBuiltError,
    NotCompiledError,
    ShapeError,
    UnknownNameError,
)
from nnlite.gradcheck import check_model
from nnlite.layers import Dense, ReLU, Sigmoid, Softmax


def _overlapping_blobs(n=200, seed=3):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    x = rng.standard_normal((n, 2)) + 0.8 * y[:, None] * np.array([1.0, 0.5])
    return x, y


def _scipy_logistic_optimum(x, y):
    xa = np.hstack([x, np.ones((len(x), 1))])

    def f(w):
        m = -y * (xa @ w)
        return np.mean(np.logaddexp(0, m)), -(xa.T @ (y / (1 + np.exp(-m)))) / len(y)

    res = minimize(f, np.zeros(3), jac=True, method="BFGS", options={"gtol": 1e-12})
    return res.x[:2], res.x[2], res.fun


def _logistic_model(seed=0):
    model = nnlite.Sequential([Dense(1, input_dim=2)], seed=seed, dtype="float64")
    return model


def test_gd_reaches_the_scipy_optimum_of_the_lecture_loss():
    x, y = _overlapping_blobs()
    w_ref, b_ref, _ = _scipy_logistic_optimum(x, y)
    model = _logistic_model()
    model.compile(loss="logistic", optimizer=optimizers.GD(learning_rate=2.0))
    history = model.fit(x, y, epochs=1500, verbose=0)
    assert len(history.history["loss"]) == 1500
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], w_ref, atol=1e-4)
    np.testing.assert_allclose(bias, [b_ref], atol=1e-4)
    assert history.history["loss"][-1] <= history.history["loss"][0]


@pytest.mark.parametrize("optimizer, epochs", [
    (optimizers.SGD(learning_rate=0.02), 40),
    (optimizers.MiniBatchSGD(batch_size=16, learning_rate=0.2), 80),
])
def test_sgd_and_minibatch_converge_to_the_optimum(optimizer, epochs):
    x, y = _overlapping_blobs()
    w_ref, b_ref, best = _scipy_logistic_optimum(x, y)
    model = _logistic_model()
    model.compile(loss="logistic", optimizer=optimizer)
    model.fit(x, y, epochs=epochs, verbose=0, seed=1)
    final = model.evaluate(x, y)
    assert final == pytest.approx(best, rel=5e-3)
    kernel, _ = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], w_ref, atol=0.1)


def test_sgd_regime_makes_one_update_per_example():
    x, y = _overlapping_blobs(n=50)
    model = _logistic_model()
    opt = optimizers.SGD(learning_rate=0.01)
    model.compile(loss="logistic", optimizer=opt)
    model.fit(x, y, epochs=3, verbose=0, seed=0)
    assert opt.iterations == 150
    opt_gd = optimizers.GD(learning_rate=0.01)
    model.compile(loss="logistic", optimizer=opt_gd)
    model.fit(x, y, epochs=3, verbose=0)
    assert opt_gd.iterations == 3


def test_two_layer_sigmoid_network_solves_xor():
    x, y = nnlite.datasets.xor()
    model = nnlite.Sequential([Dense(4, activation="sigmoid", input_dim=2),
                               Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer=optimizers.GD(learning_rate=2.0),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=2000, verbose=0)
    np.testing.assert_array_equal(model.predict_classes(x), y)
    assert history.history["accuracy"][-1] == 1.0
    assert model.evaluate(x, y)[0] < 0.05


def test_single_layer_cannot_solve_xor_but_solves_and():
    x, y = nnlite.datasets.xor()
    y_and = (x[:, 0] * x[:, 1]).astype(int)
    for target, solvable in ((y, False), (y_and, True)):
        model = nnlite.Sequential([Dense(1, activation="sigmoid", input_dim=2)], seed=0)
        model.compile(loss="binary_crossentropy", optimizer=optimizers.GD(learning_rate=2.0),
                      metrics=["accuracy"])
        model.fit(x, target, epochs=2000, verbose=0)
        accuracy = model.evaluate(x, target)[1]
        assert (accuracy == 1.0) == solvable


def _weights_hash(model):
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def _train_moons(seed, fit_seed=None):
    x, y = nnlite.datasets.make_moons(200, noise=0.2, seed=0)
    model = nnlite.Sequential([Dense(16, activation="relu", input_dim=2),
                               Dense(2, activation="softmax")], seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=fit_seed)
    return model, history.history["loss"]


def test_same_seed_gives_bit_identical_weights_and_losses():
    a, loss_a = _train_moons(seed=5)
    b, loss_b = _train_moons(seed=5)
    assert _weights_hash(a) == _weights_hash(b)
    assert loss_a == loss_b
    c, loss_c = _train_moons(seed=6)
    assert _weights_hash(a) != _weights_hash(c)
    assert loss_a != loss_c
    d, loss_d = _train_moons(seed=5, fit_seed=99)
    assert loss_d != loss_a  # a different batch order from fit's own seed


def test_no_global_random_state_is_used():
    state = np.random.get_state()[1].copy()
    _train_moons(seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_fused_softmax_head_is_finite_when_saturated():
    model = nnlite.Sequential([Dense(3, input_dim=2), Softmax()], seed=0, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    model.set_weights([np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]), np.zeros(3)])
    x = np.array([[1.0, 0.0]])
    assert model.predict(x)[0].tolist() == [1.0, 0.0, 0.0]  # probabilities exactly 0 and 1
    loss = model.evaluate(x, np.array([[0.0, 1.0, 0.0]]))
    assert loss == pytest.approx(2e4)  # -log p_1 = 2e4 from the logits, not inf


def test_fused_sigmoid_with_logistic_loss_and_pm1_predictions():
    x, y = _overlapping_blobs()
    model = nnlite.Sequential([Dense(1, activation="sigmoid", input_dim=2)], seed=0,
                              dtype="float64")
    model.compile(loss="logistic", optimizer=optimizers.GD(learning_rate=2.0),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=300, verbose=0)
    w_ref, b_ref, _ = _scipy_logistic_optimum(x, y)
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba[:, 0], 1 / (1 + np.exp(-(x @ w_ref + b_ref))), atol=1e-3)
    classes = model.predict_classes(x)
    assert set(np.unique(classes)) <= {-1, 1}
    assert np.mean(classes == y) == pytest.approx(model.evaluate(x, y)[1])


def test_logistic_score_model_proba_through_the_link():
    x, y = _overlapping_blobs()
    model = _logistic_model()
    model.compile(loss="logistic", optimizer="gd")
    scores = model.predict(x)
    np.testing.assert_allclose(model.predict_proba(x), 1 / (1 + np.exp(-scores)), rtol=1e-12)


def test_check_model_passes_for_fused_and_unfused_networks():
    x, y = nnlite.datasets.make_spirals(12, n_classes=3, seed=0)
    for head in ([Dense(3), Softmax()], [Dense(3, activation="tanh")]):
        loss = "sparse_categorical_crossentropy" if len(head) == 2 else "mse"
        target = y if len(head) == 2 else np.eye(3)[y]
        model = nnlite.Sequential([Dense(5, activation="tanh", input_dim=2), Dense(4),
                                   Sigmoid(), *head], seed=0, dtype="float64")
        model.compile(loss=loss, optimizer="sgd")
        report = check_model(model, x, target)
        assert report.ok, str(report)


def test_check_model_detects_a_wrong_gradient():
    class WrongReLU(ReLU):
        def backward(self, dy, input_grad=True):
            return dy  # forgets the step function

    x, y = nnlite.datasets.make_moons(10, seed=0)
    model = nnlite.Sequential([Dense(4, input_dim=2), WrongReLU(), Dense(1)], seed=0,
                              dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    report = check_model(model, x, y)
    assert not report.ok
    assert "FAIL" in str(report)


def test_predict_get_set_weights_summary_count():
    model = nnlite.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)], seed=0)
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    text = model.summary(print_fn=None)
    assert "dense (Dense)" in text and "(None, 8)" in text and "Total params: 67" in text
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 3), (3,)]
    x = np.random.default_rng(0).standard_normal((5, 4))
    out = model.predict(x)
    assert out.shape == (5, 3) and out.dtype == np.float32
    model.set_weights([w * 0 for w in weights])
    np.testing.assert_array_equal(model.predict(x), 0)
    np.testing.assert_array_equal(model.predict(x, batch_size=2), 0)


def test_predict_in_chunks_equals_whole():
    model = nnlite.Sequential([Dense(8, activation="tanh", input_dim=3), Dense(2)], seed=0)
    x = np.random.default_rng(1).standard_normal((11, 3))
    np.testing.assert_array_equal(model.predict(x, batch_size=4), model.predict(x))


def test_float64_model():
    model = nnlite.Sequential([Dense(2, input_dim=3)], seed=0, dtype="float64")
    assert model.predict(np.ones((1, 3))).dtype == np.float64
    with pytest.raises(ConfigError, match="dtype must be 'float32' or 'float64', got 'int8'"):
        nnlite.Sequential([Dense(2)], dtype="int8")


# ------------------------------------------------------------------ errors change nothing
def _state(model):
    opt = model.optimizer
    parts = [w.tobytes() for w in model.get_weights()]
    if opt is not None:
        parts += [v.tobytes() for v in opt.get_state().values()]
    parts.append(repr(model.rng.bit_generator.state).encode())
    parts.append(repr(model.history.history if model.history else None).encode())
    return hashlib.sha256(b"".join(parts)).hexdigest()


@pytest.fixture
def trained():
    x, y = nnlite.datasets.make_moons(40, seed=0)
    model = nnlite.Sequential([Dense(6, activation="relu", input_dim=2),
                               Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x, y: m.fit(x[:, :1], y, verbose=0), ShapeError,
     r"layer 'dense' of model 'sequential' expects x of shape \(batch, 2\), got \(40, 1\)"),
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), ShapeError,
     "x and y must have the same length, got x 40 and y 39"),
    (lambda m, x, y: m.fit(np.where(x > 1, np.nan, x), y, verbose=0), InputValueError,
     "x contains NaN or inf"),
    (lambda m, x, y: m.fit(np.where(x > 1, np.inf, x), y, verbose=0), InputValueError,
     "x contains NaN or inf"),
    (lambda m, x, y: m.fit(x, np.where(y > 0, np.nan, y), verbose=0), ValueError,
     "targets contain NaN or inf"),
    (lambda m, x, y: m.fit(x[:, 0], y, verbose=0), ShapeError,
     r"x must have shape \(batch, features...\), got \(40,\)"),
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), InputValueError, "x is empty"),
    (lambda m, x, y: m.fit(x.astype(complex), y, verbose=0), DTypeError,
     "x must be a real numeric array, got dtype complex128"),
    (lambda m, x, y: m.fit(x, y * 2, verbose=0), ValueError, "targets in \\[0, 1\\]"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), ConfigError,
     "epochs must be a non-negative int, got -1"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), ConfigError,
     "batch_size must be a positive int or 'full', got 0"),
    (lambda m, x, y: m.fit(x, y, shuffle="yes", verbose=0), ConfigError,
     "fit: shuffle must be True or False, got 'yes'"),
    (lambda m, x, y: m.predict(x[:, :1]), ShapeError, r"expects x of shape \(batch, 2\)"),
    (lambda m, x, y: m.evaluate(x, np.ones((40, 2))), ShapeError,
     r"targets of shape \(40, 2\) do not match predictions of shape \(40, 1\)"),
    (lambda m, x, y: m.set_weights(m.get_weights()[:-1]), ShapeError,
     r"expected 4 arrays \(kernel, bias, kernel, bias\), got 3"),
    (lambda m, x, y: m.compile(loss="squared_hinge"), UnknownNameError,
     "unknown loss 'squared_hinge'; valid names:"),
])
def test_bad_input_raises_clear_error_and_changes_nothing(trained, call, error, message):
    model, x, y = trained
    before = _state(model)
    prediction = model.predict(x)
    with pytest.raises(error, match=message):
        call(model, x, y)
    assert _state(model) == before
    np.testing.assert_array_equal(model.predict(x), prediction)


def test_predict_before_build():
    model = nnlite.Sequential([Dense(3), Dense(1)])
    with pytest.raises(NotBuiltError, match="model 'sequential' is not built; give input_shape"):
        model.predict(np.ones((2, 4)))


def test_fit_before_compile():
    model = nnlite.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(NotCompiledError, match="call model.compile"):
        model.fit(np.ones((2, 2)), np.ones(2))


def test_shape_inferred_at_first_fit_and_layer_named_in_later_errors():
    model = nnlite.Sequential([Dense(3), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.fit(np.ones((4, 5)), np.ones(4), verbose=0)
    assert model.input_shape == (5,)
    with pytest.raises(ShapeError, match=r"layer 'dense' .* expects x of shape \(batch, 5\)"):
        model.predict(np.ones((2, 6)))


def test_three_d_input_with_mismatched_targets_is_refused_before_anything_happens():
    # Dense maps the last axis of a 3-D input (as Keras), so the outputs are (4, 2, 1)
    model = nnlite.Sequential([Dense(3), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ShapeError, match=r"targets of shape \(4, 2, 1\) like the outputs, got "
                                         r"\(4,\)"):
        model.fit(np.ones((4, 2, 2)), np.ones(4), verbose=0)
    assert not model.built


def test_failed_build_is_rolled_back():
    class Exploding(Dense):
        def build(self, input_shape, rng, dtype):
            raise ConfigError("boom")

    model = nnlite.Sequential([Dense(3), Exploding(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    rng_state = repr(model.rng.bit_generator.state)
    with pytest.raises(ConfigError, match="boom"):
        model.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    assert not model.built and not model.layers[0].params and not model.layers[0].built
    assert repr(model.rng.bit_generator.state) == rng_state


def test_sequential_rejects_reused_layer_and_non_layers():
    layer = Dense(2)
    with pytest.raises(ConfigError, match="already in the model"):
        nnlite.Sequential([layer, layer])
    with pytest.raises(ConfigError, match="expects a Layer, got int"):
        nnlite.Sequential([3])


def test_read_only_and_non_contiguous_inputs_work():
    x, y = nnlite.datasets.make_moons(40, seed=0)
    wide = np.repeat(x, 2, axis=1)[:, ::2]  # non-contiguous view with the same values
    x.setflags(write=False)
    model = nnlite.Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.fit(wide, y, verbose=0)
    np.testing.assert_array_equal(model.predict(wide), model.predict(x))
    model.fit(np.asarray(x.tolist()), y.tolist(), verbose=0)  # Python lists
