"""Bidirectional, TimeDistributed, Conv1D, MaxPooling1D, GlobalAverage/MaxPooling1D, Masking and
Dense on 3-D inputs: the layer contract (finite differences with masks, shapes, counts, config,
inference, float32) and PyTorch parity (float64, ≤ 1e-10)."""
import numpy as np
import pytest
import seq_contract as sc
import seq_ref

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Masking,
    MaxPooling1D,
    SimpleRNN,
    TimeDistributed,
)

SHAPE = (3, 7, 4)
MASK = sc.ragged_mask(3, 7)
LSTM3 = 4 * 12 + 3 * 12 + 12

CASES = [
    ("bi_lstm_concat_seq", lambda: Bidirectional(LSTM(3, return_sequences=True)), SHAPE,
     2 * LSTM3, None),
    ("bi_lstm_concat_mask", lambda: Bidirectional(LSTM(3, return_sequences=True)), SHAPE,
     2 * LSTM3, MASK),
    ("bi_gru_sum_mask", lambda: Bidirectional(GRU(3), merge_mode="sum"), SHAPE, 2 * 81, MASK),
    ("bi_rnn_mul_seq", lambda: Bidirectional(SimpleRNN(3, return_sequences=True),
                                             merge_mode="mul"), SHAPE, 2 * 24, MASK),
    ("bi_lstm_ave_state", lambda: Bidirectional(LSTM(3, return_state=True), merge_mode="ave"),
     SHAPE, 2 * LSTM3, None),
    ("time_distributed_dense", lambda: TimeDistributed(Dense(5, activation="tanh")), SHAPE,
     25, MASK),
    ("time_distributed_conv", lambda: TimeDistributed(Conv2D(2, 2, activation="tanh")),
     (2, 3, 1, 4, 4), 2 * 4 + 2, None),
    ("dense_3d", lambda: Dense(5, activation="sigmoid"), SHAPE, 25, None),
    ("dense_4d", lambda: Dense(2), (2, 3, 4, 5), 12, None),
    ("conv1d", lambda: Conv1D(3, 3), SHAPE, 3 * 4 * 3 + 3, None),
    ("conv1d_same_stride2_tanh", lambda: Conv1D(2, 3, strides=2, padding="same",
                                                activation="tanh"), SHAPE, 2 * 12 + 2, None),
    ("conv1d_causal_dilated", lambda: Conv1D(2, 2, padding="causal", dilation_rate=2,
                                             use_bias=False), SHAPE, 16, None),
    ("conv1d_relu_same", lambda: Conv1D(3, 4, padding="same", activation="relu"), SHAPE, 51,
     None),
    ("max_pool1d", MaxPooling1D, SHAPE, 0, None),
    ("max_pool1d_same_3s2", lambda: MaxPooling1D(3, strides=2, padding="same"), SHAPE, 0, None),
    ("global_avg_pool1d", GlobalAveragePooling1D, SHAPE, 0, None),
    ("global_avg_pool1d_mask", lambda: GlobalAveragePooling1D(keepdims=True), SHAPE, 0, MASK),
    ("global_max_pool1d", GlobalMaxPooling1D, SHAPE, 0, None),
    ("global_max_pool1d_mask", GlobalMaxPooling1D, SHAPE, 0, MASK),
    ("masking", Masking, SHAPE, 0, None),
]


def _x(case):
    x = sc.sequence_input(case[2])
    if case[0] == "masking":  # some all-zero steps for the layer to mask
        x[0, 5:] = 0.0
        x[1, 1] = 0.0
    return x


def _param():
    return [pytest.param(c, id=c[0]) for c in CASES]


@pytest.mark.parametrize("case", _param())
def test_gradients_match_finite_differences(case):
    _, factory, shape, _, mask = case
    # (Masking treats its mask as a constant, as Keras: at an all-zero step the function is
    # not differentiable that way, so it is checked on real steps; its masked gradient below)
    sc.check_gradients(factory, shape, mask, x=None if case[0] == "masking" else _x(case))


@pytest.mark.parametrize("case", _param())
def test_shapes_and_parameter_count(case):
    _, factory, shape, count, mask = case
    sc.check_shapes_and_count(factory, shape, count, mask, x=_x(case))


