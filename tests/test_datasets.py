"""Tests for nnlite.datasets and the IDX reader (no network: downloads use file:// URLs)."""

import gzip
import hashlib
import io
import shutil
import struct

import numpy as np
import pytest

from nnlite import datasets
from nnlite.datasets import (
    load_builtin_mnist,
    load_mnist,
    make_circles,
    make_moons,
    make_spirals,
    one_hot,
    read_idx,
    to_pm1,
    xor,
)
from nnlite.errors import FormatError

# Label histogram of the official 10,000-image MNIST test set.
T10K_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
T10K_PIXEL_SUM = 264_923_200  # sum of all uint8 pixels of the test set


def idx_bytes(array, code=0x08, ndim=None):
    """Serialise a uint8 array as IDX, optionally with a forged dtype code or dim count."""
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


# --------------------------------------------------------------------------- built-in MNIST


@pytest.fixture(scope="module")
def builtin():
    return load_builtin_mnist()


def test_builtin_shapes_dtypes_ranges(builtin):
    (x_train, y_train), (x_test, y_test) = builtin
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert y_train.shape == (8000,) and y_test.shape == (2000,)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    for y in (y_train, y_test):
        assert set(np.unique(y)) == set(range(10))


def test_builtin_label_histogram_and_pixel_statistic(builtin):
    (x_train, y_train), (x_test, y_test) = builtin
    counts = np.bincount(y_train, minlength=10) + np.bincount(y_test, minlength=10)
    assert counts.tolist() == T10K_LABEL_COUNTS
    pixel_sum = sum(np.rint(x * 255).sum(dtype=np.int64) for x in (x_train, x_test))
    assert pixel_sum == T10K_PIXEL_SUM
    mean = (x_train.sum(dtype=np.float64) + x_test.sum(dtype=np.float64)) / (10000 * 784)
    assert mean == pytest.approx(0.1325146, abs=1e-6)


def test_builtin_split_is_disjoint_and_covers_the_test_set(builtin):
    (x_train, _), (x_test, _) = builtin
    full = read_idx(datasets.mnist._BUILTIN_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, 784)
    full_rows = {row.tobytes() for row in full}
    assert len(full_rows) == 10000  # no duplicate images, so row identity is example identity
    train_rows = {row.tobytes() for row in np.rint(x_train * 255).astype(np.uint8)}
    test_rows = {row.tobytes() for row in np.rint(x_test * 255).astype(np.uint8)}
    assert len(train_rows) == 8000 and len(test_rows) == 2000
    assert not train_rows & test_rows
    assert train_rows | test_rows == full_rows


def test_builtin_split_is_pinned():
    # If NumPy ever changes the Generator stream this fails instead of silently moving the split.
    train_idx, test_idx = datasets.mnist._builtin_split_indices(10000)
    assert train_idx[:5].tolist() == [8937, 1749, 3775, 3966, 1301]
    assert test_idx[:5].tolist() == [8094, 8998, 8303, 8768, 266]


def test_builtin_is_deterministic_and_returns_fresh_arrays(builtin):
    (x_train, y_train), _ = builtin
    (x_again, y_again), _ = load_builtin_mnist()
    assert np.array_equal(x_train, x_again) and np.array_equal(y_train, y_again)
    x_again[:] = -1  # mutating one result must not leak into the next call
    (x_third, _), _ = load_builtin_mnist()
    assert np.array_equal(x_third, x_train)
    labels = read_idx(datasets.mnist._BUILTIN_DIR / "t10k-labels-idx1-ubyte.gz")
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_builtin_unflattened(builtin):
    (x_train, y_train), (x_test, _) = load_builtin_mnist(flatten=False)
    assert x_train.shape == (8000, 1, 28, 28) and x_test.shape == (2000, 1, 28, 28)
    assert np.array_equal(x_train.reshape(8000, 784), builtin[0][0])


def test_builtin_detects_altered_files(tmp_path, monkeypatch):
    for f in datasets.mnist._BUILTIN_DIR.glob("*.gz"):
        shutil.copy(f, tmp_path / f.name)
    with open(tmp_path / "t10k-labels-idx1-ubyte.gz", "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(datasets.mnist, "_BUILTIN_DIR", tmp_path)
    with pytest.raises(FormatError, match="t10k-labels.*md5 checksum mismatch.*ec29112d"):
        load_builtin_mnist()


def test_shipped_train_labels_parse():
    labels = read_idx(datasets.mnist._BUILTIN_DIR / "train-labels-idx1-ubyte.gz", expect_ndim=1)
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]


