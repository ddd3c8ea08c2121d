"""Datasets: real MNIST (a built-in offline subset and the full set) and small synthetic sets.

MNIST is by Yann LeCun, Corinna Cortes and Christopher Burges, licensed CC BY-SA 3.0.
All random functions take ``seed`` (int or numpy.random.Generator) and never touch global
random state, so the same seed always gives bit-identical arrays.
"""

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ._files import atomic_write
from ._idx import read_idx, read_mnist_pair
from .datasets_graph import GraphData, adjacency_from_edges, load_karate_club, load_planetoid
from .datasets_text import *  # noqa: F401,F403 (stdlib text corpus, MNIST as row sequences)
from .datasets_text import __all__ as _SEQUENCE_DATA
from .errors import ConfigError, FormatError, LabelError

__all__ = ["read_idx", "load_builtin_mnist", "load_mnist", "MNIST_URL", "MNIST_MD5", "xor",
           "make_moons", "make_circles", "make_spirals", "to_pm1", "one_hot", "GraphData",
           "load_karate_club", "load_planetoid", "adjacency_from_edges", *_SEQUENCE_DATA]

# Public mirror used by torchvision (yann.lecun.com now often refuses downloads).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# md5 of the four original gzip files, as published and as checked by torchvision.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_BUILTIN_DIR = Path(__file__).parent / "data" / "mnist"
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


# --------------------------------------------------------------------------- synthetic sets


def xor():
    """The four points of the XOR problem (deterministic, so it takes no seed).

    Returns:
        ``(x, y)``: x float64 of shape (4, 2) with rows (0,0), (0,1), (1,0), (1,1);
        y int64 of shape (4,) equal to [0, 1, 1, 0].

    Example:
        >>> x, y = xor()
        >>> y.tolist()
        [0, 1, 1, 0]
    """
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def make_moons(n_samples=200, noise=0.1, seed=None):
    """Two interleaving half circles (the classic "moons"), shuffled.

    Class 0 is the upper half circle of radius 1 centred at (0, 0); class 1 the lower one
    centred at (1, 0.5).  Gaussian noise of standard deviation ``noise`` is added.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2); y int64 of shape (n_samples,) in {0, 1},
        with n_samples // 2 points of class 0 and the rest of class 1.

    Example:
        >>> x, y = make_moons(100, noise=0.1, seed=0)
        >>> x.shape, y.dtype, int(y.sum())
        ((100, 2), dtype('int64'), 50)
    """
    _check_positive_int("n_samples", n_samples)
    _check_nonneg_real("noise", noise)
    rng = _rng(seed)
    n0 = n_samples // 2
    t0, t1 = np.linspace(0.0, np.pi, n0), np.linspace(0.0, np.pi, n_samples - n0)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    return _finish(rng, [upper, lower], noise)


def make_circles(n_samples=200, noise=0.05, factor=0.5, seed=None):
    """Two concentric circles, shuffled.

    Class 0 is the outer circle (radius 1), class 1 the inner one (radius ``factor``).
    Gaussian noise of standard deviation ``noise`` is added.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2); y int64 of shape (n_samples,) in {0, 1},
        with n_samples // 2 points of class 0 and the rest of class 1.

    Example:
        >>> x, y = make_circles(100, factor=0.3, seed=0)
        >>> x.shape, int(y.sum())
        ((100, 2), 50)
    """
    _check_positive_int("n_samples", n_samples)
    _check_nonneg_real("noise", noise)
    if not (_is_real(factor) and 0 < factor < 1):
        raise ConfigError(f"factor: expected a number strictly between 0 and 1, got {factor!r}")
    rng = _rng(seed)
    n0 = n_samples // 2
    # endpoint=False: angle 2*pi would duplicate the point at angle 0.
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n_samples - n0, endpoint=False)
    outer = np.column_stack([np.cos(t0), np.sin(t0)])
    inner = factor * np.column_stack([np.cos(t1), np.sin(t1)])
    return _finish(rng, [outer, inner], noise)


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None):
    """Interleaved spiral arms, one per class, shuffled (the CS231n toy problem).

    Arm k starts at the origin and winds outward to radius 1, rotated by 2*pi*k/n_classes.
    ``noise`` is the standard deviation of Gaussian noise added to the angle (radians),
    so it blurs the arms along their curve rather than isotropically.

    Returns:
        ``(x, y)``: x float64 of shape (n_samples, 2) inside the unit disc; y int64 of shape
        (n_samples,) in 0..n_classes-1, class sizes differing by at most one.

    Example:
        >>> x, y = make_spirals(300, n_classes=3, seed=0)
        >>> x.shape, np.bincount(y).tolist()
        ((300, 2), [100, 100, 100])
    """
    _check_positive_int("n_samples", n_samples)
    _check_positive_int("n_classes", n_classes)
    if n_classes < 2:
        raise ConfigError(f"n_classes: expected an integer >= 2, got {n_classes!r}")
    _check_nonneg_real("noise", noise)
    rng = _rng(seed)
    arms = []
    for k in range(n_classes):
        n_k = n_samples // n_classes + (k < n_samples % n_classes)
        radius = np.linspace(0.0, 1.0, n_k)
        angle = 2 * np.pi * k / n_classes + 4.0 * radius + noise * rng.standard_normal(n_k)
        arms.append(radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)]))
    return _finish(rng, arms, 0.0)


