"""SimpleRNN, LSTM and GRU: the layer contract (NumPy reference, float64 finite differences of
input and every weight with masks / return_sequences / return_state / dropout, config, inference,
float32), PyTorch parity in both directions, padded-and-masked batches equal to running each
sequence alone, stateful layers, return_state in graph models, and bad configurations."""
import numpy as np
import pytest
import seq_contract as sc
import seq_ref

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import check_model
from nnlite.layers import GRU, LSTM, Dense, SimpleRNN

SHAPE = (3, 6, 4)
MASK = sc.ragged_mask(3, 6)

# (id, factory, input shape, parameter count, mask)
CASES = [
    ("simple_rnn", lambda: SimpleRNN(3), SHAPE, 4 * 3 + 3 * 3 + 3, None),
    ("simple_rnn_seq_back", lambda: SimpleRNN(3, return_sequences=True, go_backwards=True),
     SHAPE, 24, None),
    ("simple_rnn_relu_mask", lambda: SimpleRNN(3, activation="relu", return_sequences=True),
     SHAPE, 24, MASK),
    ("lstm", lambda: LSTM(3), SHAPE, 4 * 12 + 3 * 12 + 12, None),
    ("lstm_seq", lambda: LSTM(3, return_sequences=True), SHAPE, 96, None),
    ("lstm_back_mask", lambda: LSTM(3, return_sequences=True, go_backwards=True), SHAPE, 96,
     MASK),
    ("lstm_state_mask", lambda: LSTM(3, return_state=True), SHAPE, 96, MASK),
    ("lstm_hard_sigmoid_nobias", lambda: LSTM(3, recurrent_activation="hard_sigmoid",
                                              use_bias=False), SHAPE, 84, None),
    ("gru", lambda: GRU(3), SHAPE, 4 * 9 + 3 * 9 + 2 * 9, None),
    ("gru_seq_back_mask", lambda: GRU(3, return_sequences=True, go_backwards=True), SHAPE, 81,
     MASK),
    ("gru_reset_before", lambda: GRU(3, reset_after=False, return_sequences=True), SHAPE,
     4 * 9 + 3 * 9 + 9, MASK),
    ("gru_state", lambda: GRU(3, return_state=True, return_sequences=True), SHAPE, 81, None),
    ("gru_hard_sigmoid_relu", lambda: GRU(3, activation="relu", recurrent_activation="hard_sigmoid",
                                           return_sequences=True), SHAPE, 81, MASK),
    ("lstm_zero_output", lambda: LSTM(3, return_sequences=True, zero_output_for_mask=True),
     SHAPE, 96, MASK),
]
DROPOUT = [
    ("lstm_dropout", lambda: LSTM(3, dropout=0.3, recurrent_dropout=0.4, return_sequences=True,
                                  seed=1), SHAPE, 96, MASK),
    ("gru_dropout", lambda: GRU(3, dropout=0.3, recurrent_dropout=0.4, seed=2), SHAPE, 81,
     None),
    ("gru_before_dropout", lambda: GRU(3, reset_after=False, dropout=0.2, recurrent_dropout=0.5,
                                       return_sequences=True, seed=3), SHAPE, 72, MASK),
    ("simple_rnn_dropout", lambda: SimpleRNN(3, dropout=0.5, recurrent_dropout=0.5, seed=4),
     SHAPE, 24, None),
]
ALL = CASES + DROPOUT


def _param(cases):
    return [pytest.param(c, id=c[0]) for c in cases]


@pytest.mark.parametrize("case", _param(CASES))
def test_forward_and_final_states_match_numpy_reference(case):
    _, factory, shape, _, mask = case
    layer = sc.built(factory, shape)
    x = sc.sequence_input(shape)
    y = sc.run(layer, x, mask)
    y_ref, states_ref = seq_ref.rnn_forward(layer, x, mask)
    if layer.return_state:                        # (output, *final states)
        y, states = y[0], y[1:]
        assert len(states) == len(states_ref)
        for got, want in zip(states, states_ref):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-14)


