"""Weight penalties added to the training loss: ``Dense(..., kernel_regularizer=L2(1e-4))``.

    L1(l1)        R(W) = l1 · Σ|W|          ∂R/∂W = l1 · sign(W)
    L2(l2)        R(W) = l2 · Σ W²          ∂R/∂W = 2 · l2 · W        (weight decay)
    L1L2(l1, l2)  the sum of both

These are Keras' definitions (L2 has no ½).  The model adds R(W) to the loss it reports for
training and evaluation and ``∂R/∂W`` to the kernel's gradient before the optimizer step; a
model without regularizers does none of this work.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, UnknownNameError

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize"]


def _factor(owner, name, value):
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0:
        raise ConfigError(f"{owner}: {name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


class Regularizer:
    """``penalty(w) -> float`` and ``add_gradient(w, grad)`` (in place)."""

    def penalty(self, w) -> float:
        raise NotImplementedError

    def add_gradient(self, w, grad) -> None:
        raise NotImplementedError

    __call__ = penalty

    def get_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """l1 · Σ|W| + l2 · Σ W²."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(type(self).__name__, "l1", l1)
        self.l2 = _factor(type(self).__name__, "l2", l2)

    def penalty(self, w):
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            total += self.l2 * float(np.vdot(w, w))
        return total

    def add_gradient(self, w, grad):
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += (2.0 * self.l2) * w

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 · Σ|W|  (sign(0) = 0 is the subgradient used at 0)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2 · Σ W²  (weight decay: the gradient pulls W towards 0 by 2·l2·W)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier):
    """A regularizer from None (none), a name (``"l1"``, ``"l2"``, ``"l1_l2"``: default
    factors 0.01), an instance, or a ``{"class_name", "config"}`` spec from ``serialize``."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _NAMES:
        cls = _NAMES[identifier.lower()]
        return cls(0.01, 0.01) if cls is L1L2 else cls()
    if isinstance(identifier, dict) and set(identifier) == {"class_name", "config"} \
            and identifier["class_name"] in _CLASSES and isinstance(identifier["config"], dict):
        return _CLASSES[identifier["class_name"]](**identifier["config"])
    raise UnknownNameError(f"unknown regularizer {identifier!r}; valid: None, an instance of "
                           f"{sorted(_CLASSES)} or one of the names {sorted(_NAMES)}")


def serialize(regularizer):
    """The JSON form used in ``get_config`` (None stays None)."""
    if regularizer is None:
        return None
    name = type(regularizer).__name__
    if _CLASSES.get(name) is not type(regularizer):
        raise UnknownNameError(f"regularizer {name!r} is not registered; it cannot be saved")
    return {"class_name": name, "config": regularizer.get_config()}
