"""LSTM (Hochreiter & Schmidhuber 1997), Keras 3's formulation and weight layout.

    z_t = x_t W + h_{t-1} U + b          W: (F, 4H), U: (H, 4H), b: (4H,), gates in the order
    i = σ(z_i)  f = σ(z_f)  g = tanh(z_c)  o = σ(z_o)            i, f, c, o (Keras)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)                   (σ = recurrent_activation, tanh = activation)

Backprop through time, from the running dL/dh_t and dL/dc_t (t = T-1 .. 0):

    dc  += dh ⊙ o ⊙ tanh'(c_t)
    dz_i = dc ⊙ g ⊙ σ'(i)      dz_f = dc ⊙ c_{t-1} ⊙ σ'(f)
    dz_c = dc ⊙ i ⊙ tanh'(g)   dz_o = dh ⊙ tanh(c_t) ⊙ σ'(o)
    dL/dc_{t-1} = dc ⊙ f,      dL/dh_{t-1} = dz_t Uᵀ   (+ dL/dy_{t-1} from the output)

The derivatives are taken from the saved outputs (σ' = y(1 - y), tanh' = 1 - y²) and folded
into per-step multipliers for all steps at once before the loop (M = [g σ'(i), c_{t-1} σ'(f),
i tanh'(g), tanh(c_t) σ'(o), o tanh'(c_t)]), so a step of BPTT is five elementwise calls on
contiguous blocks and one batched product: [dz_o, dh ⊙ M_4] = dh ⊙ M[3:5];  dc += dh ⊙ M_4;
[dz_i, dz_f, dz_c] = dc ⊙ M[0:3];  dc ⊙= f;  dh = Σ_k dz_k U_kᵀ.  The forward step is eight:
z += h U (one batched product for the four gates), tanh(z) (the σ gates as tanh of z/2, z/2
folded into the weights), σ = ½ tanh + ½ on the σ gates (kept together by the forward gate
order i, f, o, g), [i ⊙ g, f ⊙ c_{t-1}] in one call, their sum, tanh(c_t), o ⊙ tanh(c_t).
``unit_forget_bias=True`` starts the forget-gate bias at 1
(Jozefowicz et al. 2015), as Keras.  PyTorch's ``nn.LSTM`` orders the gates i, f, g, o and has
two biases (b_ih + b_hh); ``nnlite.export`` maps one layout to the other.
"""
from __future__ import annotations

import numpy as np

from ..math import activations
from .recurrent import Recurrent, _elementwise, _flag, slope

__all__ = ["LSTM"]

#: gate orders (indices of Keras's i, f, c, o): the forward pass keeps the σ gates together
FORWARD, KERAS = (0, 1, 3, 2), (0, 1, 2, 3)


