"""Pooling, Flatten and Reshape beyond the shared contract (test_layers.py): tie-breaking,
padding rules, exact values on small examples, and errors."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.layers import (
    AveragePooling2D,
    AvgPool2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    MaxPooling2D,
    Reshape,
)


def _built(layer, shape, dtype=np.float64):
    layer.build(shape, np.random.default_rng(0), dtype)
    return layer


def test_max_pool_values_and_gradient_routing():
    x = np.array([[[[1., 5., 2., 0.],
                    [3., 4., 8., 1.],
                    [0., 0., 7., 7.],
                    [9., 0., 7., 6.]]]])
    layer = _built(MaxPool2D(2), (1, 4, 4))
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, [[[[5., 8.], [9., 7.]]]])
    dx = layer.backward(np.array([[[[10., 20.], [30., 40.]]]]))
    # ties (the three 7s) send the gradient to the first maximum in row-major order
    np.testing.assert_array_equal(dx, [[[[0., 10., 0., 0.],
                                         [0., 0., 20., 0.],
                                         [0., 0., 40., 0.],
                                         [30., 0., 0., 0.]]]])


def test_max_pool_ties_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 6, 7)).astype(np.float64)  # many ties
    layer = _built(MaxPool2D(3, strides=2), (3, 6, 7))
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch.nn.functional.max_pool2d(x_t, 3, 2)
    y_t.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_allclose(layer.backward(dy), x_t.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (2, 2, 7, 5)])
def test_max_pool_2x2_fast_path_matches_pytorch_with_ties(shape):
    # the 2x2 stride-2 pairwise tree (odd sizes leave the last row/column out of every window)
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 2, shape).astype(np.float64)  # ties everywhere
    layer = _built(MaxPool2D(2), shape[1:])
    assert layer._pairs
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch.nn.functional.max_pool2d(x_t, 2, 2)
    y_t.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(layer.forward(x), y)  # inference path, same values
    layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(dy), x_t.grad.numpy())


def test_avg_pool_same_padding_does_not_count_padded_pixels():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    layer = _built(AvgPool2D(2, padding="same"), (1, 3, 3))
    # output ceil(3/2) = 2; one pixel of padding at the bottom/right
    np.testing.assert_allclose(layer.forward(x), [[[[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2],
                                                    [(6 + 7) / 2, 8 / 1]]]])


def test_max_pool_same_padding_ignores_padding_for_negative_inputs():
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    layer = _built(MaxPool2D(2, padding="same"), (1, 3, 3))
    np.testing.assert_array_equal(layer.forward(x), [[[[-1., -3.], [-7., -9.]]]])


def test_default_strides_equal_pool_size_and_keras_aliases():
    layer = MaxPooling2D((2, 3))
    assert layer.strides == (2, 3) and AveragePooling2D is AvgPool2D
    assert _built(layer, (2, 7, 9)).output_shape == (2, 3, 3)
    assert _built(AvgPool2D(3, strides=1, padding="same"), (2, 7, 9)).output_shape == (2, 7, 9)


def test_global_average_pooling_and_its_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = _built(GlobalAveragePooling2D(), (3, 4, 5))
    np.testing.assert_allclose(layer.forward(x, training=True), x.mean(axis=(2, 3)))
    dx = layer.backward(np.ones((2, 3)))
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 20))


def test_flatten_and_reshape_round_trip_values():
    x = np.arange(24.0).reshape(2, 3, 4)
    flat = _built(Flatten(), (3, 4))
    np.testing.assert_array_equal(flat.forward(x, training=True), x.reshape(2, 12))
    np.testing.assert_array_equal(flat.backward(np.ones((2, 12))), np.ones((2, 3, 4)))
    back = _built(Reshape((3, -1)), (12,))
    assert back.output_shape == (3, 4)
    np.testing.assert_array_equal(back.forward(x.reshape(2, 12)), x)


def test_reshape_then_conv_from_flat_mnist_vectors():
    from nnlite.layers import Conv2D
    model = nnlite.Sequential([Reshape((1, 28, 28), input_shape=(784,)), Conv2D(2, 5),
                               MaxPool2D(4), Flatten(), Dense(3)], seed=0)
    x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    assert model.predict(x).shape == (3, 3)
    assert model.layers[1].output_shape == (2, 24, 24)


@pytest.mark.parametrize("make,match", [
    (lambda: MaxPool2D(0), r"MaxPool2D: pool_size must be an int or a pair of ints ≥ 1, got 0"),
    (lambda: AvgPool2D(2, strides=(1, 2, 3)), r"AvgPool2D: strides must be"),
    (lambda: MaxPool2D(2, padding="causal"), r"MaxPool2D: padding must be 'valid' or 'same'"),
    (lambda: Reshape((2, -1, -1)), r"Reshape: target_shape must be a tuple of positive ints "
                                   r"with at most one -1, got \(2, -1, -1\)"),
    (lambda: Reshape((0, 3)), r"Reshape: target_shape"),
    (lambda: Reshape("ab"), r"Reshape: target_shape"),
])
def test_bad_hyper_parameters_raise_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_shapes_raise_shape_error():
    with pytest.raises(ShapeError, match=r"Reshape 'r': cannot reshape input of shape "
                                         r"\(batch, 3, 4\) \(12 values\) to "
                                         r"target_shape \(5, -1\)"):
        Reshape((5, -1), name="r").compute_output_shape((3, 4))
    with pytest.raises(ShapeError, match=r"MaxPool2D 'p': expects inputs \(batch, channels, "
                                         r"height, width\)"):
        MaxPool2D(name="p").compute_output_shape((10,))
    with pytest.raises(ShapeError, match="pool \\(3, 3\\) does not fit input of height x width"):
        AvgPool2D(3).compute_output_shape((1, 2, 8))
    with pytest.raises(ShapeError, match="GlobalAveragePooling2D"):
        GlobalAveragePooling2D().compute_output_shape((4, 4))


def test_max_pool_with_more_than_256_pixels_per_window_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 2, 20, 21))
    layer = _built(MaxPool2D(17, strides=3), (2, 20, 21))     # 289 offsets: index beyond uint8
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    x_t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(x_t, 17, 3).backward(torch.tensor(dy))
    np.testing.assert_allclose(layer.backward(dy), x_t.grad.numpy(), rtol=1e-14)
