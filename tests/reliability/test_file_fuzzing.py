"""Model-file fuzzing: nothing in a file can run code, and every bad file is a FormatError.

Promises checked on every load (``fuzzing.Harness``):

* 0 code executions: payloads (pickle ``__reduce__``, object arrays) would create a sentinel
  file; it never appears.  Each payload is first shown to work when unpickled on purpose, so the
  detector is live.
* 0 exceptions other than ``nnlite.errors.FormatError`` (a load either gives a model with finite
  weights, when the mutation hit bytes nothing reads, or raises FormatError);
* load time and peak memory (tracemalloc) are recorded as figures; the only time assertion is a
  generous 5 s sanity bound per load (the promise is "under 1 s", read off the figures).
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlite

from . import fuzzing
from .helpers import blobs, fingerprint, small_model

EXAMPLES = {"hypothesis_splices": 0, "hypothesis_config_values": 0, "hypothesis_unexpected": 0,
            "hypothesis_max_load_seconds": 0.0}


@pytest.fixture(scope="module", autouse=True)
def _record_hypothesis(record):
    yield
    record("fuzz_hypothesis", **EXAMPLES)


def _count(kind, harness):
    EXAMPLES[kind] += 1
    EXAMPLES["hypothesis_unexpected"] += harness.outcomes.get("unexpected", 0)
    EXAMPLES["hypothesis_max_load_seconds"] = max(EXAMPLES["hypothesis_max_load_seconds"],
                                                  round(harness.max_seconds, 4))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """(bytes of a small trained model file, the model, a batch to predict)."""
    model = small_model(seed=2)
    x, y = blobs(32, seed=2)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path_factory.mktemp("model") / "small.nnlite"
    model.save(path)
    return path.read_bytes(), model, x


@pytest.fixture
def harness(tmp_path):
    h = fuzzing.Harness.create(tmp_path)
    yield h
    h.cleanup()


def _assert_clean(harness, sentinel):
    assert not sentinel.exists(), "a payload ran: the sentinel file exists"
    assert harness.outcomes.get("unexpected", 0) == 0, harness.unexpected[:5]


def test_the_original_file_loads_and_predicts_the_same(model_file, harness):
    data, model, x = model_file
    outcome, loaded = harness.load(data)
    assert outcome == "ok"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ------------------------------------------------------------------ truncation
def test_truncation_at_every_byte_offset(model_file, harness, sentinel, record):
    data, _, _ = model_file
    for cut in range(len(data)):
        outcome, _ = harness.load(data[:cut])
        assert outcome == "FormatError", f"truncated to {cut} bytes: {outcome}"
    _assert_clean(harness, sentinel)
    record("fuzz_truncation", file_bytes=len(data), **harness.figures())


# ------------------------------------------------------------------ random mutations
def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One of: set 1-4 random bytes, flip a bit, delete/insert/duplicate a span, zero a run,
    or write an extreme 2/4/8-byte integer (0, -1, 2^31-1, 2^63-1) at a random offset."""
    b = bytearray(data)
    kind = rng.integers(7)
    pos = int(rng.integers(len(b)))
    if kind == 0:
        for _ in range(rng.integers(1, 5)):
            b[rng.integers(len(b))] = rng.integers(256)
    elif kind == 1:
        b[pos] ^= 1 << int(rng.integers(8))
    elif kind == 2:
        del b[pos:pos + int(rng.integers(1, 17))]
    elif kind == 3:
        b[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
    elif kind == 4:
        span = bytes(b[pos:pos + int(rng.integers(1, 33))])
        b[pos:pos] = span
    elif kind == 5:
        n = int(rng.integers(1, 65))
        b[pos:pos + n] = bytes(len(b[pos:pos + n]))
    else:
        fmt = ["<H", "<I", "<i", "<Q"][rng.integers(4)]
        value = [0, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 2**63 - 1][rng.integers(5)]
        size = struct.calcsize(fmt)
        value = min(value, 2 ** (8 * size - (1 if fmt == "<i" else 0)) - 1)
        pos = min(pos, len(b) - size)
        struct.pack_into(fmt, b, pos, value)
    return bytes(b)


def test_random_mutations(model_file, harness, sentinel, scale, record):
    data, _, _ = model_file
    rng = np.random.default_rng(20261126)
    count = scale(10_000, 100_000)
    for i in range(count):
        harness.load(mutate(data, rng), measure_memory=(i % 97 == 0))
    _assert_clean(harness, sentinel)
    assert harness.loads == count
    record("fuzz_mutations", mutants=count, file_bytes=len(data), **harness.figures(),
           load_time_histogram=harness.time_histogram(),
           p99_load_ms=round(1000 * float(np.percentile(harness.times, 99)), 3))


def test_in_memory_loads_agree_with_files(model_file, harness, sentinel, scale, record):
    """``load_model(bytes)`` (the in-memory path, used when unpickling estimators) gives the same
    outcome as loading the same bytes from a file, and the same model when both succeed."""
    data, _, x = model_file
    rng = np.random.default_rng(99)
    count = scale(2_000, 20_000)
    disagreements = 0
    for _ in range(count):
        blob = mutate(data, rng)
        from_file, model_a = harness.load(blob)
        in_memory, model_b = harness.load_path(blob)
        disagreements += from_file != in_memory
        if model_a is not None and model_b is not None:
            np.testing.assert_array_equal(model_a.predict(x), model_b.predict(x))
    assert disagreements == 0
    _assert_clean(harness, sentinel)
    record("fuzz_in_memory", mutants=count, disagreements=disagreements, **harness.figures())


def test_mutated_weights_files_leave_the_model_unchanged(model_file, harness, sentinel, scale,
                                                         record):
    """``model.load_weights`` on mutants: FormatError (or success, when the mutation hit bytes
    nothing reads) and, after every failure, the target model untouched."""
    data, model, _ = model_file
    rng = np.random.default_rng(7)
    before = fingerprint(model)
    count = scale(1_000, 10_000)
    for _ in range(count):
        harness.load(mutate(data, rng), loader=_load_weights_into(model))
    assert fingerprint(model) == before
    _assert_clean(harness, sentinel)
    record("fuzz_load_weights", mutants=count, **harness.figures())


def _load_weights_into(model):
    def load(path):
        model.load_weights(path)
        return model
    return load


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=0,
                                                                             max_size=8),
                                st.integers(0, 8)), min_size=1, max_size=6))
