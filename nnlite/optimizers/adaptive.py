"""Adaptive update rules (per-parameter step sizes), in PyTorch's conventions:

    Adam      m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²
              w ← w - η m̂ / (√v̂ + ε),  m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
    AdamW     Adam with decoupled weight decay (default λ = 0.004, Keras'; PyTorch uses 0.01)
    Nadam     Adam with Nesterov momentum and Dozat's schedule μ_t = β1 (1 - ½ 0.96^(0.004 t)):
              w ← w - η [μ_{t+1} m / (1 - Π_{s≤t+1} μ_s) + (1 - μ_t) g / (1 - Π_{s≤t} μ_s)]
                        / (√v̂ + ε)                       (Keras' Nadam = PyTorch's NAdam)
    RMSProp   v ← ρ v + (1-ρ) g²;   w ← w - η g / (√v + ε)
    AdaGrad   G ← G + g² (G starts at ``initial_accumulator_value``);  w ← w - η g / (√G + ε)

ε is added outside the square root with PyTorch's defaults (Adam/Nadam 1e-8, RMSProp 1e-8,
AdaGrad 1e-10); Keras adds it inside (RMSProp, AdaGrad) or to √v before bias correction
(Adam), with ε = 1e-7, and starts AdaGrad's G at 0.1.  README's conventions table lists each.
"""
from __future__ import annotations

import numpy as np

from .base import Optimizer, axpy, fraction, positive

__all__ = ["Adam", "AdamW", "Nadam", "RMSProp", "AdaGrad"]


def _step_over_root(params, grads, accumulator, epsilon, learning_rate, scratch):
    """w ← w - η g / (√accumulator + ε), through ``scratch`` (RMSProp and AdaGrad)."""
    np.sqrt(accumulator, out=scratch)
    scratch += epsilon
    np.divide(grads, scratch, out=scratch)
    axpy(-learning_rate, scratch, params, scratch)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias-corrected moments (PyTorch's ε placement):
    m ← β1 m + (1-β1) g,  v ← β2 v + (1-β2) g²,  w ← w - η m̂ / (√v̂ + ε)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = fraction("beta_1", beta_1, owner)
        self.beta_2 = fraction("beta_2", beta_2, owner)
        self.epsilon = positive("epsilon", epsilon, owner)

    def _moments(self, params, grads, scratch):
        """Update and return (m, v) for this step."""
        m = self._slot("m", params)
        v = self._slot("v", params)
        m *= self.beta_1
        axpy(1.0 - self.beta_1, grads, m, scratch)
        np.multiply(grads, grads, out=scratch)
        v *= self.beta_2
        axpy(1.0 - self.beta_2, scratch, v, scratch)
        return m, v

    def _denominator(self, v, scratch):
        """scratch ← √v̂ + ε."""
        np.sqrt(v, out=scratch)
        scratch /= np.sqrt(1.0 - self.beta_2 ** self.iterations)
        scratch += self.epsilon
        return scratch

    def _update(self, params, grads, scratch):
        # PyTorch's order: m / (√v / √c2 + ε) · lr / c1 with c = 1 - β^t.  (Folding the
        # corrections into ε and the scalar saves one pass but rounds differently, and the
        # training trajectories of the notebooks follow those bits.)
        m, v = self._moments(params, grads, scratch)
        self._denominator(v, scratch)
        np.divide(m, scratch, out=scratch)
        axpy(-self.learning_rate / (1.0 - self.beta_1 ** self.iterations), scratch, params,
             scratch)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay ``weight_decay`` (default 0.004, as Keras):
    w ← w - η λ w, then Adam's update."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Nadam(Adam):
    """Adam with Nesterov momentum (Dozat 2016), Keras' and PyTorch's schedule of μ_t:
    μ_t = β1 (1 - ½ 0.96^(0.004 t)), w ← w - η [μ_{t+1} m̂' + (1 - μ_t) ĝ] / (√v̂ + ε) with the
    moments debiased by Π μ (the module docstring has the full rule)."""

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (0.004 * t))

    def _begin_step(self):
        # Π_{s≤t} μ_s, kept as 0-d state so a saved optimizer resumes exactly
        product = float(self._state.get("mu_product", np.array(1.0))) * self._mu(self.iterations)
        self._state["mu_product"] = np.array(product)

    def _update(self, params, grads, scratch):
        t = self.iterations
        product = float(self._state["mu_product"])
        mu, mu_next = self._mu(t), self._mu(t + 1)
        m, v = self._moments(params, grads, scratch)
        denominator = self._denominator(v, scratch)
        # two terms over the same denominator: the m term and the gradient term
        step = m * (mu_next / (1.0 - product * mu_next))
        step += grads * ((1.0 - mu) / (1.0 - product))
        step /= denominator
        step *= self.learning_rate
        params -= step


class RMSProp(Optimizer):
    """RMSProp (Hinton 2012) in PyTorch's form: ε outside the square root,
    v ← ρ v + (1-ρ) g²,  w ← w - η g / (√v + ε)."""

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = fraction("rho", rho, "RMSProp")
        self.epsilon = positive("epsilon", epsilon, "RMSProp")

    def _update(self, params, grads, scratch):
        v = self._slot("v", params)
        v *= self.rho
        np.multiply(grads, grads, out=scratch)
        scratch *= 1.0 - self.rho
        v += scratch
        _step_over_root(params, grads, v, self.epsilon, self.learning_rate, scratch)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011) in PyTorch's form, G ← G + g², w ← w - η g / (√G + ε);
    ``initial_accumulator_value=0.1`` and
    ``epsilon=1e-7`` come close to Keras' (which also moves ε inside the root)."""

    def __init__(self, learning_rate=0.01, epsilon=1e-10, initial_accumulator_value=0.0,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.epsilon = positive("epsilon", epsilon, "AdaGrad")
        self.initial_accumulator_value = positive(
            "initial_accumulator_value", initial_accumulator_value, "AdaGrad", allow_zero=True)

    def _initial_slot(self, name, shape, dtype):
        return np.full(shape, self.initial_accumulator_value, dtype=dtype)

    def _update(self, params, grads, scratch):
        total = self._slot("sum_squares", params)
        np.multiply(grads, grads, out=scratch)
        total += scratch
        _step_over_root(params, grads, total, self.epsilon, self.learning_rate, scratch)

    def get_config(self):
        config = {**super().get_config(), "epsilon": self.epsilon}
        if self.initial_accumulator_value:
            config["initial_accumulator_value"] = self.initial_accumulator_value
        return config
