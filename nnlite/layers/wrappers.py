"""Layers that wrap other layers: ``Bidirectional`` and ``TimeDistributed`` (Keras 3).

Both are containers, like ``Residual``: the wrapped layers are ``self.sublayers`` (the model
packs their weights into its flat buffer), named ``<wrapper>/<inner>``, and ``params``/``grads``
expose them under ``<inner>/<param>`` so a wrapper is gradient-checked like any layer.

Bidirectional(layer, merge_mode="concat")
    y_f = layer(x)            y_b = reverse_time(layer'(x))   (layer' = a copy of ``layer``
                                                               with go_backwards flipped)
    concat: [y_f, y_b]   sum: y_f + y_b   ave: (y_f + y_b) / 2   mul: y_f ⊙ y_b
    backward: the merge's derivative, then each direction's BPTT; dL/dx = dx_f + dx_b.
    With return_sequences the backward outputs are put back in time order, and masked steps
    output zeros in both directions (Keras's rule for Bidirectional).
    return_state: the layer is ``multi_output``; its outputs are (merged output, forward
    states..., backward states...).

TimeDistributed(layer)
    y[:, t] = layer(x[:, t])  for every step: the batch and time axes are flattened into one
    batch of n·T rows, so the wrapped layer runs once (one matmul for a Dense).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer
from .recurrent import Recurrent
from .registry import layer_from_spec

__all__ = ["Bidirectional", "TimeDistributed"]

_MERGES = ("concat", "sum", "mul", "ave")


def _no_set(value):
    if value:  # BaseModel resets layers with empty dicts; the arrays live in the sublayers
        raise ConfigError("params/grads/state of a wrapper are views of the wrapped layers'")


class _Wrapper(Layer):
    """Shared container plumbing: names, weight views, buffers, config of the inner layer."""

    _local: list = []  # the wrapped layers' own names, fixed at construction

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = value
        prefix = f"{value}/" if value else ""
        for local, layer in zip(self._local_names(), self.sublayers):
            layer.name = prefix + local

    def _local_names(self):
        return self._local

    def _view(self, attr):
        return {f"{local}/{k}": v for local, layer in zip(self._local_names(), self.sublayers)
                for k, v in getattr(layer, attr).items()}

    params = property(lambda self: self._view("params"), lambda self, v: _no_set(v))
    grads = property(lambda self: self._view("grads"), lambda self, v: _no_set(v))
    state = property(lambda self: self._view("state"), lambda self, v: _no_set(v))

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.sublayers))

    def release_buffers(self):
        super().release_buffers()
        for layer in self.sublayers:
            layer.release_buffers()

    @staticmethod
    def _inner_spec(layer):
        config = layer.get_config()
        config.pop("name", None)
        config.pop("input_shape", None)
        return {"class_name": type(layer).__name__, "config": config}


class Bidirectional(_Wrapper):
    """``Bidirectional(layer, merge_mode="concat")`` for a ``SimpleRNN``, ``LSTM`` or ``GRU``.

    y = merge(layer(x), reverse_time(layer_backwards(x))); (batch, time, features) →
    (batch, 2·units) with ``"concat"`` ((batch, time, 2·units) with ``return_sequences``),
    (batch, units) for ``"sum"``/``"mul"``/``"ave"``.  Weights: the two layers', under
    ``forward_<name>/...`` and ``backward_<name>/...``.

    >>> from nnlite.layers import LSTM
    >>> Bidirectional(LSTM(16, return_sequences=True))
    Bidirectional(layer='LSTM', merge_mode='concat')
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", **kwargs):
        if not isinstance(layer, Recurrent):
            raise ConfigError(f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM, "
                              f"GRU), got {type(layer).__name__}")
        if merge_mode not in _MERGES:
            raise ConfigError(f"Bidirectional: merge_mode must be one of {list(_MERGES)}, got "
                              f"{merge_mode!r}")
        if layer.stateful:
            raise ConfigError("Bidirectional: the wrapped layer must not be stateful")
        spec = self._inner_spec(layer)
        spec["config"]["go_backwards"] = not layer.go_backwards
        backward = type(layer).from_config(spec["config"])
        for inner in (layer, backward):
            inner.zero_output_for_mask = layer.return_sequences  # Keras's rule
        self.forward_layer, self.backward_layer = layer, backward
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self.state_count = 2 * layer.state_count
        self.multi_output = self.return_state
        base = layer.name or layer.default_name
        self._local = [f"forward_{base}", f"backward_{base}"]
        self._cache = None
        super().__init__(**kwargs)

    @property
    def sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def state_shapes(self):
        return self.forward_layer.state_shapes() * 2

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(tuple(input_shape))
        if self.return_state:
            shape = shape[0]
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        return [shape, *self.state_shapes()] if self.return_state else shape

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.state_count if self.return_state else out

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        for layer in self.sublayers:
            layer.build(self.input_shape, rng, dtype)

    def forward(self, x, training=False, mask=None):
        y_f = self.forward_layer.forward(x, training, mask=mask)
        y_b = self.backward_layer.forward(x, training, mask=mask)
        states = ()
        if self.return_state:
            states = tuple(y_f[1:]) + tuple(y_b[1:])
            y_f, y_b = y_f[0], y_b[0]
        if self.return_sequences:
            y_b = y_b[:, ::-1]
        if training:
            self._cache = (y_f, y_b) if self.merge_mode == "mul" else None
        mode = self.merge_mode
        if mode == "concat":
            out = np.concatenate([y_f, y_b], axis=-1)
        elif mode == "mul":
            out = y_f * y_b
        else:
            out = y_f + y_b
            if mode == "ave":
                out *= 0.5
        return (out, *states) if self.return_state else out

    def backward(self, dy, input_grad=True):
        """``dy``: dL/d(output); with ``return_state`` the list [dL/d(output), dL/d(forward
        states)..., dL/d(backward states)...] with None where no gradient arrives."""
        k = self.forward_layer.state_count
        states = [None] * self.state_count
        if self.return_state:
            dy, states = dy[0], list(dy[1:])
            if dy is None:  # only the states are read: the merged output gets no gradient
                dy = np.zeros(self.output_shape_batch(states), dtype=self.dtype)
        mode, units = self.merge_mode, self.forward_layer.units
        if mode == "concat":
            d_f, d_b = dy[..., :units], dy[..., units:]
        elif mode == "mul":
            y_f, y_b = self._cache
            d_f, d_b = dy * y_b, dy * y_f
        elif mode == "ave":
            d_f = d_b = dy * 0.5
        else:
            d_f = d_b = dy
        if self.return_sequences:
            d_b = d_b[:, ::-1]
        d_f, d_b = np.ascontiguousarray(d_f), np.ascontiguousarray(d_b)
        if self.return_state:
            d_f, d_b = [d_f, *states[:k]], [d_b, *states[k:]]
        dx_f = self.forward_layer.backward(d_f, input_grad)
        dx_b = self.backward_layer.backward(d_b, input_grad)
        if not input_grad:
            return None
        return np.add(dx_f, dx_b, out=self._buffer("dx", dx_f.shape))

    def output_shape_batch(self, states):
        """The merged output's shape with the batch of ``states`` (the first that is given)."""
        n = next(g.shape[0] for g in states if g is not None)
        return (n,) + tuple(self.output_shape[0])

    def release_buffers(self):
        super().release_buffers()
        self._cache = None

    def reset_state(self):
        for layer in self.sublayers:
            layer.reset_state()

    def get_config(self):
        config = super().get_config()
        config.update(layer=self._inner_spec(self.forward_layer), merge_mode=self.merge_mode)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(layer_from_spec(config.pop("layer")), **config)

    def __repr__(self):
        return (f"Bidirectional(layer={type(self.forward_layer).__name__!r}, "
                f"merge_mode={self.merge_mode!r})")