# --------------------------------------------------------------------------- IDX reader


def test_read_idx_raw_gzip_path_and_fileobj(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(array)
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    for source in (tmp_path / "a.idx", str(tmp_path / "a.idx.gz"), io.BytesIO(gzip.compress(raw))):
        result = read_idx(source, expect_ndim=3)
        assert result.dtype == np.uint8 and np.array_equal(result, array)
        result[0, 0, 0] = 99  # writable, not a view of an immutable buffer


def test_read_idx_non_seekable_stream():
    class Pipe(io.RawIOBase):  # returns at most 5 bytes per read, cannot seek
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self.data.read(min(5, len(buffer)))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    array = np.arange(10, dtype=np.uint8)
    assert np.array_equal(read_idx(Pipe(gzip.compress(idx_bytes(array)))), array)
    assert np.array_equal(read_idx(Pipe(idx_bytes(array))), array)


LABELS = np.array([1, 2, 3], dtype=np.uint8)


@pytest.mark.parametrize(
    "data, pattern",
    [
        (b"\x01\x00\x08\x01" + idx_bytes(LABELS)[4:], r"not an IDX file.*found 01 00 08 01"),
        (b"PK\x03\x04" + idx_bytes(LABELS)[4:], r"not an IDX file"),
        (idx_bytes(LABELS, code=0x0D), r"expected 0x08 \(uint8\), found 0x0d \(float32\)"),
        (idx_bytes(LABELS, code=0x07), r"expected 0x08 \(uint8\), found 0x07"),
        (idx_bytes(LABELS)[:-1], r"truncated.*needs exactly 3 bytes, found 2"),
        (idx_bytes(LABELS) + b"\0", r"trailing bytes.*needs exactly 3 bytes"),
        (idx_bytes(LABELS)[:6], r"truncated IDX header"),
        (b"\0\0", r"truncated IDX header: expected 4 magic bytes, found 2"),
        (b"", r"found 0"),
        (bytes([0, 0, 8, 0]), r"declares 0 dims"),
        (bytes([0, 0, 8, 9]) + b"\0" * 36, r"declares 9 dims"),
        (bytes([0, 0, 8, 2]) + struct.pack(">2I", 2**31, 2**31), r"implies .* at most"),
        (gzip.compress(idx_bytes(LABELS))[:-6], r"corrupt gzip stream"),
        (b"\x1f\x8b" + b"garbage", r"corrupt gzip stream"),
    ],
)
def test_read_idx_rejects_malformed(tmp_path, data, pattern):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=pattern) as info:
        read_idx(path)
    assert "bad.idx" in str(info.value)  # the message names the file


def test_read_idx_trailing_bytes_inside_gzip(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(LABELS) + b"extra"))
    with pytest.raises(FormatError, match="trailing bytes"):
        read_idx(path)


def test_read_idx_checks_expected_dims():
    with pytest.raises(FormatError, match=r"expected 2051 \(3 dims\), found 2049 \(1 dims\)"):
        read_idx(io.BytesIO(idx_bytes(LABELS)), expect_ndim=3)
    with pytest.raises(TypeError):
        read_idx(42)


# --------------------------------------------------------------------------- full MNIST loader


