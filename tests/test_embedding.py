"""Embedding: lookup forward, scatter-add gradient (repeated ids accumulate), mask_zero, the
contract (finite differences of the table, config, inference, float32), PyTorch parity, and
clear errors for ids that are not valid tokens."""
import numpy as np
import pytest
import seq_contract as sc

import nnlite
from nnlite.errors import ConfigError, InputValueError
from nnlite.gradcheck import check_layer
from nnlite.layers import Dense, Embedding, GlobalAveragePooling1D

IDS = np.array([[3, 1, 3, 0, 3], [1, 1, 7, 0, 0]])  # 3 and 1 repeat, within and across rows


def _layer(**kwargs):
    return sc.built(lambda: Embedding(8, 4, **kwargs), (2, 5))


def test_forward_is_a_table_lookup():
    layer = _layer()
    y = layer.forward(IDS.astype(np.float64))
    assert y.shape == (2, 5, 4)
    np.testing.assert_array_equal(y, layer.params["embeddings"][IDS])


def test_gradient_accumulates_repeated_ids():
    layer = _layer()
    layer.forward(IDS, training=True)
    dy = np.random.default_rng(0).standard_normal((2, 5, 4))
    layer.backward(dy)
    expected = np.zeros((8, 4))
    for b in range(2):
        for t in range(5):
            expected[IDS[b, t]] += dy[b, t]
    np.testing.assert_allclose(layer.grads["embeddings"], expected, rtol=1e-15)
    # what a plain fancy-index assignment would give: only the last occurrence of each id
    dropped = np.zeros((8, 4))
    dropped[IDS.reshape(-1)] = dy.reshape(-1, 4)
    assert not np.allclose(dropped[3], expected[3])
    np.testing.assert_allclose(expected[3], dy[0, 0] + dy[0, 2] + dy[0, 4])


def test_gradients_match_finite_differences_and_skip_the_ids():
    report = check_layer(Embedding(8, 4), IDS.astype(np.float64), seed=1)
    assert report.ok, str(report)
    assert set(report.errors) == {"param:embeddings"}          # ids are not differentiable
    assert report.relative["param:embeddings"] < 1e-8


def test_contract_shapes_config_inference_float32():
    factory = lambda: Embedding(8, 4, mask_zero=True)  # noqa: E731
    x = IDS.astype(np.float64)
    sc.check_shapes_and_count(factory, (2, 5), 32, None, x=x)
    sc.check_config_round_trip(factory, (2, 5), None, x=x)
    sc.check_inference(factory, (2, 5), None, x=x)
    sc.check_float32(factory, (2, 5), None, x=x)


def test_mask_zero_marks_padding():
    layer = _layer(mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(IDS), IDS != 0)
    assert _layer().compute_mask(IDS) is None


def test_initializer_is_keras_uniform():
    table = sc.built(lambda: Embedding(500, 40), (1, 3)).params["embeddings"]
    assert table.min() >= -0.05 and table.max() <= 0.05 and table.std() > 0.02


def test_pytorch_parity():
    torch = pytest.importorskip("torch")
    layer = _layer()
    y = layer.forward(IDS, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    layer.backward(dy)
    table = torch.nn.Embedding(8, 4, dtype=torch.float64)
    with torch.no_grad():
        table.weight.copy_(torch.tensor(layer.params["embeddings"]))
    y_t = table(torch.tensor(IDS))
    y_t.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(layer.grads["embeddings"], table.weight.grad.numpy(),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("ids,match", [
    (np.array([[1.0, 2.5]]), "non-integer"),
    (np.array([[1, 8]]), r"0\.\.7"),
    (np.array([[-1, 2]]), r"0\.\.7"),
    (np.array([["a", "b"]]), "integer token ids"),
])
def test_bad_ids_are_rejected_with_the_layer_name(ids, match):
    layer = sc.built(lambda: Embedding(8, 4, name="tokens"), (1, 2))
    with pytest.raises(InputValueError, match=match) as err:
        layer.forward(ids)
    assert "'tokens'" in str(err.value)


def test_bad_ids_in_fit_change_nothing():
    model = nnlite.Sequential([Embedding(8, 4, input_shape=(5,)), GlobalAveragePooling1D(),
                               Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.build()
    before = model.get_weights()
    with pytest.raises(InputValueError, match="token ids"):
        model.fit(np.full((4, 5), 9), np.zeros(4, int), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,match", [(dict(input_dim=0, output_dim=3), "input_dim"),
                                          (dict(input_dim=3, output_dim=2.5), "output_dim"),
                                          (dict(input_dim=3, output_dim=2, mask_zero=1),
                                           "mask_zero")])
def test_bad_configuration_is_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Embedding(**kwargs)
