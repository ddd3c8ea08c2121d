"""Loss functions: ``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``.

All losses are computed in a numerically stable form and accept logits where it matters:

    LogisticLoss                  L = Σ log(1 + exp(-y s)),  y ∈ {-1, +1}, s a real score
                                  dL/ds = -y σ(-y s)
      (the slide writes the gradient as Σ y x / (1 + exp(wᵀx)); the correct expression is
       -Σ y x / (1 + exp(y wᵀx)): both the sign and the y inside the exponent were lost.)
    BinaryCrossEntropy            L = -Σ [y log p + (1 - y) log(1 - p)],  y ∈ [0, 1]
                                  from logits s: softplus(s) - y s,  dL/ds = σ(s) - y
    CategoricalCrossEntropy       L = -Σ_i Σ_k y_ik log p_ik  (one-hot rows)
                                  from logits: logsumexp(s_i) - <y_i, s_i>,  dL/ds = p Σ_k y - y
    SparseCategoricalCrossEntropy same with integer labels
    MeanSquaredError              L = mean (or sum) of (y_pred - y)² over all elements

``reduction="mean"`` divides by the batch size (MSE: by the element count); ``"sum"`` is the
lecture's Σ form.  When a model ends in the activation a loss ``fuses_with`` (sigmoid for the
binary losses, softmax for the categorical ones), the model feeds the loss its logits instead,
so the gradient is ``p - y`` and probabilities of exactly 0 or 1 still give a finite loss.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .errors import (ConfigError, DTypeError, InputValueError, LabelError, ShapeError,
                     UnknownNameError)
from .stable import (categorical_rows, row_sums, softmax_parts, softplus_minus,
                     sparse_rows)
from .targets import check_sample_weight, float_targets, match_shape

__all__ = ["Loss", "LogisticLoss", "BinaryCrossEntropy", "CategoricalCrossEntropy",
           "SparseCategoricalCrossEntropy", "MeanSquaredError", "get", "names"]

_EPS = 1e-7  # clipping of probabilities for the (unfused) probability form, as in Keras


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
        ``Σ_i w_i ℓ_i / batch`` for ``reduction="mean"`` (Keras' rule: divided by the batch size,
        not by Σ w), ``Σ_i w_i ℓ_i`` for ``"sum"``; ``backward`` then returns w_i ∂ℓ_i/∂y_pred."""
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
        """dL/dy_pred for the last ``forward`` call, same shape as ``y_pred``."""
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward() called before forward()")
        w = getattr(self, "_public_weights", None)
        return self._backward() if w is None else self._backward_weighted(w)

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

    __call__ = forward

    def prepare_targets(self, y_true, output_shape, dtype) -> np.ndarray:
        """Check ``y_true`` against the output shape and convert it; raises LabelError/ShapeError."""
        y = float_targets(y_true, type(self).__name__, dtype)
        return match_shape(y, output_shape, type(self).__name__)

    def with_logits(self) -> "Loss":
        """The same loss taking the logits of ``fuses_with`` as its input."""
        config = self.get_config()
        return type(self)(**{**config, "from_logits": True}) if "from_logits" in config else self

    def get_config(self) -> dict:
        config = {"reduction": self.reduction}
        if "from_logits" in vars(self):  # the cross-entropies, which take probabilities too
            config = {"from_logits": self.from_logits, **config}
        return config

    def _scale(self, n):
        return 1.0 / n if self.reduction == "mean" else 1.0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LogisticLoss(Loss):
    """The lecture's loss for labels in {-1, +1} on a real score s: ``log(1 + exp(-y s))``.

    ``y_pred`` has shape (batch, 1); targets (batch,) or (batch, 1) of ±1.

    >>> LogisticLoss(reduction="sum").forward(np.array([[0.0]]), np.array([1]))  # log 2
    0.6931471805599453
    """

    task = "pm1"
    fuses_with = ("sigmoid",)

    def prepare_targets(self, y_true, output_shape, dtype):
        y = super().prepare_targets(y_true, output_shape, dtype)
        if not np.all((y == 1) | (y == -1)):
            bad = np.unique(y[(y != 1) & (y != -1)])[:5]
            raise LabelError(
                f"LogisticLoss expects labels in {{-1, +1}}, got values {bad.tolist()}; "
                "for labels in {0, 1} use BinaryCrossEntropy (or map them with 2*y - 1)")
        return y

    def _forward(self, s, y):
        margin = -y * s
        self._cache = (margin, y, s.shape[0])
        return float(np.sum(np.logaddexp(0.0, margin)) * self._scale(s.shape[0]))

    def _backward(self):
        margin, y, n = self._cache
        grad = expit(margin)
        grad *= -y
        grad *= self._scale(n)
        return grad

    def _per_example(self, s, y):
        return row_sums(np.logaddexp(0.0, -y * s)) * self._scale(s.shape[0])


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy for targets in [0, 1]; ``from_logits=True`` takes scores."""

    task = "binary"
    fuses_with = ("sigmoid",)

    def __init__(self, from_logits: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        self.from_logits = _flag(from_logits, type(self).__name__, "from_logits")

    def prepare_targets(self, y_true, output_shape, dtype):
        y = super().prepare_targets(y_true, output_shape, dtype)
        if not np.all((y >= 0) & (y <= 1)):
            raise LabelError(f"BinaryCrossEntropy expects targets in [0, 1], got values in "
                             f"[{y.min()}, {y.max()}]; for labels in {{-1, +1}} use LogisticLoss")
        return y

    def _forward(self, y_pred, y):
        n = y_pred.shape[0]
        if self.from_logits:
            self._cache = (y_pred, y, n)
            return float(np.sum(softplus_minus(y_pred, y)) * self._scale(n))
        p = np.clip(y_pred, _EPS, 1 - _EPS)
        self._cache = (p, y, n)
        return float(-np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) * self._scale(n))

    def _backward(self):
        out, y, n = self._cache
        if self.from_logits:
            # σ(s) - y written as σ(s) (1 - y) - σ(-s) y: for y = 1 and s = 37 this is -e^-37,
            # where σ(s) - 1 would round to 0
            grad = expit(out)
            grad *= 1 - y
            grad -= expit(-out) * y
        else:
            grad = (out - y) / (out * (1 - out))
        grad *= self._scale(n)
        return grad

    def _per_example(self, y_pred, y):
        if self.from_logits:
            per = softplus_minus(y_pred, y)
        else:
            p = np.clip(y_pred, _EPS, 1 - _EPS)
            per = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        return row_sums(per) * self._scale(y_pred.shape[0])


class CategoricalCrossEntropy(Loss):
    """Cross-entropy for one-hot (or probability) targets of shape (batch, classes)."""

    task = "categorical"
    fuses_with = ("softmax",)

    def __init__(self, from_logits: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        self.from_logits = _flag(from_logits, type(self).__name__, "from_logits")

    def prepare_targets(self, y_true, output_shape, dtype):
        y = float_targets(y_true, type(self).__name__, dtype)
        if y.shape != tuple(output_shape):
            raise ShapeError(f"{type(self).__name__} expects one-hot targets of shape "
                             f"{tuple(output_shape)}, got {y.shape}; for integer labels use "
                             "SparseCategoricalCrossEntropy")
        if np.any(y < 0):
            raise LabelError(f"{type(self).__name__} expects non-negative targets, got min "
                             f"{y.min()}")
        return y

    def _forward(self, y_pred, y):
        n = y_pred.shape[0]
        if self.from_logits:
            parts = softmax_parts(y_pred)
            value = float(np.sum(categorical_rows(parts, y)))
            self._cache = (parts, y, n)
        else:
            p = np.clip(y_pred, _EPS, 1.0)
            value = float(-np.sum(y * np.log(p)))
            self._cache = (p, y, n)
        return value * self._scale(n)

    def _backward(self):
        p, y, n = self._cache
        if self.from_logits:
            p, _, top, rest = p  # the softmax_parts of the logits
            total = np.sum(y, axis=-1, keepdims=True)
            grad = p * total
            grad -= y
            # at the arg-max p ≈ 1 and p Σy - y cancels; there it equals
            # (Σ_{j≠top} y_j - y_top rest) / (1 + rest), exact for one-hot rows
            y_top = np.take_along_axis(y, top, axis=-1)
            np.put_along_axis(grad, top, ((total - y_top) - y_top * rest) / (1.0 + rest),
                              axis=-1)
        else:
            grad = -y / p
        grad *= self._scale(n)
        return grad

    def _per_example(self, y_pred, y):
        if self.from_logits:
            per = categorical_rows(softmax_parts(y_pred), y)
        else:
            per = -np.sum(y * np.log(np.clip(y_pred, _EPS, 1.0)), axis=-1)
        return per * self._scale(y_pred.shape[0])


class SparseCategoricalCrossEntropy(CategoricalCrossEntropy):
    """Cross-entropy for integer labels of shape (batch,) in ``0 .. classes-1``."""

    task = "sparse"

    def prepare_targets(self, y_true, output_shape, dtype):
        y = np.asarray(y_true)
        name = type(self).__name__
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != output_shape[0]:
            raise ShapeError(f"{name} expects integer labels of shape ({output_shape[0]},), "
                             f"got {y.shape}")
        if y.dtype.kind == "f":
            bad = ~np.isfinite(y)
            bad[~bad] = y[~bad] != np.round(y[~bad])
            if bad.any():
                raise LabelError(f"{name} expects integer class labels, got non-integer values "
                                 f"{np.unique(y[bad])[:5].tolist()}")
        elif y.dtype.kind not in "iub":
            raise LabelError(f"{name} expects integer class labels, got dtype {y.dtype}")
        classes = output_shape[-1]
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise LabelError(f"{name}: labels must be in 0..{classes - 1} for {classes} outputs, "
                             f"got values in [{y.min()}, {y.max()}]")
        return y.astype(np.intp)

    def _forward(self, y_pred, y):
        n = y_pred.shape[0]
        rows = np.arange(n)
        if self.from_logits:
            parts = softmax_parts(y_pred)
            value = float(np.sum(sparse_rows(parts, y)))
            self._cache = (parts, y, n)
        else:
            value = float(-np.sum(np.log(np.clip(y_pred[rows, y], _EPS, 1.0))))
            self._cache = (y_pred, y, n)
        return value * self._scale(n)

    def _backward(self):
        p, y, n = self._cache
        rows = np.arange(n)
        if self.from_logits:
            grad, _, top, rest = p  # owned by the cache: consumed once
            grad[rows, y] -= 1.0
            # where the label is the arg-max, p - 1 = -rest / (1 + rest) exactly (p - 1 would
            # round to 0 for a confident, correct prediction)
            hit = np.flatnonzero(y == top[:, 0])
            grad[hit, y[hit]] = -(rest[hit, 0] / (1.0 + rest[hit, 0]))
            self._cache = None
        else:
            grad = np.zeros_like(p)
            grad[rows, y] = -1.0 / np.clip(p[rows, y], _EPS, 1.0)
        grad *= self._scale(n)
        return grad

    def _per_example(self, y_pred, y):
        rows = np.arange(y_pred.shape[0])
        if self.from_logits:
            per = sparse_rows(softmax_parts(y_pred), y)
        else:
            per = -np.log(np.clip(y_pred[rows, y], _EPS, 1.0))
        return per * self._scale(y_pred.shape[0])


class MeanSquaredError(Loss):
    """Squared error averaged (``"mean"``) or summed (``"sum"``) over all elements."""

    task = "regression"

    def _forward(self, y_pred, y):
        diff = y_pred - y
        self._cache = (diff, diff.size)
        return float(np.vdot(diff, diff)) * self._scale(diff.size)

    def _backward(self):
        diff, size = self._cache
        return diff * (2.0 * self._scale(size))

    def _per_example(self, y_pred, y):
        diff = y_pred - y
        return row_sums(diff * diff) * self._scale(diff.size)


def _flag(value, owner, name) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


_TABLE = {
    "logistic": LogisticLoss,
    "binary_crossentropy": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossEntropy,
    "mse": MeanSquaredError,
}
_ALIASES = {"logistic_loss": "logistic", "bce": "binary_crossentropy",
            "cce": "categorical_crossentropy", "mean_squared_error": "mse",
            "sparse_cce": "sparse_categorical_crossentropy"}
_CLASSES = {cls.__name__: cls for cls in _TABLE.values()}


def names() -> list[str]:
    return sorted(set(_TABLE) | set(_ALIASES))


def get(identifier) -> Loss:
    """A Loss from a name (``"logistic"``, ``"sparse_categorical_crossentropy"``, ...), a class
    name, or an instance (passed through)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        cls = _TABLE.get(key) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    raise UnknownNameError(f"unknown loss {identifier!r}; valid names: {', '.join(names())}")


def from_config(class_name: str, config: dict) -> Loss:
    """Rebuild a registered loss from ``type(loss).__name__`` and ``get_config()``."""
    if class_name not in _CLASSES:
        raise UnknownNameError(f"unknown loss class {class_name!r}; valid: {sorted(_CLASSES)}")
    return _CLASSES[class_name](**config)
