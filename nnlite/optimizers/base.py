"""The ``Optimizer`` base class: an update rule over one flat parameter buffer.

An optimizer updates ``params`` in place from ``grads``; a model hands it one flat buffer of all
its parameters and one of all gradients, so an update is a few NumPy calls however many layers
the network has.  State (momenta, moment estimates) lives in arrays of the same shape.

Frozen layers (``layer.trainable = False``) keep their parameters in the same buffer; the model
then passes ``segments``, the (start, stop) ranges that hold trainable parameters, and the
optimizer reads and writes only those ranges — weights, state and weight decay alike.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .schedules import serialize

__all__ = ["Optimizer", "axpy", "positive"]

def axpy(a, x, y, scratch) -> None:
    """y ← y + a·x in place, through ``scratch`` (an array of y's shape, may be ``x`` itself):
    two passes, no allocation.

    Not ``scipy.linalg.blas.?axpy`` (one pass): SciPy links an OpenBLAS of its own, whose
    worker threads spin after each call and take the cores from NumPy's next products —
    measured at 2 threads, a W2r epoch (20 × 64 ReLU, batch 32) took 16× as long."""
    np.multiply(x, a, out=scratch)
    y += scratch


def positive(name, value, owner, allow_zero=False):
    """``value`` as a float, or ConfigError naming ``owner`` and ``name``."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)


def fraction(name, value, owner):
    """A number in [0, 1) (decay rates β, ρ)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}: {name} must be in [0, 1), got {value!r}")
    return float(value)


class Optimizer:
    """Base class: ``step(params, grads, segments=None)`` updates ``params`` in place.

    Every optimizer also takes (as keywords):

    * ``learning_rate``: a number or a schedule from ``nnlite.schedules`` (``schedule(t)`` gives
      the rate of update t = 0, 1, ...; ``self.learning_rate`` always holds the current rate);
    * ``clipnorm``: rescale the gradient to norm ``clipnorm`` when ‖g‖₂ is larger, where the norm
      is over *all* trainable parameters together (PyTorch's ``clip_grad_norm_``, Keras'
      ``global_clipnorm``; Keras' ``clipnorm`` clips each variable separately);
    * ``clipvalue``: clip every gradient component to [-clipvalue, clipvalue];
    * ``weight_decay``: decoupled weight decay, w ← w - η λ w before each update (Keras 3's
      rule for every optimizer, and PyTorch's ``AdamW``; PyTorch's ``SGD``/``Adam``
      ``weight_decay`` instead adds λ w to the gradient).

    Only one of ``clipnorm``/``clipvalue`` may be set.  Without them, a schedule and weight
    decay a step does no extra work.
    """

    batch_size = None  # None: fit's default of 32

    def __init__(self, learning_rate=0.01, clipnorm=None, clipvalue=None, weight_decay=None):
        owner = type(self).__name__
        self.schedule = None
        if callable(learning_rate):
            self.schedule = learning_rate
            learning_rate = learning_rate(0)
        self.learning_rate = positive("learning_rate", learning_rate, owner)
        if clipnorm is not None and clipvalue is not None:
            raise ConfigError(f"{owner}: give clipnorm or clipvalue, not both")
        self.clipnorm = None if clipnorm is None else positive("clipnorm", clipnorm, owner)
        self.clipvalue = None if clipvalue is None else positive("clipvalue", clipvalue, owner)
        self.weight_decay = None if weight_decay is None else positive(
            "weight_decay", weight_decay, owner, allow_zero=True)
        self._prepares = self.schedule is not None or clipnorm is not None \
            or clipvalue is not None
        self.iterations = 0
        self._state: dict[str, np.ndarray] = {}
        self._scratch = None
        self._segment = None       # the (start, stop) range being updated, None: everything
        self._full = None          # shape and dtype of the whole flat buffer

    def step(self, params: np.ndarray, grads: np.ndarray, segments=None) -> None:
        """One update of ``params`` (a flat float array) from ``grads`` (same shape), in place;
        only the ranges in ``segments`` (a list of (start, stop)) when it is given."""
        if self._scratch is None or self._scratch.shape != params.shape \
                or self._scratch.dtype != params.dtype:
            self._scratch = np.empty_like(params)
        self._full = (params.shape, params.dtype)
        self.iterations += 1
        if self._prepares:
            self._prepare(grads, segments)
        self._begin_step()
        if segments is None:
            self._apply(params, grads, self._scratch)
            return
        try:
            for start, stop in segments:
                self._segment = (start, stop)
                self._apply(params[start:stop], grads[start:stop], self._scratch[start:stop])
        finally:
            self._segment = None

    def _apply(self, params, grads, scratch):
        if self.weight_decay:  # w ← w (1 - η λ), one pass (PyTorch's AdamW writes the same)
            params *= 1.0 - self.weight_decay * self.learning_rate
        self._update(params, grads, scratch)

    def _prepare(self, grads, segments):
        """Schedule and clipping, before the update rule (gradients are clipped in place)."""
        if self.schedule is not None:
            self.learning_rate = float(self.schedule(self.iterations - 1))
        if self.clipvalue is not None:
            np.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        elif self.clipnorm is not None:
            parts = [grads] if segments is None else [grads[a:b] for a, b in segments]
            norm = float(np.sqrt(sum(np.vdot(g, g) for g in parts)))
            if norm > self.clipnorm:
                for g in parts:
                    g *= self.clipnorm / norm

    def _begin_step(self):
        """Per-step scalars (e.g. Nadam's momentum schedule), once per step whatever the
        segments."""

    def _update(self, params, grads, scratch):
        raise NotImplementedError

    def _slot(self, name, like):
        """The state array ``name`` (zeros at first) for the range being updated."""
        shape, dtype = self._full if self._full is not None else (like.shape, like.dtype)
        slot = self._state.get(name)
        if slot is None or slot.shape != shape or slot.dtype != dtype:
            slot = self._state[name] = self._initial_slot(name, shape, dtype)
        if self._segment is None:
            return slot
        return slot[self._segment[0]:self._segment[1]]

    def _initial_slot(self, name, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    # -- state, so a saved optimizer resumes exactly --------------------------------------
    def get_state(self) -> dict:
        """Copies of the optimizer's arrays plus its step count."""
        state = {name: value.copy() for name, value in self._state.items()}
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        return state

    def set_state(self, state: dict) -> None:
        state = dict(state)
        iterations = int(state.pop("iterations", 0))
        self._state = {name: np.array(value) for name, value in state.items()}
        self.iterations = iterations

    def reset_state(self) -> None:
        """Forget the step count and every state array (as a fresh optimizer)."""
        self._state, self.iterations = {}, 0

    def get_config(self) -> dict:
        config = {"learning_rate": self.learning_rate}
        if self.schedule is not None:
            config["learning_rate"] = serialize(self.schedule)
        for key in ("clipnorm", "clipvalue", "weight_decay"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
