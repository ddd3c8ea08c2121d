"""Reader for the IDX format used by MNIST (http://yann.lecun.com/exdb/mnist/).

Layout: two zero bytes, a dtype code (0x08 = uint8), the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order.  Files may be gzip-compressed.
Only the uint8 variant is read: it is the only one MNIST and its clones use.
``read_mnist_pair`` turns an MNIST images/labels pair into training arrays.
"""

import gzip
import io
import os
import struct
import zlib

import numpy as np

from ..errors import FormatError

__all__ = ["read_idx", "read_mnist_pair", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC"]

IDX_IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dims (n, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dim (n,)

_GZIP_MAGIC = b"\x1f\x8b"
_UINT8_CODE = 0x08
_OTHER_CODES = {0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
# Caps stop a corrupt or hostile header from making us allocate gigabytes (or a gzip bomb
# from inflating without bound): we never read more than the header declares, plus one byte.
_MAX_NDIM = 8
_MAX_DATA_BYTES = 1 << 30  # 1 GiB; full MNIST train images are 47 MB


def read_idx(path_or_fileobj, *, expect_ndim=None):
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Args:
        path_or_fileobj: a path (str or os.PathLike) or a binary file object opened for reading.
            Gzip is detected from the magic bytes ``1f 8b``, not from the file name.
        expect_ndim: if given, the number of dimensions the header must declare
            (3 for MNIST images, magic 2051; 1 for MNIST labels, magic 2049).

    Returns:
        numpy.ndarray of dtype uint8 with the shape declared in the header, writable and not
        sharing memory with anything else.

    Raises:
        nnlite.errors.FormatError: bad magic, unsupported dtype code, implausible dimensions,
            corrupt gzip stream, data shorter or longer than the header declares.  The message
            names the file, what was expected and what was found.

    Example:
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz", expect_ndim=1)  # doctest: +SKIP
        >>> labels.shape, labels.dtype                                     # doctest: +SKIP
        ((10000,), dtype('uint8'))
    """
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        name = os.fsdecode(path_or_fileobj)
        with open(path_or_fileobj, "rb") as f:
            return _read_stream(f, name, expect_ndim)
    if not hasattr(path_or_fileobj, "read"):
        kind = type(path_or_fileobj).__name__
        raise TypeError(f"read_idx: expected a path or a binary file object, got {kind}")
    name = str(getattr(path_or_fileobj, "name", "<file object>"))
    return _read_stream(path_or_fileobj, name, expect_ndim)


def _read_stream(f, name, expect_ndim):
    stream = _maybe_gunzip(f, name)
    try:
        shape = _read_header(stream, name, expect_ndim)
        nbytes = int(np.prod(shape, dtype=np.int64))
        # Ask for one byte more than declared so trailing garbage is detected, not ignored.
        data = _read_upto(stream, nbytes + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(f"{name}: corrupt gzip stream ({exc})") from exc
    if len(data) != nbytes:
        short = len(data) < nbytes
        what, found = ("truncated", len(data)) if short else ("has trailing bytes", "more")
        raise FormatError(
            f"{name}: data {what}: header shape {shape} needs exactly {nbytes} bytes, "
            f"found {found}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()


def _maybe_gunzip(f, name):
    """Return a stream of the IDX bytes, decompressing if the input starts with the gzip magic."""
    if f.seekable():
        start = f.tell()
        head = f.read(2)
        f.seek(start)
    else:
        # Cannot peek without seeking: buffer it, bounded so a hostile pipe cannot exhaust memory.
        f = io.BytesIO(_read_upto(f, _MAX_DATA_BYTES + 4 + 4 * _MAX_NDIM + 1))
        head = f.getvalue()[:2]
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb", filename=name)
    return f


def _read_header(stream, name, expect_ndim):
    magic = _read_upto(stream, 4)
    if len(magic) < 4:
        raise FormatError(
            f"{name}: truncated IDX header: expected 4 magic bytes, found {len(magic)}"
        )
    zero0, zero1, code, ndim = magic
    value = int.from_bytes(magic, "big")
    if zero0 != 0 or zero1 != 0:
        raise FormatError(
            f"{name}: not an IDX file: expected magic 00 00 08 <ndim> "
            f"(2051 for images, 2049 for labels), found {magic.hex(' ')} ({value})"
        )
    if code != _UINT8_CODE:
        kind = _OTHER_CODES.get(code, "unknown")
        raise FormatError(
            f"{name}: unsupported IDX dtype code: expected 0x08 (uint8), "
            f"found 0x{code:02x} ({kind})"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise FormatError(
            f"{name}: wrong IDX magic: expected {0x800 + expect_ndim} ({expect_ndim} dims), "
            f"found {value} ({ndim} dims)"
        )
    if not 1 <= ndim <= _MAX_NDIM:
        raise FormatError(f"{name}: IDX header declares {ndim} dims, expected 1 to {_MAX_NDIM}")
    raw_dims = _read_upto(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise FormatError(
            f"{name}: truncated IDX header: expected {4 * ndim} bytes of dims, "
            f"found {len(raw_dims)}"
        )
    shape = struct.unpack(f">{ndim}I", raw_dims)
    nbytes = int(np.prod(shape, dtype=np.float64))  # float: no overflow on absurd headers
    if nbytes > _MAX_DATA_BYTES:
        raise FormatError(
            f"{name}: IDX header shape {shape} implies {nbytes} bytes, "
            f"expected at most {_MAX_DATA_BYTES} (corrupt header?)"
        )
    return shape


def _read_upto(stream, n):
    """Read n bytes, or fewer only at end of stream (raw streams may return short reads)."""
    chunks, remaining = [], n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_mnist_pair(images_path, labels_path, flatten):
    """Parse an MNIST images/labels IDX pair, checking that they agree with each other.

    Returns ``(x, y)``: x float32 in [0, 1] of shape (n, 784), or (n, 1, 28, 28) when
    ``flatten`` is False; y int64 in 0..9 of shape (n,).
    """
    images = read_idx(images_path, expect_ndim=3)
    labels = read_idx(labels_path, expect_ndim=1)
    if images.shape[1:] != (28, 28):
        raise FormatError(f"{images_path}: expected 28x28 images, found {images.shape[1:]}")
    if len(images) != len(labels):
        raise FormatError(
            f"{labels_path}: expected {len(images)} labels (one per image in {images_path}), "
            f"found {len(labels)}"
        )
    if labels.size and labels.max() > 9:
        raise FormatError(f"{labels_path}: expected labels 0..9, found {int(labels.max())}")
    x = images.astype(np.float32)
    x /= np.float32(255.0)
    shape = (len(images), 784) if flatten else (len(images), 1, 28, 28)
    return x.reshape(shape), labels.astype(np.int64)
