"""``to_torch`` of the attention, Transformer, ViT and graph layers: the exported module
computes ``predict`` (float64, ≤ 1e-10), with nn.MultiheadAttention / nn.TransformerEncoderLayer
where the structure matches and faithful modules otherwise."""
import numpy as np
import pytest
from layer_check import randomize

import nnlite
from nnlite.export import to_torch
from nnlite.integrations.pytorch.attention import sparse_tensor
from nnlite.layers import (
    Add,
    ClassToken,
    Dense,
    Flatten,
    GCNConv,
    MultiHeadAttention,
    PatchEmbedding,
    PositionEmbedding,
    SAGEConv,
    SelectToken,
    SinePositionEncoding,
    TransformerDecoder,
    TransformerEncoder,
)

torch = pytest.importorskip("torch")
T, S = 5, 4


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _same(model, xs, torch_xs=None):
    net = to_torch(model)
    with torch.no_grad():
        out = net(*(torch_xs or [torch.tensor(x) for x in xs]))
    expected = model.predict(xs if len(xs) > 1 else xs[0])
    outs = out if isinstance(out, tuple) else (out,)
    exp = expected if isinstance(expected, list) else [expected]
    assert len(outs) == len(exp)
    for o, e in zip(outs, exp):
        assert o.dtype == torch.float64
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12)
    return net


def _randomized(model):
    for layer in model.layers:
        randomize(layer, seed=len(layer.name))
    return model


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_with_masks_and_scores(native, causal):
    q, v = nnlite.Input(shape=(T, 8)), nnlite.Input(shape=(S, 6))
    m = nnlite.Input(shape=(T, S))
    mha = MultiHeadAttention(2, 4) if native else MultiHeadAttention(2, 3, value_dim=5,
                                                                    output_shape=7)
    out, scores = mha(q, v, attention_mask=m, use_causal_mask=causal,
                      return_attention_scores=True)
    model = _randomized(nnlite.Model([q, v, m], [out, scores], seed=0, dtype="float64"))
    mask = (np.random.default_rng(1).random((3, T, S)) > 0.4).astype(np.float64)
    mask[0, 2] = 0.0                                   # a row with nothing to attend to
    net = _same(model, [_x((3, T, 8)), _x((3, S, 6), 1), mask])
    kinds = {type(m).__name__ for m in net.modules()}
    assert ("MultiheadAttention" in kinds) == native


def test_self_attention_in_sequential():
    model = nnlite.Sequential([MultiHeadAttention(2, 3, input_shape=(T, 6)),
                               MultiHeadAttention(3, 2, use_bias=False)], seed=0,
                              dtype="float64")
    model.build()
    _same(_randomized(model), [_x((2, T, 6))])


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu"])
def test_transformer_encoder(normalize_first, activation):
    model = nnlite.Sequential([TransformerEncoder(12, 2, activation=activation,
                                                  normalize_first=normalize_first,
                                                  input_shape=(T, 6)),
                               TransformerEncoder(7, 3)], seed=0, dtype="float64")
    model.build()
    net = _same(_randomized(model), [_x((4, T, 6))])
    kinds = [type(m).__name__ for m in net.modules()]
    assert kinds.count("TransformerEncoderLayer") == (2 if activation != "silu" else 1)


def test_transformer_decoder_alone_and_with_cross_attention():
    source, target = nnlite.Input(shape=(S, 6)), nnlite.Input(shape=(T, 6))
    memory = TransformerEncoder(8, 2)(source)
    h = TransformerDecoder(8, 2, normalize_first=True)(target)
    h = TransformerDecoder(8, 3)(h, memory)
    model = _randomized(nnlite.Model([source, target], Dense(2)(Flatten()(h)), seed=0,
                                     dtype="float64"))
    _same(model, [_x((3, S, 6)), _x((3, T, 6), 1)])


def test_vision_transformer_parts():
    images = nnlite.Input(shape=(2, 8, 12))
    tokens = ClassToken()(PatchEmbedding(4, 6)(images))
    tokens = Add()([tokens, PositionEmbedding(7)(tokens)])
    tokens = Add()([tokens, SinePositionEncoding(100)(tokens)])
    head = Dense(3, activation="softmax")(SelectToken()(TransformerEncoder(
        8, 2, normalize_first=True)(tokens)))
    model = _randomized(nnlite.Model(images, head, seed=0, dtype="float64"))
    _same(model, [_x((2, 2, 8, 12))])


@pytest.mark.parametrize("layer", [GCNConv, SAGEConv])
def test_graph_layers_with_sparse_and_dense_adjacency(layer):
    graph = nnlite.datasets.load_karate_club()
    x_in, a_in = nnlite.Input(shape=(34,)), nnlite.Input(shape=(34,), sparse=True)
    h = layer(5, activation="relu")([x_in, a_in])
    out = layer(2, activation="softmax")([h, a_in])
    model = _randomized(nnlite.Model([x_in, a_in], out, seed=0, dtype="float64"))
    x, a = graph.features.astype(np.float64), graph.adjacency
    tx = torch.tensor(x)
    _same(model, [x, a], [tx, sparse_tensor(a, torch.float64)])
    _same(model, [x, a], [tx, torch.tensor(a.toarray(), dtype=torch.float64)])