def fake_mnist(folder, n_train=6, n_test=4, compress=True):
    """Write four tiny MNIST-shaped IDX files; return their md5s and the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    checksums = {}
    for stem, array in arrays.items():
        data = gzip.compress(idx_bytes(array), mtime=0) if compress else idx_bytes(array)
        name = stem + ".gz" if compress else stem
        (folder / name).write_bytes(data)
        checksums[stem + ".gz"] = hashlib.md5(data).hexdigest()
    return checksums, arrays


def check_fake_result(result, arrays, flatten=True):
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    shape = (6, 784) if flatten else (6, 1, 28, 28)
    assert x_train.shape == shape and x_test.shape[0] == 4
    assert np.array_equal(x_train.reshape(6, 28, 28) * 255, arrays["train-images-idx3-ubyte"])
    assert y_train.tolist() == [0, 1, 2, 3, 4, 5] and y_test.tolist() == [0, 3, 6, 9]


def test_load_mnist_download_via_file_url_and_cache(tmp_path):
    checksums, arrays = fake_mnist(tmp_path / "mirror")
    cache = tmp_path / "cache"
    result = load_mnist(url=(tmp_path / "mirror").as_uri(), cache_dir=cache, checksums=checksums)
    check_fake_result(result, arrays)
    assert sorted(p.name for p in cache.iterdir()) == sorted(checksums)  # no .part files left
    # Second call is served from the cache: an unreachable mirror does not matter.
    again = load_mnist(url=(tmp_path / "gone").as_uri(), cache_dir=cache, checksums=checksums)
    check_fake_result(again, arrays)


def test_load_mnist_replaces_corrupt_cached_file(tmp_path):
    checksums, arrays = fake_mnist(tmp_path / "mirror")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    url = (tmp_path / "mirror").as_uri() + "/"  # a trailing slash is fine too
    result = load_mnist(url=url, cache_dir=cache, checksums=checksums)
    check_fake_result(result, arrays)


def test_load_mnist_uses_env_cache_dir(tmp_path, monkeypatch):
    checksums, _ = fake_mnist(tmp_path / "mirror")
    monkeypatch.setenv("NNLITE_CACHE_DIR", str(tmp_path / "envcache"))
    load_mnist(url=(tmp_path / "mirror").as_uri(), checksums=checksums)
    assert len(list((tmp_path / "envcache" / "mnist").glob("*.gz"))) == 4


def test_load_mnist_checksum_mismatch(tmp_path):
    checksums, _ = fake_mnist(tmp_path / "mirror")
    checksums["train-labels-idx1-ubyte.gz"] = "0" * 32
    cache = tmp_path / "cache"
    with pytest.raises(FormatError, match=r"train-labels.*md5 checksum mismatch: expected 0{32}"):
        load_mnist(url=(tmp_path / "mirror").as_uri(), cache_dir=cache, checksums=checksums)
    assert not (cache / "train-labels-idx1-ubyte.gz").exists()
    assert not list(cache.glob("*.part"))


def test_load_mnist_default_checksums_reject_fake_files(tmp_path):
    fake_mnist(tmp_path / "mirror")
    with pytest.raises(FormatError, match="f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        load_mnist(url=(tmp_path / "mirror").as_uri(), cache_dir=tmp_path / "cache")


def test_load_mnist_offline_error(tmp_path):
    with pytest.raises(ConnectionError, match=r"could not download.*path=") as info:
        load_mnist(url=(tmp_path / "nowhere").as_uri(), cache_dir=tmp_path / "cache")
    assert isinstance(info.value, OSError)
    assert not list((tmp_path / "cache").glob("*"))


def test_load_mnist_from_local_path(tmp_path):
    _, arrays = fake_mnist(tmp_path / "raw", compress=False)  # uncompressed files work too
    check_fake_result(load_mnist(path=tmp_path / "raw", flatten=False), arrays, flatten=False)
    (tmp_path / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(path=tmp_path / "raw")


def test_load_mnist_rejects_inconsistent_files(tmp_path):
    fake_mnist(tmp_path / "d")
    labels_file = tmp_path / "d" / "train-labels-idx1-ubyte.gz"
    labels_file.write_bytes(gzip.compress(idx_bytes(LABELS)))
    with pytest.raises(FormatError, match="expected 6 labels.*found 3"):
        load_mnist(path=tmp_path / "d")
    labels_file.write_bytes(gzip.compress(idx_bytes(np.full(6, 10))))
    with pytest.raises(FormatError, match="expected labels 0..9, found 10"):
        load_mnist(path=tmp_path / "d")


# --------------------------------------------------------------------------- synthetic sets


def test_xor_truth_table():
    x, y = xor()
    assert x.shape == (4, 2) and y.dtype == np.int64
    assert y.tolist() == [int(a) ^ int(b) for a, b in x] == [0, 1, 1, 0]
    assert sorted(map(tuple, x.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]


SYNTHETIC = [make_moons, make_circles, make_spirals]


@pytest.mark.parametrize("make", SYNTHETIC)
def test_synthetic_deterministic_per_seed(make):
    x1, y1 = make(seed=3)
    x2, y2 = make(seed=3)
    assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()
    x3, _ = make(seed=4)
    assert not np.array_equal(x1, x3)
    x4, y4 = make(seed=np.random.default_rng(3))
    assert np.array_equal(x4, x1) and np.array_equal(y4, y1)


@pytest.mark.parametrize("make", SYNTHETIC)
def test_synthetic_leaves_global_random_state_alone(make):
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    make(seed=None)
    make(seed=1)
    assert np.random.random() == before


@pytest.mark.parametrize("make", [make_moons, make_circles])
@pytest.mark.parametrize("n", [1, 2, 101, 200])
def test_two_class_sets_balanced(make, n):
    x, y = make(n_samples=n, seed=0)
    assert x.shape == (n, 2) and x.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y, minlength=2).tolist() == [n // 2, n - n // 2]
    assert y.tolist() != sorted(y.tolist()) or n < 3  # shuffled, not class-sorted


def test_noise_free_geometry():
    x, y = make_circles(100, noise=0.0, factor=0.3, seed=0)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(radius[y == 0], 1.0) and np.allclose(radius[y == 1], 0.3)
    x, y = make_moons(100, noise=0.0, seed=0)
    assert np.allclose(np.hypot(*x[y == 0].T), 1.0) and (x[y == 0, 1] >= 0).all()
    assert np.allclose(np.hypot(x[y == 1, 0] - 1, x[y == 1, 1] - 0.5), 1.0)
    assert (x[y == 1, 1] <= 0.5 + 1e-12).all()


def test_spirals():
    x, y = make_spirals(301, n_classes=4, noise=0.3, seed=0)
    assert x.shape == (301, 2) and x.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [76, 75, 75, 75]
    assert (np.hypot(x[:, 0], x[:, 1]) <= 1 + 1e-12).all()  # noise is on the angle only


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: make_moons(n_samples=0), r"n_samples: expected a positive integer, got 0"),
        (lambda: make_moons(n_samples=10.0), r"n_samples: .* got 10.0"),
        (lambda: make_moons(n_samples=True), r"n_samples: .* got True"),
        (lambda: make_moons(noise=-0.1), r"noise: expected a finite number >= 0, got -0.1"),
        (lambda: make_circles(noise=float("nan")), r"noise: .* got nan"),
        (lambda: make_circles(factor=1.0), r"factor: .* strictly between 0 and 1, got 1.0"),
        (lambda: make_spirals(n_classes=1), r"n_classes: expected an integer >= 2, got 1"),
        (lambda: make_spirals(noise="0.2"), r"noise: .* got '0.2'"),
        (lambda: make_moons(seed=-1), r"seed: expected .* got -1"),
        (lambda: make_moons(seed=1.5), r"seed: expected .* got 1.5"),
        (lambda: to_pm1([0, 1, 2]), r"y: expected labels in \{0, 1\}, found \[2\]"),
        (lambda: to_pm1(["a"]), r"y: expected numeric labels"),
        (lambda: one_hot([0, 3], num_classes=3), r"y: expected labels in 0..2, found range 0..3"),
        (lambda: one_hot([-1, 0]), r"y: expected labels in"),
        (lambda: one_hot([0.5]), r"y: expected integer class labels"),
        (lambda: one_hot([0], num_classes=0), r"num_classes: expected a positive integer, got 0"),
        (lambda: one_hot([]), r"num_classes: expected a positive integer when y is empty"),
    ],
)
def test_argument_validation(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_to_pm1_and_one_hot_values():
    result = to_pm1(np.array([[0, 1], [1, 0]]))
    assert result.dtype == np.float64 and result.tolist() == [[-1.0, 1.0], [1.0, -1.0]]
    assert to_pm1([True, False]).tolist() == [1.0, -1.0]
    encoded = one_hot(np.array([2, 0, 1, 2]))
    assert encoded.shape == (4, 3) and encoded.dtype == np.float32
    assert encoded.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    as_float64 = one_hot([1.0, 0.0], num_classes=4, dtype=np.float64)
    assert as_float64.dtype == np.float64 and as_float64.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0]]
    assert one_hot(np.zeros((2, 5), dtype=np.uint8), num_classes=2).shape == (2, 5, 2)
    assert one_hot([], num_classes=3).shape == (0, 3)
