"""GradientMonitor / ActivationMonitor on hand-made networks whose gradients are known."""
import warnings

import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError, NotCompiledError
from nnlite.layers import Dense, ReLU, Residual
from nnlite.monitors import (
    ActivationMonitor,
    GradientMonitor,
    GradientWarning,
    activation_stats,
    first_to_last_ratio,
    layer_gradient_norms,
    plot_gradient_norms,
)

W1 = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]])     # (2, 3)
B1 = np.array([0.1, -0.2, 0.3])
W2 = np.array([[1.0], [-2.0], [0.5]])                       # (3, 1)
B2 = np.array([0.05])


def _linear_net(optimizer="sgd"):
    """x → Dense(3) → Dense(1), no activations, MSE: every gradient by hand."""
    model = nnlite.Sequential([Dense(3, input_dim=2), Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer=optimizer)
    model.set_weights([W1, B1, W2, B2])
    return model


def _data(n=8, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 1))


def _hand_norms(model, x, y):
    """dL/dθ and dL/dx of the linear net for L = mean((ŷ - y)²), with NumPy."""
    w1, b1, w2, b2 = model.get_weights()
    h = x @ w1 + b1
    out = h @ w2 + b2
    g = 2.0 * (out - y) / y.size            # dL/dŷ
    dh = g @ w2.T                           # dL/dh  (input of layer 2)
    dx = dh @ w1.T                          # dL/dx  (input of layer 1)
    n = np.linalg.norm
    return {"dense/kernel": n(x.T @ dh), "dense/bias": n(dh.sum(0)), "dense/input": n(dx),
            "dense_1/kernel": n(h.T @ g), "dense_1/bias": n(g.sum(0)), "dense_1/input": n(dh)}


def test_layer_gradient_norms_match_hand_computation():
    model = _linear_net()
    x, y = _data()
    got = layer_gradient_norms(model, x, y)
    expected = _hand_norms(model, x, y)
    assert list(got) == list(expected)  # forward layer order, params before input
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_layer_gradient_norms_changes_nothing():
    model = _linear_net()
    x, y = _data()
    model._flat_grads[...] = 7.0
    weights = model.get_weights()
    rng_state = model.rng.bit_generator.state
    layer_gradient_norms(model, x, y)
    assert np.all(model._flat_grads == 7.0)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.rng.bit_generator.state == rng_state


def test_probes_leave_dropout_and_batchnorm_untouched():
    """A probe runs in training mode: Dropout draws masks, BatchNormalization updates running
    statistics.  Both are restored, so a monitored fit equals an unmonitored one."""
    from nnlite.layers import BatchNormalization, Dropout

    x, y = _data(24)
    runs = []
    for callbacks in ([], [GradientMonitor(every=2), ActivationMonitor(every=3)]):
        model = nnlite.Sequential([Dense(6, activation="relu", input_dim=2),
                                   BatchNormalization(), Dropout(0.3), Dense(1)], seed=5,
                                  dtype="float64")
        model.compile(loss="mse", optimizer="adam")
        history = model.fit(x, y, epochs=2, batch_size=6, verbose=0, callbacks=callbacks)
        runs.append((model.get_weights(), history.history["loss"]))
        before = model.get_weights()
        layer_gradient_norms(model, x, y)
        activation_stats(model, x)
        for a, b in zip(before, model.get_weights()):  # includes the running statistics
            np.testing.assert_array_equal(a, b)
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]


def test_layer_gradient_norms_needs_compiled_model():
    model = nnlite.Sequential([Dense(3, input_dim=2)], seed=0)
    with pytest.raises(NotCompiledError, match="compile"):
        layer_gradient_norms(model, *_data())


