"""``to_onnx`` for attention, the Transformer blocks, the ViT parts and the graph layers:
MultiHeadAttention with every mask (attention_mask input, causal, padding masks from an
Embedding, fully masked rows) and its scores output, TransformerEncoder/Decoder in both
normalization orders with cross-attention, PositionEmbedding, SinePositionEncoding,
PatchEmbedding, ClassToken, SelectToken, and GCNConv/SAGEConv with the dense adjacency input.

Every graph passes ``onnx.checker`` and matches ``model.predict`` on 100 random inputs within
1e-5 (float32) in the ReferenceEvaluator and onnxruntime, 1e-10 in float64 (tests/onnx_check.py).
"""
import numpy as np
import pytest
import scipy.sparse as sp
from layer_check import randomize
from onnx_check import check, ort, run_ort, x_like

import nnlite
from nnlite.errors import ConfigError
from nnlite.export import onnx_adjacency, to_onnx
from nnlite.layers import (
    Add,
    ClassToken,
    Dense,
    Embedding,
    Flatten,
    GCNConv,
    GlobalAveragePooling1D,
    MultiHeadAttention,
    PatchEmbedding,
    PositionEmbedding,
    SAGEConv,
    SelectToken,
    SinePositionEncoding,
    TransformerDecoder,
    TransformerEncoder,
)

T, S, N = 5, 4, 100
BOTH = ["reference", "onnxruntime"]


def _randomized(model, scale=0.5):
    for layer in model.layers:
        randomize(layer, seed=len(layer.name), scale=scale)
    return model


def _ids(shape, vocab, seed):
    """Token ids padded with 0 in several patterns, including a sequence with no real step."""
    ids = np.random.default_rng(seed).integers(1, vocab, shape)
    ids[0, 3:] = 0
    ids[1, :2] = 0
    ids[2, ::2] = 0
    ids[3] = 0
    ids[10:50, -2:] = 0
    return ids.astype(np.int64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sizes", [dict(num_heads=2, key_dim=4),
                                   dict(num_heads=2, key_dim=3, value_dim=5, output_shape=7,
                                        use_bias=False)])