def test_hypothesis_splices(model_file, harness, sentinel, edits):
    """Hypothesis splices: at a relative position, replace ``k`` bytes by a short byte string."""
    data, _, _ = model_file
    b = bytearray(data)
    for where, blob, k in edits:
        pos = int(where * len(b))
        b[pos:pos + k] = blob
    harness.load(bytes(b))
    _count("hypothesis_splices", harness)
    _assert_clean(harness, sentinel)


# ------------------------------------------------------------------ code-execution payloads
def test_payloads_are_live(sentinel):
    """Control: the payloads do create the sentinel when unpickled on purpose."""
    pickle.loads(fuzzing.pickle_payload(sentinel))
    assert sentinel.exists()
    sentinel.unlink()
    np.load(io.BytesIO(fuzzing.object_npy(sentinel)), allow_pickle=True)
    assert sentinel.exists()
    sentinel.unlink()


def _payload_files(data, sentinel):
    members = fuzzing.read_members(data)
    first = next(name for name in members if name.endswith(".npy"))
    evil_pickle, evil_npy = fuzzing.pickle_payload(sentinel), fuzzing.object_npy(sentinel)

    def with_member(name, blob, dtype=None):
        m = dict(members)
        m[name] = blob
        if dtype is not None:
            config = json.loads(m["config.json"])
            for entry in config["weights"]:
                if entry["member"] == name:
                    entry["dtype"] = dtype
            m["config.json"] = json.dumps(config).encode()
        return fuzzing.write_members(m)

    return {
        "pickle_file": evil_pickle,
        "object_array_member": with_member(first, evil_npy),
        "object_array_member_config_says_object": with_member(first, evil_npy, dtype="|O"),
        "pickle_as_npy_member": with_member(first, evil_pickle),
        "pickle_as_config": with_member("config.json", evil_pickle),
        "extra_pickle_member": fuzzing.write_members({**members, "data.pkl": evil_pickle}),
        "npz_of_object_array": _npz({"arr_0": np.array([fuzzing.Evil(sentinel)], dtype=object)}),
        "deflated_object_member": fuzzing.write_members(
            {**members, first: evil_npy}, compression=zipfile.ZIP_DEFLATED),
    }


