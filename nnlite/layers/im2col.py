"""im2col and col2im: the receptive fields of a padded image batch as matrix columns, and back.

Two layouts, for the two ways ``Conv2D`` multiplies (see ``conv.py``):

    per image     cols (N, C·kh·kw, Ho·Wo)     cols[n, (c, u, v), (i, j)]
    whole batch   cols (C·kh·kw, N·Ho·Wo)      cols[(c, u, v), (n, i, j)]

with ``cols[...] = xp[n, c, i·sh + u·dh, j·sw + v·dw]`` (stride s, dilation d).  Either is
written by ONE strided copy from a 6-D window view of ``xp`` whose innermost axis runs along an
image row.  The adjoints scatter column gradients back onto the pixels:

* ``col2im``/``col2im_batch``: one strided add of each kernel offset's (N, C, Ho, Wo) window
  (kh·kw adds; overlapping windows make a single add impossible), for any stride;
* ``col2im_full``: stride 1 on the full padded grid.  The column gradients sit at their output
  pixel's position in a (Hp·Wp) grid, zero where there is no output pixel; then offset (u, v)
  adds the whole grid shifted by s = u·dh·Wp + v·dw, one contiguous add per offset (a shift
  never carries a nonzero value across an image row: nonzeros sit at columns j < Wo), and the
  first offset is a copy, so the result needs no zero fill.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["col2im", "col2im_batch", "col2im_full", "im2col", "im2col_batch", "split_view"]


def split_view(a, shape):
    """``a`` viewed with ``shape`` (a split or merge its strides allow); raises rather than
    silently copying (as ``reshape`` would), so writes through the view always land in ``a``."""
    view = a.view()
    view.shape = shape
    return view


def _windows(xp, kernel, strides, dilation, out_hw, batch_inner=False):
    """Read-only window view of ``xp`` (N, C, Hp, Wp), no copy: (N, C, kh, kw, Ho, Wo) with
    ``[n, c, u, v, i, j] = xp[n, c, i·sh + u·dh, j·sw + v·dw]``, or (C, kh, kw, N, Ho, Wo)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilation, out_hw
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    taps, taps_strides = (kh, kw), (s_h * dh, s_w * dw)
    pixels, pixel_strides = (ho, wo), (s_h * sh, s_w * sw)
    if batch_inner:
        return as_strided(xp, (c, *taps, n, *pixels), (s_c, *taps_strides, s_n, *pixel_strides),
                          writeable=False)
    return as_strided(xp, (n, c, *taps, *pixels), (s_n, s_c, *taps_strides, *pixel_strides),
                      writeable=False)


def im2col(xp, kernel, strides, dilation, out_hw, out=None):
    """Per-image columns (N, C·kh·kw, Ho·Wo) of the padded batch ``xp`` (N, C, Hp, Wp), so that
    ``W.reshape(F, -1) @ cols[n]`` is image n's convolution (F, Ho·Wo).  ``out``: such an array
    (or view, e.g. the first rows of a larger buffer) to fill."""
    (kh, kw), (ho, wo) = kernel, out_hw
    n, c = xp.shape[:2]
    if out is None:
        out = np.empty((n, c * kh * kw, ho * wo), dtype=xp.dtype)
    np.copyto(split_view(out, (n, c, kh, kw, ho, wo)),
              _windows(xp, kernel, strides, dilation, out_hw))
    return out


def im2col_batch(xp, kernel, strides, dilation, out_hw, out=None):
    """Whole-batch columns (C·kh·kw, N·Ho·Wo), so that ``W.reshape(F, -1) @ cols`` is the
    convolution of every image in one product, (F, N·Ho·Wo)."""
    (kh, kw), (ho, wo) = kernel, out_hw
    n, c = xp.shape[:2]
    if out is None:
        out = np.empty((c * kh * kw, n * ho * wo), dtype=xp.dtype)
    np.copyto(split_view(out, (c, kh, kw, n, ho, wo)),
              _windows(xp, kernel, strides, dilation, out_hw, batch_inner=True))
    return out


def _scatter(fields, by_channel, kernel, strides, dilation, out_hw):
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilation, out_hw
    for u in range(kh):
        for v in range(kw):
            by_channel[..., u * dh:u * dh + (ho - 1) * sh + 1:sh,
                       v * dw:v * dw + (wo - 1) * sw + 1:sw] += fields[u, v]


def col2im(dcols, padded_shape, kernel, strides, dilation, out_hw, out=None):
    """Adjoint of ``im2col``: per-image column gradients (N, C·kh·kw, Ho·Wo) summed back onto
    the pixels they were read from; returns the gradient w.r.t. the padded input (N, C, Hp, Wp).
    One whole-batch strided add per kernel offset."""
    (kh, kw), (ho, wo) = kernel, out_hw
    n, c = padded_shape[:2]
    out = np.zeros(padded_shape, dtype=dcols.dtype) if out is None else out
    out.fill(0)
    fields = split_view(dcols, (n, c, kh, kw, ho, wo)).transpose(2, 3, 0, 1, 4, 5)
    _scatter(fields, out, kernel, strides, dilation, out_hw)
    return out


def col2im_batch(dcols, padded_shape, kernel, strides, dilation, out_hw, out=None):
    """Adjoint of ``im2col_batch``: (C·kh·kw, N·Ho·Wo) → (N, C, Hp, Wp)."""
    (kh, kw), (ho, wo) = kernel, out_hw
    n, c = padded_shape[:2]
    out = np.zeros(padded_shape, dtype=dcols.dtype) if out is None else out
    out.fill(0)
    fields = split_view(dcols, (c, kh, kw, n, ho, wo)).transpose(1, 2, 0, 3, 4, 5)
    _scatter(fields, out.transpose(1, 0, 2, 3), kernel, strides, dilation, out_hw)
    return out


def col2im_full(fields, out, dilation, width):
    """Stride-1 col2im on the full grid (see the module docstring): ``fields`` (kh, kw, ...,
    Hp·Wp) holds each kernel offset's column gradient at its output pixel's grid position (zero
    elsewhere); ``out`` (..., Hp·Wp) receives Σ_uv fields[u, v] shifted by u·dh·Wp + v·dw."""
    (kh, kw), (dh, dw) = fields.shape[:2], dilation
    length = out.shape[-1]
    np.copyto(out, fields[0, 0])
    for u in range(kh):
        for v in range(kw):
            shift = u * dh * width + v * dw
            if shift:
                out[..., shift:] += fields[u, v, ..., :length - shift]
    return out
