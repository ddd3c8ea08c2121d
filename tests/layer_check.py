"""Finite-difference checks for layers with several inputs, several outputs, masks or random
state (attention, Transformer blocks, graph convolutions) — the contract of
``test_layers.py``'s ``check_layer``, generalized.

``gradient_errors(layer, xs, mask=None)`` returns {"input:k" / "param:<name>": max relative
error} between ``backward`` and central differences of f = Σ_k Σ r_k ⊙ y_k for fixed random
r_k (one per output), in float64.  Random generators of the layer and its sublayers (dropout
masks) are rewound before every forward pass, so finite differences see one function.
Inputs that are not float arrays (masks, sparse adjacencies) are not differentiated;
``order=4`` uses ``nnlite.gradcheck``'s five-point stencil (for smooth layers).
``structural_zeros``: parameters whose exact gradient is identically zero (e.g. an attention
key bias: adding a constant to every key's logit does not change a softmax); for them the
analytic gradient must be below 1e-12 and the numeric one below 1e-7 in absolute value (its
round-off with ε = 1e-6 is ~1e-9), reported as 0 or 1.
"""
from __future__ import annotations

import numpy as np

from nnlite.gradcheck import _numeric, relative_error
from nnlite.models.base import leaf_layers


def _generators(layer):
    return [v for leaf in leaf_layers([layer]) for v in vars(leaf).values()
            if isinstance(v, np.random.Generator)]


def _tuple(y):
    return tuple(y) if isinstance(y, tuple) else (y,)


def gradient_errors(layer, xs, mask=None, seed=1, eps=1e-6, structural_zeros=(), order=2):
    gens = _generators(layer)
    states = [g.bit_generator.state for g in gens]
    kwargs = {} if mask is None else {"mask": mask}

    def run():
        for g, s in zip(gens, states):
            g.bit_generator.state = s
        return layer.forward(xs, training=True, **kwargs)

    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in _tuple(run())]

    def f():
        return float(sum(np.sum(w * o) for w, o in zip(weights, _tuple(run()))))

    run()
    dx = layer.backward(list(weights) if len(weights) > 1 else weights[0])
    analytic = {k: np.array(g, dtype=np.float64) for k, g in layer.grads.items()}
    errors = {}
    inputs = xs if isinstance(xs, list) else [xs]
    dxs = dx if isinstance(xs, list) else [dx]
    for k, (x, d) in enumerate(zip(inputs, dxs)):
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            errors[f"input:{k}"] = relative_error(d, _numeric(f, x, eps, order))
    for key, param in layer.params.items():
        numeric = _numeric(f, param, eps, order)
        if key in structural_zeros:
            small = np.abs(analytic[key]).max() < 1e-12 and np.abs(numeric).max() < 1e-7
            errors[f"param:{key}"] = 0.0 if small else 1.0
        else:
            errors[f"param:{key}"] = relative_error(analytic[key], numeric)
    return errors


def built(layer, shapes, seed=0, dtype=np.float64):
    layer.build(shapes, np.random.default_rng(seed), dtype)
    return layer


def randomize(layer, seed=3, scale=0.5):
    """Random parameters (biases and norms too), so every term of the gradient is exercised."""
    rng = np.random.default_rng(seed)
    for value in layer.params.values():
        value[...] = rng.standard_normal(value.shape) * scale
    return layer
