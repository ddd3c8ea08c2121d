"""MultiHeadAttention: finite-difference gradients with and without masks (padding, causal, a
fully masked row, dropout), PyTorch parity (f64) against nn.MultiheadAttention, the mask
conventions, the graph API (keyword node arguments, two outputs), save/load and errors."""
import numpy as np
import pytest
from attention_ref import blocked, torch_mha
from layer_check import built, gradient_errors, randomize

import nnlite
from nnlite.errors import ConfigError, GraphError
from nnlite.layers import Dense, Flatten, MultiHeadAttention
from nnlite.layers.attention import causal_mask, masked_softmax

B, T, S = 3, 4, 5
ZERO = ("key_bias",)  # softmax ignores a constant added to every key: ∂/∂b_k ≡ 0
# attention is smooth: the five-point stencil (error O(ε⁴)) resolves small gradient entries
# that the central difference's O(ε²) + round-off blurs to ~1e-6 relative
SMOOTH = {"order": 4, "eps": 1e-4}


def _x(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _padding(lengths, size):
    return np.arange(size)[None, :] < np.asarray(lengths)[:, None]


def _mha(roles, shapes, causal=False, scores=False, **kwargs):
    layer = MultiHeadAttention(2, 3, **kwargs)
    layer.bind_call(roles, use_causal_mask=causal, return_attention_scores=scores)
    return randomize(built(layer, shapes))


# (id, roles, input shapes, call options, layer kwargs, mask factory)
CASES = [
    ("self", ["query"], [(T, 6)], {}, {}, None),
    ("cross", ["query", "value"], [(T, 6), (S, 5)], {}, {}, None),
    ("query_value_key", ["query", "value", "key"], [(T, 6), (S, 5), (S, 3)], {},
     {"value_dim": 4, "output_shape": 7}, None),
    ("no_bias", ["query", "value"], [(T, 6), (S, 5)], {}, {"use_bias": False}, None),
    ("causal", ["query"], [(T, 6)], {"causal": True}, {}, None),
    ("padding", ["query", "value"], [(T, 6), (S, 5)], {}, {},
     lambda: [_padding([4, 2, 3], T), _padding([5, 3, 1], S)]),
    ("causal_padding", ["query"], [(T, 6)], {"causal": True}, {},
     lambda: [_padding([4, 1, 3], T)]),
    ("fully_masked_example", ["query", "value"], [(T, 6), (S, 5)], {}, {},
     lambda: [None, _padding([5, 0, 2], S)]),       # example 1 has no key at all
    ("scores", ["query", "value"], [(T, 6), (S, 5)], {"scores": True}, {}, None),
    ("dropout", ["query", "value"], [(T, 6), (S, 5)], {}, {"dropout": 0.3}, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(case):
    _, roles, shapes, options, kwargs, masks = case
    layer = _mha(roles, shapes, **options, **kwargs)
    xs = [_x((B,) + s, k) for k, s in enumerate(shapes)]
    errors = gradient_errors(layer, xs, mask=masks() if masks else None, structural_zeros=ZERO,
                             **SMOOTH)
    assert len(errors) == len(xs) + len(layer.params)
    assert max(errors.values()) < 1e-6, errors


def test_attention_mask_with_a_fully_masked_row_gives_zero_output_and_gradient():
    layer = _mha(["query", "value", "attention_mask"], [(T, 6), (S, 5), (T, S)])
    q, v = _x((B, T, 6), 0), _x((B, S, 5), 1)
    allowed = np.random.default_rng(2).random((B, T, S)) > 0.4
    allowed[1, 2] = False                           # query 2 of example 1 sees nothing
    y = layer.forward([q, v, allowed.astype(np.float64)], training=True)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[1, 2], layer.params["output_bias"])
    dq, dv, dmask = layer.backward(np.ones_like(y))
    assert dmask is None
    np.testing.assert_array_equal(dq[1, 2], 0.0)
    errors = gradient_errors(layer, [q, v, allowed.astype(np.float64)], structural_zeros=ZERO,
                             **SMOOTH)
    assert max(errors.values()) < 1e-6, errors


def test_masked_softmax_is_stable_and_never_nan():
    logits = np.array([[1e4, -1e4, 3.0], [5.0, 6.0, 7.0], [-1e308, 1e308, 0.0]])
    allowed = np.array([[True, True, False], [False, False, False], [True, True, True]])
    p = masked_softmax(logits.copy(), allowed)
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert causal_mask(2, 3).tolist() == [[True, False, False], [True, True, False]]


def test_huge_inputs_stay_finite():
    layer = _mha(["query"], [(T, 6)], causal=True)
    x = _x((B, T, 6), 0) * 1e3                     # logits of order 1e6: exp would overflow
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))[0]
    assert np.isfinite(y).all() and np.isfinite(dx).all()