def _finish(rng, groups, noise):
    """Stack per-class point groups, add isotropic noise, shuffle; labels are group indices."""
    x = np.concatenate(groups)
    y = np.concatenate([np.full(len(g), k, dtype=np.int64) for k, g in enumerate(groups)])
    if noise > 0:
        x += noise * rng.standard_normal(x.shape)
    order = rng.permutation(len(y))  # shuffled so mini-batches are not single-class
    return x[order], y[order]


def to_pm1(y):
    """Map binary labels {0, 1} (or booleans) to {-1.0, +1.0}, e.g. for hinge/logistic ±1 losses.

    Returns:
        float64 array of the same shape as ``y``.

    Raises:
        nnlite.errors.LabelError (a ValueError): ``y`` holds values other than 0 and 1.

    Example:
        >>> to_pm1([0, 1, 1]).tolist()
        [-1.0, 1.0, 1.0]
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise LabelError(f"y: expected numeric labels in {{0, 1}}, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))  # NaN counts as bad too
    if bad.any():
        raise LabelError(f"y: expected labels in {{0, 1}}, found {np.unique(y[bad])[:5].tolist()}")
    return 2.0 * y.astype(np.float64) - 1.0


def one_hot(y, num_classes=None, dtype=np.float32):
    """One-hot encode integer class labels.

    Args:
        y: integer labels of any shape, values in 0..num_classes-1.
        num_classes: number of columns; default ``max(y) + 1``.
        dtype: dtype of the result (float32 by default, like the MNIST inputs).

    Returns:
        array of shape ``y.shape + (num_classes,)`` with a single 1 per row.

    Raises:
        nnlite.errors.LabelError (a ValueError): labels not integers or out of range.
        nnlite.errors.ConfigError (a ValueError): num_classes not a positive integer.

    Example:
        >>> one_hot([0, 2], num_classes=3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # accept 3.0 (labels stored as floats), reject 2.5
    if y.dtype.kind not in "iu":
        raise LabelError(f"y: expected integer class labels, got dtype {y.dtype}")
    if num_classes is None:
        if y.size == 0:
            raise ConfigError("num_classes: expected a positive integer when y is empty, got None")
        num_classes = int(y.max()) + 1
    _check_positive_int("num_classes", num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise LabelError(
            f"y: expected labels in 0..{num_classes - 1}, "
            f"found range {int(y.min())}..{int(y.max())}"
        )
    return np.eye(num_classes, dtype=dtype)[y]


# --------------------------------------------------------------------------- validation


def _rng(seed):
    """A Generator from ``seed``; never the global NumPy state."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (_is_int(seed) and seed >= 0):
        return np.random.default_rng(seed)
    raise ConfigError(
        f"seed: expected None, a non-negative int or a numpy.random.Generator, got {seed!r}"
    )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_positive_int(name, value):
    if not (_is_int(value) and value > 0):
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")


def _check_nonneg_real(name, value):
    if not (_is_real(value) and np.isfinite(value) and value >= 0):
        raise ConfigError(f"{name}: expected a finite number >= 0, got {value!r}")
