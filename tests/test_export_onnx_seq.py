"""``to_onnx`` for the sequence layers: Embedding (int64 ids), Masking, Conv1D, the 1-D poolings,
TimeDistributed, SimpleRNN/LSTM/GRU (native ONNX operators) and Bidirectional, masks of any
pattern, return_state in graph models, and the char-LSTM of examples/char_lm.py.

Every graph passes ``onnx.checker`` and matches ``model.predict`` on 100 random sequences
within 1e-5 (float32) in the ReferenceEvaluator and onnxruntime (see tests/onnx_check.py for
what each runtime cannot run), and 1e-10 in float64 where a runtime has the kernels.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
from layer_check import randomize
from onnx_check import check, onnx, ort, run_ort, run_reference, x_like

import nnlite
from nnlite.errors import ConfigError
from nnlite.export import to_onnx
from nnlite.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    LayerNormalization,
    Masking,
    MaxPooling1D,
    Reshape,
    Residual,
    SimpleRNN,
    TimeDistributed,
)

T, F = 7, 3


def _ids(shape, vocab, seed, pad_rows=True):
    """Token ids with padding 0 in every pattern: post-padded, pre-padded, holes, all pad."""
    ids = np.random.default_rng(seed).integers(1, vocab, shape)
    if pad_rows:
        ids[0, 4:] = 0            # post-padding
        ids[1, :3] = 0            # pre-padding
        ids[2, ::2] = 0           # holes
        ids[3] = 0                # nothing real
        ids[4, 1:-1] = 0          # only the ends
        ids[5:40, 5:] = 0
        ids[40:70, :2] = 0
    return ids


def _masked_x(n, seed, dtype=np.float32):
    """Sequences whose padded steps are all zeros (Masking's default), in every pattern."""
    x = x_like((n, T, F), seed=seed, scale=1.0, dtype=dtype)
    keep = _ids((n, T), 5, seed) != 0
    return x * keep[:, :, None]


RECURRENT = [
    lambda: SimpleRNN(4), lambda: SimpleRNN(4, return_sequences=True),
    lambda: SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True),
    lambda: SimpleRNN(3, use_bias=False),
    lambda: LSTM(4), lambda: LSTM(4, return_sequences=True),
    lambda: LSTM(4, return_sequences=True, go_backwards=True), lambda: LSTM(3, use_bias=False),
    lambda: LSTM(3, unit_forget_bias=False, go_backwards=True),
    lambda: LSTM(3, activation="softsign", recurrent_activation="hard_sigmoid"),
    lambda: GRU(4), lambda: GRU(4, return_sequences=True, go_backwards=True),
    lambda: GRU(4, reset_after=False), lambda: GRU(4, reset_after=False, return_sequences=True),
    lambda: GRU(3, use_bias=False),
    lambda: GRU(3, activation=nnlite.activations.elu(0.5), recurrent_activation="sigmoid"),
    lambda: GRU(3, activation=nnlite.activations.leaky_relu(0.2),
                recurrent_activation="hard_sigmoid", return_sequences=True),
    lambda: SimpleRNN(3, activation="linear", return_sequences=True),
    lambda: SimpleRNN(3, activation="softplus", return_sequences=True),
    lambda: Bidirectional(LSTM(3, return_sequences=True)),
    lambda: Bidirectional(GRU(3), merge_mode="sum"),
    lambda: Bidirectional(SimpleRNN(3, return_sequences=True), merge_mode="mul"),
    lambda: Bidirectional(LSTM(3), merge_mode="ave"),
    lambda: Bidirectional(GRU(3, go_backwards=True, return_sequences=True)),
]

OTHER = [
    lambda: TimeDistributed(Dense(3, activation="tanh")), lambda: Dense(3),
    lambda: TimeDistributed(LayerNormalization()),
    lambda: Conv1D(3, 3), lambda: Conv1D(2, 3, strides=2, padding="same", activation="relu"),
    lambda: Conv1D(2, 2, padding="causal", dilation_rate=2, use_bias=False),
    lambda: Conv1D(2, 4, padding="same"),
    lambda: MaxPooling1D(2), lambda: MaxPooling1D(3, strides=2, padding="same"),
    lambda: MaxPooling1D(2, strides=1, padding="same"),
    GlobalAveragePooling1D, lambda: GlobalAveragePooling1D(keepdims=True),
    GlobalMaxPooling1D, lambda: GlobalMaxPooling1D(keepdims=True),
]