def _npz(arrays):
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, **arrays)
    return buf.getvalue()


def test_pickle_and_object_payloads(model_file, harness, sentinel, record):
    data, _, _ = model_file
    files = _payload_files(data, sentinel)
    for name, blob in files.items():
        outcome, _ = harness.load(blob)
        assert outcome == "FormatError", f"{name}: {outcome}"
        outcome, _ = harness.load(blob, name="w.nnlite", loader=_load_weights_into(
            small_model(seed=2)))
        assert outcome == "FormatError", f"{name} (load_weights): {outcome}"
    _assert_clean(harness, sentinel)
    record("fuzz_payloads", payload_files=len(files), executions=int(sentinel.exists()),
           **harness.figures())


CLASS_NAMES = ["os.system", "builtins.eval", "subprocess.Popen", "__import__", "posix.system",
               "nnlite.saving._write_atomic", "Trainer", "Layer", "BaseModel", "Evil",
               "tests.reliability.fuzzing.Evil", "numpy.load", "type", "object", "",
               "__builtins__", "Dense.__init__.__globals__"]


def _class_edits(sentinel):
    """Config edits naming classes, modules and functions nnlite must never import or call."""
    cmd = f"touch {sentinel}"
    evil_expr = f"__import__('os').system({cmd!r})"
    edits = []
    for name in CLASS_NAMES:
        edits.append((f"model_class={name}", lambda c, n=name: c["model"].update(class_name=n)))
        edits.append((f"layer_class={name}", lambda c, n=name: _first_layer(c).update(
            class_name=n)))
        edits.append((f"loss_class={name}", lambda c, n=name: c["compile"]["loss"].update(
            class_name=n)))
        edits.append((f"optimizer_class={name}", lambda c, n=name: c["compile"][
            "optimizer"].update(class_name=n)))
    for key in ("module", "registered_name", "function", "__class__", "__reduce__"):
        edits.append((f"layer_{key}", lambda c, k=key: _first_layer(c).update(
            {k: "os", "class_name": "system", "config": {"command": cmd}})))
    for field in ("activation", "kernel_initializer", "bias_initializer", "name"):
        edits.append((f"{field}=expression", lambda c, f=field: _first_layer(c)["config"].update(
            {f: evil_expr})))
        edits.append((f"{field}=dict", lambda c, f=field: _first_layer(c)["config"].update(
            {f: {"class_name": "os.system", "config": {"command": cmd}}})))
    edits += [
        ("metric=expression", lambda c: c["compile"].update(metrics=[evil_expr])),
        ("loss_config_expression", lambda c: c["compile"]["loss"]["config"].update(
            reduction=evil_expr)),
        ("optimizer_lr_expression", lambda c: c["compile"]["optimizer"]["config"].update(
            learning_rate=evil_expr)),
        ("layer_kwargs_injection", lambda c: _first_layer(c)["config"].update(
            __class__="os.system", eval=evil_expr)),
        ("rng_bit_generator", lambda c: c["rng"].update(bit_generator="os.system")),
        ("rng_state_expression", lambda c: c["rng"].update(state=evil_expr)),
        ("dtype_object", lambda c: c["weights"][0].update(dtype="|O")),
        ("dtype_expression", lambda c: c["weights"][0].update(dtype=evil_expr)),
        ("member_path_traversal", lambda c: c["weights"][0].update(member="../../etc/passwd")),
        ("format_version_huge", lambda c: c.update(format_version=10**30)),
        ("weights_not_list", lambda c: c.update(weights={"a": 1})),
        ("model_config_list", lambda c: c["model"].update(config=[evil_expr])),
    ]
    return edits


