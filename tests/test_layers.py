"""The shared contract every layer passes: NumPy reference forward, float64 finite-difference
gradients of input and parameters, shapes, parameter count, config round trip, training vs
inference behaviour, and PyTorch parity (when torch is installed)."""
import numpy as np
import pytest
from scipy.special import expit

from nnlite import activations
from nnlite.errors import ConfigError, UnknownNameError
from nnlite.gradcheck import check_layer
from nnlite.layers import (REGISTRY, Activation, Dense, Identity, LeakyReLU, ReLU, Sigmoid,
                           Softmax, Softplus, Tanh)

import torch_ref


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# NumPy references written independently of nnlite.activations
REFERENCE = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softmax": _softmax,
    "linear": lambda z: z,
}

# (id, factory, input shape, parameter count for that input)
CASES = [
    ("dense", lambda: Dense(5), (4, 3), 3 * 5 + 5),
    ("dense_nobias", lambda: Dense(4, use_bias=False), (3, 6), 24),
    *[(f"dense_{a}", (lambda a=a: Dense(4, activation=a)), (5, 3), 16)
      for a in ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax")],
    ("sigmoid", Sigmoid, (4, 5), 0),
    ("tanh", Tanh, (4, 5), 0),
    ("relu", ReLU, (4, 5), 0),
    ("leaky_relu", LeakyReLU, (4, 5), 0),
    ("leaky_relu_0.3", lambda: LeakyReLU(alpha=0.3), (4, 5), 0),
    ("softplus", Softplus, (4, 5), 0),
    ("softmax", Softmax, (4, 5), 0),
    ("identity", Identity, (4, 5), 0),
    ("activation_tanh", lambda: Activation("tanh"), (3, 2), 0),
]
IDS = [c[0] for c in CASES]


def _input(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    # keep ReLU-type inputs away from the kink at 0 where finite differences are undefined
    return np.where(np.abs(x) < 1e-3, 0.5, x)


def _built(factory, shape, dtype=np.float64, seed=0):
    layer = factory()
    layer.build(shape[1:], np.random.default_rng(seed), dtype)
    return layer


def _reference_forward(layer, x):
    if isinstance(layer, Dense):
        z = x @ layer.params["kernel"]
        if layer.use_bias:
            z = z + layer.params["bias"]
        alpha = dict(layer.activation.params).get("alpha")
    else:
        z, alpha = x, dict(layer.activation.params).get("alpha")
    if alpha is not None:
        return np.where(z > 0, z, alpha * z)
    return REFERENCE[layer.activation.name](z)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy_reference(case):
    _, factory, shape, _ = case
    layer = _built(factory, shape)
    x = _input(shape)
    np.testing.assert_allclose(layer.forward(x), _reference_forward(layer, x), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case):
    _, factory, shape, _ = case
    report = check_layer(factory(), _input(shape))
    assert report.ok, str(report)
    assert report.max_error < 1e-6
    assert "input" in report.errors


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shapes_and_parameter_count(case):
    _, factory, shape, count = case
    layer = _built(factory, shape)
    y = layer.forward(_input(shape))
    assert y.shape == (shape[0],) + layer.output_shape
    assert layer.count_params() == count
    assert set(layer.params) == set(layer.grads)
    for key in layer.params:
        assert layer.params[key].shape == layer.grads[key].shape


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    _, factory, shape, _ = case
    layer = _built(factory, shape)
    layer.name = "my_layer"
    config = layer.get_config()
    clone = REGISTRY[type(layer).__name__].from_config(config)
    assert clone.get_config() == config
    clone.build(shape[1:], np.random.default_rng(0), np.float64)
    clone_params = dict(clone.params)
    for key in layer.params:
        clone_params[key][...] = layer.params[key]
    x = _input(shape)
    np.testing.assert_array_equal(clone.forward(x), layer.forward(x))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inference_caches_nothing_and_matches_training(case):
    _, factory, shape, _ = case
    layer = _built(factory, shape)
    x = _input(shape)
    y_train = layer.forward(x, training=True).copy()
    layer.release_buffers()
    cached_before = {k: v for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    y_infer = layer.forward(x)
    cached_after = {k: v for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    np.testing.assert_array_equal(y_train, y_infer)
    assert cached_after.keys() == cached_before.keys()
    assert layer._buffers == {}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_forward_close_to_float64(case):
    _, factory, shape, _ = case
    layer64 = _built(factory, shape)
    layer32 = _built(factory, shape, dtype=np.float32)
    x = _input(shape)
    y32 = layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, layer64.forward(x), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pytorch_parity(case):
    pytest.importorskip("torch")
    _, factory, shape, _ = case
    layer = _built(factory, shape)
    x = _input(shape)
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    dx = layer.backward(dy)
    y_t, dx_t, grads_t = torch_ref.layer_grads(layer, x, dy)
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-13)
    for key, grad in grads_t.items():
        np.testing.assert_allclose(layer.grads[key], grad, rtol=1e-10, atol=1e-13)


def test_backward_without_input_grad_still_fills_parameter_gradients():
    layer = _built(lambda: Dense(3, activation="relu"), (4, 2))
    x = _input((4, 2))
    layer.forward(x, training=True)
    dy = np.ones((4, 3))
    assert layer.backward(dy, input_grad=False) is None
    kernel_grad = layer.grads["kernel"].copy()
    layer.forward(x, training=True)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.grads["kernel"], kernel_grad)


def test_backward_does_not_modify_upstream_gradient():
    layer = _built(lambda: Dense(3, activation="sigmoid"), (4, 2))
    layer.forward(_input((4, 2)), training=True)
    dy = np.random.default_rng(0).standard_normal((4, 3))
    before = dy.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(dy, before)


def test_relu_derivative_is_the_step_function_not_min01():
    # The slide writes ReLU' = min{0, 1} (= 0 everywhere); the derivative is 1[x > 0].
    relu = activations.get("relu")
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    y = relu(x)
    np.testing.assert_array_equal(relu.backward(np.ones_like(x), y), [0, 0, 0, 1, 1])


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    fn = activations.get("sigmoid")
    x = np.linspace(-5, 5, 11)
    y = fn(x)
    np.testing.assert_allclose(fn.backward(np.ones_like(x), y), expit(x) * (1 - expit(x)),
                               rtol=1e-14)


def test_dense_string_activation_accepts_every_activation_name():
    for name in activations.names():
        layer = _built(lambda: Dense(2, activation=name), (3, 4))
        assert layer.activation.name == name
        assert np.isfinite(layer.forward(_input((3, 4)))).all()


def test_activations_finite_for_extreme_inputs():
    x = np.array([[-1e4, -709.0, -37.0, 0.0, 37.0, 709.0, 1e4]])
    for name in activations.names():
        fn = activations.get(name)
        y = fn(x)
        saved = y if fn.saves == "output" else x
        dx = fn.backward(np.ones_like(x), saved)
        assert np.isfinite(y).all() and np.isfinite(dx).all(), name


def test_unknown_activation_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid names: .*relu.*sigmoid"):
        Dense(3, activation="rleu")


@pytest.mark.parametrize("units", [0, -1, 2.5, "3", True])
def test_dense_rejects_bad_units(units):
    with pytest.raises(ConfigError, match=f"Dense: units must be a positive int, got {units!r}"):
        Dense(units)


def test_leaky_relu_rejects_negative_alpha():
    with pytest.raises(ConfigError, match="alpha must be a number in \\[0, 1\\], got -0.1"):
        LeakyReLU(alpha=-0.1)
