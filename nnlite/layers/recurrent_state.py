"""``RecurrentState``: the final states of a recurrent layer as nodes of a graph model.

A recurrent layer (or ``Bidirectional``) with ``return_state=True`` called on a graph node returns
``[output, *states]``; each state node is a ``RecurrentState(k)`` layer called on the output
node.  Protocol with its source layer: the source's ``forward`` leaves the final states in
``_final_states`` and resets ``_state_grads``; in backward (reverse topological order, so before
the source's own backward) each ``RecurrentState`` puts its dL/d(state) into
``source._state_grads[k]``, where the source's BPTT starts from it.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Layer

__all__ = ["RecurrentState"]


class RecurrentState(Layer):
    """``RecurrentState(index)``: the ``index``-th final state (h, then c for LSTM) of the
    recurrent layer whose output node it is called on — the extra outputs of
    ``return_state=True``.  Created by the recurrent layer's call in the graph API
    (``out, h, c = LSTM(8, return_state=True)(x)``); it has no weights.

    forward: returns the state the source layer computed in the same pass (shape
    (batch, units)); backward: hands dL/d(state) to the source layer, whose BPTT starts from
    it, and returns zeros for the source's output (its consumers add the rest).
    """

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ConfigError(f"RecurrentState: index must be a non-negative int, got {index!r}")
        self.index = int(index)
        self.source = None

    def __call__(self, inputs):
        from ..models.graph_build import Node

        source = inputs.layer if isinstance(inputs, Node) else None
        count = len(getattr(source, "state_shapes", lambda: [])()) \
            if getattr(source, "return_state", False) else 0
        if self.index >= count:
            raise ConfigError(f"RecurrentState({self.index}) must be called on the output of a "
                              "recurrent layer with return_state=True that has that many states")
        self.source = source
        return super().__call__(inputs)

    def compute_output_shape(self, input_shape):
        if self.source is None:
            raise ConfigError("RecurrentState is created by calling a recurrent layer with "
                              "return_state=True")
        return tuple(self.source.state_shapes()[self.index])

    def compute_mask(self, inputs, mask=None):
        return None

    def forward(self, x, training=False):
        if training:
            self._x_shape = x.shape
        return self.source._final_states[self.index]

    def backward(self, dy, input_grad=True):
        self.source._state_grads[self.index] = dy
        if not input_grad:
            return None
        zeros = self._buffer("zeros", self._x_shape)
        zeros.fill(0)
        return zeros

    def get_config(self):
        return {**super().get_config(), "index": self.index}
