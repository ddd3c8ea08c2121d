"""1-D convolution over time on sequences ``(batch, steps, channels)`` (channels last, Keras).

    y[n, i, f] = b[f] + Σ_{u, c} W[u, c, f] · x_pad[n, i·s + u·d, c]

with stride ``s``, dilation ``d`` and Keras's kernel layout (kernel_size, in_channels, filters).
As Conv2D, it is one matrix product over the whole batch (im2col along time):

    cols  (N·To, k·C)    row (n, i) holds the k taps x_pad[n, i·s + u·d, :], u = 0..k-1
    z     = cols W₂ + b  W₂ = W.reshape(k·C, F)
    dL/dW = colsᵀ dz,  dL/db = Σ dz,  dcols = dz W₂ᵀ scattered back onto the steps (col2im)

The copies and the scatter loop over the k kernel taps only (one whole-batch strided copy/add
each).  Padding: ``"valid"``; ``"same"`` (output ⌈T/s⌉, the extra padding at the end, as Keras);
``"causal"`` ((k-1)·d zeros in front, so y_t sees only x_≤t; WaveNet).

Masks pass through unchanged when the output keeps the time axis (``"same"``/``"causal"``,
stride 1) and are dropped otherwise; as in Keras, a masked step's values still enter its
neighbours' windows (zero them first, e.g. with ``Masking``, when that matters).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..math import activations, initializers, regularizers
from ..math.activations import activate, activation_grad
from .base import Layer
from .base import positive_int as _positive
from .conv import window_geometry
from .dense import kernel_bias_config

__all__ = ["Conv1D"]


def positive_int(value, what):
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return _positive(value, what)


def time_geometry(owner, steps, kernel, stride, dilation, padding, what="kernel"):
    """``(out_steps, pad_before, pad_after)`` along time; ShapeError when it does not fit."""
    if padding == "causal":
        out, before, after = window_geometry(steps + (kernel - 1) * dilation, kernel, stride,
                                             dilation, "valid")[0], (kernel - 1) * dilation, 0
    else:
        out, before, after = window_geometry(steps, kernel, stride, dilation, padding)
    if out < 1:
        raise ShapeError(f"{owner}: {what} {kernel} (dilation {dilation}) does not fit "
                         f"{steps} steps with padding={padding!r}")
    return out, before, after


def pad_time(x, before, after, buffer=None, value=0.0):
    """``x`` (N, T, C) padded along time; ``x`` itself when nothing is padded."""
    if not (before or after):
        return x
    n, steps, c = x.shape
    xp = np.empty((n, steps + before + after, c), x.dtype) if buffer is None else buffer
    xp[:, :before] = value
    xp[:, before + steps:] = value
    xp[:, before:before + steps] = x
    return xp


class Conv1D(Layer):
    """``Conv1D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
    activation=None, use_bias=True, kernel_initializer="glorot_uniform")``.

    (batch, steps, channels) → (batch, out_steps, filters).  Weights: ``kernel``
    (kernel_size, channels, filters) — Keras's layout — and ``bias`` (filters,); initializers
    get fan_in = kernel_size·channels and fan_out = kernel_size·filters.

    >>> Conv1D(16, 3, padding="causal", activation="relu")  # doctest: +ELLIPSIS
    Conv1D(filters=16, kernel_size=3, ...)
    """

    default_name = "conv1d"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "Conv1D: filters")
        self.kernel_size = positive_int(kernel_size, "Conv1D: kernel_size")
        self.strides = positive_int(strides, "Conv1D: strides")
        self.dilation_rate = positive_int(dilation_rate, "Conv1D: dilation_rate")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ConfigError(f"Conv1D: padding must be 'valid', 'same' or 'causal', got "
                              f"{padding!r}")
        self.padding = padding.lower()
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._cols = self._saved = self._x_shape = None
        self._logits = False

    def _geometry(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"Conv1D {self.name!r}: expects inputs (batch, steps, channels), got "
                             f"input shape (batch, {', '.join(map(str, input_shape))})")
        return time_geometry(f"Conv1D {self.name!r}", input_shape[0], self.kernel_size,
                             self.strides, self.dilation_rate, self.padding)

    def compute_output_shape(self, input_shape):
        return (self._geometry(tuple(input_shape))[0], self.filters)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self._out, self._before, self._after = self._geometry(self.input_shape)
        k, c = self.kernel_size, self.input_shape[1]
        self.add_weight("kernel", (k, c, self.filters), self.kernel_initializer, k * c,
                        k * self.filters, rng)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, k * c,
                            k * self.filters, rng)

    def _taps(self, u):
        start = u * self.dilation_rate
        return slice(start, start + (self._out - 1) * self.strides + 1, self.strides)

    def forward(self, x, training=False, logits=False):
        """``logits=True`` skips the activation (the model fuses it into the loss)."""
        n, steps, c = x.shape
        k, out = self.kernel_size, self._out
        buf = self._buffer if training else (lambda key, shape: None)
        padded = (n, steps + self._before + self._after, c)
        xp = pad_time(x, self._before, self._after,
                      buf("xpad", padded) if self._before or self._after else None)
        cols = buf("cols", (n, out, k, c))
        if cols is None:
            cols = np.empty((n, out, k, c), x.dtype)
        for u in range(k):
            cols[:, :, u] = xp[:, self._taps(u)]
        cols = cols.reshape(n * out, k * c)
        rows = (n * out, self.filters)
        z = np.matmul(cols, self.params["kernel"].reshape(k * c, self.filters),
                      out=buf("z", rows))
        if self.use_bias:
            z += self.params["bias"]
        y, saved = activate(self.activation, z, logits,
                            (lambda: self._buffer("y", rows)) if training else None)
        if training:
            self._cols, self._saved, self._x_shape, self._logits = cols, saved, x.shape, logits
        return y.reshape(n, out, self.filters)

    def backward(self, dy, input_grad=True):
        n, out, f = dy.shape
        k, c = self.kernel_size, self._x_shape[2]
        dz = activation_grad(self.activation, dy.reshape(n * out, f), self._saved, self._logits,
                             lambda: self._buffer("dz", (n * out, f)))
        np.matmul(self._cols.T, dz, out=self.grads["kernel"].reshape(k * c, f))
        if self.use_bias:
            np.add.reduce(dz, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        dcols = np.matmul(dz, self.params["kernel"].reshape(k * c, f).T,
                          out=self._buffer("dcols", (n * out, k * c))).reshape(n, out, k, c)
        steps = self._x_shape[1]
        dxp = self._buffer("dxpad", (n, steps + self._before + self._after, c))
        dxp.fill(0)
        for u in range(k):
            dxp[:, self._taps(u)] += dcols[:, :, u]
        if not (self._before or self._after):
            return dxp
        dx = self._buffer("dx", self._x_shape)
        np.copyto(dx, dxp[:, self._before:self._before + steps])
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._cols = self._saved = None

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, dilation_rate=self.dilation_rate,
                      **kernel_bias_config(self))
        return config
