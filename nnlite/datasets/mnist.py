"""MNIST: the built-in offline subset (the official test set, split 8,000 / 2,000) and a loader
of the full set (a local folder or a download, checksummed and cached).

MNIST is by Yann LeCun, Corinna Cortes and Christopher Burges, licensed CC BY-SA 3.0.
"""

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FormatError
from ..io.files import atomic_write
from ..io.idx import read_idx, read_mnist_pair

__all__ = ["read_idx", "load_builtin_mnist", "load_builtin_mnist_sequences", "load_mnist",
           "MNIST_URL", "MNIST_MD5"]

# Public mirror used by torchvision (yann.lecun.com now often refuses downloads).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# md5 of the four original gzip files, as published and as checked by torchvision.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_BUILTIN_DIR = Path(__file__).parent.parent / "data" / "mnist"
_BUILTIN_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
_BUILTIN_SPLIT_SEED = 1998  # never change: it defines the built-in train/test split
_BUILTIN_N_TRAIN = 8000
_DOWNLOAD_TIMEOUT_S = 30
_MAX_DOWNLOAD_BYTES = 64 << 20  # the largest MNIST file is 9.9 MB; stop a runaway mirror


# --------------------------------------------------------------------------- MNIST


def load_builtin_mnist(flatten=True):
    """Load the MNIST subset shipped with nnlite (works offline).

    The 10,000 official MNIST test images are split, with a fixed seed, into 8,000 training
    and 2,000 test examples; the split is the same on every call and every machine.
    The files' md5 checksums are verified on each call.

    Args:
        flatten: if True, images have shape (n, 784); otherwise (n, 1, 28, 28) (NCHW).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x float32 in [0, 1] of shape (8000, 784) and
        (2000, 784) (or (n, 1, 28, 28)); y int64 in 0..9 of shape (8000,) and (2000,).
        Fresh arrays each call, safe to modify.

    Raises:
        nnlite.errors.FormatError: a shipped file was altered (checksum mismatch) or is corrupt.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_builtin_mnist()
        >>> x_train.shape, x_train.dtype, y_test.shape, y_test.dtype
        ((8000, 784), dtype('float32'), (2000,), dtype('int64'))
    """
    images_path, labels_path = (_BUILTIN_DIR / f for f in _BUILTIN_FILES)
    for path in (images_path, labels_path):
        _verify_md5(path, MNIST_MD5[path.name], hint="reinstall nnlite to restore it")
    x, y = read_mnist_pair(images_path, labels_path, flatten)
    train_idx, test_idx = _builtin_split_indices(len(y))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


def load_builtin_mnist_sequences():
    """The built-in MNIST split (8,000 / 2,000) as sequences: x float32 (n, 28, 28) — 28 time
    steps, each a row of 28 pixels in [0, 1] — and y int64 labels (n,)."""
    (x_train, y_train), (x_test, y_test) = load_builtin_mnist(flatten=True)
    return (x_train.reshape(-1, 28, 28), y_train), (x_test.reshape(-1, 28, 28), y_test)


def _builtin_split_indices(n):
    perm = np.random.default_rng(_BUILTIN_SPLIT_SEED).permutation(n)
    return perm[:_BUILTIN_N_TRAIN], perm[_BUILTIN_N_TRAIN:]


