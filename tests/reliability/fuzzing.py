"""Tools for the model-file fuzzing tests: a payload that would leave a sentinel file if it ever
ran, zip surgery, and a loader harness that classifies, times and measures every load."""
from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import struct
import tempfile
import time
import tracemalloc
import zipfile
from dataclasses import dataclass, field

import numpy as np

import nnlite
from nnlite.errors import FormatError


class Evil:
    """Unpickling this object opens (creates) ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return builtins.open, (self.path, "w")


def pickle_payload(sentinel) -> bytes:
    return pickle.dumps(Evil(sentinel), protocol=2)


def object_npy(sentinel) -> bytes:
    """An ``.npy`` holding an object array whose element unpickles to ``Evil``."""
    buf = io.BytesIO()
    np.save(buf, np.array([Evil(sentinel)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def read_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_members(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def with_config(data: bytes, edit) -> bytes:
    """The model file with ``edit(config_dict)`` applied to its config.json."""
    members = read_members(data)
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    return write_members(members)


def central_directory(data: bytes):
    """[(offset of the central-directory record, member name)] of a zip."""
    out = []
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        out.append((pos, data[pos + 46:pos + 46 + name_len].decode()))
        pos = data.find(b"PK\x01\x02", pos + 46 + name_len)
    return out


def patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@dataclass
class Harness:
    """Loads byte strings through ``nnlite.load_model`` (from a file in RAM-backed storage when
    there is one) and counts what happens."""

    directory: str
    outcomes: dict = field(default_factory=dict)
    unexpected: list = field(default_factory=list)
    max_seconds: float = 0.0
    total_seconds: float = 0.0
    loads: int = 0
    max_peak_bytes: int = 0
    loaded_models: int = 0
    times: list = field(default_factory=list)

    @classmethod
    def create(cls, tmp_path):
        shm = "/dev/shm"
        if os.path.isdir(shm) and os.access(shm, os.W_OK):
            return cls(tempfile.mkdtemp(prefix="nnlite-fuzz-", dir=shm))
        return cls(str(tmp_path))

    def cleanup(self):
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        if self.directory.startswith("/dev/shm/"):
            os.rmdir(self.directory)

    def load(self, data: bytes, measure_memory=False, loader=None, name="m.nnlite", **kwargs):
        """Outcome of loading ``data``: "ok", "FormatError" or "unexpected"."""
        path = os.path.join(self.directory, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return self.load_path(path, measure_memory, loader, **kwargs)

    def load_path(self, path, measure_memory=False, loader=None, **kwargs):
        loader = loader or nnlite.load_model
        if measure_memory:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            model = loader(path, **kwargs)
            outcome = "ok"
        except FormatError:
            model, outcome = None, "FormatError"
        except BaseException as err:  # noqa: BLE001 - every other exception is a finding
            model, outcome = None, "unexpected"
            self.unexpected.append(f"{type(err).__name__}: {err}"[:300])
        finally:
            elapsed = time.perf_counter() - start
            if measure_memory:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                self.max_peak_bytes = max(self.max_peak_bytes, peak)
        self.loads += 1
        self.total_seconds += elapsed
        self.times.append(elapsed)
        self.max_seconds = max(self.max_seconds, elapsed)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome == "ok" and model is not None:
            self.loaded_models += 1
            weights = model.get_weights()
            assert all(np.isfinite(w).all() for w in weights), "a load gave non-finite weights"
        return outcome, model

    def time_histogram(self):
        """Counts of load times in decades from 10 µs to 10 s (edges in seconds)."""
        edges = [10.0 ** e for e in range(-5, 2)]
        counts, _ = np.histogram(np.clip(self.times, edges[0], edges[-1]), bins=edges)
        return {"edges_s": edges, "counts": counts.tolist()}

    def figures(self):
        return {"loads": self.loads, "format_errors": self.outcomes.get("FormatError", 0),
                "loaded_ok": self.outcomes.get("ok", 0),
                "unexpected_exceptions": self.outcomes.get("unexpected", 0),
                "max_load_seconds": round(self.max_seconds, 4),
                "mean_load_ms": round(1000 * self.total_seconds / max(self.loads, 1), 3),
                "max_peak_memory_mb": round(self.max_peak_bytes / 2**20, 2)}
