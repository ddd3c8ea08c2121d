"""The lecture's three batching regimes, as SGD with a batch size:

    GD             every update uses all N examples          w ← w - η ∇L(w)
    SGD            one example per update, new random order each epoch
    MiniBatchSGD   k examples per update

With momentum μ (PyTorch's form): v ← μ v + g;  w ← w - η v  (Nesterov: w ← w - η (g + μ v)).
``fit(batch_size=None)`` uses the optimizer's ``batch_size``; an explicit ``batch_size`` wins.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Optimizer, axpy, positive

__all__ = ["SGD", "GD", "MiniBatchSGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, one example per update; ``momentum`` and ``nesterov``.

    w ← w - η g; with momentum μ: v ← μ v + g, w ← w - η v (Nesterov: w ← w - η (g + μ v)),
    on the flat parameter buffer (any shape)."""

    batch_size = 1

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = positive("momentum", momentum, type(self).__name__, allow_zero=True)
        if self.momentum >= 1.0:
            raise ConfigError(f"{type(self).__name__}: momentum must be in [0, 1), got "
                              f"{momentum!r}")
        if nesterov and self.momentum == 0.0:
            raise ConfigError(f"{type(self).__name__}: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, params, grads, scratch):
        rate = self.learning_rate
        if self.momentum == 0.0:
            axpy(-rate, grads, params, scratch)
            return
        velocity = self._slot("velocity", params)
        velocity *= self.momentum
        velocity += grads
        if self.nesterov:
            axpy(-rate, grads, params, scratch)
            axpy(-rate * self.momentum, velocity, params, scratch)
        else:
            axpy(-rate, velocity, params, scratch)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class GD(SGD):
    """Full-batch gradient descent: every update uses all N training examples,
    w ← w - η ∇L(w) (the update rule and options of ``SGD``)."""

    batch_size = "full"


class MiniBatchSGD(SGD):
    """Minibatch SGD: ``batch_size`` examples per update, new random order every epoch
    (the update rule and options of ``SGD``)."""

    def __init__(self, batch_size=32, learning_rate=0.01, momentum=0.0, nesterov=False,
                 **kwargs):
        super().__init__(learning_rate, momentum, nesterov, **kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ConfigError(f"MiniBatchSGD: batch_size must be a positive int, got "
                              f"{batch_size!r}")
        self.batch_size = int(batch_size)

    def get_config(self):
        return {"batch_size": self.batch_size, **super().get_config()}