def load_mnist(path=None, url=None, cache_dir=None, flatten=True, checksums=None):
    """Load the full MNIST dataset (60,000 training and 10,000 test images).

    With ``path``, the four IDX files are read from that directory, each either gzip-compressed
    (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``); they are validated
    structurally (magic numbers, sizes), not by checksum, so re-compressed copies work.
    Without ``path``, the four ``.gz`` files are downloaded from ``url`` (default
    :data:`MNIST_URL`) into ``cache_dir`` (default ``$NNLITE_CACHE_DIR/mnist``, else
    ``~/.cache/nnlite/mnist``), verified against ``checksums`` (default :data:`MNIST_MD5`)
    and reused on later calls.  Downloads go to a temporary file renamed into place only
    once verified, so an interrupted download never leaves a half file behind.

    Args:
        path: directory holding the four files, or None to download.
        url: base URL of a mirror (``https://``, ``http://`` or ``file://``).
        cache_dir: where downloads are stored.
        flatten: if True, images have shape (n, 784); otherwise (n, 1, 28, 28).
        checksums: mapping file name -> md5 hex digest for the four ``.gz`` files.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x float32 in [0, 1] of shape (60000, 784) and
        (10000, 784) (or (n, 1, 28, 28)); y int64 in 0..9 of shape (60000,) and (10000,).

    Raises:
        FileNotFoundError: ``path`` lacks one of the files.
        ConnectionError: a download failed (e.g. offline); pass ``path=`` to use local files.
        nnlite.errors.FormatError: checksum mismatch or malformed file.

    Example:
        >>> (x_train, y_train), _ = load_mnist(path="~/data/mnist")  # doctest: +SKIP
        >>> x_train.shape, y_train.shape                             # doctest: +SKIP
        ((60000, 784), (60000,))
    """
    checksums = dict(MNIST_MD5 if checksums is None else checksums)
    if path is not None:
        files = {name: _find_local(Path(path).expanduser(), name) for name in MNIST_MD5}
    else:
        base = MNIST_URL if url is None else url
        folder = _default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
        files = {name: _fetch_cached(base, folder, name, checksums) for name in MNIST_MD5}
    pairs = [(f"{s}-images-idx3-ubyte.gz", f"{s}-labels-idx1-ubyte.gz") for s in ("train", "t10k")]
    train, test = (read_mnist_pair(files[img], files[lab], flatten) for img, lab in pairs)
    return train, test


def _default_cache_dir():
    root = os.environ.get("NNLITE_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "nnlite") / "mnist"


def _find_local(folder, gz_name):
    candidates = (folder / gz_name, folder / gz_name.removesuffix(".gz"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file not found: expected {candidates[0]} or {candidates[1]}")


def _fetch_cached(base_url, folder, name, checksums):
    """Return the path of a verified copy of ``name`` in ``folder``, downloading it if needed."""
    if name not in checksums:
        raise ConfigError(f"checksums: expected an md5 for {name!r}, got keys {sorted(checksums)}")
    target = folder / name
    if target.is_file() and _md5(target) == checksums[name]:
        return target
    # Missing or stale (e.g. a different mirror's version): download afresh.
    folder.mkdir(parents=True, exist_ok=True)
    _download(base_url.rstrip("/") + "/" + name, target, checksums[name])
    return target


def _download(url, target, expected_md5):
    # A failed or mismatching download removes its .part file and leaves target untouched.
    with atomic_write(target, "wb", suffix=".part") as out:
        found = _stream_to(url, out)
        if found != expected_md5:
            raise FormatError(
                f"{url}: md5 checksum mismatch: expected {expected_md5}, found {found} "
                "(corrupt download or a different file on the mirror)"
            )


def _stream_to(url, out):
    """Copy ``url`` into the binary file ``out``; return the md5 hex digest of the bytes."""
    digest, total = hashlib.md5(usedforsecurity=False), 0
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 16):
                total += len(chunk)
                if total > _MAX_DOWNLOAD_BYTES:
                    raise FormatError(f"{url}: expected at most {_MAX_DOWNLOAD_BYTES} bytes")
                digest.update(chunk)
                out.write(chunk)
    # HTTPException covers a connection dropped mid-body (IncompleteRead), not an OSError.
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"could not download {url} ({reason}). If you are offline, fetch the four MNIST "
            "files by other means and call load_mnist(path=<their directory>), or use "
            "load_builtin_mnist() which needs no network."
        ) from exc
    return digest.hexdigest()


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _verify_md5(path, expected, hint):
    found = _md5(path)
    if found != expected:
        raise FormatError(
            f"{path}: md5 checksum mismatch: expected {expected}, found {found}; {hint}"
        )
