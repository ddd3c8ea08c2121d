"""What SimpleRNN, LSTM and GRU share: the time loop around a cell, with backprop through time.

Shapes are batch first: inputs ``(batch, time, features)``, outputs ``(batch, time, units)``
(``return_sequences=True``) or ``(batch, units)`` (the last output).  Inside, everything is
time-major so that each step reads contiguous rows:

    x_tm  (T, n, F)   the inputs, reversed in time when ``go_backwards``
    P     = x_tm W + b                (T, n, G·H)   ONE matmul for the input projection of
                                                    every step (G = 1, 4, 3 gates)
    for t = 0 .. T-1:                               only the recurrence loops over time
        h_t, (c_t) = cell(P_t, h_{t-1} U, ...)      one (n, H) x (H, G·H) matmul per step

Backward through time (written out, not approximated) walks t = T-1 .. 0 with the running
gradient dL/dh_t (and dL/dc_t), producing dP (T, n, G·H); then

    dL/dW = x_tmᵀ dP,  dL/db = Σ dP,  dL/dU = Σ_t h_{t-1}ᵀ dP_t = H_prevᵀ dP,  dL/dx = dP Wᵀ

are each ONE matmul over all steps.  Truncated BPTT arises only from how the user cuts the
sequences (and from ``stateful=True``, whose carried state is a constant of the next batch).

Masks (Keras semantics): at a masked step the state and the output are carried over,
``h_t = h_{t-1}`` (``c_t = c_{t-1}``), so a padded batch gives the outputs and gradients of
running each sequence alone.  ``zero_output_for_mask=True`` (used by ``Bidirectional`` with
``return_sequences``) gives zero outputs at masked steps instead.

Dropout (Gal & Ghahramani's variational form): ``dropout`` draws one mask per sequence over the
input features and ``recurrent_dropout`` one over the units of h_{t-1} in the recurrent
product, the same at every step and for every gate; masks come from the layer's own Generator
(seeded from ``seed`` or from the model's generator at build).  Keras draws separate recurrent
masks per gate when ``recurrent_dropout`` > 0; nnlite uses one, which keeps one matmul per step.

``return_state=True``: the final states ``[h]`` (``[h, c]`` for LSTM) are extra outputs — the
layer is then ``multi_output`` (see ``nnlite.models.graph_build``): in the graph API the call
returns the nodes ``(output, *states)``, ``forward`` returns the tuple of arrays and
``backward`` takes the list of their gradients (None for an output nothing reads).  A
``Sequential`` model cannot use ``return_state`` (it has one output per layer).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import activations, initializers, regularizers
from .base import Layer

__all__ = ["Recurrent"]


def slope(fn, y, one, out):
    """f'(z) from y = f(z) for an activation whose derivative is written from its output."""
    return fn.backward(one, y, out=out)


def half_scale(width, sigmoid_columns, dtype):
    """(scale, shift) rows for gates computed as ``tanh(scale ⊙ z) ⊙ scale + shift``: 1/2 and
    1/2 on the sigmoid columns (σ(z) = (1 + tanh(z/2)) / 2, exact, and one fast ``tanh`` call
    for all gates instead of scipy's slower ``expit``), 1 and 0 on the tanh columns."""
    scale = np.ones(width, dtype=dtype)
    scale[sigmoid_columns] = 0.5
    shift = np.zeros(width, dtype=dtype)
    shift[sigmoid_columns] = 0.5
    return scale, shift


