"""Monitors through time: ‖∂L/∂h_t‖ per step (checked against PyTorch autograd on an unrolled
RNN), per-step unit health, and GradientMonitor/ActivationMonitor(time_steps=True)."""
import numpy as np
import pytest

import nnlite
from nnlite.callbacks import ActivationMonitor, GradientMonitor
from nnlite.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from nnlite.monitors_time import (
    plot_time_step_norms,
    time_step_activation_stats,
    time_step_gradient_norms,
)

T = 12


def _model(layer, seed=0):
    model = nnlite.Sequential([layer, Dense(3, activation="softmax")], seed=seed,
                              dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.build()
    return model


def _data(n=8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, T, 4)), rng.integers(0, 3, n)


def test_state_gradient_norms_match_autograd_on_the_unrolled_rnn():
    torch = pytest.importorskip("torch")
    x, y = _data()
    model = _model(SimpleRNN(5, input_shape=(T, 4)))
    norms = time_step_gradient_norms(model, x, y)["simple_rnn"]
    rnn, dense = model.layers
    p = {k: torch.tensor(v, requires_grad=True) for k, v in rnn.params.items()}
    w, b = torch.tensor(dense.params["kernel"]), torch.tensor(dense.params["bias"])
    h = torch.zeros(len(x), 5, dtype=torch.float64)
    states = []
    for t in range(T):
        h = torch.tanh(torch.tensor(x[:, t]) @ p["kernel"] + h @ p["recurrent_kernel"]
                       + p["bias"])
        h.retain_grad()
        states.append(h)
    loss = torch.nn.functional.cross_entropy(h @ w + b, torch.tensor(y))
    loss.backward()
    expected = [float(s.grad.norm()) for s in states]
    np.testing.assert_allclose(norms, expected, rtol=1e-10)
    assert norms[0] < norms[-1]                                 # farther from the loss


def test_lstm_keeps_more_gradient_through_time_than_a_sigmoid_rnn():
    x, y = _data(seed=2)
    ratios = {}
    for name, layer in (("sigmoid", SimpleRNN(16, activation="sigmoid", input_shape=(T, 4))),
                        ("lstm", LSTM(16, input_shape=(T, 4)))):
        norms = list(time_step_gradient_norms(_model(layer), x, y).values())[0]
        ratios[name] = norms[0] / norms[-1]
    assert ratios["sigmoid"] < 1e-3 < ratios["lstm"]


def test_go_backwards_and_bidirectional_report_time_order():
    x, y = _data()
    model = _model(Bidirectional(GRU(3), input_shape=(T, 4)))
    norms = time_step_gradient_norms(model, x, y)
    assert set(norms) == {"bidirectional/forward_gru", "bidirectional/backward_gru"}
    fw, bw = norms["bidirectional/forward_gru"], norms["bidirectional/backward_gru"]
    assert fw.shape == bw.shape == (T,)
    assert fw[-1] > fw[0] and bw[0] > bw[-1]            # each direction ends at its loss


def test_probes_change_nothing():
    x, y = _data()
    model = _model(LSTM(4, input_shape=(T, 4), dropout=0.3))
    before = model.get_weights()
    state = repr(model.layers[0]._rng.bit_generator.state)
    time_step_gradient_norms(model, x, y)
    stats = time_step_activation_stats(model, x)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert repr(model.layers[0]._rng.bit_generator.state) == state
    assert not model.layers[0].record_step_norms
    assert stats["lstm/state_norm"].shape == (T,)
    assert ((stats["lstm/saturated"] >= 0) & (stats["lstm/saturated"] <= 1)).all()


def test_monitors_record_per_step_lists():
    x, y = _data(n=32)
    model = _model(LSTM(4, input_shape=(T, 4)))
    grads, acts = GradientMonitor(time_steps=True), ActivationMonitor(time_steps=True)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[grads, acts])
    series = history.history["grad_norm/lstm/state_grad"]
    assert len(series) == 2 and all(len(v) == T for v in series)
    assert len(history.history["activation/lstm/state_norm"][0]) == T
    rows = [r for r in grads.table() if r["quantity"] == "state_grad"]
    assert len(rows) == 2 * T and rows[3]["time"] == 3 and rows[3]["layer"] == "lstm"
    assert history.history["grad_norm/ratio"]                    # the usual records remain
    ax = plot_time_step_norms({"lstm": series[-1]})
    assert len(ax.lines) == 1


def test_probes_leave_the_carried_states_of_a_stateful_layer():
    x, y = _data()
    model = _model(GRU(4, input_shape=(T, 4), stateful=True))
    model.predict(x)                                             # carries states for 8 rows
    carried = [s.copy() for s in model.layers[0]._states]
    time_step_gradient_norms(model, x, y)
    time_step_activation_stats(model, x)
    for a, b in zip(carried, model.layers[0]._states):
        np.testing.assert_array_equal(a, b)
