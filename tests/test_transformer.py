"""TransformerEncoder / TransformerDecoder: finite-difference gradients (both normalize_first
settings, padding masks, causal attention, cross-attention), PyTorch parity against
nn.TransformerEncoderLayer, the container contract (names, parameter views), Sequential and
graph use, and that a causal decoder never sees the future."""
import numpy as np
import pytest
from attention_ref import torch_encoder
from layer_check import built, gradient_errors, randomize

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.layers import Dense, Flatten, TransformerDecoder, TransformerEncoder

B, T, S, D = 2, 4, 3, 6
SMOOTH = {"order": 4, "eps": 1e-4}


def _x(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _zeros(layer):
    return tuple(k for k in layer.params if k.endswith("attention/key_bias"))


def _padding(lengths, size):
    return np.arange(size)[None, :] < np.asarray(lengths)[:, None]


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_encoder_gradients(normalize_first, masked):
    layer = randomize(built(TransformerEncoder(5, 2, activation="gelu",
                                               normalize_first=normalize_first), (T, D)))
    mask = _padding([4, 1], T) if masked else None
    errors = gradient_errors(layer, _x((B, T, D), 0), mask=mask,
                             structural_zeros=_zeros(layer), **SMOOTH)
    assert len(errors) == 1 + 16
    assert max(errors.values()) < 1e-6, errors


def test_encoder_gradients_with_relu_and_central_differences():
    layer = randomize(built(TransformerEncoder(7, 3), (T, D)))
    errors = gradient_errors(layer, _x((B, T, D), 1), structural_zeros=_zeros(layer))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_decoder_gradients(normalize_first, cross):
    layer = TransformerDecoder(5, 2, activation="gelu", normalize_first=normalize_first)
    shapes = [(T, D), (S, 4)] if cross else (T, D)
    layer = randomize(built(layer, shapes))
    xs = [_x((B, T, D), 0), _x((B, S, 4), 1)] if cross else _x((B, T, D), 0)
    mask = [_padding([3, 4], T), _padding([3, 0], S)] if cross else _padding([2, 4], T)
    errors = gradient_errors(layer, xs, mask=mask, structural_zeros=_zeros(layer), **SMOOTH)
    assert len(errors) == (2 + 26 if cross else 1 + 16)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_matches_pytorch_transformer_encoder_layer(normalize_first, activation):
    torch = pytest.importorskip("torch")
    layer = randomize(built(TransformerEncoder(10, 2, activation=activation,
                                               normalize_first=normalize_first,
                                               layer_norm_epsilon=1e-5), (T, D)))
    net = torch_encoder(layer)
    x = _x((B, T, D), 0)
    tx = torch.tensor(x, requires_grad=True)
    out = net(tx)
    dy = _x(out.shape, 5)
    out.backward(torch.tensor(dy))
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y, out.detach().numpy(), **close)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **close)
    grads = layer.grads
    np.testing.assert_allclose(grads["feedforward_intermediate_dense/kernel"].T,
                               net.linear1.weight.grad.numpy(), **close)
    np.testing.assert_allclose(grads["feedforward_output_dense/bias"],
                               net.linear2.bias.grad.numpy(), **close)
    np.testing.assert_allclose(grads["self_attention_layer_norm/gamma"],
                               net.norm1.weight.grad.numpy(), **close)
    np.testing.assert_allclose(grads["feedforward_layer_norm/beta"],
                               net.norm2.bias.grad.numpy(), **close)
    np.testing.assert_allclose(grads["self_attention/output_kernel"].reshape(-1, D).T,
                               net.self_attn.out_proj.weight.grad.numpy(), **close)
    qkv = np.concatenate([grads[f"self_attention/{n}_kernel"].reshape(D, D).T
                          for n in ("query", "key", "value")])
    np.testing.assert_allclose(qkv, net.self_attn.in_proj_weight.grad.numpy(), **close)


def test_encoder_padding_mask_matches_pytorch_on_real_positions():
    torch = pytest.importorskip("torch")
    layer = randomize(built(TransformerEncoder(8, 2), (T, D)))
    x, mask = _x((B, T, D), 0), _padding([4, 2], T)
    with torch.no_grad():
        out = torch_encoder(layer)(torch.tensor(x), src_key_padding_mask=torch.tensor(~mask))
    # Keras also masks padded *queries* (their rows attend to nothing): only real steps agree
    np.testing.assert_allclose(layer.forward(x, mask=mask)[mask], out.numpy()[mask],
                               rtol=1e-10, atol=1e-12)


