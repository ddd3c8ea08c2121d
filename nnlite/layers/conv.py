"""2-D convolution on images ``(batch, channels, height, width)``, vectorised with im2col.

    y[n, f, i, j] = b[f] + Σ_{c, u, v} W[f, c, u, v] · x_pad[n, c, i·s + u·d, j·s + v·d]

with stride ``s``, dilation ``d`` and kernel ``W`` of shape (filters, in_channels, kh, kw) as in
PyTorch.  im2col turns the sum into ONE matrix product over the whole batch:

    cols   (N·Ho·Wo, C·kh·kw)   every receptive field as a row
    z      = cols Wᵀ + b        (N·Ho·Wo, F), i.e. channels-last; transposed to NCHW at the end

and backward is two more products plus col2im:

    dL/dW = dzᵀ cols            (F, C·kh·kw)
    dL/db = Σ_rows dz
    dcolsᵀ = Wᵀ dzᵀ             (C·kh·kw, N·Ho·Wo), scattered back onto the pixels by col2im

im2col and col2im loop over the kh·kw kernel offsets only: each offset is one whole-batch
strided copy (im2col) or add (col2im) of a (N, C, Ho, Wo) window; there is no loop over
examples or pixels.  (Copying the 6-D ``sliding_window_view`` in one call is ~3x slower: its
innermost axis is the 3-wide kernel row.)

Padding: ``"valid"`` (none) or ``"same"`` (Keras/TensorFlow rule: output ⌈H/s⌉, the total
padding split with the extra row/column at the bottom/right, as PyTorch's ``padding="same"``).
"""
from __future__ import annotations

import numpy as np

from .. import activations, initializers, regularizers
from ..activations import activate, activation_grad
from ..errors import ConfigError, ShapeError
from .base import Layer
from .dense import kernel_bias_config

__all__ = ["Conv2D", "col2im", "im2col", "pair", "window_geometry", "channels_last_hint"]