def test_residual_and_graph_models_agree_with_full_gradients():
    """Parameter norms equal the norms of nnlite.grad's gradients; a graph Model with the same
    weights gives the same norms as the Sequential, and the Residual's input gradient is
    dy + J_blockᵀ dy."""
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([0, 1, 2, 1, 0, 2])
    seq = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3),
                             Residual([ReLU(), Dense(4)]), Dense(3, activation="softmax")],
                            seed=1, dtype="float64")
    seq.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    norms = layer_gradient_norms(seq, x, y)
    full = seq.gradients(x, y)
    for key, g in full.items():
        assert norms[key] == pytest.approx(np.linalg.norm(g), rel=1e-12), key
    assert "residual/dense/kernel" in norms and "residual/input" in norms

    inp = nnlite.Input(shape=(3,))
    h = Dense(4, activation="tanh")(inp)
    h = Residual([ReLU(), Dense(4)])(h)
    graph = nnlite.Model(inp, Dense(3, activation="softmax")(h), seed=1, dtype="float64")
    graph.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    graph.set_weights(seq.get_weights())
    gnorms = layer_gradient_norms(graph, x, y)
    assert list(gnorms.values()) == pytest.approx(list(norms.values()), rel=1e-12)


def test_monitor_records_every_epoch_on_fixed_probe():
    model = _linear_net(nnlite.optimizers.SGD(learning_rate=0.05))
    x, y = _data(16)
    probe = _data(5, seed=9)
    monitor = GradientMonitor(probe=probe)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[monitor], seed=0)
    # the last record was taken on the final weights
    expected = _hand_norms(model, *probe)
    for key, value in expected.items():
        series = monitor.history[f"grad_norm/{key}"]
        assert len(series) == 3
        assert series[-1] == pytest.approx(value, rel=1e-12)
        assert history.history[f"grad_norm/{key}"] == series  # stored in the fit's History
    assert monitor.history["grad_norm/ratio"][-1] == pytest.approx(
        np.hypot(expected["dense/kernel"], expected["dense/bias"])
        / np.hypot(expected["dense_1/kernel"], expected["dense_1/bias"]), rel=1e-12)
    rows = monitor.table()
    assert {"epoch": 2, "step": None, "layer": "dense_1", "quantity": "kernel",
            "value": monitor.history["grad_norm/dense_1/kernel"][-1]} in rows
    assert len(rows) == 3 * (len(expected) + 1)


def test_monitor_every_k_batches_probes_the_last_training_batch():
    model = _linear_net(nnlite.optimizers.SGD(learning_rate=0.05))
    x, y = _data(12)
    monitor = GradientMonitor(every=2)
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[monitor])
    # 3 steps per epoch, 6 in all: records after steps 2, 4, 6
    assert [r["step"] for r in monitor.table() if r["quantity"] == "ratio"] == [2, 4, 6]
    # the last record: final weights, last batch (no shuffle: the last 4 rows)
    expected = _hand_norms(model, x[-4:], y[-4:])
    for key, value in expected.items():
        assert monitor.history[f"grad_norm/{key}"][-1] == pytest.approx(value, rel=1e-12)
    assert "_train_step" not in vars(model)  # the batch tap is gone after fit


