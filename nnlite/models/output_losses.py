"""The training loss of a graph model with several outputs: one loss per output, weighted.

    L = Σ_k w_k L_k(y_k_pred, y_k)        dL/dy_k_pred = w_k dL_k/dy_k_pred
"""
from __future__ import annotations

__all__ = ["WeightedLosses", "LossTracker"]


class LossTracker:
    """The running mean of one output's loss L_k over the batches of an epoch (or evaluate),
    weighted by batch size under ``reduction="mean"`` and summed under ``"sum"``; logged as
    ``<output>_loss``."""

    def __init__(self, name, mean=True):
        self.name, self.mean = name, mean
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def add(self, value, size):
        self.total += value * size if self.mean else value
        self.count += size

    def result(self):
        if not self.count:
            return float("nan")
        return self.total / self.count if self.mean else self.total


class WeightedLosses:
    """Σ_k w_k L_k over the outputs; ``backward_many`` returns [w_k dL_k/dy_k]."""

    def __init__(self, losses, weights):
        self.losses, self.weights = losses, weights
        self.reduction = losses[0].reduction
        self.from_logits = losses[0].from_logits

    def forward_many(self, outs, ys, trackers=()):
        """Σ_k w_k L_k; each L_k is also added to ``trackers[k]`` when trackers are given."""
        total = 0.0
        for k, (loss, w, o, y) in enumerate(zip(self.losses, self.weights, outs, ys)):
            value = loss._forward(o, y)
            if trackers:
                trackers[k].add(value, o.shape[0])
            total += w * value
        return total

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
