"""2-D convolution on images ``(batch, channels, height, width)``, vectorised with im2col.

    y[n, f, i, j] = b[f] + Σ_{c, u, v} W[f, c, u, v] · x_pad[n, c, i·s + u·d, j·s + v·d]

with stride ``s``, dilation ``d`` and kernel ``W`` of shape (filters, in_channels, kh, kw) as in
PyTorch.  im2col (``im2col.py``: one strided copy) turns the sum into matrix products, with a row
of ones under the columns so that the bias rides on the product:

    z = [W | b] [cols; 1]            [dW | db] = dz [cols; 1]ᵀ            dcols = Wᵀ dz

and dcols goes back onto the pixels by col2im (for stride 1, on the full padded grid: one
contiguous add per kernel offset).  Two layouts, chosen at build by the contraction length
K = C·kh·kw:

* K ≥ 32 — whole batch: cols (K, N·Ho·Wo), ONE product per step for z, dW and dcols, which
  BLAS threads well; z (F, N·Ho·Wo) is transposed to NCHW once forward, dy once backward.
  (On a busy 2-core machine 64 per-image products of a 16→32-channel layer took 18.6 ms
  backward against 2.9 ms for the whole-batch ones: every small product waits for both threads.)
* K < 32 (e.g. the first layer on grey images, K = 9) — per image: cols (N, K, Ho·Wo),
  ``np.matmul`` broadcasting the kernel over the batch; z comes out NCHW with no transpose, and
  dW is a batched product summed over the batch.  A whole-batch product with K = 9 measured
  1.5× (forward) and 3.5× (dW) slower than this, and so small a product is never threaded.

Backward consumes the forward's cache (the columns' memory is reused for dcols; in the
whole-batch layout a ReLU's dL/dz is written over the saved activation, the output being a
transposed copy): one backward per forward, as every caller does; a second backward raises.

Padding: ``"valid"`` (none) or ``"same"`` (Keras/TensorFlow rule: output ⌈H/s⌉, the total
padding split with the extra row/column at the bottom/right, as PyTorch's ``padding="same"``).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, NotBuiltError, ShapeError
from ..math import activations, initializers, regularizers
from ..math.activations import activate, activation_grad
from .base import Layer, positive_int
from .dense import kernel_bias_config
from .im2col import col2im, col2im_batch, col2im_full, im2col, im2col_batch

__all__ = ["Conv2D", "col2im", "im2col", "pair", "window_geometry", "channels_last_hint"]

#: the contraction length C·kh·kw from which one whole-batch product beats per-image ones
WHOLE_BATCH_MIN_K = 32
#: backward scratch (per-image dW products, the zero-bordered dz grid) is cut into chunks of
#: images of about this many bytes, so it stays small next to the layer's activations
_CHUNK_BYTES = 1 << 19


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
        self.filters = positive_int(filters, "Conv2D: filters")
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
        self._whole_batch = fan_in >= WHOLE_BATCH_MIN_K
        self.add_weight("kernel", (self.filters, input_shape[0], kh, kw),
                        self.kernel_initializer, fan_in, fan_out, rng)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, fan_in, fan_out, rng)

    # z, dz are 3-D: (F, N, Ho·Wo) in the whole-batch layout, (N, F, Ho·Wo) per image
    def _channels_last(self, t, inverse=False):
        if self._whole_batch:
            return t.transpose((2, 0, 1) if inverse else (1, 2, 0))
        return t.transpose(0, 2, 1)

    def forward(self, x, training=False, logits=False):
        """``logits=True`` skips the activation (the model fuses it into the loss)."""
        n, c, h, w = x.shape
        (ho, wo), pads = self._out_hw, self._pads
        top, bottom, left, right = pads
        f, k, p = self.filters, c * self.kernel_size[0] * self.kernel_size[1], ho * wo
        rows = k + self.use_bias
        if training:
            new = self._buffer
        else:
            def new(key, shape):
                return np.empty(shape, dtype=x.dtype)
        padded = (n, c, h + top + bottom, w + left + right)
        xp = pad_into(x, pads, new("xpad", padded) if any(pads) else None)
        weights = self.params["kernel"].reshape(f, k)
        if self.use_bias:
            stacked = new("weights", (f, rows))
            stacked[:, :k] = weights
            stacked[:, k] = self.params["bias"]
            weights = stacked
        geometry = (self.kernel_size, self.strides, self.dilation_rate, (ho, wo))
        if self._whole_batch:
            cols = new("cols", (rows, n * p))
            im2col_batch(xp, *geometry, out=cols[:k])
            if self.use_bias:
                cols[k] = 1.0
            z = np.matmul(weights, cols, out=new("z", (f, n * p))).reshape(f, n, p)
        else:
            cols = new("cols", (n, rows, p))
            im2col(xp, *geometry, out=cols[:, :k])
            if self.use_bias:
                cols[:, k] = 1.0
            z = np.matmul(weights, cols, out=new("z", (n, f, p)))    # NCHW already
        a, saved = self._activate(z, logits, training)
        if self._whole_batch:
            y = new("y", (n, f, p))
            np.copyto(y, a.transpose(1, 0, 2))
            a = y
        if training:
            self._cols, self._saved, self._x_shape, self._logits = cols, saved, x.shape, logits
        return a.reshape(n, f, ho, wo)

    def _activate(self, z, logits, training):
        act = self.activation
        out = (lambda: self._buffer("a", z.shape)) if training else None
        if act.elementwise or logits:
            return activate(act, z, logits, out)
        # softmax over the channels, through channels-last views
        last = self._channels_last
        y, saved = activate(act, last(z), logits, out and (lambda: last(out())))
        return last(y, inverse=True), last(saved, inverse=True)

    def backward(self, dy, input_grad=True):
        cols = self._cols
        if cols is None:
            raise NotBuiltError(f"Conv2D {self.name!r}: backward needs a forward(x, "
                                "training=True) first (each backward consumes its forward's "
                                "cache)")
        n, f = dy.shape[:2]
        dy = dy.reshape(n, f, -1)
        whole = self._whole_batch
        dz = self._dz(dy.transpose(1, 0, 2) if whole else dy)
        k = cols.shape[0 if whole else 1] - self.use_bias
        kernel_grad = self.grads["kernel"].reshape(f, k)
        if whole:  # [dW | db]ᵀ = [cols; 1] dzᵀ, one product
            total = np.matmul(cols, dz.reshape(f, -1).T, out=self._buffer("dw", (len(cols), f)))
            kernel_grad[...] = total[:k].T
            if self.use_bias:
                self.grads["bias"][...] = total[k]
        else:
            self._weight_grads(dz, cols, kernel_grad)
        if not input_grad:
            return None
        n, c, h, w = self._x_shape
        top, bottom, left, right = self._pads
        padded = (n, c, h + top + bottom, w + left + right)
        dxp = self._buffer("dxpad" if any(self._pads) else "dx", padded)
        kernel = self.params["kernel"].reshape(f, k)
        geometry = (self.kernel_size, self.strides, self.dilation_rate, self._out_hw)
        if self.strides == (1, 1):
            self._input_grad_stride1(dz, kernel, cols, dxp)
        elif whole:
            col2im_batch(np.matmul(kernel.T, dz.reshape(f, -1), out=cols[:k]), padded,
                         *geometry, out=dxp)
        else:
            col2im(np.matmul(kernel.T, dz, out=cols[:, :k]), padded, *geometry, out=dxp)
        self._cols = None  # its memory now holds dcols
        if not any(self._pads):
            return dxp
        dx = self._buffer("dx", self._x_shape)
        np.copyto(dx, dxp[:, :, top:top + h, left:left + w])
        return dx

    def _dz(self, dy):
        """dL/dz, a contiguous array in the layout of z, from a view ``dy`` in that layout."""
        act, saved = self.activation, self._saved
        if (self._logits or act.name == "linear") and dy.flags.c_contiguous:
            return dy
        if self._whole_batch and act.overwrites_saved and not self._logits \
                and saved.shape == dy.shape and saved.flags.c_contiguous:
            # whole-batch layout: the output is a transposed copy and the cache is consumed by
            # this backward, so dz goes over the saved (F, N, HW) ReLU output (one buffer of z's
            # size fewer: 0.9 MiB for W6's second layer).  Per image the saved array is the
            # output itself, which the caller may still read after backward.
            return act.backward(dy, saved, out=saved)
        out = self._buffer("dz", dy.shape)
        if self._logits or act.name == "linear":
            np.copyto(out, dy)
            return out
        if act.elementwise:
            return activation_grad(act, dy, saved, False, lambda: out)
        last = self._channels_last
        activation_grad(act, last(dy), last(saved), False, lambda: last(out))
        return out

    def _weight_grads(self, dz, cols, kernel_grad):
        """Per-image layout: [dW | db] = Σ_n dz[n] [cols[n]; 1]ᵀ, batched products over
        chunks of images (a chunk's (chunk, F, rows) products take about ``_CHUNK_BYTES``),
        each chunk summed at once."""
        n, f = dz.shape[:2]
        rows, k = cols.shape[1], kernel_grad.shape[1]
        chunk = max(1, _CHUNK_BYTES // (f * rows * dz.itemsize))
        per_image = self._buffer("dw_images", (min(chunk, n), f, rows))
        total = self._buffer("dw", (f, rows))
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            np.matmul(dz[start:start + m], cols[start:start + m].transpose(0, 2, 1),
                      out=per_image[:m])
            if start == 0:
                np.add.reduce(per_image[:m], axis=0, out=total)
            else:
                total += np.add.reduce(per_image[:m], axis=0)
        kernel_grad[...] = total[:, :k]
        if self.use_bias:
            self.grads["bias"][...] = total[:, k]

    def _input_grad_stride1(self, dz, kernel, cols, dxp):
        """dL/dx_pad (N, C, Hp, Wp) by col2im on the full grid, a chunk of images at a time: a
        chunk's zero-bordered dz grid is scratch (its size does not depend on the batch, so a
        short last batch reuses it), its dcols live in the columns' memory (no longer needed
        once the weight gradients are done)."""
        whole = self._whole_batch
        f, n = dz.shape[:2] if whole else dz.shape[1::-1]
        c, hp, wp = dxp.shape[1:]
        (ho, wo), (kh, kw), k = self._out_hw, self.kernel_size, kernel.shape[1]
        grid = hp * wp
        most = max(1, _CHUNK_BYTES // (f * grid * dz.itemsize))
        chunk = min(most, n, cols.size // (k * grid))
        if chunk:
            memory = cols.reshape(-1)
        else:  # tiny images with large kernels: the columns are smaller than one grid
            chunk = min(most, n)
            memory = self._buffer("dcols", (chunk * k * grid,))
        dx = dxp.reshape(n, c, grid)
        dz_grid = self._zeroed("dz_grid", (f, most, hp, wp) if whole else (most, f, hp, wp))
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            size = m * k * grid
            if whole:
                np.copyto(dz_grid[:, :m, :ho, :wo], dz[:, start:start + m].reshape(f, m, ho, wo))
                fields = np.matmul(kernel.T, dz_grid[:, :m].reshape(f, m * grid),
                                   out=memory[:size].reshape(k, m * grid))
                col2im_full(fields.reshape(c, kh, kw, m, grid).transpose(1, 2, 0, 3, 4),
                            dx[start:start + m].transpose(1, 0, 2), self.dilation_rate, wp)
            else:
                np.copyto(dz_grid[:m, :, :ho, :wo], dz[start:start + m].reshape(m, f, ho, wo))
                fields = np.matmul(kernel.T, dz_grid[:m].reshape(m, f, grid),
                                   out=memory[:size].reshape(m, k, grid))
                col2im_full(fields.reshape(m, c, kh, kw, grid).transpose(2, 3, 0, 1, 4),
                            dx[start:start + m], self.dilation_rate, wp)

    def _zeroed(self, key, shape):
        """``_buffer(key, shape)``, zero-filled when it is (re)allocated."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != self.dtype:
            buf = self._buffer(key, shape)
            buf.fill(0)
        return buf

    def release_buffers(self):
        super().release_buffers()
        self._cols = self._saved = None

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size),
                      strides=list(self.strides), padding=self.padding,
                      dilation_rate=list(self.dilation_rate), **kernel_bias_config(self))
        return config