def _sequence_model(layers, dtype, masking=False):
    first = [Masking(input_shape=(T, F)), Dense(5, activation="tanh")] if masking \
        else [Dense(5, activation="tanh", input_shape=(T, F))]
    model = nnlite.Sequential(first + (layers if isinstance(layers, list) else [layers]),
                              seed=0, dtype=dtype)
    model.build()
    for layer in model.layers:                    # non-zero biases everywhere
        for name, weight in layer.params.items():
            if name.endswith("bias"):
                weight[...] = np.random.default_rng(1).uniform(-0.5, 0.5, weight.shape)
    return model


@pytest.mark.parametrize("factory", RECURRENT + OTHER)
def test_every_sequence_layer_matches_predict(factory):
    model = _sequence_model(factory(), "float32")
    check(model, x_like((100, T, F), seed=3), expect_runners=["onnxruntime"])


def _reference_runs(factory):
    """Whether the ReferenceEvaluator computes this layer (sigmoid/tanh; Affine for RNN)."""
    layer = factory()
    layer = getattr(layer, "forward_layer", layer)
    acts = {layer.activation.name, getattr(layer, "recurrent_activation", layer.activation).name}
    return acts <= {"tanh", "sigmoid"} or (isinstance(layer, SimpleRNN) and acts == {"linear"})


STANDARD_ACTIVATIONS = [f for f in RECURRENT if _reference_runs(f)]


@pytest.mark.parametrize("factory", STANDARD_ACTIVATIONS + OTHER)
def test_float64_where_a_runtime_has_the_kernels(factory):
    # the ReferenceEvaluator runs the recurrent operators (standard activations) in float64,
    # onnxruntime the rest (tests/onnx_check.py)
    model = _sequence_model(factory(), "float64")
    check(model, x_like((100, T, F), seed=4, dtype=np.float64))


MASK_CONSUMERS = [
    lambda: SimpleRNN(4), lambda: SimpleRNN(4, return_sequences=True),
    lambda: SimpleRNN(4, return_sequences=True, go_backwards=True),
    lambda: LSTM(4), lambda: LSTM(4, return_sequences=True, go_backwards=True),
    lambda: LSTM(4, go_backwards=True),
    lambda: GRU(4, return_sequences=True), lambda: GRU(4, reset_after=False),
    lambda: Bidirectional(LSTM(3, return_sequences=True)),
    lambda: Bidirectional(GRU(3), merge_mode="ave"),
    lambda: Bidirectional(SimpleRNN(3, return_sequences=True, go_backwards=True),
                          merge_mode="sum"),
    GlobalAveragePooling1D, lambda: GlobalMaxPooling1D(keepdims=True),
    lambda: [TimeDistributed(Dense(2)), LSTM(2)],           # passed on to the LSTM
    # Residual runs its block without the mask (Residual.forward), the LSTM after it with it
    lambda: [Residual([LSTM(5, return_sequences=True)]), LSTM(2)],
]


@pytest.mark.parametrize("factory", MASK_CONSUMERS)
def test_masks_of_every_pattern_from_masking(factory):
    model = _sequence_model(factory(), "float32", masking=True)
    x = _masked_x(100, seed=5)
    check(model, x, expect_runners=["reference", "onnxruntime"])
    # the same weights without the mask predict otherwise: the mask is what was exported
    plain = _sequence_model(factory(), "float32")
    plain.set_weights(model.get_weights())
    assert np.max(np.abs(plain.predict(x) - model.predict(x))) > 1e-3


@pytest.mark.parametrize("factory", MASK_CONSUMERS[:8])
def test_masks_in_float64(factory):
    model = _sequence_model(factory(), "float64", masking=True)
    check(model, _masked_x(100, seed=6, dtype=np.float64), expect_runners=["reference"])


def test_embedding_with_mask_zero_feeds_int64_ids_to_every_pattern():
    model = nnlite.Sequential([Embedding(20, 6, mask_zero=True, input_shape=(T,)),
                               LSTM(5, return_sequences=True), GRU(4),
                               Dense(3, activation="softmax")], seed=1)
    model.build()
    ids = _ids((100, T), 20, seed=7)
    proto, _ = check(model, ids.astype(np.int64), expect_runners=["reference", "onnxruntime"])
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_embedding_without_a_mask_and_float_ids():
    # ids stored in the model's float dtype (nnlite accepts them) reach Gather through a Cast
    # when the Embedding is not what reads the graph input
    model = nnlite.Sequential([TimeDistributed(Embedding(9, 4), input_shape=(T, 1)),
                               Reshape((T, 4)), Conv1D(2, 3, padding="causal")], seed=2)
    model.build()
    randomize(model.layers[0], seed=1)
    ids = np.random.default_rng(8).integers(0, 9, (100, T, 1)).astype(np.float32)
    check(model, ids)