def test_relu_and_zero_output_variants_against_the_reference():
    x = sc.sequence_input(SHAPE)
    layer = sc.built(lambda: LSTM(3, return_sequences=True, zero_output_for_mask=True), SHAPE)
    carried = sc.built(lambda: LSTM(3, return_sequences=True), SHAPE)
    carried.params["kernel"][...] = layer.params["kernel"]
    carried.params["recurrent_kernel"][...] = layer.params["recurrent_kernel"]
    carried.params["bias"][...] = layer.params["bias"]
    zeroed, kept = layer.forward(x, mask=MASK), carried.forward(x, mask=MASK)
    np.testing.assert_array_equal(zeroed[~MASK], 0.0)
    np.testing.assert_array_equal(zeroed[MASK], kept[MASK])
    # a carried output at a masked step repeats the previous step's output
    np.testing.assert_array_equal(kept[0, 4], kept[0, 3])


@pytest.mark.parametrize("case", _param(ALL))
def test_gradients_match_finite_differences(case):
    _, factory, shape, _, mask = case
    sc.check_gradients(factory, shape, mask)


@pytest.mark.parametrize("case", _param(ALL))
def test_shapes_and_parameter_count(case):
    _, factory, shape, count, mask = case
    sc.check_shapes_and_count(factory, shape, count, mask)


@pytest.mark.parametrize("case", _param(ALL))
def test_config_round_trip(case):
    _, factory, shape, _, mask = case
    sc.check_config_round_trip(factory, shape, mask)


@pytest.mark.parametrize("case", _param(ALL))
def test_inference_caches_nothing(case):
    _, factory, shape, _, mask = case
    sc.check_inference(factory, shape, mask, stochastic=case in DROPOUT)


@pytest.mark.parametrize("case", _param(CASES))
def test_float32_close_to_float64(case):
    _, factory, shape, _, mask = case
    sc.check_float32(factory, shape, mask)


PARITY = [
    (cls, dict(return_sequences=seq, go_backwards=back, return_state=state))
    for cls in (SimpleRNN, LSTM, GRU) for seq in (False, True) for back in (False, True)
    for state in ((False, True) if seq else (False,))
]


@pytest.mark.parametrize("cls,kwargs", PARITY,
                         ids=[f"{c.__name__}-{'-'.join(k for k, v in kw.items() if v) or 'last'}"
                              for c, kw in PARITY])
def test_pytorch_parity_forward_and_backward(cls, kwargs):
    pytest.importorskip("torch")
    layer = sc.built(lambda: cls(5, **kwargs), (4, 7, 3), seed=3)
    x = sc.sequence_input((4, 7, 3), seed=4)
    rng = np.random.default_rng(6)
    out = layer.forward(x, training=True)
    y, states = (out[0], out[1:]) if layer.return_state else (out, ())
    dy = rng.standard_normal(y.shape)
    state_dys = [rng.standard_normal((4, 5)) for _ in states]
    dx = layer.backward([dy, *state_dys] if layer.return_state else dy)
    y_t, dx_t, grads_t, states_t = seq_ref.torch_rnn_grads(layer, x, dy, state_dys)
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-12)
    for key, grad in grads_t.items():
        np.testing.assert_allclose(layer.grads[key], grad, rtol=1e-10, atol=1e-12)
    for got, want in zip(states, states_t):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- padding
LENGTHS = [5, 2, 7, 1]


def _padded(features=3, seed=0):
    rng = np.random.default_rng(seed)
    steps = max(LENGTHS)
    seqs = [rng.standard_normal((length, features)) for length in LENGTHS]
    x = np.zeros((len(seqs), steps, features))
    mask = np.zeros((len(seqs), steps), dtype=bool)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
        x[i, len(s):] = rng.standard_normal((steps - len(s), features))  # padding is garbage
        mask[i, :len(s)] = True
    return seqs, x, mask


