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

The derivatives are taken from the saved outputs (σ' = y(1 - y), tanh' = 1 - y²), computed for
all steps at once before the loop.  ``unit_forget_bias=True`` starts the forget-gate bias at 1
(Jozefowicz et al. 2015), as Keras.  PyTorch's ``nn.LSTM`` orders the gates i, f, g, o and has
two biases (b_ih + b_hh); ``nnlite.export`` maps one layout to the other.
"""
from __future__ import annotations

import numpy as np

from ..math import activations
from .recurrent import Recurrent, _elementwise, _flag, half_scale, slope

__all__ = ["LSTM"]


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
    def _scan(self, proj, states, on, rec_drop, training, buf):
        steps, n, _ = proj.shape
        h = self.units
        hs = buf("h_all", (steps + 1, n, h))
        cs = buf("c_all", (steps + 1, n, h))
        tcs = buf("tanh_c", (steps, n, h))
        hs[0], cs[0] = states
        kernel = self.params["recurrent_kernel"]
        fast = self._fast_gates
        if fast:  # z/2 on the σ columns, folded into the projection and the kernel
            scale, shift = half_scale(4 * h, np.r_[0:2 * h, 3 * h:4 * h], self.dtype)
            proj *= scale
            kernel = np.multiply(kernel, scale, out=buf("kernel_half", kernel.shape))
        rec = buf("rec", (n, 4 * h))
        ig = buf("ig", (n, h))
        hr = buf("h_rec", (n, h)) if rec_drop is not None else None
        act, ract = self.activation, self.recurrent_activation
        carry = None if on is None else ~on
        for t in range(steps):
            z = proj[t]
            src = hs[t] if hr is None else np.multiply(hs[t], rec_drop, out=hr)
            np.matmul(src, kernel, out=rec)
            z += rec
            if fast:
                np.tanh(z, out=z)
                z *= scale
                z += shift
            else:
                ract(z[:, :2 * h], out=z[:, :2 * h])
                act(z[:, 2 * h:3 * h], out=z[:, 2 * h:3 * h])
                ract(z[:, 3 * h:], out=z[:, 3 * h:])
            c = cs[t + 1]
            np.multiply(z[:, h:2 * h], cs[t], out=c)
            np.multiply(z[:, :h], z[:, 2 * h:3 * h], out=ig)
            c += ig
            act(c, out=tcs[t])
            np.multiply(z[:, 3 * h:], tcs[t], out=hs[t + 1])
            if carry is not None:
                where = carry[t][:, None]
                np.copyto(c, cs[t], where=where)
                np.copyto(hs[t + 1], hs[t], where=where)
        if training:
            self._scan_cache = (proj, hs, cs, tcs)
        return hs, (hs[steps], cs[steps])

    # ------------------------------------------------------------------ backward
    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        gates, hs, cs, tcs = self._scan_cache
        steps, n, width = gates.shape
        h = self.units
        buf, one = self._buffer, self._one
        # derivative factors of every step at once: σ'(i), σ'(f), tanh'(g), σ'(o); tanh'(c)
        fac = buf("fac", gates.shape)
        slope(self.recurrent_activation, gates[:, :, :2 * h], one, fac[:, :, :2 * h])
        slope(self.activation, gates[:, :, 2 * h:3 * h], one, fac[:, :, 2 * h:3 * h])
        slope(self.recurrent_activation, gates[:, :, 3 * h:], one, fac[:, :, 3 * h:])
        dtc = slope(self.activation, tcs, one, buf("dtanh_c", tcs.shape))
        dtc *= gates[:, :, 3 * h:]                       # o ⊙ tanh'(c)
        dz = buf("dz", gates.shape)
        dh = buf("dh", (n, h))
        dc = buf("dc", (n, h))
        tmp = buf("tmp", (n, h))
        for state, grad in zip((dh, dc), finals):
            if grad is None:
                state.fill(0)
            else:
                np.copyto(state, grad)
        keep = carry = None
        if on is not None:
            keep, carry = self._mask_weights(on)
            pass_h, pass_c = buf("pass_h", (n, h)), buf("pass_c", (n, h))
        kernel_t = self._transposed("recurrent_kernel")
        norms = self._step_norms(steps)
        for t in range(steps - 1, -1, -1):
            if dy_tm is not None:
                dh += dy_tm[t]
            if norms is not None:                                        # ‖∂L/∂h_t‖
                norms[t] = np.sqrt(np.vdot(dh, dh))
            if keep is not None:
                np.multiply(dh, carry[t], out=pass_h)
                dh *= keep[t]
            g = gates[t]
            d = dz[t]
            np.multiply(dh, tcs[t], out=d[:, 3 * h:])                     # do
            np.multiply(dh, dtc[t], out=tmp)
            dc += tmp
            if keep is not None:
                np.multiply(dc, carry[t], out=pass_c)
                dc *= keep[t]
            np.multiply(dc, g[:, 2 * h:3 * h], out=d[:, :h])             # di = dc ⊙ g
            np.multiply(dc, cs[t], out=d[:, h:2 * h])                    # df = dc ⊙ c_{t-1}
            np.multiply(dc, g[:, :h], out=d[:, 2 * h:3 * h])             # dg = dc ⊙ i
            d *= fac[t]
            dc *= g[:, h:2 * h]                                          # dL/dc_{t-1}
            np.matmul(d, kernel_t, out=dh)                               # dL/dh_{t-1}
            if rec_drop is not None:
                dh *= rec_drop
            if keep is not None:
                dh += pass_h
                dc += pass_c
        prev = hs[:steps].reshape(steps * n, h)
        if rec_drop is not None:
            prev = np.multiply(hs[:steps], rec_drop, out=buf("h_rec_all", (steps, n, h)))
            prev = prev.reshape(steps * n, h)
        np.matmul(prev.T, dz.reshape(steps * n, width), out=self.grads["recurrent_kernel"])
        self._keep_step_norms(norms)
        return dz

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.to_config(self.recurrent_activation),
                      unit_forget_bias=self.unit_forget_bias)
        return config

