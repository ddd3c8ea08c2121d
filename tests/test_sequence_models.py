"""Models built from the sequence layers: save/load round trips (Sequential and graph, masks,
states, wrappers), summary, get/set_weights, float32 training, and check_model."""
import numpy as np
import pytest

import nnlite
from nnlite.gradcheck import check_model
from nnlite.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Masking,
    MaxPooling1D,
    SimpleRNN,
    TimeDistributed,
)


def _stack():
    return nnlite.Sequential([
        Masking(input_shape=(12, 3)),
        Conv1D(6, 3, padding="causal", activation="relu"),
        TimeDistributed(Dense(5, activation="tanh")),
        Bidirectional(LSTM(4, return_sequences=True, dropout=0.2, recurrent_dropout=0.2)),
        MaxPooling1D(2),
        GRU(4, return_sequences=True, go_backwards=True),
        SimpleRNN(3, return_sequences=True),
        GlobalMaxPooling1D(),
        Dense(2, activation="softmax"),
    ], seed=0)


def _data(seed=0, n=20):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 12, 3)).astype(np.float32)
    x[: n // 2, 9:] = 0.0                                       # padding for Masking
    return x, (x[:, 0, 0] > 0).astype(np.int64)


def test_sequential_of_every_sequence_layer_trains_saves_and_loads(tmp_path):
    x, y = _data()
    model = _stack()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    text = model.summary(print_fn=None)
    for name in ("bidirectional", "time_distributed", "conv1d", "max_pooling1d", "masking"):
        assert name in text
    path = tmp_path / "stack.nnlite"
    model.save(path)
    again = nnlite.load_model(path)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert again.evaluate(x, y) == model.evaluate(x, y)
    clone = _stack()
    clone.build()
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    # training continues identically after loading (optimizer state and dropout generators)
    a = model.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=1).history["loss"]
    b = again.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=1).history["loss"]
    assert a == b


def test_graph_with_states_and_masks_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 9, (10, 6)).astype(np.float32)
    inputs = nnlite.Input(shape=(6,), name="tokens")
    emb = Embedding(9, 4, mask_zero=True)(inputs)
    seq, h_f, _, _, c_b = Bidirectional(LSTM(3, return_sequences=True,
                                             return_state=True))(emb)
    pooled = GlobalAveragePooling1D()(seq)
    merged = nnlite.layers.Concatenate()([pooled, h_f, c_b])
    model = nnlite.Model(inputs, Dense(2, activation="softmax")(merged), seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    y = rng.integers(0, 2, 10)
    model.fit(ids, y, epochs=2, verbose=0)
    path = tmp_path / "graph.nnlite"
    model.save(path)
    again = nnlite.load_model(path)
    np.testing.assert_array_equal(again.predict(ids), model.predict(ids))
    bi = again.get_layer("bidirectional")
    assert bi.output_shape == [(6, 6), (3,), (3,), (3,), (3,)]   # output, forward and backward
    assert again.get_config() == model.get_config()               # (h, c) of each direction


def test_check_model_of_a_stack_of_wrappers_convolutions_and_pooling():
    # (masked models are checked through Embedding(mask_zero=True) in test_masking.py:
    # Masking treats its mask as a constant, so finite differences of an all-zero step differ)
    x, y = _data(2, n=6)
    model = nnlite.Sequential([Bidirectional(GRU(2, return_sequences=True), merge_mode="sum",
                                             input_shape=(12, 3)),
                               Conv1D(2, 2, padding="same", activation="tanh"),
                               GlobalAveragePooling1D(), Dense(2, activation="softmax")],
                              seed=3, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(5).standard_normal(x.shape)
    report = check_model(model, x, y, order=4, eps=1e-3)
    assert report.ok, str(report)


@pytest.mark.parametrize("cell", [LSTM, GRU, SimpleRNN])
def test_recurrent_model_learns_a_sequence_task_in_float32(cell):
    # the sum of the sequence's first feature decides the class
    rng = np.random.default_rng(4)
    x = rng.standard_normal((600, 10, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    model = nnlite.Sequential([cell(16, input_shape=(10, 2)), Dense(2, activation="softmax")],
                              seed=0)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(1e-2), metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x[500:], y[500:])[1] > 0.9