class LSTM(Recurrent):
    """``LSTM(units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
    kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
    bias_initializer="zeros", unit_forget_bias=True, dropout=0., recurrent_dropout=0.,
    return_sequences=False, return_state=False, go_backwards=False, stateful=False)``.

    (batch, time, features) → (batch, units), or (batch, time, units) with
    ``return_sequences``.  Weights: ``kernel`` (features, 4·units), ``recurrent_kernel``
    (units, 4·units), ``bias`` (4·units,).  See ``nnlite.layers.recurrent`` for masks, dropout,
    ``stateful`` and ``return_state``.

    >>> LSTM(32, return_sequences=True)  # doctest: +ELLIPSIS
    LSTM(units=32, ...)
    """

    gates = 4
    state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = _elementwise(recurrent_activation, "LSTM",
                                                 "recurrent_activation")
        self.unit_forget_bias = _flag(unit_forget_bias, "LSTM", "unit_forget_bias")

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def init(shape, fan_in, fan_out, rng, dtype):
            parts = [base((units,), fan_in, fan_out, rng, dtype), np.ones(units, dtype),
                     base((2 * units,), fan_in, fan_out, rng, dtype)]
            return np.concatenate(parts)
        return init

    # ------------------------------------------------------------------ forward
    def _scan(self, x_tm, states, on, rec_drop, training, buf):
        steps, n, _ = x_tm.shape
        h = self.units
        fast = self._fast_gates
        # σ(z) = (1 + tanh(z/2)) / 2: z/2 on the σ gates folded into the weights
        scale = np.array([0.5, 0.5, 0.5, 1.0], self.dtype)[:, None, None] if fast else None
        # slots of every step t: the gates i, f, o (σ) and g (tanh), c_{t-1}, tanh(c_t)
        z = buf("gates", (6, steps + 1, n, h))
        self._project(x_tm, FORWARD, z[:4, :steps], buf, scale)
        kernel = self._gate_blocks(self.params["recurrent_kernel"], FORWARD, buf,
                                   "recurrent_gates", scale)               # (4, H, H)
        hs = buf("h_all", (steps + 1, n, h))
        hs[0], z[4, 0] = states
        rec = buf("rec", (4, n, h))
        cell = buf("cell_terms", (2, n, h))
        hr = buf("h_rec", (n, h)) if rec_drop is not None else None
        ract = self.recurrent_activation
        act = np.tanh if self.activation.name == "tanh" else self.activation
        carry = None if on is None else ~on
        cell_ig, cell_fc = cell
        # per-step views, made by iterating (cheaper than indexing inside the loop)
        views = zip(z[:4].swapaxes(0, 1), z[:3].swapaxes(0, 1), z[0:2].swapaxes(0, 1),
                    z[3:5].swapaxes(0, 1), z[2], z[5], z[4], z[4, 1:], hs[:-1], hs[1:])
        with self._step_blas(n):
            for t, (pre, sig, i_f, g_c, o, tc, c_prev, c, prev, out) in enumerate(views):
                src = prev if hr is None else np.multiply(prev, rec_drop, out=hr)
                np.matmul(src, kernel, out=rec)          # h_{t-1} U, gate by gate
                np.add(pre, rec, out=pre)
                if fast:
                    np.tanh(pre, out=pre)
                    np.multiply(sig, 0.5, out=sig)
                    np.add(sig, 0.5, out=sig)
                else:
                    ract(sig, out=sig)
                    act(pre[3], out=pre[3])
                np.multiply(i_f, g_c, out=cell)          # i ⊙ g, f ⊙ c_{t-1}
                np.add(cell_ig, cell_fc, out=c)
                if carry is not None:
                    np.copyto(c, c_prev, where=carry[t][:, None])
                act(c, out=tc)
                np.multiply(o, tc, out=out)
                if carry is not None:
                    np.copyto(out, prev, where=carry[t][:, None])
        if training:
            self._scan_cache = (z, hs)
        return hs, (hs[steps], z[4, steps])

    def _step_activations(self):
        z, hs = self._scan_cache
        steps = hs.shape[0] - 1
        return hs[1:], z[:4, :steps], FORWARD

    # ------------------------------------------------------------------ backward
    def _factors(self, z, steps):
        """The per-step multipliers of BPTT for every step at once, in the slots of the
        returned (5, T, n, H) array: [g σ'(i), c_{t-1} σ'(f), i tanh'(g), tanh(c) σ'(o),
        o tanh'(c)] (Keras gate order; the loop turns them into dz_i, dz_f, dz_g, dz_o and
        dh ⊙ o tanh'(c) in place)."""
        m = self._buffer("dz", (5, steps, z.shape[2], self.units))
        i, o, g, tc = z[0, :steps], z[2, :steps], z[3, :steps], z[5, :steps]
        if self._fast_gates:             # σ' = y - y², tanh' = 1 - y², from the outputs
            for dst, y in ((m[0:2], z[0:2, :steps]), (m[3], o)):
                np.multiply(y, y, out=dst)
                np.subtract(y, dst, out=dst)
            np.multiply(g, g, out=m[2])
            np.subtract(1, m[2], out=m[2])
            np.multiply(tc, tc, out=m[4])
            np.subtract(1, m[4], out=m[4])
        else:
            one, ract, act = self._one, self.recurrent_activation, self.activation
            slope(ract, z[0:2, :steps], one, m[0:2])
            slope(ract, o, one, m[3])
            slope(act, g, one, m[2])
            slope(act, tc, one, m[4])
        np.multiply(m[0:2], z[3:5, :steps], out=m[0:2])       # × g, × c_{t-1}
        np.multiply(m[2], i, out=m[2])
        np.multiply(m[3], tc, out=m[3])
        np.multiply(m[4], o, out=m[4])
        return m

    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        z, hs = self._scan_cache
        steps, n, h = hs.shape[0] - 1, hs.shape[1], self.units
        buf = self._buffer
        m = self._factors(z, steps)
        dh = buf("dh", (n, h))
        dc = buf("dc", (n, h))
        back = buf("back", (4, n, h))
        for state, grad in zip((dh, dc), finals):
            if grad is None:
                state.fill(0)
            else:
                np.copyto(state, grad)
        keep = carry = None
        if on is not None:
            keep, carry = self._mask_weights(on)
            pass_h, pass_c = buf("pass_h", (n, h)), buf("pass_c", (n, h))
        kernel_t = self._gate_blocks(self.params["recurrent_kernel"], KERAS, buf,
                                     "recurrent_gates_t", transpose=True)      # (4, H, H)
        norms = self._step_norms(steps)
        # per-step views in reverse time, made by iterating
        back_in_time = slice(steps - 1, None, -1)
        views = zip(range(steps - 1, -1, -1), m[3:5].swapaxes(0, 1)[back_in_time],
                    m[4, back_in_time], m[0:3].swapaxes(0, 1)[back_in_time],
                    m[0:4].swapaxes(0, 1)[back_in_time], z[1, back_in_time],
                    dy_tm[back_in_time] if dy_tm is not None else [None] * steps)
        for t, m_oa, m_a, m_ifg, dz_t, forget, dy_t in views:
            if dy_t is not None:
                np.add(dh, dy_t, out=dh)
            if norms is not None:                                        # ‖∂L/∂h_t‖
                norms[t] = np.sqrt(np.vdot(dh, dh))
            if keep is not None:
                np.multiply(dh, carry[t], out=pass_h)
                dh *= keep[t]
            np.multiply(dh, m_oa, out=m_oa)             # dz_o; dh ⊙ o tanh'(c)
            np.add(dc, m_a, out=dc)
            if keep is not None:
                np.multiply(dc, carry[t], out=pass_c)
                dc *= keep[t]
            np.multiply(dc, m_ifg, out=m_ifg)           # dz_i, dz_f, dz_g
            np.multiply(dc, forget, out=dc)             # dL/dc_{t-1}
            np.matmul(dz_t, kernel_t, out=back)         # dz_k U_kᵀ, gate by gate
            np.add.reduce(back, axis=0, out=dh)         # dL/dh_{t-1}
            if rec_drop is not None:
                dh *= rec_drop
            if keep is not None:
                dh += pass_h
                dc += pass_c
        prev = hs[:steps]
        if rec_drop is not None:
            prev = np.multiply(prev, rec_drop, out=buf("h_rec_all", prev.shape))
        dz = m[:4]
        self._recurrent_grad(prev, dz, KERAS)
        self._keep_step_norms(norms)
        return dz, KERAS

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.to_config(self.recurrent_activation),
                      unit_forget_bias=self.unit_forget_bias)
        return config