def _first_layer(config):
    layers = config["model"]["config"]["layers"]
    return layers[0]


def test_configs_naming_arbitrary_classes(model_file, harness, sentinel, record):
    data, _, _ = model_file
    edits = _class_edits(sentinel)
    for label, edit in edits:
        outcome, _ = harness.load(fuzzing.with_config(data, edit), measure_memory=True)
        assert outcome == "FormatError", f"{label}: {outcome}"
    _assert_clean(harness, sentinel)
    record("fuzz_configs", config_edits=len(edits), executions=int(sentinel.exists()),
           **harness.figures())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.sampled_from([2**63, -2**63, 10**40])
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(CLASS_NAMES)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(choice=st.integers(0, 10**6), value=JSON_VALUES)
def test_hypothesis_config_values(model_file, harness, sentinel, choice, value):
    """Replace one node anywhere in config.json by an arbitrary JSON value (integers bounded to
    ±1000 or absurd, so a hyper-parameter cannot make a legitimate multi-GB model)."""
    data, _, _ = model_file
    config = json.loads(fuzzing.read_members(data)["config.json"])
    paths = [p for p in _paths(config) if p]
    path = paths[choice % len(paths)]

    def edit(c):
        node = c
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    harness.load(fuzzing.with_config(data, edit))
    _count("hypothesis_config_values", harness)
    _assert_clean(harness, sentinel)


# ------------------------------------------------------------------ enormous sizes
def _huge_claims(data):
    """Files whose headers claim enormous sizes, each with a label."""
    cases = {}
    for offset, name in fuzzing.central_directory(data):
        tag = name.replace("/", "_")
        # central directory: compressed size at +20, uncompressed size at +24
        cases[f"cd_size_{tag}"] = fuzzing.patch(data, offset + 24, "<I", 0xFFFFFFFE)
        cases[f"cd_csize_{tag}"] = fuzzing.patch(data, offset + 20, "<I", 0xFFFFFFFE)
        local = struct.unpack_from("<I", data, offset + 42)[0]
        cases[f"local_size_{tag}"] = fuzzing.patch(data, local + 22, "<I", 0xFFFFFFFE)
        cases[f"local_csize_{tag}"] = fuzzing.patch(data, local + 18, "<I", 0xFFFFFFFE)
        cases[f"local_name_len_{tag}"] = fuzzing.patch(data, local + 26, "<H", 0xFFFF)
    eocd = data.rfind(b"PK\x05\x06")
    cases["eocd_entries"] = fuzzing.patch(data, eocd + 10, "<H", 0xFFFF)
    cases["eocd_cd_size"] = fuzzing.patch(data, eocd + 12, "<I", 0xFFFFFFF0)
    cases["eocd_cd_offset"] = fuzzing.patch(data, eocd + 16, "<I", 0xFFFFFFF0)
    members = fuzzing.read_members(data)
    first = next(n for n in members if n.endswith(".npy"))
    config = json.loads(members["config.json"])
    entry = next(e for e in config["weights"] if e["member"] == first)
    for shape in ([2**40], [2**31, 2**31], [10**6, 10**6, 10**6]):
        header = {"descr": entry["dtype"], "fortran_order": False, "shape": tuple(shape)}
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)
        patched_config = dict(config, weights=[dict(e, shape=shape) if e is entry else e
                                               for e in config["weights"]])
        cases[f"npy_shape_{'x'.join(map(str, shape))}"] = fuzzing.write_members(
            {**members, first: buf.getvalue() + b"\0" * 64,
             "config.json": json.dumps(patched_config).encode()})
    # .npy header length fields claiming 64 KiB (v1) and 4 GiB (v2) headers
    v1 = bytearray(members[first])
    struct.pack_into("<H", v1, 8, 0xFFFF)
    v2 = bytearray(b"\x93NUMPY\x02\x00") + struct.pack("<I", 0xFFFFFFF0) \
        + bytes(members[first][10:])
    cases["npy_header_len_v1"] = fuzzing.write_members({**members, first: bytes(v1)})
    cases["npy_header_len_v2"] = fuzzing.write_members({**members, first: bytes(v2)})
    return cases


