"""``to_torch`` for the sequence layers: the same predictions in PyTorch (float64, ≤ 1e-10),
including go_backwards, return_state in graph models and Bidirectional; clear errors for what
PyTorch has no equivalent of (masks, GRU reset_after=False)."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError
from nnlite.export import to_torch
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

torch = pytest.importorskip("torch")


def _same(model, x):
    net = to_torch(model)
    with torch.no_grad():
        out = net(torch.tensor(x))
    outs = out if isinstance(out, tuple) else (out,)
    expected = model.predict(x)
    expected = expected if isinstance(expected, list) else [expected]
    for o, e in zip(outs, expected):
        assert o.dtype == torch.float64
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12)


LAYERS = [
    lambda: SimpleRNN(4), lambda: SimpleRNN(4, activation="relu", return_sequences=True),
    lambda: LSTM(4), lambda: LSTM(4, return_sequences=True, go_backwards=True),
    lambda: LSTM(4, use_bias=False), lambda: GRU(4), lambda: GRU(4, go_backwards=True),
    lambda: GRU(4, return_sequences=True),
    lambda: Bidirectional(LSTM(3, return_sequences=True)),
    lambda: Bidirectional(GRU(3), merge_mode="sum"),
    lambda: Bidirectional(SimpleRNN(3, return_sequences=True), merge_mode="mul"),
    lambda: Bidirectional(LSTM(3), merge_mode="ave"),
    lambda: TimeDistributed(Dense(3, activation="tanh")), lambda: Dense(3),
    lambda: Conv1D(3, 3), lambda: Conv1D(2, 3, strides=2, padding="same", activation="relu"),
    lambda: Conv1D(2, 2, padding="causal", dilation_rate=2),
    lambda: MaxPooling1D(2), lambda: MaxPooling1D(3, strides=2, padding="same"),
    GlobalAveragePooling1D, lambda: GlobalMaxPooling1D(keepdims=True),
]


@pytest.mark.parametrize("factory", LAYERS)
def test_every_sequence_layer_round_trips(factory):
    model = nnlite.Sequential([Dense(5, activation="tanh", input_shape=(7, 3)), factory()],
                              seed=0, dtype="float64")
    model.build()
    _same(model, np.random.default_rng(0).standard_normal((4, 7, 3)))


def test_embedding_model_round_trips():
    model = nnlite.Sequential([Embedding(20, 6, input_shape=(9,)), LSTM(5, return_sequences=True),
                               Dense(20, activation="softmax")], seed=1, dtype="float64")
    model.build()
    _same(model, np.random.default_rng(1).integers(0, 20, (3, 9)).astype(np.float64))


def test_return_state_graph_round_trips():
    inputs = nnlite.Input(shape=(6, 3))
    seq, h, c = LSTM(4, return_sequences=True, return_state=True)(inputs)
    both = Bidirectional(GRU(2, return_state=True))
    out, h_f, h_b = both(seq)
    model = nnlite.Model(inputs, [Dense(2)(out), h, c, h_f, h_b], seed=2, dtype="float64")
    _same(model, np.random.default_rng(2).standard_normal((5, 6, 3)))


@pytest.mark.parametrize("layers,match", [
    ([Embedding(9, 3, mask_zero=True, input_shape=(4,)), LSTM(2)], "mask"),
    ([Masking(input_shape=(4, 2)), LSTM(2)], "mask"),
    ([GRU(2, reset_after=False, input_shape=(4, 2))], "reset_after"),
    ([LSTM(2, activation="relu", input_shape=(4, 2))], "activations"),
])
def test_layers_without_a_pytorch_equivalent_are_refused(layers, match):
    model = nnlite.Sequential(layers, seed=0)
    model.build()
    with pytest.raises(ConfigError, match=match):
        to_torch(model)
