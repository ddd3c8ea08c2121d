"""Merge layers (multi-input contract): forward vs NumPy, finite-difference and PyTorch
gradients for every input, config round trip, inference caches nothing, errors."""
import numpy as np
import pytest

from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import _numeric, relative_error
from nnlite.layers import REGISTRY, Add, Concatenate, Multiply, Subtract

# (id, factory, input shapes (with batch), NumPy reference, torch reference)
CASES = [
    ("add2", Add, [(4, 3), (4, 3)], lambda xs: xs[0] + xs[1], lambda t, xs: xs[0] + xs[1]),
    ("add3", Add, [(4, 3)] * 3, lambda xs: xs[0] + xs[1] + xs[2],
     lambda t, xs: xs[0] + xs[1] + xs[2]),
    ("subtract", Subtract, [(4, 3), (4, 3)], lambda xs: xs[0] - xs[1],
     lambda t, xs: xs[0] - xs[1]),
    ("multiply2", Multiply, [(4, 3), (4, 3)], lambda xs: xs[0] * xs[1],
     lambda t, xs: xs[0] * xs[1]),
    ("multiply3", Multiply, [(2, 5)] * 3, lambda xs: xs[0] * xs[1] * xs[2],
     lambda t, xs: xs[0] * xs[1] * xs[2]),
    ("concat", Concatenate, [(4, 2), (4, 3), (4, 1)], lambda xs: np.concatenate(xs, axis=1),
     lambda t, xs: t.cat(xs, dim=1)),
    ("concat_axis1_3d", lambda: Concatenate(axis=1), [(2, 3, 4), (2, 1, 4)],
     lambda xs: np.concatenate(xs, axis=1), lambda t, xs: t.cat(xs, dim=1)),
    ("concat_axis-2_3d", lambda: Concatenate(axis=-2), [(2, 3, 4), (2, 2, 4)],
     lambda xs: np.concatenate(xs, axis=-2), lambda t, xs: t.cat(xs, dim=-2)),
]
IDS = [c[0] for c in CASES]


def _setup(case, seed=0):
    _, factory, shapes, _, _ = case
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in shapes]
    layer = factory()
    layer.build([s[1:] for s in shapes], rng, np.float64)
    return layer, xs


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy_and_output_shape(case):
    layer, xs = _setup(case)
    y = layer.forward(xs)
    np.testing.assert_array_equal(y, case[3](xs))
    assert y.shape[1:] == layer.output_shape
    assert layer.count_params() == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_matches_finite_differences_for_every_input(case):
    layer, xs = _setup(case)
    r = np.random.default_rng(1).standard_normal(layer.forward(xs).shape)
    layer.forward(xs, training=True)
    dxs = [np.array(d) for d in layer.backward(r)]
    assert len(dxs) == len(xs)
    for x, dx in zip(xs, dxs):
        numeric = _numeric(lambda: float(np.sum(r * layer.forward(xs, training=True))), x, 1e-6)
        assert dx.shape == x.shape
        assert relative_error(dx, numeric) < 1e-7


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pytorch_parity(case):
    torch = pytest.importorskip("torch")
    layer, xs = _setup(case)
    y = layer.forward(xs, training=True)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dxs = layer.backward(dy)
    xs_t = [torch.tensor(x, requires_grad=True) for x in xs]
    y_t = case[4](torch, xs_t)
    y_t.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-13)
    for dx, x_t in zip(dxs, xs_t):
        np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip_and_inference_caches_nothing(case):
    layer, xs = _setup(case)
    layer.name = "merge"
    config = layer.get_config()
    clone = REGISTRY[type(layer).__name__].from_config(config)
    assert clone.get_config() == config
    clone.build([x.shape[1:] for x in xs], None, np.float64)
    np.testing.assert_array_equal(clone.forward(xs), layer.forward(xs))
    assert clone._buffers == {} and clone._xs is None


def test_backward_does_not_modify_upstream_gradient():
    layer, xs = _setup(CASES[4])
    layer.forward(xs, training=True)
    dy = np.ones((2, 5))
    layer.backward(dy)
    np.testing.assert_array_equal(dy, np.ones((2, 5)))


def test_merge_errors_name_the_layer_and_shapes():
    with pytest.raises(ShapeError, match=r"Add 'add' needs inputs of one shape, got "
                                         r"\(batch, 3\) and \(batch, 4\)"):
        Add().compute_output_shape([(3,), (4,)])
    with pytest.raises(ShapeError, match="Subtract 'subtract' needs 2 inputs, got 3"):
        Subtract().compute_output_shape([(3,)] * 3)
    with pytest.raises(ShapeError, match="Multiply 'multiply' needs at least 2 inputs, got 1"):
        Multiply().compute_output_shape([(3,)])
    with pytest.raises(ShapeError, match=r"axis 3 is out of range"):
        Concatenate(axis=3).compute_output_shape([(3,), (3,)])
    with pytest.raises(ConfigError, match=r"axis must be a non-zero int \(axis 0 is the batch\)"):
        Concatenate(axis=0)
    with pytest.raises(ConfigError, match="a merge takes its input shapes from the graph"):
        Add(input_dim=3)
