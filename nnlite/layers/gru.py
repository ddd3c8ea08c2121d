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
from .recurrent import Recurrent, _elementwise, _flag, half_scale, slope

__all__ = ["GRU"]


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

    def _input_bias_grad(self):
        grad = self.grads["bias"]
        return grad[0] if self.reset_after else grad

    # ------------------------------------------------------------------ forward
    def _scan(self, proj, states, on, rec_drop, training, buf):
        steps, n, width = proj.shape
        h = self.units
        hs = buf("h_all", (steps + 1, n, h))
        hs[0] = states[0]
        kernel = self.params["recurrent_kernel"]
        after = self.reset_after
        rec_bias = self.params["bias"][1] if after and self.use_bias else None
        fast = self._fast_gates
        scale = shift = None
        if fast:  # z/2 on the z, r columns, folded into the projection, kernel and bias
            scale, shift = half_scale(width, np.r_[0:2 * h], self.dtype)
            proj *= scale
            kernel = np.multiply(kernel, scale, out=buf("kernel_half", kernel.shape))
            if rec_bias is not None:
                rec_bias = np.multiply(rec_bias, scale, out=buf("bias_half", rec_bias.shape))
            scale, shift = scale[:2 * h], shift[:2 * h]
        # reset_after: u = h_{t-1} U + b_1 for every step (u_h is needed by backward);
        # otherwise u_zr = h_{t-1} U_zr and rh = r ⊙ h_{t-1} (the input of U_h)
        rec = buf("rec", (steps, n, width) if after else (n, 2 * h))
        rh = None if after else buf("rh", (steps, n, h))
        tmp = buf("tmp", (n, h))
        hr = buf("h_rec", (steps, n, h)) if rec_drop is not None else None
        act, ract = self.activation, self.recurrent_activation
        carry = None if on is None else ~on
        for t in range(steps):
            g = proj[t]                                  # becomes [z, r, ĥ]
            prev = hs[t]
            src = prev if hr is None else np.multiply(prev, rec_drop, out=hr[t])
            zr = g[:, :2 * h]
            hh = g[:, 2 * h:]
            if after:
                u = rec[t]
                np.matmul(src, kernel, out=u)
                if rec_bias is not None:
                    u += rec_bias
                zr += u[:, :2 * h]
                self._gates(zr, fast, scale, shift, ract)
                np.multiply(g[:, h:2 * h], u[:, 2 * h:], out=tmp)
            else:
                np.matmul(src, kernel[:, :2 * h], out=rec)
                zr += rec
                self._gates(zr, fast, scale, shift, ract)
                np.multiply(g[:, h:2 * h], src, out=rh[t])
                np.matmul(rh[t], kernel[:, 2 * h:], out=tmp)
            hh += tmp
            act(hh, out=hh)
            out = hs[t + 1]                              # h = ĥ + z ⊙ (h_{t-1} - ĥ)
            np.subtract(prev, hh, out=out)
            out *= g[:, :h]
            out += hh
            if carry is not None:
                np.copyto(out, prev, where=carry[t][:, None])
        if training:
            self._scan_cache = (proj, hs, rec if after else rh, hr)
        return hs, (hs[steps],)

    @staticmethod
    def _gates(zr, fast, scale, shift, ract):
        if fast:
            np.tanh(zr, out=zr)
            zr *= scale
            zr += shift
        else:
            ract(zr, out=zr)

    # ------------------------------------------------------------------ backward
    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        gates, hs, saved, hr = self._scan_cache
        steps, n, width = gates.shape
        h = self.units
        after = self.reset_after
        buf, one = self._buffer, self._one
        fac = buf("fac", gates.shape)                    # σ'(z), σ'(r), tanh'(ĥ)
        slope(self.recurrent_activation, gates[:, :, :2 * h], one, fac[:, :, :2 * h])
        slope(self.activation, gates[:, :, 2 * h:], one, fac[:, :, 2 * h:])
        dproj = buf("dproj", gates.shape)
        du = buf("du", gates.shape) if after else None   # dL/du (reset_after)
        dh = buf("dh", (n, h))
        dhz = buf("dhz", (n, h))
        back = buf("back", (n, h))
        if finals[0] is None:
            dh.fill(0)
        else:
            np.copyto(dh, finals[0])
        keep = carry = None
        if on is not None:
            keep, carry = self._mask_weights(on)
            pass_h = buf("pass_h", (n, h))
        kernel_t = self._transposed("recurrent_kernel")
        kernel_zr_t, kernel_h_t = kernel_t[:2 * h], kernel_t[2 * h:]
        norms = self._step_norms(steps)
        for t in range(steps - 1, -1, -1):
            if dy_tm is not None:
                dh += dy_tm[t]
            if norms is not None:                                        # ‖∂L/∂h_t‖
                norms[t] = np.sqrt(np.vdot(dh, dh))
            if keep is not None:
                np.multiply(dh, carry[t], out=pass_h)
                dh *= keep[t]
            g, d = gates[t], dproj[t]
            prev = hs[t]
            np.subtract(prev, g[:, 2 * h:], out=d[:, :h])
            d[:, :h] *= dh                                               # dz (× σ' below)
            np.multiply(dh, g[:, :h], out=dhz)                           # dh ⊙ z
            np.subtract(dh, dhz, out=d[:, 2 * h:])                       # da (× tanh' below)
            d[:, 2 * h:] *= fac[t][:, 2 * h:]
            if after:
                u = saved[t]
                np.multiply(d[:, 2 * h:], u[:, 2 * h:], out=d[:, h:2 * h])   # dr = da ⊙ u_h
                d[:, :2 * h] *= fac[t][:, :2 * h]
                e = du[t]
                np.copyto(e[:, :2 * h], d[:, :2 * h])
                np.multiply(d[:, 2 * h:], g[:, h:2 * h], out=e[:, 2 * h:])     # da ⊙ r
                np.matmul(e, kernel_t, out=back)
            else:
                src = prev if hr is None else hr[t]
                np.matmul(d[:, 2 * h:], kernel_h_t, out=back)               # d(r ⊙ h_{t-1})
                np.multiply(back, src, out=d[:, h:2 * h])                   # dr = ... ⊙ h
                d[:, :2 * h] *= fac[t][:, :2 * h]
                back *= g[:, h:2 * h]
                back += np.matmul(d[:, :2 * h], kernel_zr_t)
            if rec_drop is not None:
                back *= rec_drop
            np.add(dhz, back, out=dh)                                   # dL/dh_{t-1}
            if keep is not None:
                dh += pass_h
        src = (hs[:steps] if hr is None else hr).reshape(steps * n, h)
        grad = self.grads["recurrent_kernel"]
        if after:
            flat = du.reshape(steps * n, width)
            np.matmul(src.T, flat, out=grad)
            if self.use_bias:
                np.add.reduce(flat, axis=0, out=self.grads["bias"][1])
        else:
            flat = dproj.reshape(steps * n, width)
            grad[:, :2 * h] = src.T @ flat[:, :2 * h]
            grad[:, 2 * h:] = saved.reshape(steps * n, h).T @ flat[:, 2 * h:]
        self._keep_step_norms(norms)
        return dproj

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.to_config(self.recurrent_activation),
                      reset_after=self.reset_after)
        return config
