"""The training loss of a graph model with several outputs: one loss per output, weighted.

    L = Σ_k w_k L_k(y_k_pred, y_k)        dL/dy_k_pred = w_k dL_k/dy_k_pred
"""
from __future__ import annotations

__all__ = ["WeightedLosses"]


class WeightedLosses:
    """Σ_k w_k L_k over the outputs; ``backward_many`` returns [w_k dL_k/dy_k]."""

    def __init__(self, losses, weights):
        self.losses, self.weights = losses, weights
        self.reduction = losses[0].reduction
        self.from_logits = losses[0].from_logits

    def forward_many(self, outs, ys):
        return sum(w * loss._forward(o, y)
                   for loss, w, o, y in zip(self.losses, self.weights, outs, ys))

    def backward_many(self):
        grads = []
        for loss, w in zip(self.losses, self.weights):
            g = loss._backward()
            grads.append(g if w == 1.0 else g * w)
        return grads

    def _forward(self, out, y):  # single-output form, used by gradcheck on multi-output models
        return self.forward_many(out, y)

    def _backward(self):
        return self.backward_many()