def test_attention_with_a_mask_input_causal_mask_and_scores(sizes, causal, dtype):
    q, v, k = nnlite.Input(shape=(T, 8)), nnlite.Input(shape=(S, 6)), nnlite.Input(shape=(S, 3))
    m = nnlite.Input(shape=(T, S), name="allowed")
    out, scores = MultiHeadAttention(**sizes, name="mha")(
        q, v, key=k, attention_mask=m, use_causal_mask=causal, return_attention_scores=True)
    model = _randomized(nnlite.Model([q, v, k, m], [out, scores], seed=0, dtype=dtype))
    mask = (np.random.default_rng(1).random((N, T, S)) > 0.4).astype(dtype)
    mask[0, 2] = 0.0                                   # a row with nothing to attend to
    mask[1] = 0.0
    xs = [x_like((N, T, 8), 2, 1.0, dtype), x_like((N, S, 6), 3, 1.0, dtype),
          x_like((N, S, 3), 4, 1.0, dtype), mask]
    proto, _ = check(model, xs, expect_runners=BOTH if dtype == "float32" else None)
    assert [o.name for o in proto.graph.output] == ["mha", "mha:1"]
    sums = model.predict(xs)[1].sum(-1)                 # (N, heads, T): 1, or 0 if blocked
    assert np.all(sums[1] == 0) and np.all(sums[0, :, 2] == 0)
    assert np.all(np.isclose(sums, 0) | np.isclose(sums, 1)) and np.isclose(sums, 1).mean() > 0.5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_padding_masks_reach_queries_values_and_keys(dtype):
    # the query's mask blocks rows, the value's (and key's) blocks columns; all-padding rows
    ids_q, ids_v = nnlite.Input(shape=(T,), name="q_ids"), nnlite.Input(shape=(S,), name="v_ids")
    ids_k = nnlite.Input(shape=(S,), name="k_ids")
    q = Embedding(9, 6, mask_zero=True)(ids_q)
    v = Embedding(9, 6, mask_zero=True)(ids_v)
    k = Embedding(9, 4, mask_zero=True)(ids_k)
    a = MultiHeadAttention(2, 3)(q, v, key=k)
    b = MultiHeadAttention(3, 2, name="self")(a)     # the query's mask travels on
    model = nnlite.Model([ids_q, ids_v, ids_k], GlobalAveragePooling1D()(b), seed=1,
                         dtype=dtype)
    _randomized(model)
    xs = [_ids((N, T), 9, 5), _ids((N, S), 9, 6), _ids((N, S), 9, 7)]
    check(model, xs, expect_runners=BOTH if dtype == "float32" else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_self_attention_in_sequential(dtype):
    model = nnlite.Sequential([MultiHeadAttention(2, 3, input_shape=(T, 6)),
                               MultiHeadAttention(3, 2, use_bias=False)], seed=0, dtype=dtype)
    model.build()
    check(_randomized(model), x_like((N, T, 6), scale=1.0, dtype=dtype),
          expect_runners=BOTH if dtype == "float32" else None)


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu"])
def test_transformer_encoder(normalize_first, activation):
    model = nnlite.Sequential([TransformerEncoder(12, 2, activation=activation,
                                                  normalize_first=normalize_first,
                                                  input_shape=(T, 6)),
                               TransformerEncoder(7, 3)], seed=0)
    model.build()
    check(_randomized(model), x_like((N, T, 6), scale=1.0), expect_runners=BOTH)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transformer_encoder_with_a_padding_mask(dtype):
    model = nnlite.Sequential([Embedding(11, 6, mask_zero=True, input_shape=(T,)),
                               TransformerEncoder(8, 2), TransformerEncoder(8, 3,
                                                                           normalize_first=True),
                               GlobalAveragePooling1D()], seed=2, dtype=dtype)
    model.build()
    check(_randomized(model), _ids((N, T), 11, 8),
          expect_runners=BOTH if dtype == "float32" else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transformer_decoder_alone_and_with_cross_attention(dtype):
    source, target = nnlite.Input(shape=(S,), name="source"), nnlite.Input(shape=(T, 6))
    memory = TransformerEncoder(8, 2)(Embedding(7, 6, mask_zero=True)(source))
    h = TransformerDecoder(8, 2, normalize_first=True)(target)
    h = TransformerDecoder(8, 3)(h, memory)
    h = TransformerDecoder(8, 2, normalize_first=True)(h, memory, use_causal_mask=False)
    model = _randomized(nnlite.Model([source, target], Dense(2)(Flatten()(h)), seed=0,
                                     dtype=dtype))
    xs = [_ids((N, S), 7, 9), x_like((N, T, 6), 1, 1.0, dtype)]
    check(model, xs, expect_runners=BOTH if dtype == "float32" else None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vision_transformer_parts(dtype):
    images = nnlite.Input(shape=(2, 8, 12))
    tokens = ClassToken()(PatchEmbedding(4, 6)(images))
    tokens = Add()([tokens, PositionEmbedding(9)(tokens)])        # longer than the 7 tokens
    tokens = Add()([tokens, SinePositionEncoding(100)(tokens)])
    encoded = TransformerEncoder(8, 2, normalize_first=True)(tokens)
    head = Dense(3, activation="softmax")(SelectToken()(encoded))
    last = Dense(2, activation="tanh")(SelectToken(-1)(encoded))
    model = _randomized(nnlite.Model(images, [head, last], seed=0, dtype=dtype))
    check(model, x_like((N, 2, 8, 12), dtype=dtype),
          expect_runners=BOTH if dtype == "float32" else None)


def test_class_token_extends_a_padding_mask():
    ids = nnlite.Input(shape=(T,))
    tokens = ClassToken()(Embedding(6, 4, mask_zero=True)(ids))
    out = SelectToken()(MultiHeadAttention(2, 2)(tokens))
    model = _randomized(nnlite.Model(ids, out, seed=3))
    check(model, _ids((N, T), 6, 10), expect_runners=BOTH)


# ---------------------------------------------------------------------------- graphs
def _graph_model(kind, dtype):
    x_in, a_in = nnlite.Input(shape=(34,), name="features"), \
        nnlite.Input(shape=(34,), sparse=True, name="adjacency")
    if kind == "mixed":   # layers with different normalisations share the one input
        h = GCNConv(5, activation="relu")([x_in, a_in])
        h = SAGEConv(40, aggregator="sum", activation="tanh")([h, a_in])
        out = GCNConv(2, add_self_loops=False, activation="softmax")([h, a_in])
        out2 = SAGEConv(3)([h, a_in])
        outputs = [out, out2]
    else:
        layer = {"gcn": GCNConv, "sage": SAGEConv}[kind]
        h = layer(50, activation="relu")([x_in, a_in])           # units > F: (A X) W
        outputs = layer(2, activation="softmax")([h, a_in])
    return _randomized(nnlite.Model([x_in, a_in], outputs, seed=0, dtype=dtype), scale=0.3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["gcn", "sage", "mixed"])
def test_graph_layers_take_the_dense_adjacency(kind, dtype):
    graph = nnlite.datasets.load_karate_club()
    model = _graph_model(kind, dtype)
    x = graph.features.astype(dtype)
    a = graph.adjacency.tolil()
    a[5, :] = 0                          # an isolated node (degree 0: no division by zero)
    a[:, 5] = 0
    a = a.tocsr()
    dense = onnx_adjacency(model, a)
    assert dense.dtype == model.dtype and dense.shape == (34, 34)
    proto, _ = check(model, [x, a], feeds=[x, dense],
                     expect_runners=BOTH if dtype == "float32" else None)
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in proto.graph.input]
    assert dims == [["nodes", 34], ["nodes", "nodes"]]


def test_an_edge_list_densifies_by_nnlite_rules():
    model = _graph_model("gcn", "float32")
    edges = np.array([[0, 1], [1, 0], [0, 1], [2, 3]])     # a repeated edge counts once
    dense = onnx_adjacency(model, edges)
    assert dense.shape == (34, 34) and dense[0, 1] == 1.0 and dense.sum() == 3.0
    x = x_like((34, 34), seed=11, scale=1.0)
    check(model, [x, edges], feeds=[x, dense], expect_runners=BOTH)


def test_onnx_adjacency_needs_a_node_count_for_edge_lists():
    model = nnlite.Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ConfigError, match="no sparse adjacency input"):
        onnx_adjacency(model, np.array([[0, 1]]))


def test_a_sage_graph_applies_to_another_graph_size():
    model = _graph_model("sage", "float32")
    proto = to_onnx(model)
    if ort is None:
        pytest.skip("onnxruntime is not installed")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((50, 34)).astype(np.float32)
    a = (rng.random((50, 50)) < 0.1).astype(np.float32)
    (out,) = run_ort(proto, {"features": x, "adjacency": a})
    # the same layers applied by hand with nnlite's normalisation
    h, o = model.get_layer("sageconv"), model.get_layer("sageconv_1")
    hidden = h.forward([x, sp.csr_matrix(a)])
    np.testing.assert_allclose(out, o.forward([hidden, sp.csr_matrix(a)]), atol=1e-5)