def test_headers_claiming_enormous_sizes(model_file, harness, sentinel, record):
    """Each claim is refused (FormatError) or, where the claimed size is a redundant field the
    reader does not rely on (e.g. the compressed size of a stored member: zipfile reads exactly
    the uncompressed size and checks the CRC), the load gives the original model bit for bit.
    The .npy shape claims contradict the data and must be refused.  Memory stays < 32 MiB."""
    data, model, x = model_file
    cases = _huge_claims(data)
    accepted = []
    for label, blob in cases.items():
        outcome, loaded = harness.load(blob, measure_memory=True)
        if label.startswith("npy_"):
            assert outcome == "FormatError", f"{label}: {outcome}"
        elif outcome == "ok":
            np.testing.assert_array_equal(loaded.predict(x), model.predict(x), err_msg=label)
            accepted.append(label)
        else:
            assert outcome == "FormatError", f"{label}: {outcome}"
    _assert_clean(harness, sentinel)
    assert harness.max_peak_bytes < 32 * 2**20, harness.max_peak_bytes
    record("fuzz_huge_headers", cases=len(cases), accepted_intact=len(accepted),
           **harness.figures())


def test_sparse_file_larger_than_the_limit(harness, sentinel, record):
    """A 5 GiB sparse file (zip magic first) is refused from its size, without reading it."""
    path = os.path.join(harness.directory, "huge.nnlite")
    with open(path, "wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(5 * 2**30)
    outcome, _ = harness.load_path(path, measure_memory=True)
    assert outcome == "FormatError"
    assert harness.max_peak_bytes < 8 * 2**20
    _assert_clean(harness, sentinel)
    record("fuzz_huge_headers", sparse_5gib_seconds=round(harness.max_seconds, 7))


def test_deflate_bomb_is_refused_without_inflating(model_file, harness, sentinel, record):
    """A deflated member declaring 64 MiB (a 66 KiB file): refused before any decompression,
    with max_bytes=16 MiB and with the default limit alike (peak < 16 MiB)."""
    data, _, _ = model_file
    members = fuzzing.read_members(data)
    first = next(n for n in members if n.endswith(".npy"))
    bomb = fuzzing.write_members({**members, first: members[first] + bytes(64 * 2**20)},
                                 compression=zipfile.ZIP_DEFLATED)
    outcome, _ = harness.load(bomb, measure_memory=True, max_bytes=16 * 2**20)
    assert outcome == "FormatError"
    assert harness.max_peak_bytes < 16 * 2**20
    capped_peak = harness.max_peak_bytes
    outcome, _ = harness.load(bomb, measure_memory=True)
    assert outcome == "FormatError"
    assert harness.max_peak_bytes < 16 * 2**20
    _assert_clean(harness, sentinel)
    record("fuzz_huge_headers", deflate_bomb_file_bytes=len(bomb),
           deflate_bomb_capped_peak_mb=round(capped_peak / 2**20, 2),
           deflate_bomb_default_limit_peak_mb=round(harness.max_peak_bytes / 2**20, 2))


def _normalization_file(layer_cls):
    from nnlite.layers import Dense
    model = nnlite.Sequential([layer_cls(input_shape=(4,)), Dense(2)], seed=0)
    model.compile(loss="mse")
    model.build()
    return nnlite.saving.model_to_bytes(model)


@pytest.mark.parametrize("case", [
    "dense_units", "batch_normalization_input_shape", "layer_normalization_input_shape",
])
def test_config_hyper_parameters_cannot_allocate_beyond_the_file(model_file, harness, sentinel,
                                                                 record, case):
    """A config asking for millions of weights the 4 KiB file does not hold (units = 2^20, or
    a normalization layer over 2^24 features): the load fails with FormatError without
    allocating them (peak < 16 MiB)."""
    from nnlite.layers import BatchNormalization, LayerNormalization

    data, _, _ = model_file
    if case == "dense_units":
        blob = fuzzing.with_config(data, lambda c: _first_layer(c)["config"].update(
            units=2**20))
    else:
        cls = BatchNormalization if case.startswith("batch") else LayerNormalization
        blob = fuzzing.with_config(_normalization_file(cls), lambda c: _first_layer(c)[
            "config"].update(input_shape=[2**24]))
    outcome, _ = harness.load(blob, measure_memory=True)
    assert outcome == "FormatError"
    _assert_clean(harness, sentinel)
    record("fuzz_huge_headers", **{f"{case}_peak_mb": round(harness.max_peak_bytes / 2**20, 2)})
    assert harness.max_peak_bytes < 16 * 2**20, \
        f"peak {harness.max_peak_bytes / 2**20:.1f} MiB for a {len(blob)}-byte file"


# ------------------------------------------------------------------ foreign files
def _foreign_files(data, sentinel):
    rng = np.random.default_rng(3)
    members = fuzzing.read_members(data)
    npy = io.BytesIO()
    np.save(npy, np.arange(10.0))
    npz, npz_c = io.BytesIO(), io.BytesIO()
    np.savez(npz, a=np.arange(3.0))
    np.savez_compressed(npz_c, a=np.arange(3.0))
    files = {
        "empty": b"",
        "one_byte": b"P",
        "zip_magic_only": b"PK\x03\x04",
        "empty_zip": fuzzing.write_members({}),
        "npy": npy.getvalue(),
        "npz": npz.getvalue(),
        "npz_compressed": npz_c.getvalue(),
        "pkl_dict": pickle.dumps({"weights": [np.zeros(3)]}),
        "pkl_payload": fuzzing.pickle_payload(sentinel),
        "bare_config_json": members["config.json"],
        "config_only_zip": fuzzing.write_members({"config.json": members["config.json"]}),
        "text": b"hello, this is not a model\n" * 10,
        "hdf5_magic": b"\x89HDF\r\n\x1a\n" + bytes(500),
        "gzip": b"\x1f\x8b\x08\x00" + bytes(100),
        "torch_like_zip": fuzzing.write_members({"archive/data.pkl": fuzzing.pickle_payload(
            sentinel), "archive/version": b"3\n"}),
    }
    for size in (1, 16, 512, 4096, 65536):
        files[f"random_{size}"] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        files[f"random_with_zip_magic_{size}"] = b"PK\x03\x04" + rng.integers(
            0, 256, size, dtype=np.uint8).tobytes()
    return files


def test_foreign_files(model_file, harness, sentinel, record):
    data, _, _ = model_file
    files = _foreign_files(data, sentinel)
    for name, blob in files.items():
        outcome, _ = harness.load(blob, measure_memory=True)
        assert outcome == "FormatError", f"{name}: {outcome}"
    _assert_clean(harness, sentinel)
    record("fuzz_foreign", foreign_files=len(files), **harness.figures())


def test_missing_file_is_an_os_error(tmp_path):
    """Not a format problem: the file is not there (FileNotFoundError, as open() would)."""
    with pytest.raises(FileNotFoundError):
        nnlite.load_model(tmp_path / "nope.nnlite")
