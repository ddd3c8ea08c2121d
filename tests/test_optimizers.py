"""Update rules against hand-written formulas, and the batching regimes of the lecture."""
import numpy as np
import pytest

from nnlite import optimizers
from nnlite.errors import ConfigError, UnknownNameError
from nnlite.training.loop import resolve_batch_size


def _run(opt, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(steps)]
    for g in grads:
        opt.step(w, g.copy())
    return w, grads, rng


def _start(seed=0):
    return np.random.default_rng(seed).standard_normal(7)


def test_sgd_plain():
    w, grads, _ = _run(optimizers.SGD(learning_rate=0.1))
    np.testing.assert_allclose(w, _start() - 0.1 * np.sum(grads, axis=0), rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    w, grads, _ = _run(optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=nesterov))
    ref, v = _start(), np.zeros(7)
    for g in grads:
        v = 0.9 * v + g
        ref = ref - 0.1 * (g + 0.9 * v if nesterov else v)
    np.testing.assert_allclose(w, ref, rtol=1e-13)


def test_adam():
    w, grads, _ = _run(optimizers.Adam(learning_rate=0.01))
    ref, m, v = _start(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref = ref - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(w, ref, rtol=1e-12)


def test_rmsprop():
    w, grads, _ = _run(optimizers.RMSProp(learning_rate=0.01, rho=0.9))
    ref, v = _start(), np.zeros(7)
    for g in grads:
        v = 0.9 * v + 0.1 * g * g
        ref = ref - 0.01 * g / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(w, ref, rtol=1e-12)


def test_adagrad():
    w, grads, _ = _run(optimizers.AdaGrad(learning_rate=0.1))
    ref, s = _start(), np.zeros(7)
    for g in grads:
        s = s + g * g
        ref = ref - 0.1 * g / (np.sqrt(s) + 1e-10)
    np.testing.assert_allclose(w, ref, rtol=1e-12)


def test_state_round_trip_resumes_exactly():
    a = optimizers.Adam(learning_rate=0.01)
    w_a, _, _ = _run(a, steps=3)
    b = optimizers.Adam(learning_rate=0.01)
    b.set_state(a.get_state())
    w_b = w_a.copy()
    g = np.random.default_rng(9).standard_normal(7)
    a.step(w_a, g)
    b.step(w_b, g)
    np.testing.assert_array_equal(w_a, w_b)
    assert b.iterations == 4


@pytest.mark.parametrize("opt, n, expected", [
    (optimizers.GD(), 500, 500),
    (optimizers.SGD(), 500, 1),
    (optimizers.MiniBatchSGD(batch_size=16), 500, 16),
    (optimizers.Adam(), 500, 32),
    (optimizers.MiniBatchSGD(batch_size=64), 10, 10),
])
def test_regime_batch_sizes(opt, n, expected):
    assert resolve_batch_size(None, opt, n) == expected


def test_explicit_batch_size_wins():
    assert resolve_batch_size(8, optimizers.GD(), 100) == 8
    assert resolve_batch_size("full", optimizers.SGD(), 100) == 100
    with pytest.raises(ConfigError, match="batch_size must be a positive int or 'full', got 0"):
        resolve_batch_size(0, optimizers.SGD(), 100)


@pytest.mark.parametrize("factory, message", [
    (lambda: optimizers.SGD(learning_rate=-0.1),
     "SGD: learning_rate must be a finite number > 0, got -0.1"),
    (lambda: optimizers.SGD(momentum=1.5), "momentum must be in \\[0, 1\\), got 1.5"),
    (lambda: optimizers.Adam(beta_1=1.0), "Adam: beta_1 must be in \\[0, 1\\), got 1.0"),
    (lambda: optimizers.MiniBatchSGD(batch_size=0), "batch_size must be a positive int, got 0"),
    (lambda: optimizers.SGD(nesterov=True), "nesterov=True needs momentum > 0"),
])
def test_bad_hyper_parameters(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_lookup_by_name():
    assert isinstance(optimizers.get("gd"), optimizers.GD)
    assert isinstance(optimizers.get("minibatch"), optimizers.MiniBatchSGD)
    with pytest.raises(UnknownNameError, match="unknown optimizer 'lion'; valid names: .*adam"):
        optimizers.get("lion")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_in_place_on_views_with_scratch_that_may_be_x(dtype):
    from nnlite.optimizers.base import axpy
    buf = np.zeros(10, dtype)
    x = np.arange(5, dtype=dtype)
    axpy(2.0, x, buf[2:7], np.empty(5, dtype))                 # a view of a larger buffer
    np.testing.assert_array_equal(buf, [0, 0, 0, 2, 4, 6, 8, 0, 0, 0])
    np.testing.assert_array_equal(x, np.arange(5))             # x unchanged
    axpy(-1.0, x, buf[2:7], x)                                  # scratch = x: x is consumed
    np.testing.assert_array_equal(buf, [0, 0, 0, 1, 2, 3, 4, 0, 0, 0])
    assert buf.dtype == dtype


def test_no_nnlite_module_calls_scipy_blas():
    # SciPy links an OpenBLAS of its own; its worker threads spin after each call and take the
    # cores from NumPy's next products (nnlite.optimizers.base.axpy: a W2r epoch 16x slower at
    # 2 threads), so the package's hot paths stay within NumPy's BLAS
    from pathlib import Path

    import nnlite
    root = Path(nnlite.__file__).parent
    import ast
    users = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.startswith("scipy.linalg") for n in names) or (
                    isinstance(node, ast.ImportFrom) and node.module == "scipy"
                    and any(a.name == "linalg" for a in node.names)):
                users.append(str(path.relative_to(root)))
    assert users == []
