"""The ``Loss`` base class: ``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``.

A loss is a sum of per-element terms ℓ over the elements of its output (each entry for the
elementwise losses, each row of classes for the categorical ones)::

    reduction="mean"   L = Σ ℓ / (number of terms)    (Keras' sum_over_batch_size, PyTorch's mean:
                                                       an (n, k) BCE output has n·k terms)
    reduction="sum"    L = Σ ℓ                        (the lecture's Σ form)

Subclasses implement ``_forward(y_pred, y)`` (on checked, prepared arrays; caches what
``_backward`` needs), ``_backward()`` (a fresh array the caller may overwrite) and
``_per_example(y_pred, y)`` (per-example shares of the value, for sample weights).  The public
``forward``/``backward`` check their input and never consume the cache, so ``backward()`` can be
called again; models call the underscored forms on their hot path.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DTypeError, InputValueError, ShapeError
from .targets import check_sample_weight, float_targets, match_shape

__all__ = ["Loss", "flag", "EPSILON"]

#: clipping of probabilities for the (unfused) probability forms, as in Keras
EPSILON = 1e-7


class Loss:
    """Base class.  Subclasses implement ``_forward``/``_backward`` on checked arrays."""

    task = "regression"          # how predictions map to classes: pm1, binary, categorical, sparse
    fuses_with: tuple = ()       # activation names whose logits this loss can take instead
    from_logits = True

    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"{type(self).__name__}: reduction must be 'mean' or 'sum', "
                              f"got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    # -- public, checked ------------------------------------------------------------
    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        """Loss value for predictions ``(batch, ...)`` and targets; checks the targets.

        ``sample_weight`` (shape (batch,), ≥ 0) weights each example's loss ℓ_i:
        ``Σ_i w_i ℓ_i / terms`` for ``reduction="mean"`` (Keras' rule: divided by the number of
        terms, not by Σ w), ``Σ_i w_i ℓ_i`` for ``"sum"``; ``backward`` then returns
        w_i ∂ℓ_i/∂y_pred."""
        name = type(self).__name__
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind not in "biuf":
            raise DTypeError(f"{name}: y_pred must be a real numeric array, got dtype "
                             f"{y_pred.dtype}")
        if y_pred.ndim == 0 or y_pred.shape[0] == 0:
            raise ShapeError(f"{name}: y_pred must have a non-empty batch axis, "
                             f"got shape {y_pred.shape}")
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(np.float64)
        if not np.all(np.isfinite(y_pred)):
            raise InputValueError(f"{name}: y_pred contains NaN or inf")
        y_true = self.prepare_targets(y_true, y_pred.shape, y_pred.dtype)
        if sample_weight is None:
            self._public_weights = None
            return self._forward(y_pred, y_true)
        w = check_sample_weight(sample_weight, y_pred.shape[0], y_pred.dtype,
                                f"{type(self).__name__}.forward")
        self._public_weights = w
        return self._forward_weighted(y_pred, y_true, w)

    def backward(self) -> np.ndarray:
        """dL/dy_pred for the last ``forward`` call, same shape as ``y_pred``; may be called
        again (it works on a copy of what forward kept)."""
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward() called before forward()")
        w = getattr(self, "_public_weights", None)
        kept = self._cache
        self._cache = _copied(kept)
        try:
            return self._backward() if w is None else self._backward_weighted(w)
        finally:
            self._cache = kept

    __call__ = forward

    # -- per-example weights (used only when fit gets sample_weight/class_weight) ------------
    def _forward_weighted(self, y_pred, y, w) -> float:
        """Σ_i w_i ℓ_i with the reduction's scale; caches what ``_backward_weighted`` needs."""
        per_example = self._per_example(y_pred, y)
        self._forward(y_pred, y)
        return float(np.dot(w, per_example))

    def _backward_weighted(self, w) -> np.ndarray:
        grad = self._backward()  # a fresh array (or one the cache gives away): scale in place
        grad *= w.reshape((-1,) + (1,) * (grad.ndim - 1))
        return grad

    def _per_example(self, y_pred, y) -> np.ndarray:
        """ℓ_i, shape (batch,), scaled so that Σ_i ℓ_i equals the unweighted loss value."""
        raise NotImplementedError

    # -- targets, configuration -------------------------------------------------------
    def prepare_targets(self, y_true, output_shape, dtype) -> np.ndarray:
        """Check ``y_true`` against the output shape and convert it; raises LabelError or
        ShapeError."""
        y = float_targets(y_true, type(self).__name__, dtype)
        return match_shape(y, output_shape, type(self).__name__)

    def with_logits(self) -> Loss:
        """The same loss taking the logits of ``fuses_with`` as its input."""
        config = self.get_config()
        return type(self)(**{**config, "from_logits": True}) if "from_logits" in config else self

    @property
    def asks_for_logits(self) -> bool:
        """True when the user set ``from_logits=True`` on a loss that also takes probabilities."""
        return "from_logits" in vars(self) and bool(self.from_logits)

    def get_config(self) -> dict:
        config = {"reduction": self.reduction}
        if "from_logits" in vars(self):  # the cross-entropies, which take probabilities too
            config = {"from_logits": self.from_logits, **config}
        return config

    def _scale(self, terms):
        """The factor of Σ ℓ: 1 / terms for ``"mean"``, 1 for ``"sum"``."""
        return 1.0 / terms if self.reduction == "mean" else 1.0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def flag(value, owner, name) -> bool:
    """A constructor's boolean option: True/False only (``"yes"`` is an error, not truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def unit_interval(value, owner, name) -> float:
    """A number in [0, 1) (label smoothing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _copied(cache):
    """A copy of a cache tuple whose arrays a consuming ``_backward`` may overwrite."""
    if isinstance(cache, tuple):
        return tuple(_copied(c) for c in cache)
    return cache.copy() if isinstance(cache, np.ndarray) else cache