class TimeDistributed(_Wrapper):
    """``TimeDistributed(layer)``: ``layer`` applied to every time step of (batch, time, ...).

    >>> from nnlite.layers import Dense
    >>> TimeDistributed(Dense(8))
    TimeDistributed(layer='Dense')
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer) or layer.multi_input:
            raise ConfigError(f"TimeDistributed: layer must be a single-input Layer, got "
                              f"{type(layer).__name__}")
        if getattr(layer, "return_state", False) or isinstance(layer, Recurrent):
            raise ConfigError("TimeDistributed: wrap a per-step layer (Dense, Conv2D, ...), "
                              f"not a recurrent layer ({type(layer).__name__})")
        self.layer = layer
        self._local = [layer.name or layer.default_name]
        self._shape = None
        super().__init__(**kwargs)

    @property
    def sublayers(self):
        return [self.layer]

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"TimeDistributed {self.name!r}: expects inputs (batch, time, ...), "
                             f"got input shape (batch, {', '.join(map(str, input_shape))})")
        return (input_shape[0],) + tuple(self.layer.compute_output_shape(input_shape[1:]))

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.layer.build(self.input_shape[1:], rng, dtype)

    def forward(self, x, training=False):
        n, steps = x.shape[:2]
        y = self.layer.forward(x.reshape((n * steps,) + x.shape[2:]), training)
        if training:
            self._shape = x.shape
        return y.reshape((n, steps) + y.shape[1:])

    def backward(self, dy, input_grad=True):
        n, steps = dy.shape[:2]
        dx = self.layer.backward(dy.reshape((n * steps,) + dy.shape[2:]), input_grad)
        return None if dx is None else dx.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "layer": self._inner_spec(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(layer_from_spec(config.pop("layer")), **config)

    def __repr__(self):
        return f"TimeDistributed(layer={type(self.layer).__name__!r})"
