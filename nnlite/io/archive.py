"""The container of nnlite files: a zip (the ``.npz`` layout) of ``config.json`` and ``.npy``
arrays, written atomically and read defensively.  ``nnlite.saving`` defines what goes in it.

Writing: a temporary file in the target's directory, fsync'ed, then ``os.replace``'d over the
target (and the directory fsync'ed), so a crash mid-write leaves the previous file intact; the
temporary file is removed when the write fails (a killed process can leave one behind).

Reading trusts nothing: the zip is parsed with ``zipfile``; each ``.npy`` header is read with
``numpy.lib.format``'s header readers (header size capped at ``MAX_NPY_HEADER``) and its data
copied with ``np.frombuffer`` -- nothing is ever unpickled, never an object dtype.
Before reading any
data it checks the file size, the number of members, each member's declared size and their
total against ``max_bytes``, the member names (only ``config.json`` and ``arrays/NNNNN.npy``),
encryption and compression (members must be stored, so nothing inflates beyond the
file's own size); it then checks the config's size and JSON
(no NaN/Infinity constants), lets the caller validate the config's schema, requires exactly
the members the config lists, and checks each array's dtype (``DTYPES``) and shape against
the config.  Every failure is a ``FormatError``.
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from ..errors import FormatError

__all__ = ["write_atomic", "write_zip", "read_archive", "MAX_BYTES", "MAX_MEMBERS", "DTYPES",
           "MEMBER"]

MAX_BYTES = 4 << 30            # default cap on the file and on the total uncompressed size
MAX_MEMBERS = 100_000
MAX_CONFIG_BYTES = 16 << 20
MAX_NPY_HEADER = 10_000
DTYPES = {np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                      "uint32", "uint64", "float16", "float32", "float64")}
MEMBER = re.compile(r"arrays/\d{5,6}\.npy")


def write_zip(fh, config, arrays):
    """Write ``config`` (JSON) and ``arrays`` ([(member, ndarray)]) as a zip into ``fh``."""
    blob = json.dumps(config, allow_nan=False).encode("utf-8")
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("config.json", blob)
        for member, value in arrays:
            with zf.open(member, "w", force_zip64=value.nbytes > (1 << 30)) as out:
                np.lib.format.write_array(out, np.ascontiguousarray(value), allow_pickle=False)


def write_atomic(path, config, arrays):
    """``write_zip`` to a temporary file next to ``path``, fsync, then ``os.replace``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write_zip(fh, config, arrays)
            fh.flush()
            os.fsync(fh.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible on every platform
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def fail(path, message):
    where = "<bytes>" if isinstance(path, (bytes, bytearray)) else repr(os.fspath(path))
    raise FormatError(f"{where} is not a valid nnlite file: {message}")


def _read_member(zf, info, limit):
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) != info.file_size:
        raise FormatError(f"member {info.filename!r} holds {len(data)} bytes, its header "
                          f"declares {info.file_size}")
    return data


def _parse_npy(data, name):
    """An array from ``.npy`` bytes, checked against ``DTYPES``; never unpickles."""
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            fp, max_header_size=MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            fp, max_header_size=MAX_NPY_HEADER)
    else:
        raise FormatError(f"{name}: unsupported .npy version {version}")
    if dtype.hasobject or dtype.str not in DTYPES:
        raise FormatError(f"{name}: dtype {dtype} is not allowed (allowed: {sorted(DTYPES)})")
    if not isinstance(shape, tuple) or len(shape) > 32 or \
            not all(isinstance(d, int) and d >= 0 for d in shape):
        raise FormatError(f"{name}: invalid shape {shape!r}")
    count = 1
    for d in shape:
        count *= d
    offset = fp.tell()
    if count * dtype.itemsize != len(data) - offset:
        raise FormatError(f"{name}: header claims {count * dtype.itemsize} data bytes, the "
                          f"member holds {len(data) - offset}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def read_archive(path, check_config, max_bytes=MAX_BYTES, max_members=MAX_MEMBERS):
    """(config, {member: array}) from ``path`` (or the file's bytes), or FormatError.
    ``check_config(config)`` validates the parsed JSON (raising FormatError) and returns the
    array entries it lists, each a dict with ``member``, ``shape`` and ``dtype``."""
    in_memory = isinstance(path, (bytes, bytearray))
    # a missing file is an OSError, not a format problem
    size = len(path) if in_memory else os.path.getsize(path)
    if size > max_bytes:
        fail(path, f"{size} bytes exceed the limit of {max_bytes}")
    with (io.BytesIO(path) if in_memory else open(path, "rb")) as fh:
        if fh.read(4) != b"PK\x03\x04":
            fail(path, "it is not a zip archive (an nnlite file is a zip of config.json and "
                        ".npy arrays)")
        fh.seek(0)
        try:
            return _read_zip(fh, check_config, max_bytes, max_members)
        except FormatError as err:
            fail(path, str(err))
        except (Exception, MemoryError) as err:  # BadZipFile, zlib/struct errors, bad JSON...
            fail(path, f"{type(err).__name__}: {err}")


def _read_zip(fh, check_config, max_bytes, max_members):
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise FormatError(f"{len(infos)} members exceed the limit of {max_members}")
        by_name = {}
        total = 0
        for info in infos:
            name = info.filename
            if name in by_name or not (name == "config.json" or MEMBER.fullmatch(name)):
                raise FormatError(f"unexpected or repeated member {name!r}")
            if info.flag_bits & 0x1:
                raise FormatError(f"member {name!r} is encrypted")
            # nnlite writes stored members only; refusing compression keeps memory bounded by
            # the file's size (no member can inflate beyond the bytes on disk)
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise FormatError(f"member {name!r} is compressed; nnlite files store members "
                                  "uncompressed")
            total += info.file_size
            by_name[name] = info
        if total > max_bytes:
            raise FormatError(f"members declare {total} uncompressed bytes, more than the "
                              f"limit of {max_bytes}")
        info = by_name.get("config.json")
        if info is None:
            raise FormatError("config.json is missing")
        if info.file_size > MAX_CONFIG_BYTES:
            raise FormatError(f"config.json declares {info.file_size} bytes (limit "
                              f"{MAX_CONFIG_BYTES})")

        def no_constants(name):
            raise FormatError(f"config.json contains {name}")
        config = json.loads(_read_member(zf, info, MAX_CONFIG_BYTES).decode("utf-8"),
                            parse_constant=no_constants)
        entries = check_config(config)
        if set(by_name) != {"config.json", *(e["member"] for e in entries)}:
            raise FormatError("the archive's members do not match config.json")
        arrays = {}
        for entry in entries:
            info = by_name[entry["member"]]
            array = _parse_npy(_read_member(zf, info, info.file_size), entry["member"])
            if list(array.shape) != entry["shape"] or array.dtype.str != entry["dtype"]:
                raise FormatError(f"{entry['member']}: shape/dtype {array.shape} {array.dtype} "
                                  f"differ from config.json")
            arrays[entry["member"]] = array
    return config, arrays