@pytest.mark.parametrize("case", _param())
def test_config_round_trip(case):
    _, factory, shape, _, mask = case
    sc.check_config_round_trip(factory, shape, mask, x=_x(case))


@pytest.mark.parametrize("case", _param())
def test_inference_caches_nothing(case):
    _, factory, shape, _, mask = case
    sc.check_inference(factory, shape, mask, x=_x(case))


@pytest.mark.parametrize("case", _param())
def test_float32_close_to_float64(case):
    _, factory, shape, _, mask = case
    sc.check_float32(factory, shape, mask, x=_x(case))


# --------------------------------------------------------------------------- semantics
def test_bidirectional_is_a_forward_and_a_reversed_pass():
    x = sc.sequence_input(SHAPE)
    bi = sc.built(lambda: Bidirectional(GRU(3, return_sequences=True)), SHAPE)
    y = bi.forward(x)
    fw, bw = bi.forward_layer, bi.backward_layer
    assert bw.go_backwards and not fw.go_backwards
    y_f, _ = seq_ref.rnn_forward(fw, x)
    y_b, _ = seq_ref.rnn_forward(bw, x)
    np.testing.assert_allclose(y, np.concatenate([y_f, y_b[:, ::-1]], axis=-1), rtol=1e-12)
    model = nnlite.Sequential([Bidirectional(LSTM(2), input_shape=(7, 4), name="bi")])
    model.build()
    assert [layer.name for layer in model.layers[0].sublayers] == ["bi/forward_lstm",
                                                                   "bi/backward_lstm"]


def test_bidirectional_masked_outputs_are_zero_and_padding_changes_nothing():
    x = sc.sequence_input(SHAPE)
    bi = sc.built(lambda: Bidirectional(LSTM(3, return_sequences=True)), SHAPE)
    y = bi.forward(x, mask=MASK)
    np.testing.assert_array_equal(y[~MASK], 0.0)                 # Keras's rule
    # right-padded row 0 (length 5): the real steps equal a run on the row alone
    alone = bi.forward(x[:1, :5])
    np.testing.assert_allclose(y[0, :5], alone[0], rtol=1e-12, atol=1e-14)


def test_global_pooling_ignores_masked_steps():
    x = sc.sequence_input(SHAPE)
    x[0, 5:] = 1e3                                                # padding never wins
    avg = sc.built(GlobalAveragePooling1D, SHAPE).forward(x, mask=MASK)
    top = sc.built(GlobalMaxPooling1D, SHAPE).forward(x, mask=MASK)
    for i in range(3):
        np.testing.assert_allclose(avg[i], x[i][MASK[i]].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(top[i], x[i][MASK[i]].max(axis=0), rtol=1e-12)
    empty = np.zeros(SHAPE[:2], bool)
    layer = sc.built(GlobalMaxPooling1D, SHAPE)
    out = layer.forward(x, training=True, mask=empty)
    np.testing.assert_array_equal(out, 0.0)                       # no -inf, no NaN
    np.testing.assert_array_equal(layer.backward(np.ones_like(out)), 0.0)
    np.testing.assert_array_equal(sc.built(GlobalAveragePooling1D, SHAPE).forward(x, mask=empty),
                                  0.0)


def test_masking_layer_marks_all_equal_steps():
    x = sc.sequence_input(SHAPE)
    x[0, 2] = -1.0
    layer = sc.built(lambda: Masking(mask_value=-1.0), SHAPE)
    mask = layer.compute_mask(x)
    assert mask.shape == SHAPE[:2] and not mask[0, 2] and mask.sum() == mask.size - 1
    np.testing.assert_array_equal(layer.forward(x)[0, 2], 0.0)
    layer.forward(x, training=True)
    dy = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dy), dy * mask[:, :, None])


