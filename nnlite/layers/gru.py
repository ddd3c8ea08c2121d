"""GRU (Cho et al. 2014), Keras 3's formulation and weight layout (gates in the order z, r, h).

``reset_after=True`` (default; cuDNN's and PyTorch's variant) has two biases, ``bias`` of shape
(2, 3H): row 0 for the input projection, row 1 inside the recurrent product:

    [x_z, x_r, x_h] = x_t W + b_0         [u_z, u_r, u_h] = h_{t-1} U + b_1
    z = σ(x_z + u_z)   r = σ(x_r + u_r)   ĥ = tanh(x_h + r ⊙ u_h)
    h_t = z ⊙ h_{t-1} + (1 - z) ⊙ ĥ

``reset_after=False`` (the original) has one bias (3H,) and resets before the product:

    ĥ = tanh(x_h + (r ⊙ h_{t-1}) U_h),   z, r from h_{t-1} U_{zr}

Backprop through time (reset_after=True), from the running dL/dh_t:

    dz = dh ⊙ (h_{t-1} - ĥ) ⊙ σ'(z)       da = dh ⊙ (1 - z) ⊙ tanh'(ĥ)     (a = x_h + r u_h)
    dr = da ⊙ u_h ⊙ σ'(r)
    d[x_z, x_r, x_h] = [dz, dr, da]       d[u_z, u_r, u_h] = [dz, dr, da ⊙ r]
    dL/dh_{t-1} = dh ⊙ z + d[u] Uᵀ

PyTorch's ``nn.GRU`` is the reset_after form with the gates ordered r, z, n.
"""
from __future__ import annotations

import numpy as np

from ..math import activations
from .recurrent import Recurrent, _elementwise, _flag, slope

__all__ = ["GRU"]

#: gate orders (indices of Keras's z, r, h): the forward pass keeps Keras's; backward's
#: dP holds [dĥ, dz, dr]
KERAS, BACKWARD = (0, 1, 2), (2, 0, 1)