# ---------------------------------------------------------------- plain functions
def pair(value, what: str, minimum: int = 1) -> tuple:
    """An int or a pair of ints ≥ ``minimum`` as a (height, width) tuple; ConfigError otherwise."""
    items = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        ok = len(items) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                     and v >= minimum for v in items)
    except TypeError:
        ok = False
    if not ok or isinstance(value, bool):
        raise ConfigError(f"{what} must be an int or a pair of ints ≥ {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def padding_mode(value, owner: str) -> str:
    if not isinstance(value, str) or value.lower() not in ("valid", "same"):
        raise ConfigError(f"{owner}: padding must be 'valid' or 'same', got {value!r}")
    return value.lower()


def window_geometry(size: int, kernel: int, stride: int, dilation: int, padding: str):
    """``(out, pad_before, pad_after)`` along one axis for a window of ``kernel`` taps.

    valid: out = ⌊(size - ek) / s⌋ + 1 with the effective kernel ek = (k - 1)·d + 1;
    same:  out = ⌈size / s⌉, total padding max((out - 1)·s + ek - size, 0), extra at the end.
    """
    extent = (kernel - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + extent - size, 0)
        return out, total // 2, total - total // 2
    return (size - extent) // stride + 1, 0, 0


def channels_last_hint(shape) -> str:
    """A hint when an image shape (without batch) looks channels-last, e.g. (28, 28, 1)."""
    shape = tuple(shape)
    if len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 4:
        return (f"; {shape} looks channels-last, but nnlite images are channels-first "
                f"(channels, height, width) as in PyTorch: did you mean input_shape="
                f"{(shape[2], shape[0], shape[1])}? (transpose the arrays with "
                "x.transpose(0, 3, 1, 2))")
    return ""


def image_geometry(owner, input_shape, window, strides, dilation, padding, what="kernel"):
    """``((Ho, Wo), (top, bottom, left, right))`` for a 2-D window over inputs of shape
    (channels, height, width); ShapeError naming ``owner`` when the shape is not an image or the
    window does not fit."""
    if len(input_shape) != 3:
        raise ShapeError(f"{owner}: expects inputs (batch, channels, height, width), got input "
                         f"shape (batch, {', '.join(map(str, input_shape))}); add "
                         "Reshape((1, h, w)) for single-channel images")
    rows = window_geometry(input_shape[1], window[0], strides[0], dilation[0], padding)
    cols = window_geometry(input_shape[2], window[1], strides[1], dilation[1], padding)
    if rows[0] < 1 or cols[0] < 1:
        dilated = f" with dilation {tuple(dilation)}" if tuple(dilation) != (1, 1) else ""
        raise ShapeError(f"{owner}: {what} {tuple(window)}{dilated} does not fit input of height "
                         f"x width {input_shape[1]} x {input_shape[2]} with padding='valid'"
                         + channels_last_hint(input_shape))
    return (rows[0], cols[0]), (rows[1], rows[2], cols[1], cols[2])


def im2col(xp, kernel, strides, dilation, out_hw, out=None):
    """Receptive fields of the padded batch ``xp`` (N, C, Hp, Wp) as rows (one strided copy
    per kernel offset).

    Returns (N·Ho·Wo, C·kh·kw), rows ordered (n, i, j) and columns (c, u, v) so that
    ``cols @ W.reshape(F, -1).T`` is the convolution.  ``out`` (optional) is a contiguous
    (N, Ho, Wo, C, kh, kw) buffer to fill.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilation, out_hw
    n, c = xp.shape[:2]
    if out is None:
        out = np.empty((n, ho, wo, c, kh, kw), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u * dh:u * dh + (ho - 1) * sh + 1:sh,
                        v * dw:v * dw + (wo - 1) * sw + 1:sw]          # (N, C, Ho, Wo) view
            out[:, :, :, :, u, v] = window.transpose(0, 2, 3, 1)
    return out.reshape(n * ho * wo, c * kh * kw)


def col2im(dcols_t, padded_shape, kernel, strides, dilation, out_hw, out=None):
    """Adjoint of ``im2col``: sum every receptive-field gradient back onto the pixels it was
    read from.  ``dcols_t`` is the *transposed* column gradient (C·kh·kw, N·Ho·Wo) — the layout
    ``Wᵀ dzᵀ`` comes out in, where each offset's (N, Ho, Wo) block is contiguous.  Returns the
    gradient w.r.t. the padded input (N, C, Hp, Wp).

    One vectorised strided add per kernel offset (kh·kw of them): overlapping windows make a
    plain reshape impossible, and this loop is over the kernel, never over examples or pixels.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilation, out_hw
    n, c = padded_shape[:2]
    if out is None:
        out = np.zeros(padded_shape, dtype=dcols_t.dtype)
    else:
        out.fill(0)
    fields = dcols_t.reshape(c, kh, kw, n, ho, wo)
    by_channel = out.transpose(1, 0, 2, 3)                                   # (C, N, Hp, Wp)
    for u in range(kh):
        for v in range(kw):
            by_channel[:, :, u * dh:u * dh + (ho - 1) * sh + 1:sh,
                       v * dw:v * dw + (wo - 1) * sw + 1:sw] += fields[:, u, v]
    return out


def pad_into(x, pads, buffer=None, value=0.0):
    """``x`` (N, C, H, W) padded by ``pads`` = (top, bottom, left, right); ``x`` itself if none."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + top + bottom, w + left + right)
    xp = np.empty(shape, dtype=x.dtype) if buffer is None else buffer
    # fill the whole buffer: cheap next to the matmul and never leaves stale borders
    xp.fill(value)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


# ---------------------------------------------------------------- the layer
class Conv2D(Layer):
    """``Conv2D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
    activation=None, use_bias=True, kernel_initializer="glorot_uniform")``.

    Input (batch, channels, height, width) → output (batch, filters, Ho, Wo), with
    y[n, f, i, j] = f(b[f] + Σ_{c, u, v} W[f, c, u, v] · x_pad[n, c, i·s + u·d, j·s + v·d]).
    Parameters: ``kernel`` (filters, channels, kh, kw) — PyTorch's layout — and ``bias``
    (filters,).  Initializers get fan_in = channels·kh·kw and fan_out = filters·kh·kw.

    >>> layer = Conv2D(8, 3, padding="same", activation="relu", input_shape=(1, 28, 28))
    """

    default_name = "conv2d"  # Keras's name (the generic CamelCase split would give "conv2_d")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ConfigError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "Conv2D: kernel_size")
        self.strides = pair(strides, "Conv2D: strides")
        self.dilation_rate = pair(dilation_rate, "Conv2D: dilation_rate")
        self.padding = padding_mode(padding, "Conv2D")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        # penalties are applied by the model (see nnlite.regularizers), as for Dense
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._cols = self._saved = self._x_shape = None
        self._logits = False

    def _geometry(self, input_shape):
        return image_geometry(f"Conv2D {self.name!r}", input_shape, self.kernel_size,
                              self.strides, self.dilation_rate, self.padding)

    def compute_output_shape(self, input_shape):
        (ho, wo), _ = self._geometry(tuple(input_shape))
        return (self.filters, ho, wo)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self._out_hw, self._pads = self._geometry(self.input_shape)
        kh, kw = self.kernel_size
        fan_in, fan_out = input_shape[0] * kh * kw, self.filters * kh * kw
        self.add_weight("kernel", (self.filters, input_shape[0], kh, kw),
                        self.kernel_initializer, fan_in, fan_out, rng)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, fan_in, fan_out, rng)

    def forward(self, x, training=False, logits=False):
        """``logits=True`` skips the activation (the model fuses it into the loss)."""
        n, c, h, w = x.shape
        (ho, wo), pads = self._out_hw, self._pads
        top, bottom, left, right = pads
        padded = (n, c, h + top + bottom, w + left + right)
        buf = self._buffer if training else (lambda key, shape: None)
        xp = pad_into(x, pads, buf("xpad", padded) if any(pads) else None)
        kh, kw = self.kernel_size
        cols = im2col(xp, self.kernel_size, self.strides, self.dilation_rate, (ho, wo),
                      out=buf("cols", (n, ho, wo, c, kh, kw)))
        kernel2d = self.params["kernel"].reshape(self.filters, -1)
        rows = (n * ho * wo, self.filters)
        z = np.matmul(cols, kernel2d.T, out=buf("z", rows))  # channels-last (N·Ho·Wo, F)
        if self.use_bias:
            z += self.params["bias"]
        a, saved = activate(self.activation, z, logits,
                            (lambda: self._buffer("a", rows)) if training else None)
        y = buf("y", (n, self.filters, ho, wo))
        if y is None:
            y = np.empty((n, self.filters, ho, wo), dtype=a.dtype)
        np.copyto(y, a.reshape(n, ho, wo, self.filters).transpose(0, 3, 1, 2))
        if training:
            self._cols, self._saved, self._x_shape, self._logits = cols, saved, x.shape, logits
        return y

    def backward(self, dy, input_grad=True):
        n, f, ho, wo = dy.shape
        rows = (n * ho * wo, f)
        g = self._buffer("dy_t", (n, ho, wo, f))
        np.copyto(g, dy.transpose(0, 2, 3, 1))
        dz = g.reshape(rows)
        dz = activation_grad(self.activation, dz, self._saved, self._logits,
                             lambda: self._buffer("dz", rows))
        cols = self._cols
        np.matmul(dz.T, cols, out=self.grads["kernel"].reshape(f, -1))
        if self.use_bias:
            np.sum(dz, axis=0, out=self.grads["bias"])
        if not input_grad:
            return None
        dcols_t = np.matmul(self.params["kernel"].reshape(f, -1).T, dz.T,
                            out=self._buffer("dcols_t", cols.shape[::-1]))
        n, c, h, w = self._x_shape
        top, bottom, left, right = self._pads
        padded = (n, c, h + top + bottom, w + left + right)
        dxp = col2im(dcols_t, padded, self.kernel_size, self.strides, self.dilation_rate,
                     (ho, wo), out=self._buffer("dxpad", padded))
        if not any(self._pads):
            return dxp
        dx = self._buffer("dx", self._x_shape)
        np.copyto(dx, dxp[:, :, top:top + h, left:left + w])
        return dx

    def release_buffers(self):
        super().release_buffers()
        self._cols = self._saved = None

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size),
                      strides=list(self.strides), padding=self.padding,
                      dilation_rate=list(self.dilation_rate), **kernel_bias_config(self))
        return config