PADDED = [(cls, seq, back) for cls in (SimpleRNN, LSTM, GRU) for seq in (False, True)
          for back in (False, True)]


@pytest.mark.parametrize("cls,seq,back", PADDED,
                         ids=[f"{c.__name__}-{'seq' if s else 'last'}{'-back' if b else ''}"
                              for c, s, b in PADDED])
def test_padded_masked_batch_equals_per_sequence_runs(cls, seq, back):
    seqs, x, mask = _padded()
    steps = x.shape[1]
    layer = sc.built(lambda: cls(4, return_sequences=seq, go_backwards=back), x.shape, seed=2)
    rng = np.random.default_rng(9)
    upstream = [rng.standard_normal((len(s), 4) if seq else (4,)) for s in seqs]
    # the batch: upstream gradients at the real steps, zero at the padding
    dy = np.zeros((len(seqs), steps, 4) if seq else (len(seqs), 4))
    for i, (s, u) in enumerate(zip(seqs, upstream)):
        if not seq:
            dy[i] = u
        elif back:  # the output is in processing order: the padding comes first
            dy[i, steps - len(s):] = u
        else:
            dy[i, :len(s)] = u
    y = layer.forward(x, training=True, mask=mask).copy()
    dx = layer.backward(dy).copy()
    grads = {k: g.copy() for k, g in layer.grads.items()}
    summed = {k: np.zeros_like(g) for k, g in grads.items()}
    for i, (s, u) in enumerate(zip(seqs, upstream)):
        y_i = layer.forward(s[None], training=True)
        dx_i = layer.backward(u[None])
        for k in summed:
            summed[k] += layer.grads[k]
        if not seq:
            np.testing.assert_allclose(y[i], y_i[0], rtol=1e-10, atol=1e-12)
        elif back:
            np.testing.assert_allclose(y[i, steps - len(s):], y_i[0], rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(y[i, :steps - len(s)], 0.0)  # the initial state
        else:
            np.testing.assert_allclose(y[i, :len(s)], y_i[0], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(y[i, len(s):], y_i[0, -1:].repeat(steps - len(s), 0),
                                       rtol=1e-10, atol=1e-12)       # carried forward
        np.testing.assert_allclose(dx[i, :len(s)], dx_i[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(dx[i, len(s):], 0.0)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-10, atol=1e-12)


def test_all_true_mask_is_the_unmasked_computation():
    layer = sc.built(lambda: LSTM(3, return_sequences=True), SHAPE)
    x = sc.sequence_input(SHAPE)
    np.testing.assert_array_equal(layer.forward(x, mask=np.ones(SHAPE[:2], bool)),
                                  layer.forward(x))


def test_fully_masked_sequence_gives_zeros_not_nan():
    layer = sc.built(lambda: GRU(3, return_sequences=True), SHAPE)
    x = sc.sequence_input(SHAPE)
    mask = np.ones(SHAPE[:2], bool)
    mask[1] = False
    y = layer.forward(x, training=True, mask=mask)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[1], 0.0)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx[1], 0.0)


# --------------------------------------------------------------------------- stateful
def test_stateful_layer_carries_state_across_batches_until_reset():
    x = sc.sequence_input((2, 8, 3))
    whole = sc.built(lambda: LSTM(4, return_sequences=True), x.shape)
    chunked = sc.built(lambda: LSTM(4, return_sequences=True, stateful=True), (2, 4, 3))
    for key in whole.params:
        chunked.params[key][...] = whole.params[key]
    full = whole.forward(x)
    first, second = chunked.forward(x[:, :4]), chunked.forward(x[:, 4:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, rtol=1e-12)
    chunked.reset_state()
    np.testing.assert_allclose(chunked.forward(x[:, :4]), full[:, :4], rtol=1e-12)
    with pytest.raises(ShapeError, match="stateful"):
        chunked.forward(x[:1, :4])                     # another batch size needs a reset
    chunked.reset_state()
    assert chunked.forward(x[:1, :4]).shape == (1, 4, 4)


def test_stateful_model_trains_with_fixed_batches():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5, 2))
    y = x.sum(axis=(1, 2))[:, None]
    model = nnlite.Sequential([GRU(8, stateful=True, input_shape=(5, 2)), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# --------------------------------------------------------------------------- return_state
def test_return_state_in_a_graph_model():
    inputs = nnlite.Input(shape=(6, 4))
    out, h, c = LSTM(3, return_state=True, name="lstm")(inputs)
    model = nnlite.Model(inputs, [out, h, c], seed=0, dtype="float64")
    x = sc.sequence_input((5, 6, 4))
    y, y_h, y_c = model.predict(x)
    layer = model.get_layer("lstm") if hasattr(model, "get_layer") else model.layers[0]
    _, (h_ref, c_ref) = seq_ref.rnn_forward(layer, x)
    np.testing.assert_allclose(y, y_h)
    np.testing.assert_allclose(y_h, h_ref, rtol=1e-12)
    np.testing.assert_allclose(y_c, c_ref, rtol=1e-12)
    assert model.layers[0].output_shape == [(3,), (3,), (3,)]
    assert len(model.layers) == 1                                # one layer, three nodes


def test_return_state_gradients_flow_through_the_states(tmp_path):
    inputs = nnlite.Input(shape=(5, 3))
    seq, h, c = LSTM(4, return_sequences=True, return_state=True)(inputs)
    top = GRU(2)(seq)
    merged = nnlite.layers.Concatenate()([top, h, c])
    model = nnlite.Model(inputs, Dense(2)(merged), seed=1, dtype="float64")
    model.compile(loss="mse", optimizer="adam")
    x = sc.sequence_input((4, 5, 3))
    y = np.random.default_rng(2).standard_normal((4, 2))
    report = check_model(model, x, y, order=4, eps=1e-3)
    assert report.ok, str(report)
    path = tmp_path / "state.nnlite"
    model.fit(x, y, epochs=2, verbose=0)
    model.save(path)
    again = nnlite.load_model(path)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_return_state_needs_the_graph_api():
    model = nnlite.Sequential([LSTM(3, return_state=True, input_shape=(4, 2)), Dense(1)])
    with pytest.raises(ConfigError, match="graph API"):
        model.build()


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,match", [
    (dict(units=0), "units"), (dict(units=3, dropout=1.0), "dropout"),
    (dict(units=3, recurrent_dropout=-0.1), "recurrent_dropout"),
    (dict(units=3, activation="softmax"), "activation"),
    (dict(units=3, activation="gelu"), "activation"),
    (dict(units=3, return_sequences=1), "return_sequences"),
    (dict(units=3, seed=-1), "seed"),
])
def test_bad_configuration_is_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LSTM(**kwargs)


def test_input_that_is_not_a_sequence_is_rejected_at_build():
    with pytest.raises(ShapeError, match=r"\(batch, time, features\)"):
        nnlite.Sequential([GRU(3, input_shape=(4,))]).build()


def test_dropout_masks_are_reproducible_and_inference_is_deterministic():
    x = sc.sequence_input(SHAPE)
    a = sc.built(lambda: LSTM(3, dropout=0.5, recurrent_dropout=0.5), SHAPE, seed=7)
    b = sc.built(lambda: LSTM(3, dropout=0.5, recurrent_dropout=0.5), SHAPE, seed=7)
    train_a, train_b = a.forward(x, training=True), b.forward(x, training=True)
    np.testing.assert_array_equal(train_a, train_b)                 # same seed, same masks
    assert not np.allclose(train_a, a.forward(x))                   # dropout acts in training
    np.testing.assert_array_equal(a.forward(x), a.forward(x))       # inference: no dropout