class GRU(Recurrent):
    """``GRU(units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
    kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
    bias_initializer="zeros", reset_after=True, dropout=0., recurrent_dropout=0.,
    return_sequences=False, return_state=False, go_backwards=False, stateful=False)``.

    (batch, time, features) → (batch, units), or (batch, time, units) with
    ``return_sequences``.  Weights: ``kernel`` (features, 3·units), ``recurrent_kernel``
    (units, 3·units), ``bias`` (2, 3·units) (reset_after) or (3·units,).
    """

    gates = 3
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = _elementwise(recurrent_activation, "GRU",
                                                 "recurrent_activation")
        self.reset_after = _flag(reset_after, "GRU", "reset_after")

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        bias = self.params["bias"]
        return bias[0] if self.reset_after else bias

    def _projection_bias(self):
        # reset_after: b_1 of the z and r gates is a plain second bias of their input
        # projection (only ĥ's stays inside r ⊙ (h U_h + b_1h))
        if not self.reset_after:
            return self.params["bias"]
        bias = self.params["bias"]
        return np.concatenate([bias[0, :2 * self.units] + bias[1, :2 * self.units],
                               bias[0, 2 * self.units:]])

    def _input_bias_grad(self):
        grad = self.grads["bias"]
        return grad[0] if self.reset_after else grad

    # ------------------------------------------------------------------ forward
    def _scan(self, x_tm, states, on, rec_drop, training, buf):
        steps, n, _ = x_tm.shape
        h = self.units
        after, fast = self.reset_after, self._fast_gates
        # σ(z) = (1 + tanh(z/2)) / 2: z/2 on the z, r gates folded into the weights
        scale = np.array([0.5, 0.5, 1.0], self.dtype)[:, None, None] if fast else None
        g = buf("gates", (3, steps, n, h))               # z, r, ĥ of every step
        self._project(x_tm, KERAS, g, buf, scale)
        kernel = self._gate_blocks(self.params["recurrent_kernel"], KERAS, buf,
                                   "recurrent_gates", scale)                # (3, H, H)
        rec_bias = None
        if after and self.use_bias:                      # ĥ's b_1, inside r ⊙ (·)
            rec_bias = buf("rec_bias", (n, h))
            rec_bias[...] = self.params["bias"][1, 2 * h:]
        hs = buf("h_all", (steps + 1, n, h))
        hs[0] = states[0]
        # reset_after: u = h_{t-1} U (+ b_1 for ĥ), kept for backward; otherwise u_zr and
        # rh = r ⊙ h_{t-1}, the input of U_h
        u_all = buf("rec", (3, steps, n, h) if after else (2, n, h))
        rh = None if after else buf("rh", (steps, n, h))
        tmp = buf("tmp", (n, h))
        hr = buf("h_rec", (steps, n, h)) if rec_drop is not None else None
        act, ract = self.activation, self.recurrent_activation
        carry = None if on is None else ~on
        with self._step_blas(n):
            for t in range(steps):
                prev = hs[t]
                src = prev if hr is None else np.multiply(prev, rec_drop, out=hr[t])
                zr, hh = g[0:2, t], g[2, t]
                if after:
                    u = u_all[:, t]
                    np.matmul(src, kernel, out=u)
                    if rec_bias is not None:
                        u[2] += rec_bias
                    np.add(zr, u[0:2], out=zr)
                    self._gates(zr, fast, ract)
                    np.multiply(g[1, t], u[2], out=tmp)              # r ⊙ (h U_h + b_h)
                else:
                    np.matmul(src, kernel[0:2], out=u_all)
                    zr += u_all
                    self._gates(zr, fast, ract)
                    np.multiply(g[1, t], src, out=rh[t])
                    np.matmul(rh[t], kernel[2], out=tmp)             # (r ⊙ h) U_h
                np.add(hh, tmp, out=hh)
                act(hh, out=hh)
                out = hs[t + 1]                              # h = ĥ + z ⊙ (h_{t-1} - ĥ)
                np.subtract(prev, hh, out=out)
                np.multiply(out, g[0, t], out=out)
                np.add(out, hh, out=out)
                if carry is not None:
                    np.copyto(out, prev, where=carry[t][:, None])
        if training:
            self._scan_cache = (g, hs, u_all if after else rh, hr)
        return hs, (hs[steps],)

    def _step_activations(self):
        g, hs = self._scan_cache[:2]
        return hs[1:], g, KERAS

    @staticmethod
    def _gates(zr, fast, ract):
        if fast:
            np.tanh(zr, out=zr)
            np.multiply(zr, 0.5, out=zr)
            np.add(zr, 0.5, out=zr)
        else:
            ract(zr, out=zr)

    # ------------------------------------------------------------------ backward
    def _factors(self, g, hs, saved, hr, steps):
        """Per-step multipliers for every step at once, slots of a (4, T, n, H) array:
        [(1 - z) tanh'(ĥ), (h_{t-1} - ĥ) σ'(z), σ'(r) ⊙ (u_h (reset_after) or h_{t-1})];
        the loop turns them into da, dz_z, dz_r in place (slot 3: da ⊙ r, reset_after)."""
        m = self._buffer("dz", (4, steps) + hs.shape[1:])
        z, hh = g[0], g[2]
        if self._fast_gates:             # σ' = y - y², tanh' = 1 - y², from the outputs
            np.multiply(g[0:2], g[0:2], out=m[1:3])
            np.subtract(g[0:2], m[1:3], out=m[1:3])
            np.multiply(hh, hh, out=m[0])
            np.subtract(1, m[0], out=m[0])
        else:
            slope(self.recurrent_activation, g[0:2], self._one, m[1:3])
            slope(self.activation, hh, self._one, m[0])
        np.subtract(1, z, out=m[3])
        m[0] *= m[3]
        np.subtract(hs[:steps], hh, out=m[3])
        m[1] *= m[3]
        m[2] *= saved[2] if self.reset_after else (hs[:steps] if hr is None else hr)
        return m

    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        g, hs, saved, hr = self._scan_cache
        steps, n, h = hs.shape[0] - 1, hs.shape[1], self.units
        after = self.reset_after
        buf = self._buffer
        m = self._factors(g, hs, saved, hr, steps)
        dh = buf("dh", (n, h))
        back = buf("back", (n, h))
        parts = buf("back_gates", (3 if after else 2, n, h))
        if finals[0] is None:
            dh.fill(0)
        else:
            np.copyto(dh, finals[0])
        keep = carry = None
        if on is not None:
            keep, carry = self._mask_weights(on)
            pass_h = buf("pass_h", (n, h))
        kernel_t = self._gate_blocks(self.params["recurrent_kernel"], KERAS, buf,
                                     "recurrent_gates_t", transpose=True)     # (3, H, H)
        norms = self._step_norms(steps)
        for t in range(steps - 1, -1, -1):
            if dy_tm is not None:
                np.add(dh, dy_tm[t], out=dh)
            if norms is not None:                                        # ‖∂L/∂h_t‖
                norms[t] = np.sqrt(np.vdot(dh, dh))
            if keep is not None:
                np.multiply(dh, carry[t], out=pass_h)
                dh *= keep[t]
            mt = m[:, t]
            np.multiply(dh, mt[0:2], out=mt[0:2])                 # da, dz_z
            if after:
                np.multiply(mt[0], mt[2], out=mt[2])              # dz_r = da ⊙ u_h σ'(r)
                np.multiply(mt[0], g[1, t], out=mt[3])            # da ⊙ r
                np.matmul(mt[1:4], kernel_t, out=parts)           # d[u] U_kᵀ, gate by gate
                np.add.reduce(parts, axis=0, out=back)
            else:
                np.matmul(mt[0], kernel_t[2], out=back)           # d(r ⊙ h_{t-1})
                np.multiply(back, mt[2], out=mt[2])               # dz_r
                back *= g[1, t]
                np.matmul(mt[1:3], kernel_t[0:2], out=parts)
                back += parts[0]
                back += parts[1]
            if rec_drop is not None:
                back *= rec_drop
            np.multiply(dh, g[0, t], out=dh)                     # dh ⊙ z
            np.add(dh, back, out=dh)                             # dL/dh_{t-1}
            if keep is not None:
                dh += pass_h
        src = hs[:steps] if hr is None else hr
        if after:
            self._recurrent_grad(src, m[1:4], KERAS)
            if self.use_bias:
                np.add.reduce(m[1:4].reshape(3, -1, h), axis=1,
                              out=self.grads["bias"][1].reshape(3, h))
        else:
            self._recurrent_grad(src, m[1:3], (0, 1))
            self._recurrent_grad(saved, m[0:1], (2,), key="grad_recurrent_h")
        self._keep_step_norms(norms)
        return m[0:3], BACKWARD

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.to_config(self.recurrent_activation),
                      reset_after=self.reset_after)
        return config