def test_return_state_graph_keeps_every_output():
    inputs = nnlite.Input(shape=(6, 3), name="steps")
    seq, h, c = LSTM(4, return_sequences=True, return_state=True, name="encoder")(inputs)
    out, h_f, h_b = Bidirectional(GRU(2, return_state=True), name="both")(seq)
    rnn_out, rnn_h = SimpleRNN(3, return_state=True, go_backwards=True, name="rnn")(seq)
    model = nnlite.Model(inputs, [Dense(2, name="head")(out), h, c, h_f, h_b, rnn_out, rnn_h],
                         seed=2)
    proto, _ = check(model, x_like((100, 6, 3), seed=9), expect_runners=["reference",
                                                                        "onnxruntime"])
    assert [o.name for o in proto.graph.output] == ["head", "encoder:1", "encoder:2", "both:1",
                                                    "both:2", "rnn", "rnn:1"]


def test_return_state_with_a_mask():
    # the LSTM's final cell state comes from ONNX's Y_c with sequence_lens, which the
    # ReferenceEvaluator ignores: onnxruntime checks it (output 2)
    ids = nnlite.Input(shape=(T,), name="ids")
    e = Embedding(12, 4, mask_zero=True)(ids)
    y, h, c = LSTM(3, return_state=True, go_backwards=True)(e)
    g, gh = GRU(2, return_state=True, return_sequences=True)(e)
    b, *states = Bidirectional(LSTM(2, return_state=True))(e)
    model = nnlite.Model(ids, [y, h, c, GlobalAveragePooling1D()(g), gh, b, *states], seed=3)
    for layer in model.layers:                # outputs of order 1 (Embedding starts at ±0.05)
        randomize(layer, seed=len(layer.name))
    check(model, _ids((100, T), 12, seed=10).astype(np.int64), reference_skips={2, 7, 9},
          expect_runners=["reference", "onnxruntime"])


def test_a_recurrent_activation_onnx_lacks_is_refused():
    from nnlite.activations import ActivationFn
    square = ActivationFn("square_root_ish", lambda z, out=None: np.tanh(z, out=out),
                          lambda dy, y, out=None: np.multiply(dy, 1 - y * y, out=out), "output")
    model = nnlite.Sequential([GRU(2, activation=square, input_shape=(4, 2), name="custom")],
                              seed=0)
    model.build()
    with pytest.raises(ConfigError, match="'custom' uses activation 'square_root_ish', which "
                                          "ONNX's recurrent operators do not have"):
        to_onnx(model)


def test_stateful_layers_are_refused():
    model = nnlite.Sequential([LSTM(2, stateful=True, input_shape=(4, 2), name="memory")],
                              seed=0)
    model.build()
    with pytest.raises(ConfigError, match="'memory' is stateful.*stateful=False"):
        to_onnx(model)


def test_char_lstm_gives_the_same_next_character_distribution():
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "examples"))
    try:
        import char_lm
    finally:
        sys.path.remove(str(root / "examples"))
    vocab, train, val = char_lm.load_data(verbose=False)
    model = char_lm.build(len(vocab), seed=0)
    with char_lm.blas_threads(1):
        char_lm.train(model, (train, val), steps=20, every=20, probe_windows=50, verbose=False)
    windows = val[0][:64]                                 # real stdlib text, 64 x 64 chars
    expected = model.predict(windows)
    proto = to_onnx(model)
    assert {n.op_type for n in proto.graph.node} >= {"Gather", "LSTM", "Softmax"}
    if ort is None:
        pytest.skip("onnxruntime is not installed")
    (probs,) = run_ort(proto, {"input": windows.astype(np.int64)})
    assert probs.shape == (64, 64, len(vocab))
    assert np.max(np.abs(probs - expected)) <= 1e-5
    # a trained model: better than uniform on the real next characters
    nll = -np.mean(np.log(expected[np.arange(64)[:, None], np.arange(64), val[1][:64]]))
    assert nll < np.log(len(vocab)) - 0.5


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opsets_take_reduction_axes_as_inputs(opset):
    # ReduceMax/ReduceMean take their axes as an input from opset 18 on
    model = nnlite.Sequential([Masking(input_shape=(T, F)), LSTM(4, return_sequences=True),
                               LayerNormalization(), GlobalMaxPooling1D()], seed=4)
    model.build()
    proto = to_onnx(model, opset=opset)
    assert proto.opset_import[0].version == opset
    x = _masked_x(100, seed=11)
    outs = [run_reference(proto, {"input": x})[0]] + \
        ([run_ort(proto, {"input": x})[0]] if ort is not None else [])
    for out in outs:
        assert np.max(np.abs(out - model.predict(x))) <= 1e-5
