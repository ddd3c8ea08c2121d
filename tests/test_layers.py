"""The shared contract every layer passes: NumPy reference forward, float64 finite-difference
gradients of input and parameters, shapes, parameter count, config round trip, training vs
inference behaviour, and PyTorch parity (when torch is installed)."""
import cnn_ref
import numpy as np
import pytest
import torch_ref
from scipy.special import erf, expit

from nnlite import activations
from nnlite.errors import ConfigError, UnknownNameError
from nnlite.gradcheck import check_layer
from nnlite.layers import (
    ELU,
    GELU,
    REGISTRY,
    Activation,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    HardSigmoid,
    Identity,
    LayerNormalization,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Residual,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
)


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
    "gelu": lambda z: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0))),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "softsign": lambda z: z / (1.0 + np.abs(z)),
    "hard_sigmoid": lambda z: np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0,  # relu6(x+3)/6
}
NEW_ACTIVATIONS = ("gelu", "elu", "silu", "softsign", "hard_sigmoid")

# (id, factory, input shape, parameter count for that input)
CASES = [
    ("dense", lambda: Dense(5), (4, 3), 3 * 5 + 5),
    ("dense_nobias", lambda: Dense(4, use_bias=False), (3, 6), 24),
    *[(f"dense_{a}", (lambda a=a: Dense(4, activation=a)), (5, 3), 16)
      for a in ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax",
                *NEW_ACTIVATIONS)],
    ("sigmoid", Sigmoid, (4, 5), 0),
    ("tanh", Tanh, (4, 5), 0),
    ("relu", ReLU, (4, 5), 0),
    ("leaky_relu", LeakyReLU, (4, 5), 0),
    ("leaky_relu_0.3", lambda: LeakyReLU(alpha=0.3), (4, 5), 0),
    ("softplus", Softplus, (4, 5), 0),
    ("softmax", Softmax, (4, 5), 0),
    ("identity", Identity, (4, 5), 0),
    ("activation_tanh", lambda: Activation("tanh"), (3, 2), 0),
    ("gelu", GELU, (4, 5), 0),
    ("elu", ELU, (4, 5), 0),
    ("elu_0.5", lambda: ELU(alpha=0.5), (4, 5), 0),
    ("silu", SiLU, (4, 5), 0),
    ("softsign", Softsign, (4, 5), 0),
    ("hard_sigmoid", HardSigmoid, (4, 5), 0),
    ("conv", lambda: Conv2D(4, 3), (2, 3, 6, 5), 4 * 3 * 9 + 4),
    ("conv_same_stride2_tanh", lambda: Conv2D(3, 3, strides=2, padding="same",
                                              activation="tanh"), (2, 2, 7, 6), 3 * 2 * 9 + 3),
    ("conv_dilated_relu_nobias", lambda: Conv2D(2, (2, 3), dilation_rate=2, use_bias=False,
                                                activation="relu"), (2, 2, 7, 8), 2 * 2 * 6),
    ("conv_rect_stride_gelu", lambda: Conv2D(3, (3, 2), strides=(1, 2), activation="gelu"),
     (2, 2, 5, 6), 3 * 2 * 6 + 3),
    ("conv_same_dilated_sigmoid", lambda: Conv2D(2, 3, padding="same", dilation_rate=(2, 1),
                                                 activation="sigmoid"), (2, 1, 6, 5), 2 * 9 + 2),
    ("max_pool", MaxPool2D, (2, 3, 6, 5), 0),
    ("max_pool_same_3s2", lambda: MaxPool2D(3, strides=2, padding="same"), (2, 2, 7, 6), 0),
    ("avg_pool", AvgPool2D, (2, 3, 6, 5), 0),
    ("avg_pool_same_rect", lambda: AvgPool2D((3, 2), strides=(2, 1), padding="same"),
     (2, 2, 7, 6), 0),
    ("global_avg_pool", GlobalAveragePooling2D, (2, 3, 4, 5), 0),
    ("global_avg_pool_keepdims", lambda: GlobalAveragePooling2D(keepdims=True), (2, 3, 4, 5), 0),
    ("flatten", Flatten, (2, 3, 4, 5), 0),
    ("reshape", lambda: Reshape((5, -1)), (2, 3, 10), 0),
    ("dropout", lambda: Dropout(0.3), (4, 5), 0),
    ("batch_norm", BatchNormalization, (6, 4), 8),
    ("batch_norm_4d", lambda: BatchNormalization(momentum=0.9, epsilon=1e-5), (3, 2, 3, 4), 4),
    ("layer_norm", LayerNormalization, (4, 6), 12),
    ("layer_norm_3d", lambda: LayerNormalization(epsilon=1e-5), (2, 3, 5), 10),
    ("residual", lambda: Residual([Dense(3, activation="tanh"), Dense(3)]), (4, 3), 24),
    ("residual_projection", lambda: Residual([Dense(5, activation="sigmoid"), Tanh()],
                                             projection="dense"), (4, 3), 40),
]
IDS = [c[0] for c in CASES]

# Generic checks that cannot hold for stochastic or batch-dependent layers; what they check
# instead is tested in test_dropout.py and test_normalization.py.
NOT_APPLICABLE = {
    # a fresh random mask on every call: finite differences see a different function each time
    # (test_dropout.py checks gradients with the mask frozen); PyTorch's RNG draws other masks
    "gradients": {"dropout"},
    "pytorch": {"dropout"},
    # training output uses a random mask / the batch statistics, inference does not
    "inference_matches_training": {"dropout", "batch_norm", "batch_norm_4d"},
}


def _cases(check):
    return [pytest.param(c, id=c[0]) for c in CASES if c[0] not in NOT_APPLICABLE.get(check, ())]


def _input(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    # keep ReLU-type inputs away from the kink at 0 where finite differences are undefined
    return np.where(np.abs(x) < 1e-3, 0.5, x)


def _built(factory, shape, dtype=np.float64, seed=0):
    layer = factory()
    layer.build(shape[1:], np.random.default_rng(seed), dtype)
    return layer


def _reference_forward(layer, x):
    kind = type(layer).__name__
    if kind == "Residual":  # x + block(x), or projection(x) + block(x)
        h = x
        for inner in layer.block:
            h = _reference_forward(inner, h)
        return h + (x if layer.projection is None else _reference_forward(layer.projection, x))
    if kind in cnn_ref.FORWARD:
        return cnn_ref.FORWARD[kind](layer, x)
    if isinstance(layer, Conv2D):
        z, alpha = cnn_ref.conv2d(layer, x), dict(layer.activation.params).get("alpha")
    elif isinstance(layer, Dense):
        z = x @ layer.params["kernel"]
        if layer.use_bias:
            z = z + layer.params["bias"]
        alpha = dict(layer.activation.params).get("alpha")
    else:
        z, alpha = x, dict(layer.activation.params).get("alpha")
    if layer.activation.name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
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


@pytest.mark.parametrize("case", _cases("gradients"))
def test_gradients_match_finite_differences(case):
    _, factory, shape, _ = case
    # seed=1: with the input's seed (0), layers that draw nothing at build would get the
    # probe weights r equal to x, and normalization layers map r = x to a gradient of ~0
    # (x lies in span{1, x̂}), which hides errors and leaves only rounding noise to compare
    report = check_layer(factory(), _input(shape), seed=1)
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


@pytest.mark.parametrize("case", _cases("inference_matches_training"))
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


@pytest.mark.parametrize("case", _cases("pytorch"))
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
        layer = _built(lambda name=name: Dense(2, activation=name), (3, 4))
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
