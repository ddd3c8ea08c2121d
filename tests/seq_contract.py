"""The shared layer contract (see tests/test_layers.py) for the sequence layers, which take masks
and may return states: used by test_recurrent, test_sequence_layers and test_embedding.

Each case is ``(id, factory, input shape, parameter count, mask or None)``.
"""
import numpy as np

from nnlite.gradcheck import check_layer
from nnlite.layers import REGISTRY


def sequence_input(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 1e-3, 0.5, x)  # away from kinks (max pooling ties)


def ragged_mask(n, steps):
    """A (n, steps) mask with right padding, left padding and a hole."""
    mask = np.ones((n, steps), dtype=bool)
    mask[0, steps - 2:] = False
    if n > 1:
        mask[1, :2] = False
    if n > 2:
        mask[2, steps // 2] = False
    return mask


def built(factory, shape, dtype=np.float64, seed=0):
    layer = factory()
    layer.build(shape[1:], np.random.default_rng(seed), dtype)
    return layer


def run(layer, x, mask, training=False):
    """The layer's output — a list of arrays for a layer with several outputs."""
    kwargs = {"mask": mask} if mask is not None and layer.supports_masking else {}
    out = layer.forward(x, training=training, **kwargs)
    return list(out) if getattr(layer, "multi_output", False) else out


def _outputs(out):
    return out if isinstance(out, list) else [out]


def check_gradients(factory, shape, mask, x=None, seed=1):
    x = sequence_input(shape) if x is None else x
    report = check_layer(factory(), x, seed=seed, mask=mask)
    assert report.ok, str(report)
    assert report.max_error < 1e-6
    return report


def check_shapes_and_count(factory, shape, count, mask, x=None):
    layer = built(factory, shape)
    x = sequence_input(shape) if x is None else x
    ys = _outputs(run(layer, x, mask))
    shapes = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
    assert [y.shape for y in ys] == [(shape[0],) + tuple(s) for s in shapes]
    assert layer.count_params() == count
    assert set(layer.params) == set(layer.grads)
    for key in layer.params:
        assert layer.params[key].shape == layer.grads[key].shape


def check_config_round_trip(factory, shape, mask, x=None):
    layer = built(factory, shape)
    layer.name = "my_layer"
    config = layer.get_config()
    clone = REGISTRY[type(layer).__name__].from_config(config)
    assert clone.get_config() == config
    clone.build(shape[1:], np.random.default_rng(5), np.float64)
    for key in layer.params:
        clone.params[key][...] = layer.params[key]
    x = sequence_input(shape) if x is None else x
    for a, b in zip(_outputs(run(clone, x, mask)), _outputs(run(layer, x, mask)), strict=True):
        np.testing.assert_array_equal(a, b)


def check_inference(factory, shape, mask, x=None, stochastic=False):
    """Inference caches nothing; without dropout it equals the training output."""
    layer = built(factory, shape)
    x = sequence_input(shape) if x is None else x
    y_train = [y.copy() for y in _outputs(run(layer, x, mask, training=True))]
    layer.release_buffers()
    before = {k for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    y_infer = _outputs(run(layer, x, mask))
    after = {k for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    assert after == before
    assert layer._buffers == {}
    if not stochastic:
        for a, b in zip(y_train, y_infer, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def check_float32(factory, shape, mask, x=None):
    x = sequence_input(shape) if x is None else x
    y64 = _outputs(run(built(factory, shape), x, mask))
    y32 = _outputs(run(built(factory, shape, np.float32), x.astype(np.float32), mask))
    for a, b in zip(y32, y64, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
