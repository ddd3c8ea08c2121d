"""SimpleRNN (Elman 1990): the plain recurrence, an RNN unrolled into a deep network through time.

    h_t = f(x_t W + h_{t-1} U + b)        W: (F, H), U: (H, H), b: (H,), f = activation (tanh)

Backprop through time multiplies one factor per step, as the lecture's deep stack does per
layer:

    dz_t = dL/dh_t ⊙ f'(·)                (from the output: tanh' = 1 - h²)
    dL/dh_{t-1} = dz_t Uᵀ  (+ dL/dy_{t-1})

so ‖dL/dh_t‖ shrinks geometrically with the distance to the loss when ‖Uᵀ diag f'‖ < 1 — the
vanishing gradient measured in notebook 07.
"""
from __future__ import annotations

import numpy as np

from .recurrent import Recurrent, slope

__all__ = ["SimpleRNN"]


class SimpleRNN(Recurrent):
    """``SimpleRNN(units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
    recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.,
    recurrent_dropout=0., return_sequences=False, return_state=False, go_backwards=False,
    stateful=False)``.

    (batch, time, features) → (batch, units), or (batch, time, units) with
    ``return_sequences``.  Weights: ``kernel`` (features, units), ``recurrent_kernel``
    (units, units), ``bias`` (units,).  See ``nnlite.layers.recurrent``.
    """

    default_name = "simple_rnn"
    gates = 1
    state_count = 1

    def _scan(self, x_tm, states, on, rec_drop, training, buf):
        steps, n, _ = x_tm.shape
        h = self.units
        # hs[t + 1] starts as the projection x_t W + b, and the step adds h_t U to it
        hs = buf("h_all", (steps + 1, n, h))
        self._project(x_tm, (0,), hs[1:][None], buf)
        hs[0] = states[0]
        kernel = self.params["recurrent_kernel"]
        rec = buf("rec", (n, h))
        hr = buf("h_rec", (n, h)) if rec_drop is not None else None
        act = self.activation
        carry = None if on is None else ~on
        with self._step_blas(n):
            for t in range(steps):
                z = hs[t + 1]
                src = hs[t] if hr is None else np.multiply(hs[t], rec_drop, out=hr)
                np.matmul(src, kernel, out=rec)
                np.add(z, rec, out=z)
                act(z, out=z)
                if carry is not None:
                    np.copyto(z, hs[t], where=carry[t][:, None])
        if training:
            self._scan_cache = hs
        return hs, (hs[steps],)

    def _step_activations(self):
        return self._scan_cache[1:], None, None

    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        hs = self._scan_cache
        steps, n, h = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        buf = self._buffer
        dz = slope(self.activation, hs[1:], self._one, buf("dz", (steps, n, h)))
        dh = buf("dh", (n, h))
        if finals[0] is None:
            dh.fill(0)
        else:
            np.copyto(dh, finals[0])
        keep = carry = None
        if on is not None:
            keep, carry = self._mask_weights(on)
            pass_h = buf("pass_h", (n, h))
        kernel_t = self._gate_blocks(self.params["recurrent_kernel"], (0,), buf,
                                     "recurrent_t", transpose=True)[0]
        norms = self._step_norms(steps)
        for t in range(steps - 1, -1, -1):
            if dy_tm is not None:
                np.add(dh, dy_tm[t], out=dh)
            if norms is not None:                                        # ‖∂L/∂h_t‖
                norms[t] = np.sqrt(np.vdot(dh, dh))
            if keep is not None:
                np.multiply(dh, carry[t], out=pass_h)
                dh *= keep[t]
            d = dz[t]
            np.multiply(d, dh, out=d)                                # dz_t = dh ⊙ f'
            np.matmul(d, kernel_t, out=dh)
            if rec_drop is not None:
                dh *= rec_drop
            if keep is not None:
                dh += pass_h
        prev = hs[:steps]
        if rec_drop is not None:
            prev = np.multiply(prev, rec_drop, out=buf("h_rec_all", prev.shape))
        self._recurrent_grad(prev, dz[None], (0,))
        self._keep_step_norms(norms)
        return dz[None], (0,)