def test_container_names_views_and_counts():
    model = nnlite.Sequential([TransformerEncoder(16, 2, input_shape=(T, D), name="enc"),
                               Flatten(), Dense(2)], seed=0, dtype="float64")
    model.build()
    enc = model.layers[0]
    assert [sub.name for sub in enc.sublayers] == [
        "enc/self_attention", "enc/self_attention_layer_norm", "enc/self_attention_dropout",
        "enc/feedforward_layer_norm", "enc/feedforward_intermediate_dense",
        "enc/feedforward_output_dense", "enc/feedforward_dropout"]
    # 4 projections of 6·6 + 6 each, two norms of 12, FFN 6·16 + 16 + 16·6 + 6
    assert enc.count_params() == 4 * 42 + 2 * 12 + 112 + 102
    assert model.count_params() == enc.count_params() + T * D * 2 + 2
    key = "self_attention/query_kernel"
    assert enc.params[key] is not None and enc.params[key].base is not None  # a flat view
    with pytest.raises(ConfigError):
        enc.params = {"x": 1}
    text = model.summary(print_fn=None)
    assert "enc (TransformerEncoder)" in text and f"{enc.count_params():,}" in text


def test_sequential_decoder_trains_and_never_sees_the_future():
    model = nnlite.Sequential([TransformerDecoder(12, 2, input_shape=(6, D)),
                               TransformerDecoder(12, 3, normalize_first=True)],
                              seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="adam")
    x = _x((8, 6, D), 0)
    model.fit(x, x[:, ::-1] * 0.5, epochs=3, batch_size=4, verbose=0)
    y = model.predict(x)
    for t in range(5):
        later = x.copy()
        later[:, t + 1:] = _x((8, 5 - t, D), t + 20)
        np.testing.assert_array_equal(model.predict(later)[:, :t + 1], y[:, :t + 1])


def test_graph_decoder_with_cross_attention_round_trips(tmp_path):
    from test_saving import check_round_trip

    source = nnlite.Input(shape=(S, 4), name="source")
    target = nnlite.Input(shape=(T, D), name="target")
    memory = TransformerEncoder(8, 2, name="encoder")(source)
    h = TransformerDecoder(8, 2, dropout=0.1, name="decoder")(target, memory)
    model = nnlite.Model([source, target], Dense(2)(Flatten()(h)), seed=3, dtype="float64")
    assert model.layers[-3].multi_input
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((12, S, 4)), rng.standard_normal((12, T, D))]
    check_round_trip(tmp_path, model, x, rng.standard_normal((12, 2)))
    config = model.get_config()["config"]["layers"]
    decoder = next(s for s in config if s["class_name"] == "TransformerDecoder")
    assert decoder["call"] == {"inputs": ["decoder_sequence", "encoder_sequence"],
                               "use_causal_mask": True}


def test_errors_name_the_layer_and_change_nothing():
    with pytest.raises(ConfigError, match="TransformerEncoder: num_heads must be a positive"):
        TransformerEncoder(8, 0)
    with pytest.raises(ConfigError, match="dropout must be a number in"):
        TransformerDecoder(8, 2, dropout=1.5)
    with pytest.raises(ConfigError, match="normalize_first must be True or False"):
        TransformerEncoder(8, 2, normalize_first="yes")
    inp = nnlite.Input(shape=(T, 3))
    with pytest.raises(nnlite.errors.GraphError, match="cannot be split into num_heads=4"):
        TransformerEncoder(8, 4)(inp)
    decoder = TransformerDecoder(8, 1)
    with pytest.raises(nnlite.errors.GraphError, match="encoder sequence must be"):
        decoder(inp, nnlite.Input(shape=(5,)))
    assert not decoder.multi_input and decoder.use_causal_mask
    with pytest.raises(ShapeError):
        built(TransformerEncoder(8, 2), (6,))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_attention_scores_are_pytorchs_attention_weights(normalize_first):
    torch = pytest.importorskip("torch")
    layer = randomize(built(TransformerEncoder(8, 3, normalize_first=normalize_first), (T, D)))
    x, mask = _x((B, T, D), 0), _padding([4, 3], T)
    scores = layer.attention_scores(x, mask=mask)
    net = torch_encoder(layer)
    with torch.no_grad():
        h = torch.tensor(x)
        h = net.norm1(h) if normalize_first else h
        _, weights = net.self_attn(h, h, h, key_padding_mask=torch.tensor(~mask),
                                   average_attn_weights=False)
    assert scores.shape == (B, 3, T, T)
    real = mask[:, None, :, None] & np.ones((1, 3, 1, T), dtype=bool)   # real query rows
    np.testing.assert_allclose(scores[real], weights.numpy()[real], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(scores[~real], 0.0)      # padded queries attend to nothing