@pytest.mark.parametrize("factory,match", [
    (lambda: Bidirectional(Dense(3)), "recurrent"),
    (lambda: Bidirectional(LSTM(3), merge_mode=None), "merge_mode"),
    (lambda: Bidirectional(LSTM(3, stateful=True)), "stateful"),
    (lambda: TimeDistributed(LSTM(3)), "per-step"),
    (lambda: Conv1D(0, 3), "filters"),
    (lambda: Conv1D(2, 3, padding="full"), "padding"),
    (lambda: MaxPooling1D(0), "pool_size"),
    (lambda: Masking(mask_value=float("nan")), "mask_value"),
    (lambda: GlobalAveragePooling1D(keepdims=1), "keepdims"),
])
def test_bad_configuration_is_rejected(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


@pytest.mark.parametrize("layer,shape", [(Conv1D(2, 9), (7, 4)), (MaxPooling1D(9), (7, 4)),
                                         (GlobalMaxPooling1D(), (7,)), (Conv1D(2, 3), (7,)),
                                         (Masking(), (7,))])
def test_shapes_that_do_not_fit_are_rejected(layer, shape):
    with pytest.raises(ShapeError):
        layer.compute_output_shape(shape)


# --------------------------------------------------------------------------- PyTorch parity
def _torch_forward(layer, x_t, params):
    import torch
    import torch.nn.functional as F

    kind = type(layer).__name__
    if kind == "Conv1D":
        weight = params["kernel"].permute(2, 1, 0)                 # (k, C, F) -> (F, C, k)
        xp = F.pad(x_t.transpose(1, 2), (layer._before, layer._after))
        z = F.conv1d(xp, weight, params.get("bias"), stride=layer.strides,
                     dilation=layer.dilation_rate).transpose(1, 2)
        return {"linear": z, "tanh": torch.tanh(z), "relu": torch.relu(z)}[
            layer.activation.name]
    if kind == "MaxPooling1D":
        xp = F.pad(x_t.transpose(1, 2), (layer._before, layer._after), value=float("-inf"))
        return F.max_pool1d(xp, layer.pool_size, layer.strides).transpose(1, 2)
    if kind == "GlobalAveragePooling1D":
        return x_t.mean(dim=1, keepdim=layer.keepdims)
    if kind == "GlobalMaxPooling1D":
        return x_t.amax(dim=1, keepdim=layer.keepdims)
    raise NotImplementedError(kind)


PARITY = [c for c in CASES if c[0].startswith(("conv1d", "max_pool1d", "global_"))
          and c[4] is None]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in PARITY])
def test_pytorch_parity_conv_and_pooling(case):
    torch = pytest.importorskip("torch")
    _, factory, shape, _, _ = case
    layer = sc.built(factory, shape)
    x = sc.sequence_input(shape)
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    dx = layer.backward(dy)
    x_t = torch.tensor(x, requires_grad=True)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    y_t = _torch_forward(layer, x_t, params)
    y_t.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-13)
    for key, t in params.items():
        np.testing.assert_allclose(layer.grads[key], t.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_pytorch_parity_bidirectional(cls):
    torch = pytest.importorskip("torch")
    bi = sc.built(lambda: Bidirectional(cls(4, return_sequences=True)), SHAPE, seed=2)
    x = sc.sequence_input(SHAPE, seed=3)
    y = bi.forward(x, training=True)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx = bi.backward(dy)
    fw, fw_grads = seq_ref.torch_rnn(bi.forward_layer)
    bw, bw_grads = seq_ref.torch_rnn(bi.backward_layer)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch.cat([fw(x_t)[0], torch.flip(bw(torch.flip(x_t, (1,)))[0], (1,))], dim=-1)
    y_t.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    name = bi.forward_layer.default_name
    for prefix, grads in (("forward", fw_grads()), ("backward", bw_grads())):
        for key, grad in grads.items():
            np.testing.assert_allclose(bi.grads[f"{prefix}_{name}/{key}"], grad, rtol=1e-10,
                                       atol=1e-12)


def test_time_distributed_equals_the_layer_on_each_step():
    x = sc.sequence_input((2, 3, 1, 4, 4))
    td = sc.built(lambda: TimeDistributed(Conv2D(2, 2)), x.shape)
    y = td.forward(x)
    for t in range(3):
        np.testing.assert_allclose(y[:, t], td.layer.forward(x[:, t]), rtol=1e-13)
    model = nnlite.Sequential([TimeDistributed(Conv2D(2, 2), input_shape=(3, 1, 4, 4)),
                               TimeDistributed(Flatten()), LSTM(3), Dense(2)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(x.astype(np.float32), np.zeros((2, 2)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
