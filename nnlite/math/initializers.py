"""Weight initializers: ``init(shape, fan_in, fan_out, rng, dtype) -> ndarray``.

Fans are passed in by the layer because only the layer knows them (a conv kernel of shape
(filters, in_channels, kh, kw) has fan-in ``in_channels * kh * kw`` and fan-out
``filters * kh * kw``, as in Keras and PyTorch).  Every initializer draws from the
``numpy.random.Generator`` it is given, so the same seed gives bit-identical weights.

    zeros / ones
    glorot_uniform   U(-a, a),  a = sqrt(6 / (fan_in + fan_out))      (Glorot & Bengio 2010)
    glorot_normal    N(0, 2 / (fan_in + fan_out))
    he_uniform       U(-a, a),  a = sqrt(6 / fan_in)                  (He et al. 2015)
    he_normal        N(0, 2 / fan_in)
    lecun_normal     N(0, 1 / fan_in)
    uniform          U(-0.05, 0.05)                                   (Keras' "uniform")
    orthogonal       Q of the QR decomposition of a standard normal matrix, signs fixed by
                     diag(R) (Saxe et al. 2014; Keras' rule): rows (or columns) orthonormal
"""
from __future__ import annotations

import numpy as np

from ..errors import UnknownNameError

__all__ = ["get", "names"]


def zeros(shape, fan_in, fan_out, rng, dtype):
    return np.zeros(shape, dtype=dtype)


def ones(shape, fan_in, fan_out, rng, dtype):
    return np.ones(shape, dtype=dtype)


def _uniform(limit, shape, rng, dtype):
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


def _normal(std, shape, rng, dtype):
    return (rng.standard_normal(size=shape) * std).astype(dtype, copy=False)


def glorot_uniform(shape, fan_in, fan_out, rng, dtype):
    return _uniform(np.sqrt(6.0 / (fan_in + fan_out)), shape, rng, dtype)


def glorot_normal(shape, fan_in, fan_out, rng, dtype):
    return _normal(np.sqrt(2.0 / (fan_in + fan_out)), shape, rng, dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype):
    return _uniform(np.sqrt(6.0 / fan_in), shape, rng, dtype)


def he_normal(shape, fan_in, fan_out, rng, dtype):
    return _normal(np.sqrt(2.0 / fan_in), shape, rng, dtype)


def lecun_normal(shape, fan_in, fan_out, rng, dtype):
    return _normal(np.sqrt(1.0 / fan_in), shape, rng, dtype)


def uniform(shape, fan_in, fan_out, rng, dtype):
    return _uniform(0.05, shape, rng, dtype)


def orthogonal(shape, fan_in, fan_out, rng, dtype):
    """Orthonormal rows or columns: the weight flattened to (∏ shape[:-1], shape[-1]) is Q of
    a QR decomposition (of the transpose when it is wide), Q·sign(diag R) so the draw is
    uniform over orthogonal matrices.  A recurrent kernel (H, 4H) gets orthonormal rows."""
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    cols = int(shape[-1]) if shape else 1
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape).astype(dtype, copy=False)


_TABLE = {f.__name__: f for f in (zeros, ones, glorot_uniform, glorot_normal, he_uniform,
                                  he_normal, lecun_normal, uniform, orthogonal)}
_ALIASES = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
            "kaiming_uniform": "he_uniform", "kaiming_normal": "he_normal"}


def names() -> list[str]:
    """The valid initializer names (with the xavier/kaiming aliases), sorted."""
    return sorted(set(_TABLE) | set(_ALIASES))


def get(identifier):
    """Look up an initializer by name; callables pass through."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        if key in _TABLE:
            return _TABLE[key]
    raise UnknownNameError(
        f"unknown initializer {identifier!r}; valid names: {', '.join(names())}"
    )


def name_of(initializer) -> str:
    """The registered name of an initializer (for ``get_config``)."""
    for key, fn in _TABLE.items():
        if fn is initializer:
            return key
    raise UnknownNameError(f"initializer {initializer!r} is not registered; it cannot be saved")
