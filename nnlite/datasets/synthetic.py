"""Small synthetic datasets (XOR, moons, circles, spirals) and label helpers (±1, one-hot).

Every random function takes ``seed`` (an int or a ``numpy.random.Generator``) and never touches
global random state, so the same seed always gives bit-identical arrays.
"""
import numpy as np

from ..errors import ConfigError, LabelError

__all__ = ["xor", "make_moons", "make_circles", "make_spirals", "to_pm1", "one_hot"]


# --------------------------------------------------------------------------- synthetic sets


def xor():
    """The four points of the XOR problem (deterministic, so it takes no seed).

    Returns:
        ``(x, y)``: x float64 of shape (4, 2) with rows (0,0), (0,1), (1,0), (1,1);
        y int64 of shape (4,) equal to [0, 1, 1, 0].

    Example:
        >>> x, y = xor()
        >>> y.tolist()
        [0, 1, 1, 0]
    """
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def make_moons(n_samples=200, noise=0.1, seed=None):
    """Two interleaving half circles (the classic "moons"), shuffled.

    Class 0 is the upper half circle of radius 1 centred at (0, 0); class 1 the lower one
    centred at (1, 0.5).  Gaussian noise of standard deviation ``noise`` is added.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2); y int64 of shape (n_samples,) in {0, 1},
        with n_samples // 2 points of class 0 and the rest of class 1.

    Example:
        >>> x, y = make_moons(100, noise=0.1, seed=0)
        >>> x.shape, y.dtype, int(y.sum())
        ((100, 2), dtype('int64'), 50)
    """
    _check_positive_int("n_samples", n_samples)
    _check_nonneg_real("noise", noise)
    rng = _rng(seed)
    n0 = n_samples // 2
    t0, t1 = np.linspace(0.0, np.pi, n0), np.linspace(0.0, np.pi, n_samples - n0)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    return _finish(rng, [upper, lower], noise)


def make_circles(n_samples=200, noise=0.05, factor=0.5, seed=None):
    """Two concentric circles, shuffled.

    Class 0 is the outer circle (radius 1), class 1 the inner one (radius ``factor``).
    Gaussian noise of standard deviation ``noise`` is added.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2); y int64 of shape (n_samples,) in {0, 1},
        with n_samples // 2 points of class 0 and the rest of class 1.

    Example:
        >>> x, y = make_circles(100, factor=0.3, seed=0)
        >>> x.shape, int(y.sum())
        ((100, 2), 50)
    """
    _check_positive_int("n_samples", n_samples)
    _check_nonneg_real("noise", noise)
    if not (_is_real(factor) and 0 < factor < 1):
        raise ConfigError(f"factor: expected a number strictly between 0 and 1, got {factor!r}")
    rng = _rng(seed)
    n0 = n_samples // 2
    # endpoint=False: angle 2*pi would duplicate the point at angle 0.
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n_samples - n0, endpoint=False)
    outer = np.column_stack([np.cos(t0), np.sin(t0)])
    inner = factor * np.column_stack([np.cos(t1), np.sin(t1)])
    return _finish(rng, [outer, inner], noise)


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None):
    """Interleaved spiral arms, one per class, shuffled (the CS231n toy problem).

    Arm k starts at the origin and winds outward to radius 1, rotated by 2*pi*k/n_classes.
    ``noise`` is the standard deviation of Gaussian noise added to the angle (radians),
    so it blurs the arms along their curve rather than isotropically.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2) inside the unit disc; y int64 of shape
        (n_samples,) in 0..n_classes-1, class sizes differing by at most one.

    Example:
        >>> x, y = make_spirals(300, n_classes=3, seed=0)
        >>> x.shape, np.bincount(y).tolist()
        ((300, 2), [100, 100, 100])
    """
    _check_positive_int("n_samples", n_samples)
    _check_positive_int("n_classes", n_classes)
    if n_classes < 2:
        raise ConfigError(f"n_classes: expected an integer >= 2, got {n_classes!r}")
    _check_nonneg_real("noise", noise)
    rng = _rng(seed)
    arms = []
    for k in range(n_classes):
        n_k = n_samples // n_classes + (k < n_samples % n_classes)
        radius = np.linspace(0.0, 1.0, n_k)
        angle = 2 * np.pi * k / n_classes + 4.0 * radius + noise * rng.standard_normal(n_k)
        arms.append(radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)]))
    return _finish(rng, arms, 0.0)


def _finish(rng, groups, noise):
    """Stack per-class point groups, add isotropic noise, shuffle; labels are group indices."""
    x = np.concatenate(groups)
    y = np.concatenate([np.full(len(g), k, dtype=np.int64) for k, g in enumerate(groups)])
    if noise > 0:
        x += noise * rng.standard_normal(x.shape)
    order = rng.permutation(len(y))  # shuffled so mini-batches are not single-class
    return x[order], y[order]


def to_pm1(y):
    """Map binary labels {0, 1} (or booleans) to {-1.0, +1.0}, e.g. for hinge/logistic ±1 losses.

    Returns:
        float64 array of the same shape as ``y``.

    Raises:
        nnlite.errors.LabelError (a ValueError): ``y`` holds values other than 0 and 1.

    Example:
        >>> to_pm1([0, 1, 1]).tolist()
        [-1.0, 1.0, 1.0]
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise LabelError(f"y: expected numeric labels in {{0, 1}}, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))  # NaN counts as bad too
    if bad.any():
        raise LabelError(f"y: expected labels in {{0, 1}}, found {np.unique(y[bad])[:5].tolist()}")
    return 2.0 * y.astype(np.float64) - 1.0


def one_hot(y, num_classes=None, dtype=np.float32):
    """One-hot encode integer class labels.

    Args:
        y: integer labels of any shape, values in 0..num_classes-1.
        num_classes: number of columns; default ``max(y) + 1``.
        dtype: dtype of the result (float32 by default, like the MNIST inputs).

    Returns:
        array of shape ``y.shape + (num_classes,)`` with a single 1 per row.

    Raises:
        nnlite.errors.LabelError (a ValueError): labels not integers or out of range.
        nnlite.errors.ConfigError (a ValueError): num_classes not a positive integer.

    Example:
        >>> one_hot([0, 2], num_classes=3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # accept 3.0 (labels stored as floats), reject 2.5
    if y.dtype.kind not in "iu":
        raise LabelError(f"y: expected integer class labels, got dtype {y.dtype}")
    if num_classes is None:
        if y.size == 0:
            raise ConfigError("num_classes: expected a positive integer when y is empty, got None")
        num_classes = int(y.max()) + 1
    _check_positive_int("num_classes", num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise LabelError(
            f"y: expected labels in 0..{num_classes - 1}, "
            f"found range {int(y.min())}..{int(y.max())}"
        )
    return np.eye(num_classes, dtype=dtype)[y]


# --------------------------------------------------------------------------- validation


def _rng(seed):
    """A Generator from ``seed``; never the global NumPy state."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (_is_int(seed) and seed >= 0):
        return np.random.default_rng(seed)
    raise ConfigError(
        f"seed: expected None, a non-negative int or a numpy.random.Generator, got {seed!r}"
    )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_positive_int(name, value):
    if not (_is_int(value) and value > 0):
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")


def _check_nonneg_real(name, value):
    if not (_is_real(value) and np.isfinite(value) and value >= 0):
        raise ConfigError(f"{name}: expected a finite number >= 0, got {value!r}")