# --------------------------------------------------------------------------- PyTorch parity
def _parity(layer, xs, allowed=None, key_padding=None):
    """nnlite vs nn.MultiheadAttention: output, scores, input and parameter gradients.
    ``allowed`` (batch, T, S) is given to nnlite as an attention_mask input; PyTorch gets the
    blocked pattern ``~(allowed & causal)`` and ``key_padding_mask = ~key_padding``."""
    import torch

    net = torch_mha(layer)
    # one leaf per distinct input, so PyTorch sums the gradient of an input used twice
    tq = torch.tensor(xs[0], requires_grad=True)
    tv = torch.tensor(xs[1], requires_grad=True) if len(xs) > 1 else tq
    tk = torch.tensor(xs[2], requires_grad=True) if len(xs) > 2 else tv
    t_len, s_len = xs[0].shape[1], (xs[1] if len(xs) > 1 else xs[0]).shape[1]
    pattern = np.ones((B, t_len, s_len), dtype=bool) if allowed is None else allowed.copy()
    if layer.use_causal_mask:
        pattern &= causal_mask(t_len, s_len)
    out, weights = net(tq, tk, tv, need_weights=True, average_attn_weights=False,
                       attn_mask=blocked(pattern, layer.num_heads),
                       key_padding_mask=None if key_padding is None
                       else torch.tensor(~key_padding))
    dy = _x(out.shape, 9)
    out.backward(torch.tensor(dy))
    inputs = list(xs) + ([allowed.astype(np.float64)] if allowed is not None else [])
    mask = None if key_padding is None else [None, key_padding]
    y, a = layer.forward(inputs, training=True, mask=mask)
    grads = layer.backward([dy, None])
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y, out.detach().numpy(), **close)
    np.testing.assert_allclose(a, weights.detach().numpy(), **close)
    if allowed is not None:
        assert grads[-1] is None                   # the attention mask gets no gradient
    for d, t in zip(grads[:len(xs)], (tq, tv, tk)):
        np.testing.assert_allclose(d, t.grad.numpy(), **close)
    t_in = net.in_proj_weight.grad.numpy() if net._qkv_same_embed_dim else None
    for j, n in enumerate(("query", "key", "value")):
        g = layer.grads[f"{n}_kernel"]
        tg = t_in[j * g.shape[0]:(j + 1) * g.shape[0]] if t_in is not None else \
            getattr(net, f"{n[0]}_proj_weight").grad.numpy()
        np.testing.assert_allclose(g.reshape(g.shape[0], -1).T, tg, **close)
    e = layer.params["query_kernel"].shape[0]
    np.testing.assert_allclose(layer.grads["output_kernel"].reshape(-1, e).T,
                               net.out_proj.weight.grad.numpy(), **close)
    np.testing.assert_allclose(layer.grads["output_bias"], net.out_proj.bias.grad.numpy(),
                               **close)
    bias = np.concatenate([layer.grads[f"{n}_bias"].reshape(-1)
                           for n in ("query", "key", "value")])
    np.testing.assert_allclose(bias, net.in_proj_bias.grad.numpy(), **close)


@pytest.mark.parametrize("kind", ["self_attention", "cross_kdim_vdim", "attention_mask",
                                  "key_padding", "causal", "causal_padding_mask"])
