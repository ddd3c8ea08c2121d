"""Learning-rate schedules: ``schedule(step) -> learning rate``, usable as an optimizer's
``learning_rate``.

``step`` counts optimizer updates from 0 (the first update uses ``schedule(0)``), as in Keras.

    ExponentialDecay        η(t) = η0 · r^(t / T)            (staircase: r^⌊t / T⌋)
    PiecewiseConstantDecay  η(t) = values[i] for boundaries[i-1] < t ≤ boundaries[i]
    StepDecay               η(t) = η0 · γ^⌊t / T⌋            (PyTorch's StepLR, per update)
    CosineDecay             η(t) = η0 · ((1 - α) · ½(1 + cos(π · min(t, T) / T)) + α)
    InverseTimeDecay        η(t) = η0 / (1 + r · t / T)      (staircase: ⌊t / T⌋)

>>> from nnlite.optimizers import SGD
>>> opt = SGD(learning_rate=CosineDecay(0.1, decay_steps=1000))

A schedule is a small immutable object with ``get_config``; ``from_config`` rebuilds it (used
when a model is saved with its optimizer).
"""
from __future__ import annotations

import math

from ..errors import ConfigError, UnknownNameError

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "StepDecay",
           "CosineDecay", "InverseTimeDecay", "serialize", "deserialize"]


def _number(owner, name, value, low=0.0, low_open=True, high=None):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if low_open else '≥'} {low}" + (f" and ≤ {high}" if high is not None else "")
        raise ConfigError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _steps(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class LearningRateSchedule:
    """Base class: ``__call__(step) -> float``; subclasses define ``rate`` and ``get_config``."""

    def __call__(self, step) -> float:
        return float(self.rate(int(step)))

    def rate(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """η0 · r^(t / T); with ``staircase=True`` the exponent is ⌊t / T⌋."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = "ExponentialDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate",
                                             initial_learning_rate)
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate)
        self.staircase = bool(staircase)

    def rate(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase
                                                                 else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


class StepDecay(LearningRateSchedule):
    """η0 · γ^⌊t / T⌋: multiply by ``gamma`` every ``step_size`` updates."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = _number("StepDecay", "initial_learning_rate",
                                             initial_learning_rate)
        self.step_size = _steps("StepDecay", "step_size", step_size)
        self.gamma = _number("StepDecay", "gamma", gamma)

    def rate(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "step_size": self.step_size, "gamma": self.gamma}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while t ≤ boundaries[0], ``values[1]`` while t ≤ boundaries[1], ...,
    ``values[-1]`` after the last boundary (Keras' rule).  ``len(values) == len(boundaries)+1``."""

    def __init__(self, boundaries, values):
        owner = "PiecewiseConstantDecay"
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise ConfigError(f"{owner}: boundaries and values must be lists, got "
                              f"{boundaries!r} and {values!r}")
        if len(values) != len(boundaries) + 1:
            raise ConfigError(f"{owner}: needs len(values) == len(boundaries) + 1, got "
                              f"{len(values)} values and {len(boundaries)} boundaries")
        self.boundaries = [int(_number(owner, "boundaries", b, low_open=False))
                           for b in boundaries]
        if any(b != float(orig) for b, orig in zip(self.boundaries, boundaries)) or \
                self.boundaries != sorted(set(self.boundaries)):
            raise ConfigError(f"{owner}: boundaries must be strictly increasing ints, got "
                              f"{list(boundaries)!r}")
        self.values = [_number(owner, "values", v) for v in values]

    def rate(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class CosineDecay(LearningRateSchedule):
    """η0 · ((1 - α) · ½(1 + cos(π · min(t, T) / T)) + α): from η0 down to α·η0 over T
    updates, then constant (Keras' CosineDecay without warm-up)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate = _number("CosineDecay", "initial_learning_rate",
                                             initial_learning_rate)
        self.decay_steps = _steps("CosineDecay", "decay_steps", decay_steps)
        self.alpha = _number("CosineDecay", "alpha", alpha, low_open=False, high=1.0)

    def rate(self, step):
        progress = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha}


class InverseTimeDecay(LearningRateSchedule):
    """η0 / (1 + r · t / T); with ``staircase=True``, t / T is floored."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = "InverseTimeDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate",
                                             initial_learning_rate)
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, low_open=False)
        self.staircase = bool(staircase)

    def rate(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate *
                                             (math.floor(p) if self.staircase else p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, StepDecay, PiecewiseConstantDecay,
                                          CosineDecay, InverseTimeDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}`` of a registered schedule."""
    name = type(schedule).__name__
    if _CLASSES.get(name) is not type(schedule):
        raise UnknownNameError(f"schedule {name!r} is not one of nnlite's schedules "
                               f"({sorted(_CLASSES)}); it cannot be saved")
    return {"class_name": name, "config": schedule.get_config()}


def deserialize(spec, custom_objects=None) -> LearningRateSchedule:
    """Rebuild a schedule from ``serialize``'s dict; only registered classes (or those given in
    ``custom_objects``) are built."""
    if not isinstance(spec, dict) or set(spec) != {"class_name", "config"} \
            or not isinstance(spec["config"], dict):
        raise ConfigError(f"schedule spec must be {{'class_name': ..., 'config': {{...}}}}, "
                          f"got {spec!r}")
    table = {**_CLASSES, **(custom_objects or {})}
    cls = table.get(spec["class_name"])
    if cls is None or not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)):
        raise UnknownNameError(f"unknown schedule {spec['class_name']!r}; valid: "
                               f"{sorted(_CLASSES)}")
    return cls.from_config(spec["config"])
