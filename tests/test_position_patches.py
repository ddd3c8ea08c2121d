"""PositionEmbedding, SinePositionEncoding, PatchEmbedding, ClassToken, SelectToken: forward
against independent references (PyTorch's conv stem for patches), finite-difference gradients
of input and parameters, masks, config round trips, float32 and errors."""
import numpy as np
import pytest
from layer_check import built, randomize

from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import check_layer
from nnlite.layers import (
    REGISTRY,
    ClassToken,
    PatchEmbedding,
    PositionEmbedding,
    SelectToken,
    SinePositionEncoding,
)

# (id, factory, input shape with batch, parameter count)
CASES = [
    ("position_embedding", lambda: PositionEmbedding(7), (3, 5, 4), 7 * 4),
    ("position_embedding_full", lambda: PositionEmbedding(5), (2, 5, 3), 15),
    ("sine", SinePositionEncoding, (2, 6, 8), 0),
    ("sine_odd_wavelength", lambda: SinePositionEncoding(max_wavelength=100), (2, 3, 5), 0),
    ("patches", lambda: PatchEmbedding(2, 5), (2, 3, 4, 6), 5 * 3 * 4 + 5),
    ("patches_nobias", lambda: PatchEmbedding(3, 4, use_bias=False), (2, 1, 6, 3), 4 * 9),
    ("class_token", ClassToken, (3, 4, 5), 5),
    ("select_first", SelectToken, (3, 4, 5), 0),
    ("select_last", lambda: SelectToken(-1), (3, 4, 5), 0),
]
IDS = [c[0] for c in CASES]


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _reference(layer, x):
    kind = type(layer).__name__
    if kind == "PositionEmbedding":
        return np.broadcast_to(layer.params["embeddings"][:x.shape[1]], x.shape)
    if kind == "SinePositionEncoding":  # the formula of "Attention is all you need"
        t, d = x.shape[1:]
        out = np.empty((t, d))
        for pos in range(t):
            for i in range(d):
                angle = pos / layer.max_wavelength ** (2 * (i // 2) / d)
                out[pos, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
        return np.broadcast_to(out, x.shape)
    if kind == "PatchEmbedding":  # loop over patches
        b, c, h, w = x.shape
        p, k = layer.patch_size, layer.params["kernel"]
        rows = []
        for i in range(0, h, p):
            for j in range(0, w, p):
                patch = x[:, :, i:i + p, j:j + p]
                rows.append(np.einsum("bcuv,dcuv->bd", patch, k)
                            + layer.params.get("bias", 0.0))
        return np.stack(rows, axis=1)
    if kind == "ClassToken":
        token = np.broadcast_to(layer.params["token"], (x.shape[0], 1, x.shape[2]))
        return np.concatenate([token, x], axis=1)
    return x[:, layer.index]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_shapes_and_counts(case):
    _, factory, shape, count = case
    layer = randomize(built(factory(), shape[1:]))
    x = _x(shape)
    y = layer.forward(x)
    np.testing.assert_allclose(y, _reference(layer, x), rtol=1e-12, atol=1e-14)
    assert y.shape == (shape[0],) + layer.output_shape
    assert layer.count_params() == count


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case):
    _, factory, shape, _ = case
    layer = randomize(built(factory(), shape[1:]))
    report = check_layer(layer, _x(shape), seed=1)
    assert report.ok and report.max_error < 1e-6, str(report)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip_float32_and_inference_caches_nothing(case):
    _, factory, shape, _ = case
    layer = randomize(built(factory(), shape[1:]))
    layer.name = "x"
    clone = REGISTRY[type(layer).__name__].from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone = built(clone, shape[1:], dtype=np.float32)
    for key in layer.params:
        clone.params[key][...] = layer.params[key]
    x = _x(shape)
    np.testing.assert_allclose(clone.forward(x.astype(np.float32)), layer.forward(x),
                               rtol=1e-5, atol=1e-6)
    y = layer.forward(x, training=True).copy()
    layer.release_buffers()
    np.testing.assert_array_equal(layer.forward(x), y)
    assert layer._buffers == {}


def test_patch_embedding_is_pytorchs_strided_convolution_stem():
    torch = pytest.importorskip("torch")
    layer = randomize(built(PatchEmbedding(7, 6), (2, 28, 14)))
    x = _x((3, 2, 28, 14))
    y = layer.forward(x, training=True)
    dy = _x(y.shape, 1)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    kernel = torch.tensor(layer.params["kernel"], requires_grad=True)
    bias = torch.tensor(layer.params["bias"], requires_grad=True)
    out = torch.nn.functional.conv2d(tx, kernel, bias, stride=7).flatten(2).transpose(1, 2)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], kernel.grad.numpy(), rtol=1e-10,
                               atol=1e-12)


def test_masks_follow_the_tokens():
    mask = np.array([[True, True, False], [True, False, False]])
    assert ClassToken().compute_mask(None, mask).tolist() == [[True, True, True, False],
                                                             [True, True, False, False]]
    assert SelectToken().compute_mask(None, mask) is None
    pos = built(PositionEmbedding(4), (3, 2))
    assert pos.supports_masking and pos.compute_mask(None, mask) is mask


def test_position_embedding_uses_the_first_rows_and_leaves_the_rest_untouched():
    layer = randomize(built(PositionEmbedding(6), (4, 3)))
    layer.forward(_x((2, 4, 3)), training=True)
    layer.grads["embeddings"][...] = 7.0
    dx = layer.backward(np.ones((2, 4, 3)))
    np.testing.assert_array_equal(dx, 0.0)
    np.testing.assert_array_equal(layer.grads["embeddings"][:4], 2.0)
    np.testing.assert_array_equal(layer.grads["embeddings"][4:], 0.0)


def test_errors():
    with pytest.raises(ShapeError, match="longer than sequence_length=3"):
        PositionEmbedding(3).compute_output_shape((4, 2))
    with pytest.raises(ShapeError, match="multiples of patch_size=3"):
        PatchEmbedding(3, 4).compute_output_shape((1, 7, 6))
    with pytest.raises(ShapeError, match="index 5 is out of range"):
        SelectToken(5).compute_output_shape((4, 2))
    with pytest.raises(ShapeError, match="sequences"):
        ClassToken().compute_output_shape((4,))
    for bad in (lambda: PositionEmbedding(0), lambda: SinePositionEncoding(-1),
                lambda: PatchEmbedding(0, 3), lambda: SelectToken(1.5)):
        with pytest.raises(ConfigError):
            bad()