def test_pytorch_parity(kind):
    pytest.importorskip("torch")
    e = 8
    roles, shapes = ["query", "value"], [(T, e), (S, e)]
    if kind == "cross_kdim_vdim":
        roles, shapes = ["query", "value", "key"], [(T, e), (S, 5), (S, 3)]
    elif kind in ("self_attention", "causal"):
        roles, shapes = ["query"], [(T, e)]
    allowed = padding = None
    if kind in ("attention_mask", "causal_padding_mask"):
        roles = roles + ["attention_mask"]
        allowed = np.random.default_rng(4).random((B, T, S)) > 0.5
        allowed[:, :, 0] = True                    # PyTorch gives NaN for an empty row
    if kind in ("key_padding", "causal_padding_mask"):
        padding = _padding([5, 3, 1], S)
    layer = MultiHeadAttention(2, e // 2, output_shape=e)
    layer.bind_call(roles, use_causal_mask=kind.startswith("causal"),
                    return_attention_scores=True)
    layer = randomize(built(layer, shapes + ([(T, S)] if allowed is not None else [])))
    _parity(layer, [_x((B,) + s, k) for k, s in enumerate(shapes)], allowed, padding)


def test_fully_masked_row_is_zero_where_pytorch_gives_nan():
    torch = pytest.importorskip("torch")
    layer = _mha(["query", "value", "attention_mask"], [(T, 6), (S, 6), (T, S)],
                 output_shape=6)
    allowed = np.ones((B, T, S), dtype=bool)
    allowed[0, 1] = False
    q, v = _x((B, T, 6), 0), _x((B, S, 6), 1)
    with np.errstate(invalid="ignore"):
        out, _ = torch_mha(layer)(torch.tensor(q), torch.tensor(v), torch.tensor(v),
                                  attn_mask=blocked(allowed, 2))
    out = out.detach().numpy()
    y = layer.forward([q, v, allowed.astype(np.float64)])
    assert np.isnan(out[0, 1]).all()
    np.testing.assert_array_equal(y[0, 1], layer.params["output_bias"])
    keep = np.ones((B, T), dtype=bool)
    keep[0, 1] = False
    np.testing.assert_allclose(y[keep], out[keep], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- masks contract
def test_padding_masks_arrive_as_a_list_and_the_output_keeps_the_query_mask():
    layer = _mha(["query", "value"], [(T, 6), (S, 5)])
    assert layer.supports_masking
    qm, vm = _padding([4, 2, 1], T), _padding([5, 3, 2], S)
    x = [_x((B, T, 6), 0), _x((B, S, 5), 1)]
    y = layer.forward(x, mask=[qm, vm])
    # the same as an explicit attention_mask query_mask[:, :, None] & value_mask[:, None, :]
    explicit = _mha(["query", "value", "attention_mask"], [(T, 6), (S, 5), (T, S)])
    for key in layer.params:
        explicit.params[key][...] = layer.params[key]
    allowed = (qm[:, :, None] & vm[:, None, :]).astype(np.float64)
    np.testing.assert_allclose(y, explicit.forward(x + [allowed]), rtol=1e-13, atol=1e-14)
    assert layer.compute_mask(x, [qm, vm]) is qm
    # a value change at a padded key position changes nothing
    x2 = [x[0], x[1].copy()]
    x2[1][1, 3:] += 100.0                          # example 1 has 3 real keys, example 2 has 2
    x2[1][2, 2:] -= 50.0
    np.testing.assert_array_equal(layer.forward(x2, mask=[qm, vm])[qm], y[qm])


def test_causal_attention_never_sees_the_future():
    layer = _mha(["query"], [(6, 4)], causal=True)
    x = _x((2, 6, 4), 0)
    y = layer.forward(x)
    for t in range(5):
        later = x.copy()
        later[:, t + 1:] = _x((2, 5 - t, 4), t + 10)
        np.testing.assert_array_equal(layer.forward(later)[:, :t + 1], y[:, :t + 1])


# --------------------------------------------------------------------------- graph API
def _attention_model(scores=False, seed=0, dtype="float32"):
    q = nnlite.Input(shape=(T, 6), name="q")
    v = nnlite.Input(shape=(S, 5), name="v")
    m = nnlite.Input(shape=(T, S), name="m")
    mha = MultiHeadAttention(2, 4, name="mha")
    out = mha(q, v, attention_mask=m, use_causal_mask=True, return_attention_scores=scores)
    if scores:
        out, attention = out
        head = Dense(3, activation="softmax")(Flatten()(out))
        return nnlite.Model([q, v, m], [head, attention], seed=seed, dtype=dtype)
    head = Dense(3, activation="softmax")(Flatten()(out))
    return nnlite.Model([q, v, m], head, seed=seed, dtype=dtype)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    q, v = rng.standard_normal((n, T, 6)), rng.standard_normal((n, S, 5))
    m = (rng.random((n, T, S)) > 0.3).astype(np.float64)
    y = rng.integers(0, 3, n)
    return [q, v, m], y


def test_keyword_call_two_outputs_fit_and_save_round_trip(tmp_path):
    model = _attention_model(scores=True)
    head_node, scores_node = model.outputs
    assert scores_node.shape == (2, T, S) and scores_node.label == "mha:1"
    mha_nodes = [n for n in model.nodes if n.layer is scores_node.layer]
    assert [n.label for n in mha_nodes] == ["mha", "mha:1"]
    assert model.layers.count(scores_node.layer) == 1
    model.compile(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.0],
                  optimizer="adam")
    x, y = _data()
    _, attention = model.predict(x)
    assert attention.shape == (32, 2, T, S)
    before = model.get_weights()
    model.fit(x, [y, np.zeros((32, 2, T, S))], epochs=2, batch_size=8, verbose=0, seed=0)
    after = model.get_weights()
    names = [f"{layer}/{k}" for layer, k, _ in nnlite.models.weights.weight_arrays(model.layers)]
    for name, b, a in zip(names, before, after):
        if name.startswith("mha/") and name != "mha/key_bias":
            assert not np.array_equal(a, b), f"{name} did not train"
    path = tmp_path / "attention.nnlite"
    model.save(path)
    again = nnlite.load_model(path)
    for a, b in zip(again.predict(x), model.predict(x)):
        np.testing.assert_array_equal(a, b)
    layer = again.outputs[1].layer
    assert (layer.use_causal_mask, layer.return_attention_scores) == (True, True)
    assert "(None, 4, 6), (None, 2, 4, 5)" in again.summary(print_fn=None)


def test_model_gradients_match_finite_differences_through_masks():
    model = _attention_model(dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x, y = _data(6)
    x[2][0, 1] = 0.0                               # a fully masked query row
    report = nnlite.gradcheck.check_model(model, x, y)
    assert "input:2" not in report.errors          # the mask gets no gradient
    errors = {k: v for k, v in report.errors.items() if k != "mha/key_bias"}
    assert max(errors.values()) < 1e-6, str(report)


def test_self_attention_on_one_node_and_scores_that_sum_to_one():
    x_in = nnlite.Input(shape=(T, 6))
    out, scores = MultiHeadAttention(3, 2)(x_in, return_attention_scores=True)
    model = nnlite.Model(x_in, [out, scores], seed=0)
    y, a = model.predict(_x((2, T, 6), 0))
    assert y.shape == (2, T, 6) and a.shape == (2, 3, T, T)
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-6)


def test_bad_calls_raise_clear_errors_and_change_nothing():
    q = nnlite.Input(shape=(T, 6))
    mha = MultiHeadAttention(2, 4)
    with pytest.raises(GraphError, match="key .*with a value"):
        mha(q, key=q)
    with pytest.raises(GraphError, match=r"attention_mask must have shape \(batch, 4, 4\)"):
        mha(q, attention_mask=nnlite.Input(shape=(T, 3)))
    with pytest.raises(ConfigError, match="use_causal_mask must be True or False"):
        mha(q, use_causal_mask="yes")
    assert mha._roles is None and not mha.use_causal_mask
    with pytest.raises(GraphError, match="sequence"):
        mha(nnlite.Input(shape=(6,)))
    for bad in ({"num_heads": 0}, {"key_dim": 2.5}, {"dropout": 1.0}, {"output_shape": -1}):
        args = {"num_heads": 2, "key_dim": 4, **bad}
        with pytest.raises(ConfigError, match="MultiHeadAttention"):
            MultiHeadAttention(**args)


def test_config_round_trip_and_float32():
    layer = MultiHeadAttention(2, 3, value_dim=5, dropout=0.1, output_shape=7, seed=4,
                               name="att")
    clone = MultiHeadAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    a = _mha(["query", "value"], [(T, 6), (S, 5)])
    b = built(MultiHeadAttention(2, 3), [(T, 6), (S, 5)], dtype=np.float32)
    b.bind_call(["query", "value"])
    for key in a.params:
        b.params[key][...] = a.params[key]
    xs = [_x((B, T, 6), 0), _x((B, S, 5), 1)]
    y32 = b.forward([x.astype(np.float32) for x in xs])
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, a.forward(xs), rtol=1e-4, atol=1e-5)
    a.release_buffers()
    a.forward(xs)                                   # inference keeps nothing
    assert a._cache is None and a._buffers == {}


def test_self_attention_in_a_sequential_model():
    model = nnlite.Sequential([MultiHeadAttention(2, 3, input_shape=(T, 6)), Flatten(),
                               Dense(2)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="adam")
    x, y = _x((5, T, 6), 0), _x((5, 2), 1)
    report = nnlite.gradcheck.check_model(model, x, y)
    assert max(v for k, v in report.errors.items() if not k.endswith("key_bias")) < 1e-6
    graph_in = nnlite.Input(shape=(T, 6))
    twin = nnlite.Model(graph_in, Dense(2)(Flatten()(MultiHeadAttention(2, 3)(graph_in))),
                        seed=0, dtype="float64")
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(twin.predict(x), model.predict(x), rtol=1e-14)
    again = nnlite.Sequential.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
