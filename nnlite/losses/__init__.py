"""Loss functions: ``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``.

All losses are computed in a numerically stable form and accept logits where it matters:

    LogisticLoss ("logistic")     ℓ = log(1 + exp(-y s)),  y ∈ {-1, +1}, s a real score
    Hinge ("hinge")               ℓ = max(0, 1 - y s)
    BinaryCrossEntropy            ℓ = -[y log p + (1 - y) log(1 - p)],  y ∈ [0, 1]
    CategoricalCrossEntropy       ℓ = -Σ_k y_k log p_k  per row (one-hot rows)
    SparseCategoricalCrossEntropy the same with integer labels
    MeanSquaredError ("mse"), MeanAbsoluteError ("mae"), Huber ("huber")

``reduction="mean"`` divides Σ ℓ by the number of terms — the elements of the output for the
elementwise losses (n·k for an (n, k) output), the rows for the categorical ones (n, or n·T for
sequences) — as Keras and PyTorch do; ``"sum"`` is the lecture's Σ form.  When a model ends in
the activation a loss ``fuses_with`` (sigmoid for the binary losses, softmax for the categorical
ones), the model feeds the loss its logits instead, so the gradient is ``p - y`` and
probabilities of exactly 0 or 1 still give a finite loss.

Keras spells some class names ``...Crossentropy``; both spellings work (``BinaryCrossentropy``
is ``BinaryCrossEntropy``).
"""
from __future__ import annotations

from ..errors import UnknownNameError
from .base import Loss
from .crossentropy import BinaryCrossEntropy, CategoricalCrossEntropy, SparseCategoricalCrossEntropy
from .margin import Hinge, LogisticLoss
from .regression import Huber, MeanAbsoluteError, MeanSquaredError

# Keras's spellings
BinaryCrossentropy = BinaryCrossEntropy
CategoricalCrossentropy = CategoricalCrossEntropy
SparseCategoricalCrossentropy = SparseCategoricalCrossEntropy

__all__ = ["Loss", "LogisticLoss", "Hinge", "BinaryCrossEntropy", "CategoricalCrossEntropy",
           "SparseCategoricalCrossEntropy", "MeanSquaredError", "MeanAbsoluteError", "Huber",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "get", "names", "from_config"]

_TABLE = {
    "logistic": LogisticLoss,
    "hinge": Hinge,
    "binary_crossentropy": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossEntropy,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
}
_ALIASES = {"logistic_loss": "logistic", "bce": "binary_crossentropy",
            "cce": "categorical_crossentropy", "mean_squared_error": "mse",
            "sparse_cce": "sparse_categorical_crossentropy", "mean_absolute_error": "mae",
            "huber_loss": "huber"}
_CLASSES = {cls.__name__: cls for cls in _TABLE.values()}
_KERAS_NAMES = {"BinaryCrossentropy": BinaryCrossEntropy,
                "CategoricalCrossentropy": CategoricalCrossEntropy,
                "SparseCategoricalCrossentropy": SparseCategoricalCrossEntropy}


def names() -> list[str]:
    """Every name ``get`` accepts (besides the class names)."""
    return sorted(set(_TABLE) | set(_ALIASES))


def get(identifier) -> Loss:
    """A Loss from a name (``"logistic"``, ``"sparse_categorical_crossentropy"``, ...), a class
    name, or an instance (passed through)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        cls = _TABLE.get(key) or _CLASSES.get(identifier) or _KERAS_NAMES.get(identifier)
        if cls is not None:
            return cls()
    raise UnknownNameError(f"unknown loss {identifier!r}; valid names: {', '.join(names())}")


def from_config(class_name: str, config: dict) -> Loss:
    """Rebuild a registered loss from ``type(loss).__name__`` and ``get_config()``."""
    if class_name not in _CLASSES:
        raise UnknownNameError(f"unknown loss class {class_name!r}; valid: {sorted(_CLASSES)}")
    return _CLASSES[class_name](**config)
