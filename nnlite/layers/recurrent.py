"""What SimpleRNN, LSTM and GRU share: the time loop around a cell, with backprop through time.

Shapes are batch first: inputs ``(batch, time, features)``, outputs ``(batch, time, units)``
(``return_sequences=True``) or ``(batch, units)`` (the last output).  Inside, everything is
time-major, and the gates are kept as separate contiguous blocks (gate-major), so that every
elementwise step works on whole contiguous arrays (a column slice of an (n, G·H) row-major
array costs NumPy 3–4× more per element than the same contiguous block):

    x_tm  (T, n, F + 1)   the inputs (reversed in time when ``go_backwards``) and a column of 1s
    P_k   = x_tm [W_k; b_k]   (G, T, n, H)   ONE batched product for the input projection and
                                             the bias of every step and gate (G = 1, 4, 3)
    for t = 0 .. T-1:                        only the recurrence loops over time
        h_t, (c_t) = cell(P_t, h_{t-1} U_k)  one batched (n, H) x (G, H, H) product per step

Backward through time (written out, not approximated) walks t = T-1 .. 0 with the running
gradient dL/dh_t (and dL/dc_t), producing dP (G, T, n, H); then

    dL/d[W; b] = x_tmᵀ dP,  dL/dU = Σ_t h_{t-1}ᵀ dP_t = H_prevᵀ dP,  dL/dx = Σ_k dP_k W_kᵀ

are each ONE batched product over all steps.  The per-step products are small ((32, 128) x
(128, 128) per gate for the char-LSTM), so the time loops run with one BLAS thread
(``nnlite.layers.blas_threads``); the products over all steps keep the caller's threads.
Truncated BPTT arises only from how the user cuts the sequences (and from ``stateful=True``,
whose carried state is a constant of the next batch).

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
from . import blas_threads
from .base import Layer, bool_flag, positive_int

__all__ = ["Recurrent"]


def _rows(a, lead=1):
    """``a`` with its axes from ``lead`` to the second-last merged into one: (T, n, F) →
    (T·n, F) (lead=1) or (G, T, n, H) → (G, T·n, H) (lead=2); always a view (an array that
    would need a copy raises, so a product never writes into a temporary)."""
    view = a.view()
    view.shape = a.shape[:lead - 1] + (-1, a.shape[-1])
    return view


def _put_blocks(target, blocks, order):
    """``target`` (rows, G·H) ← the gate blocks (G', rows, H): block k into the columns of
    gate ``order[k]`` (Keras order)."""
    h = blocks.shape[-1]
    for k, gate in enumerate(order):
        np.copyto(target[:, gate * h:(gate + 1) * h], blocks[k])


def slope(fn, y, one, out):
    """f'(z) from y = f(z) for an activation whose derivative is written from its output."""
    return fn.backward(one, y, out=out)


def _rate(value, owner, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _flag(value, owner, name):
    return bool_flag(value, f"{owner}: {name}")


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
        positive_int(units, f"{owner}: units")
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

    def _projection_bias(self):
        """The bias added to the input projection x_t W (forward)."""
        return self._input_bias()

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

    def _scratch(self, key, shape, dtype=None):
        """A work array that is not kept (inference: the layer caches nothing)."""
        return np.empty(shape, dtype=self.dtype if dtype is None else dtype)

    def _dropout_mask(self, shape, rate, buf, key):
        mask = self._rng.random(shape, dtype=self.dtype, out=buf(key, shape))
        keep = np.greater_equal(mask, rate)
        np.multiply(keep, 1.0 / (1.0 - rate), out=mask)
        return mask

    def _gate_blocks(self, weight, order, buf, key, scale=None, transpose=False):
        """``weight`` (rows, G·H) as gate blocks (G, rows, H) in ``order`` (indices of the
        Keras gate order), each block ``k`` multiplied by ``scale[k]`` — or their transposes
        (G, H, rows) — in a reused buffer: one contiguous (rows, H) block per gate, so a
        product with a whole batch gives every gate's pre-activations as contiguous arrays."""
        rows, h = weight.shape[0], self.units
        blocks = weight.reshape(rows, self.gates, h).transpose(1, 2, 0) if transpose \
            else weight.reshape(rows, self.gates, h).transpose(1, 0, 2)
        out = buf(key, (len(order),) + blocks.shape[1:])
        np.take(blocks, order, axis=0, out=out)
        if scale is not None:
            out *= scale
        return out

    def _input_kernel(self, order, buf, scale=None):
        """The input kernel with the input bias as an extra last row, as gate blocks
        (G, F + 1, H): the time-major inputs carry a column of ones, so one product gives
        x_t W + b for every step."""
        kernel = self.params["kernel"]
        features = kernel.shape[0]
        full = buf("kernel_bias", (features + 1, kernel.shape[1]))
        full[:features] = kernel
        if self.use_bias:
            full[features] = self._projection_bias()
        else:
            full[features] = 0
        return self._gate_blocks(full, order, buf, "kernel_gates", scale)

    def _project(self, x_tm, order, out, buf, scale=None):
        """``out`` (G, T, n, H) ← the input projection x_t W + b of every step, gate by gate,
        as ONE batched product of the (T·n, F + 1) inputs."""
        np.matmul(_rows(x_tm), self._input_kernel(order, buf, scale), out=_rows(out, 2))

    def _step_blas(self, n):
        """The BLAS-thread context of the time loop: one thread for its small products."""
        return blas_threads.limit(blas_threads.step_threads(n, self.units, self.units))

    def forward(self, x, training=False, mask=None):
        n, steps, features = x.shape
        buf = self._buffer if training else self._scratch
        x_tm = buf("x_tm", (steps, n, features + 1))   # the inputs and a column of ones
        np.copyto(x_tm[:, :, :features],
                  (x[:, ::-1] if self.go_backwards else x).transpose(1, 0, 2))
        x_tm[:, :, features] = 1
        drop = self._dropout_mask((n, features), self.dropout, buf, "drop_x") \
            if training and self.dropout > 0 else None
        if drop is not None:
            x_tm[:, :, :features] *= drop
        rec_drop = self._dropout_mask((n, self.units), self.recurrent_dropout, buf, "drop_h") \
            if training and self.recurrent_dropout > 0 else None
        on = None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
        if mask is not None and not mask.all():
            on = np.ascontiguousarray((mask[:, ::-1] if self.go_backwards else mask).T)
        hs, finals = self._scan(x_tm, self._initial_states(n), on, rec_drop, training, buf)
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
        steps, n, columns = x_tm.shape
        features, h = columns - 1, self.units
        finals = [None] * self.state_count
        if self.return_state:
            dy, finals = dy[0], list(dy[1:])
        dy_tm = None
        if self.return_sequences:
            if dy is not None:                      # time major and contiguous, once
                dy_tm = self._buffer("dy_tm", (steps, n, h))
                np.copyto(dy_tm, dy.transpose(1, 0, 2))
                if self.zero_output_for_mask and on is not None:
                    dy_tm *= on[:, :, None]
        elif dy is not None:  # the last output is the final h
            finals[0] = dy if finals[0] is None else finals[0] + dy
        with self._step_blas(n):
            dproj, order = self._scan_backward(dy_tm, finals, on, rec_drop)
        flat = _rows(dproj, 2)                                   # (G, T·n, H)
        # dL/dW and dL/db = [x_t, 1]ᵀ dP over every step: one batched product
        grad = np.matmul(_rows(x_tm).T, flat, out=self._buffer("grad_kernel_bias",
                                                               (len(order), columns, h)))
        _put_blocks(self.grads["kernel"], grad[:, :features], order)
        if self.use_bias:
            _put_blocks(self._input_bias_grad().reshape(1, -1), grad[:, features:], order)
        if not input_grad:
            return None
        kernel_t = self._gate_blocks(self.params["kernel"], order, self._buffer,
                                     "kernel_gates_t", transpose=True)   # (G, H, F)
        dx_tm = self._buffer("dx_tm", (steps, n, features))
        if len(order) == 1:
            np.matmul(flat[0], kernel_t[0], out=_rows(dx_tm))
        else:                                    # dL/dx_t = Σ_gates dP_k W_kᵀ
            parts = np.matmul(flat, kernel_t, out=self._buffer(
                "dx_gates", (len(order), steps * n, features)))
            np.add.reduce(parts, axis=0, out=_rows(dx_tm))
        if drop is not None:
            dx_tm *= drop
        dx = self._buffer("dx", (n, steps, features))
        np.copyto(dx, dx_tm.transpose(1, 0, 2)[:, ::-1] if self.go_backwards
                  else dx_tm.transpose(1, 0, 2))
        return dx

    def _recurrent_grad(self, prev, dz, order, key="grad_recurrent"):
        """dL/dU = Σ_t h_{t-1}ᵀ dz_t for the gate blocks ``dz`` (G', T, n, H) in ``order``:
        one batched product of the (T·n, H) states; returns the (G', H, H) blocks."""
        grad = np.matmul(_rows(prev).T, _rows(dz, 2),
                         out=self._buffer(key, (len(order), self.units, self.units)))
        _put_blocks(self.grads["recurrent_kernel"], grad, order)
        return grad

    def step_activations(self):
        """``(states, gates)`` of the last training forward, in processing order, for the
        time-step monitors: the states h_1..h_T (T, n, H) and the gate activations
        (T, n, G·H) in Keras's gate order (None for SimpleRNN, whose state is its only
        activation)."""
        states, gates, order = self._step_activations()
        if gates is None:
            return states, None
        return states, np.concatenate([gates[order.index(k)] for k in range(self.gates)],
                                      axis=-1)

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