def test_monitor_does_not_change_training():
    x, y = _data(20)
    runs = []
    for callbacks in ([], [GradientMonitor(every=1), ActivationMonitor()]):
        model = _linear_net("adam")
        history = model.fit(x, y, epochs=3, batch_size=5, verbose=0, callbacks=callbacks)
        runs.append((model.get_weights(), history.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]


def _deep_sigmoid(depth=10):
    layers = [Dense(8, activation="sigmoid", input_dim=4)]
    layers += [Dense(8, activation="sigmoid") for _ in range(depth - 1)]
    model = nnlite.Sequential(layers + [Dense(2, activation="softmax")], seed=0,
                              dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


def test_vanishing_warning_fires_exactly_once():
    x = np.random.default_rng(1).standard_normal((32, 4))
    y = (x[:, 0] > 0).astype(int)
    model = _deep_sigmoid()
    monitor = GradientMonitor(every=1)
    assert first_to_last_ratio(layer_gradient_norms(model, x, y)) < 1e-3  # the premise
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[monitor])
    ours = [w for w in caught if issubclass(w.category, GradientWarning)]
    assert len(ours) == 1
    assert "vanishing" in str(ours[0].message) and "'sequential'" in str(ours[0].message)
    assert len(monitor.history["grad_norm/ratio"]) == 12  # recorded 12 times, warned once


def test_exploding_warning_and_no_warning_on_a_healthy_net():
    x, y = _data(8)
    # no biases; W1 ≈ 0 makes h ≈ 0, so ||dL/dW_2|| = ||hᵀ g|| is tiny next to ||dL/dW_1||
    model = nnlite.Sequential([Dense(3, use_bias=False, input_dim=2), Dense(1, use_bias=False)],
                              seed=0, dtype="float64")
    model.compile(loss="mse", optimizer=nnlite.optimizers.SGD(learning_rate=1e-3))
    model.set_weights([W1 * 1e-5, W2])
    ratio = first_to_last_ratio(layer_gradient_norms(model, x, y))
    assert ratio > 1e3
    with pytest.warns(GradientWarning, match="exploding"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0,
                  callbacks=[GradientMonitor(probe=(x, y))])
    healthy = _linear_net()
    assert 1e-3 < first_to_last_ratio(layer_gradient_norms(healthy, x, y)) < 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientWarning)
        healthy.fit(x, y, epochs=2, verbose=0, callbacks=[GradientMonitor()])


def test_dead_relu_and_saturated_sigmoid_shares():
    model = nnlite.Sequential([Dense(4, activation="relu", input_dim=2),
                               Dense(4, activation="sigmoid"), Dense(1)], seed=0,
                              dtype="float64")
    model.compile(loss="mse", optimizer=nnlite.optimizers.SGD(learning_rate=1e-3))
    # relu: units 0 and 2 output 0 for every x in [-1, 1]² (bias -10); unit 1 alive, unit 3
    # alive for x0 > 0 only; sigmoid: units 0, 1 saturated (±20), 2 and 3 at σ(0) = 0.5
    k1 = np.array([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    b1 = np.array([-10.0, 5.0, -10.0, 0.0])
    k2 = np.zeros((4, 4))
    b2 = np.array([20.0, -20.0, 0.0, 0.0])
    model.set_weights([k1, b1, k2, b2, np.ones((4, 1)), np.zeros(1)])
    x = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    stats = activation_stats(model, x)
    assert stats == {"dense/dead_relu": 0.5, "dense_1/saturated": 0.5}

    monitor = ActivationMonitor(probe=(x, np.zeros((50, 1))))
    history = model.fit(x, np.zeros((50, 1)), epochs=2, batch_size=10, verbose=0,
                        callbacks=[monitor])
    assert monitor.history["activation/dense/dead_relu"] == [0.5, 0.5]
    assert monitor.history["activation/dense_1/saturated"] == [0.5, 0.5]
    assert history.history["activation/dense/dead_relu"] == [0.5, 0.5]


def test_bad_arguments_are_rejected():
    for bad in (0, -2, "batch", 1.5, True):
        with pytest.raises(ConfigError, match="every"):
            GradientMonitor(every=bad)
    with pytest.raises(ConfigError, match="probe"):
        ActivationMonitor(probe=np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="threshold"):
        GradientMonitor(threshold=10.0, explode_threshold=1.0)
    with pytest.raises(ConfigError, match="threshold"):
        GradientMonitor(threshold=-1)


def test_plot_gradient_norms(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    model = _deep_sigmoid(4)
    x = np.random.default_rng(1).standard_normal((16, 4))
    y = (x[:, 0] > 0).astype(int)
    monitor = GradientMonitor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientWarning)
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[monitor])
    ax = plot_gradient_norms(monitor)
    assert ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.lines) == 3  # one line per recording
    np.testing.assert_allclose(ax.lines[-1].get_ydata(),
                               [monitor.history[f"grad_norm/{name}/kernel"][-1]
                                for name in ("dense", "dense_1", "dense_2", "dense_3",
                                             "dense_4")])
    with pytest.raises(ConfigError, match="grad_norm"):
        plot_gradient_norms({"loss": [1.0]})
