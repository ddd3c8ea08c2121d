"""TokenAndPositionEmbedding: forward against E[ids] + P[t], finite-difference gradients of both
tables (repeated ids accumulate), masks from mask_zero reaching the Transformer blocks, config
and save/load round trips, freezing, the PyTorch export, float32 and errors."""
import numpy as np
import pytest
from layer_check import built, gradient_errors, randomize

import nnlite
from nnlite.errors import ConfigError, InputValueError, ShapeError
from nnlite.layers import (
    REGISTRY,
    Dense,
    Embedding,
    Flatten,
    PositionEmbedding,
    TokenAndPositionEmbedding,
    TransformerEncoder,
)

IDS = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [0, 0, 2, 7, 1]])   # repeats in and across rows


def _layer(**kwargs):
    return randomize(built(TokenAndPositionEmbedding(10, 7, 4, **kwargs), (5,)))


def test_forward_is_the_token_row_plus_the_position_row():
    layer = _layer(name="tp")
    table = layer.params["token_embedding/embeddings"]
    positions = layer.params["position_embedding/embeddings"]
    want = table[IDS] + positions[None, :5]
    np.testing.assert_array_equal(layer.forward(IDS), want)
    np.testing.assert_array_equal(layer.forward(IDS, training=True), want)
    assert layer.output_shape == (5, 4)
    assert layer.count_params() == 10 * 4 + 7 * 4
    assert [s.name for s in layer.sublayers] == ["tp/token_embedding", "tp/position_embedding"]


def test_gradients_of_both_tables_match_finite_differences():
    layer = _layer()
    errors = gradient_errors(layer, IDS)            # integer ids: only the tables are checked
    assert set(errors) == {"param:token_embedding/embeddings",
                           "param:position_embedding/embeddings"}
    assert max(errors.values()) < 1e-6, errors
    # the scatter-add by hand: id 1 occurs three times, id 8 never; positions 5, 6 are unused
    dy = np.random.default_rng(0).standard_normal((3, 5, 4))
    layer.forward(IDS, training=True)
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx, 0.0)
    grads = layer.grads
    np.testing.assert_allclose(grads["token_embedding/embeddings"][1],
                               dy[0, 1] + dy[0, 3] + dy[2, 4], rtol=1e-12)
    np.testing.assert_array_equal(grads["token_embedding/embeddings"][8], 0.0)
    np.testing.assert_allclose(grads["position_embedding/embeddings"][:5], dy.sum(axis=0),
                               rtol=1e-12)
    np.testing.assert_array_equal(grads["position_embedding/embeddings"][5:], 0.0)


def test_mask_zero_gives_the_padding_mask_and_none_otherwise():
    np.testing.assert_array_equal(_layer(mask_zero=True).compute_mask(IDS), IDS != 0)
    assert _layer().compute_mask(IDS) is None


def test_it_is_embedding_plus_position_embedding():
    # the same numbers as keras_hub's decomposition: Embedding(ids) + PositionEmbedding(that)
    ids = nnlite.Input(shape=(5,))
    tokens = Embedding(10, 4, name="tok")(ids)
    both = nnlite.layers.Add()([tokens, PositionEmbedding(7, name="pos")(tokens)])
    parts = nnlite.Model(ids, both, seed=0, dtype="float64")
    fused = nnlite.Sequential([TokenAndPositionEmbedding(10, 7, 4, input_shape=(5,))], seed=0,
                              dtype="float64")
    fused.build()
    fused.set_weights(parts.get_weights())
    np.testing.assert_array_equal(fused.predict(IDS), parts.predict(IDS))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_padded_batch_through_encoders_equals_the_unpadded_runs(normalize_first):
    rows = [[5, 3, 8, 2, 9, 4], [7, 1, 4], [6, 2]]

    def build(steps):
        model = nnlite.Sequential([
            TokenAndPositionEmbedding(10, 8, 8, mask_zero=True, input_shape=(steps,)),
            TransformerEncoder(16, 2, normalize_first=normalize_first),
            TransformerEncoder(12, 4, activation="gelu", normalize_first=normalize_first)],
            seed=0, dtype="float64")
        model.build()
        return model

    padded = build(6)
    assert padded._masks
    batch = np.array([r + [0] * (6 - len(r)) for r in rows])
    out = padded.predict(batch)
    for i, row in enumerate(rows):
        alone = build(len(row))
        alone.set_weights(padded.get_weights())
        np.testing.assert_allclose(out[i, :len(row)], alone.predict(np.array([row]))[0],
                                   rtol=1e-10, atol=1e-12)
        assert np.isfinite(out[i]).all()


def test_round_trip_freezing_and_float32(tmp_path):
    from test_saving import check_round_trip

    model = nnlite.Sequential([TokenAndPositionEmbedding(10, 6, 4, mask_zero=True,
                                                         input_shape=(6,), name="emb"),
                               TransformerEncoder(8, 2), Flatten(), Dense(2)], seed=1,
                              dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (12, 6)).astype(np.float64)
    check_round_trip(tmp_path, model, x, rng.standard_normal((12, 2)))
    config = model.get_config()["config"]["layers"][0]["config"]
    assert config["mask_zero"] is True and config["sequence_length"] == 6
    again = REGISTRY["TokenAndPositionEmbedding"].from_config(config)
    assert again.get_config() == config

    frozen = nnlite.Sequential([TokenAndPositionEmbedding(10, 6, 4, input_shape=(6,),
                                                          trainable=False), Flatten(),
                                Dense(2)], seed=0)
    frozen.compile("adam", "mse")
    before = frozen.layers[0].get_weights()
    frozen.fit(x.astype(np.float32), rng.standard_normal((12, 2)), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, frozen.layers[0].get_weights()))
    assert frozen.predict(x).dtype == np.float32


def test_pytorch_export_matches_predict():
    torch = pytest.importorskip("torch")
    import nnlite.export

    model = nnlite.Sequential([TokenAndPositionEmbedding(10, 7, 4, input_shape=(5,)),
                               TransformerEncoder(8, 2)], seed=0, dtype="float64")
    model.build()
    with torch.no_grad():
        out = nnlite.export.to_torch(model)(torch.tensor(IDS)).numpy()
    np.testing.assert_allclose(out, model.predict(IDS), rtol=1e-10, atol=1e-12)
    masked = nnlite.Sequential([TokenAndPositionEmbedding(10, 7, 4, mask_zero=True,
                                                          input_shape=(5,))], seed=0)
    masked.build()
    with pytest.raises(ConfigError, match="creates a mask"):
        nnlite.export.to_torch(masked)


def test_errors_name_the_layer_and_change_nothing():
    with pytest.raises(ConfigError, match="vocabulary_size must be a positive int, got 0"):
        TokenAndPositionEmbedding(0, 4, 4)
    with pytest.raises(ConfigError, match="mask_zero must be True or False"):
        TokenAndPositionEmbedding(5, 4, 4, mask_zero="yes")
    with pytest.raises(nnlite.errors.UnknownNameError):
        TokenAndPositionEmbedding(5, 4, 4, embeddings_initializer="nope")
    with pytest.raises(ShapeError, match="longer than sequence_length=4"):
        built(TokenAndPositionEmbedding(5, 4, 3), (6,))
    with pytest.raises(ShapeError, match="expects token ids"):
        built(TokenAndPositionEmbedding(5, 4, 3), (4, 2))
    layer = _layer()
    before = layer.get_weights()
    with pytest.raises(InputValueError, match=r"token ids must be in 0\.\.9"):
        layer.forward(IDS + 5)
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights()))
