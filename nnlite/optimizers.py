"""Update rules over (parameter, gradient) buffers, and the lecture's three batching regimes.

An optimizer updates ``params`` in place from ``grads``; a model hands it one flat buffer of all
its parameters and one of all gradients, so an update is a few NumPy calls however many layers
the network has.  State (momenta, moment estimates) lives in arrays of the same shape.

The regimes of the lecture are optimizers with a ``batch_size``:

    GD             every update uses all N examples          w ← w - η ∇L(w)
    SGD            one example per update, new random order each epoch
    MiniBatchSGD   k examples per update
    Adam, RMSProp, AdaGrad: adaptive rules, default batch size 32

``fit(batch_size=None)`` uses the optimizer's ``batch_size``; an explicit ``batch_size`` wins.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, UnknownNameError

__all__ = ["Optimizer", "GD", "SGD", "MiniBatchSGD", "Adam", "RMSProp", "AdaGrad", "get", "names"]


def _positive(name, value, owner, allow_zero=False):
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place.

    Every optimizer also takes (as keywords):

    * ``learning_rate``: a number or a schedule from ``nnlite.schedules`` (``schedule(t)`` gives
      the rate of update t = 0, 1, ...; ``self.learning_rate`` always holds the current rate);
    * ``clipnorm``: rescale the gradient to norm ``clipnorm`` when ‖g‖₂ is larger, where the norm
      is over *all* parameters together (PyTorch's ``clip_grad_norm_``, Keras'
      ``global_clipnorm``; Keras' ``clipnorm`` clips each variable separately);
    * ``clipvalue``: clip every gradient component to [-clipvalue, clipvalue].

    Only one of ``clipnorm``/``clipvalue`` may be set.  Without them and without a schedule a
    step does no extra work.
    """

    batch_size = None  # None: fit's default of 32

    def __init__(self, learning_rate=0.01, clipnorm=None, clipvalue=None):
        owner = type(self).__name__
        self.schedule = None
        if callable(learning_rate):
            self.schedule = learning_rate
            learning_rate = learning_rate(0)
        self.learning_rate = _positive("learning_rate", learning_rate, owner)
        if clipnorm is not None and clipvalue is not None:
            raise ConfigError(f"{owner}: give clipnorm or clipvalue, not both")
        self.clipnorm = None if clipnorm is None else _positive("clipnorm", clipnorm, owner)
        self.clipvalue = None if clipvalue is None else _positive("clipvalue", clipvalue, owner)
        self._prepares = self.schedule is not None or clipnorm is not None \
            or clipvalue is not None
        self.iterations = 0
        self._state: dict[str, np.ndarray] = {}
        self._scratch = None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """One update of ``params`` (a flat float array) from ``grads`` (same shape), in place."""
        if self._scratch is None or self._scratch.shape != params.shape \
                or self._scratch.dtype != params.dtype:
            self._scratch = np.empty_like(params)
        self.iterations += 1
        if self._prepares:
            self._prepare(grads)
        self._update(params, grads, self._scratch)

    def _prepare(self, grads):
        """Schedule and clipping, before the update rule (gradients are clipped in place)."""
        if self.schedule is not None:
            self.learning_rate = float(self.schedule(self.iterations - 1))
        if self.clipvalue is not None:
            np.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        elif self.clipnorm is not None:
            norm = float(np.sqrt(np.vdot(grads, grads)))
            if norm > self.clipnorm:
                grads *= self.clipnorm / norm

    def _update(self, params, grads, scratch):
        raise NotImplementedError

    def _slot(self, name, like):
        slot = self._state.get(name)
        if slot is None or slot.shape != like.shape or slot.dtype != like.dtype:
            slot = self._state[name] = np.zeros_like(like)
        return slot

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

    def get_config(self) -> dict:
        config = {"learning_rate": self.learning_rate}
        if self.schedule is not None:
            from .schedules import serialize
            config["learning_rate"] = serialize(self.schedule)
        if self.clipnorm is not None:
            config["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            config["clipvalue"] = self.clipvalue
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, one example per update; ``momentum`` and ``nesterov``.

    With momentum μ (PyTorch's form): v ← μ v + g;  w ← w - η v  (Nesterov: w ← w - η (g + μ v)).
    """

    batch_size = 1

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _positive("momentum", momentum, type(self).__name__, allow_zero=True)
        if self.momentum >= 1.0:
            raise ConfigError(f"{type(self).__name__}: momentum must be in [0, 1), got {momentum!r}")
        if nesterov and self.momentum == 0.0:
            raise ConfigError(f"{type(self).__name__}: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, params, grads, scratch):
        if self.momentum == 0.0:
            np.multiply(grads, self.learning_rate, out=scratch)
            params -= scratch
            return
        velocity = self._slot("velocity", params)
        velocity *= self.momentum
        velocity += grads
        if self.nesterov:
            np.multiply(velocity, self.momentum, out=scratch)
            scratch += grads
            scratch *= self.learning_rate
        else:
            np.multiply(velocity, self.learning_rate, out=scratch)
        params -= scratch

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class GD(SGD):
    """Full-batch gradient descent: every update uses all N training examples."""

    batch_size = "full"


class MiniBatchSGD(SGD):
    """Minibatch SGD: ``batch_size`` examples per update, new random order every epoch."""

    def __init__(self, batch_size=32, learning_rate=0.01, momentum=0.0, nesterov=False,
                 **kwargs):
        super().__init__(learning_rate, momentum, nesterov, **kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ConfigError(f"MiniBatchSGD: batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = int(batch_size)

    def get_config(self):
        return {"batch_size": self.batch_size, **super().get_config()}


class Adam(Optimizer):
    """Adam (Kingma & Ba): m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²;
    w ← w - η m̂ / (sqrt(v̂) + ε) with bias-corrected m̂, v̂ (PyTorch's ε placement)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, **kwargs)
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ConfigError(f"Adam: {name} must be in [0, 1), got {value!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive("epsilon", epsilon, "Adam")

    def _update(self, params, grads, scratch):
        m = self._slot("m", params)
        v = self._slot("v", params)
        t = self.iterations
        m *= self.beta_1
        m += (1.0 - self.beta_1) * grads
        np.multiply(grads, grads, out=scratch)
        scratch *= 1.0 - self.beta_2
        v *= self.beta_2
        v += scratch
        bias_1 = 1.0 - self.beta_1 ** t
        bias_2 = 1.0 - self.beta_2 ** t
        np.sqrt(v, out=scratch)
        scratch /= np.sqrt(bias_2)
        scratch += self.epsilon
        np.divide(m, scratch, out=scratch)
        scratch *= self.learning_rate / bias_1
        params -= scratch

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class RMSProp(Optimizer):
    """RMSProp: v ← ρ v + (1-ρ) g²;  w ← w - η g / (sqrt(v) + ε)  (PyTorch's form)."""

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not (isinstance(rho, (int, float)) and 0.0 <= rho < 1.0):
            raise ConfigError(f"RMSProp: rho must be in [0, 1), got {rho!r}")
        self.rho = float(rho)
        self.epsilon = _positive("epsilon", epsilon, "RMSProp")

    def _update(self, params, grads, scratch):
        v = self._slot("v", params)
        v *= self.rho
        np.multiply(grads, grads, out=scratch)
        scratch *= 1.0 - self.rho
        v += scratch
        np.sqrt(v, out=scratch)
        scratch += self.epsilon
        np.divide(grads, scratch, out=scratch)
        scratch *= self.learning_rate
        params -= scratch

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class AdaGrad(Optimizer):
    """AdaGrad: G ← G + g²;  w ← w - η g / (sqrt(G) + ε)  (PyTorch's form)."""

    def __init__(self, learning_rate=0.01, epsilon=1e-10, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.epsilon = _positive("epsilon", epsilon, "AdaGrad")

    def _update(self, params, grads, scratch):
        total = self._slot("sum_squares", params)
        np.multiply(grads, grads, out=scratch)
        total += scratch
        np.sqrt(total, out=scratch)
        scratch += self.epsilon
        np.divide(grads, scratch, out=scratch)
        scratch *= self.learning_rate
        params -= scratch

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


_TABLE = {"gd": GD, "sgd": SGD, "minibatch_sgd": MiniBatchSGD, "adam": Adam,
          "rmsprop": RMSProp, "adagrad": AdaGrad}
_ALIASES = {"minibatch": "minibatch_sgd", "minibatchsgd": "minibatch_sgd"}
_CLASSES = {cls.__name__: cls for cls in _TABLE.values()}


def names() -> list[str]:
    return sorted(set(_TABLE) | set(_ALIASES))


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"gd"``, ``"sgd"``, ``"minibatch"``, ``"adam"``, ...) or an
    instance (passed through)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        cls = _TABLE.get(key) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    raise UnknownNameError(f"unknown optimizer {identifier!r}; valid names: {', '.join(names())}")


def from_config(class_name: str, config: dict, custom_objects=None) -> Optimizer:
    """Rebuild a registered optimizer from ``type(opt).__name__`` and ``get_config()`` (a
    schedule given as ``{"class_name", "config"}`` is rebuilt from ``nnlite.schedules``)."""
    if class_name not in _CLASSES:
        raise UnknownNameError(f"unknown optimizer class {class_name!r}; valid: {sorted(_CLASSES)}")
    config = dict(config)
    if isinstance(config.get("learning_rate"), dict):
        from .schedules import deserialize
        config["learning_rate"] = deserialize(config["learning_rate"], custom_objects)
    return _CLASSES[class_name](**config)