def _rate(value, owner, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _flag(value, owner, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def _elementwise(value, owner, name):
    fn = activations.get(value)
    if fn.saves != "output" or fn.name == "softmax":
        raise ConfigError(f"{owner}: {name} must be an elementwise activation whose derivative "
                          f"is written from its output (e.g. 'tanh', 'sigmoid', 'relu', "
                          f"'hard_sigmoid', 'linear'), got {fn.name!r}")
    return fn


class Recurrent(Layer):
    """Base of the recurrent layers; subclasses set ``gates``/``state_count`` and write the
    cell: ``_build_cell``, ``_scan`` (forward over time) and ``_scan_backward`` (BPTT)."""

    supports_masking = True
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ConfigError(f"{owner}: units must be a positive int, got {units!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ConfigError(f"{owner}: seed must be a non-negative int or None, got {seed!r}")
        self.units = int(units)
        self.activation = _elementwise(activation, owner, "activation")
        self.use_bias = _flag(use_bias, owner, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _rate(dropout, owner, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, owner, "recurrent_dropout")
        self.seed = None if seed is None else int(seed)
        for name, value in (("return_sequences", return_sequences),
                            ("return_state", return_state), ("go_backwards", go_backwards),
                            ("stateful", stateful),
                            ("zero_output_for_mask", zero_output_for_mask)):
            setattr(self, name, _flag(value, owner, name))
        #: with return_state the call has several outputs: (output, *final states)
        self.multi_output = self.return_state
        self._rng = None
        self._states = None          # stateful: the final states of the last batch
        self._cache = None
        #: set by the time-step monitors (nnlite.monitors_time): backward then stores
        #: ``step_grad_norms``, ‖∂L/∂h_t‖ over the batch for every step t in time order
        self.record_step_norms = False
        self.step_grad_norms = None

    # ------------------------------------------------------------------ building
    @property
    def recurrent_kernel_regularizer(self):  # the model finds penalties by weight name
        return self.recurrent_regularizer

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expects inputs (batch, time, "
                             f"features), got input shape (batch, "
                             f"{', '.join(map(str, input_shape))})")
        out = (input_shape[0], self.units) if self.return_sequences else (self.units,)
        return [out, *self.state_shapes()] if self.return_state else out

    def state_shapes(self):
        return [(self.units,)] * self.state_count

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        features, units = self.input_shape[-1], self.units
        width = self.gates * units
        self.add_weight("kernel", (features, width), self.kernel_initializer, features, width,
                        rng)
        self.add_weight("recurrent_kernel", (units, width), self.recurrent_initializer, units,
                        width, rng)
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self._bias_init(), features, width, rng)
        seed = self.seed if self.seed is not None else int(rng.integers(2**63))
        self._rng = np.random.default_rng(seed)
        self._states = None
        self._one = np.ones((), dtype=self.dtype)
        # the standard gates (σ for gates, tanh for candidates) run as one tanh per step
        self._fast_gates = (self.activation.name == "tanh" and getattr(
            self, "recurrent_activation", self.activation).name == "sigmoid")

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _input_bias(self):
        return self.params["bias"]

    def _input_bias_grad(self):
        return self.grads["bias"]

    def reset_state(self):
        """Forget the carried states of a ``stateful`` layer (the next batch starts from 0)."""
        self._states = None

    reset_states = reset_state  # Keras' compatibility alias

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.state_count if self.return_state else out

    # ------------------------------------------------------------------ forward
    def _initial_states(self, n):
        if self.stateful and self._states is not None:
            if self._states[0].shape[0] != n:
                raise ShapeError(
                    f"{type(self).__name__} {self.name!r} is stateful and carries states for "
                    f"batches of {self._states[0].shape[0]}, got a batch of {n}; keep the batch "
                    "size fixed (the number of rows a multiple of it) or call reset_state()")
            return self._states
        return [np.zeros((n, self.units), dtype=self.dtype) for _ in range(self.state_count)]

    def _transposed(self, key):
        """A contiguous copy of ``params[key]ᵀ`` (a matmul with it is faster than with the
        transposed view), in a reused buffer."""
        weight = self.params[key]
        out = self._buffer(f"{key}_t", weight.shape[::-1])
        np.copyto(out, weight.T)
        return out

    def _scratch(self, key, shape, dtype=None):
        """A work array that is not kept (inference: the layer caches nothing)."""
        return np.empty(shape, dtype=self.dtype if dtype is None else dtype)

    def _dropout_mask(self, shape, rate, buf, key):
        mask = self._rng.random(shape, dtype=self.dtype, out=buf(key, shape))
        keep = np.greater_equal(mask, rate)
        np.multiply(keep, 1.0 / (1.0 - rate), out=mask)
        return mask

    def forward(self, x, training=False, mask=None):
        n, steps, features = x.shape
        buf = self._buffer if training else self._scratch
        x_tm = buf("x_tm", (steps, n, features))
        np.copyto(x_tm, (x[:, ::-1] if self.go_backwards else x).transpose(1, 0, 2))
        drop = self._dropout_mask((n, features), self.dropout, buf, "drop_x") \
            if training and self.dropout > 0 else None
        if drop is not None:
            x_tm *= drop
        rec_drop = self._dropout_mask((n, self.units), self.recurrent_dropout, buf, "drop_h") \
            if training and self.recurrent_dropout > 0 else None
        width = self.gates * self.units
        proj = buf("proj", (steps, n, width))
        np.matmul(x_tm.reshape(steps * n, features), self.params["kernel"],
                  out=proj.reshape(steps * n, width))
        if self.use_bias:
            proj += self._input_bias()
        on = None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
        if mask is not None and not mask.all():
            on = np.ascontiguousarray((mask[:, ::-1] if self.go_backwards else mask).T)
        hs, finals = self._scan(proj, self._initial_states(n), on, rec_drop, training, buf)
        if self.stateful:
            self._states = [s.copy() for s in finals]
        if training:
            self._cache = (x_tm, drop, rec_drop, on)
        if not self.return_sequences:
            y = hs[steps]
        else:
            y = buf("y", (n, steps, self.units))
            np.copyto(y, hs[1:].transpose(1, 0, 2))
            if self.zero_output_for_mask and on is not None:
                y *= on.T[:, :, None]
        return (y, *finals) if self.return_state else y

    # ------------------------------------------------------------------ backward
    def backward(self, dy, input_grad=True):
        """``dy``: dL/d(output); with ``return_state`` the list [dL/d(output), dL/dh, (dL/dc)]
        with None for outputs that receive no gradient."""
        x_tm, drop, rec_drop, on = self._cache
        steps, n, features = x_tm.shape
        finals = [None] * self.state_count
        if self.return_state:
            dy, finals = dy[0], list(dy[1:])
        dy_tm = None
        if self.return_sequences:
            if dy is not None:
                if self.zero_output_for_mask and on is not None:
                    dy = dy * on.T[:, :, None]
                dy_tm = dy.transpose(1, 0, 2)
        elif dy is not None:  # the last output is the final h
            finals[0] = dy if finals[0] is None else finals[0] + dy
        dproj = self._scan_backward(dy_tm, finals, on, rec_drop)
        width = self.gates * self.units
        flat = dproj.reshape(steps * n, width)
        np.matmul(x_tm.reshape(steps * n, features).T, flat, out=self.grads["kernel"])
        if self.use_bias:
            np.add.reduce(flat, axis=0, out=self._input_bias_grad())
        if not input_grad:
            return None
        dx_tm = np.matmul(flat, self.params["kernel"].T,
                          out=self._buffer("dx_tm", (steps * n, features)))
        dx_tm = dx_tm.reshape(steps, n, features)
        if drop is not None:
            dx_tm *= drop
        dx = self._buffer("dx", (n, steps, features))
        np.copyto(dx, dx_tm.transpose(1, 0, 2)[:, ::-1] if self.go_backwards
                  else dx_tm.transpose(1, 0, 2))
        return dx

    def _step_norms(self, steps):
        """The array BPTT fills with ‖∂L/∂h_t‖ (processing order) when recording, else None."""
        return np.zeros(steps) if self.record_step_norms else None

    def _keep_step_norms(self, norms):
        if norms is not None:
            self.step_grad_norms = norms[::-1].copy() if self.go_backwards else norms

    def _mask_weights(self, on):
        """(keep, carry): float (T, n, 1) arrays, 1/0 at real steps and 0/1 at masked ones;
        the gradient reaching a masked step's state passes to the step before unchanged."""
        keep = on[:, :, None].astype(self.dtype)
        return keep, 1.0 - keep

    def release_buffers(self):
        super().release_buffers()
        self._cache = None

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.to_config(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=initializers.name_of(self.kernel_initializer),
                      recurrent_initializer=initializers.name_of(self.recurrent_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer),
                      dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                      seed=self.seed, return_sequences=self.return_sequences,
                      return_state=self.return_state, go_backwards=self.go_backwards,
                      stateful=self.stateful)
        if self.zero_output_for_mask:
            config["zero_output_for_mask"] = True
        for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"):
            if getattr(self, key) is not None:
                config[key] = regularizers.serialize(getattr(self, key))
        return config
