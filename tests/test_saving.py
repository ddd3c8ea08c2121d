"""Save/load: round trips of every registered layer, Sequential and graph models and optimizer
state (bit-identical predictions and continued training); hostile and broken files raise
FormatError and execute nothing; an interrupted save leaves the old file intact."""
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import nnlite
from nnlite.errors import FormatError, ShapeError
from nnlite.layers import REGISTRY, Dense, Dropout, Flatten
from nnlite.regularizers import L2
from nnlite.schedules import ExponentialDecay

# constructors for registered layers that need arguments; any other registered layer must be
# constructible with no arguments (a new layer class fails here until it gets a factory)
FACTORIES = {
    "Dense": lambda: Dense(3, activation="tanh", kernel_regularizer=L2(1e-3)),
    "Residual": lambda: Residual([Dense(5, activation="relu"), Dense(5)]),
    "Conv2D": lambda: REGISTRY["Conv2D"](2, 3, padding="same", activation="relu"),
    "Reshape": lambda: REGISTRY["Reshape"]((5, 1)),
    "Dropout": lambda: Dropout(0.3),
    "PositionEmbedding": lambda: REGISTRY["PositionEmbedding"](8),
    "TransformerEncoder": lambda: REGISTRY["TransformerEncoder"](8, 2, dropout=0.1),
    "TransformerDecoder": lambda: REGISTRY["TransformerDecoder"](8, 2, normalize_first=True),
    "PatchEmbedding": lambda: REGISTRY["PatchEmbedding"](3, 4),
    "SimpleRNN": lambda: REGISTRY["SimpleRNN"](3, return_sequences=True),
    "LSTM": lambda: REGISTRY["LSTM"](3, go_backwards=True, dropout=0.2),
    "GRU": lambda: REGISTRY["GRU"](3, reset_after=False, recurrent_dropout=0.2),
    "Bidirectional": lambda: REGISTRY["Bidirectional"](REGISTRY["GRU"](2), merge_mode="sum"),
    "TimeDistributed": lambda: REGISTRY["TimeDistributed"](Dense(3)),
    "Conv1D": lambda: REGISTRY["Conv1D"](2, 3, padding="causal"),
    "Embedding": lambda: REGISTRY["Embedding"](6, 3),
    "TokenAndPositionEmbedding": lambda: REGISTRY["TokenAndPositionEmbedding"](6, 8, 3),
}
SHAPES = [(5,), (2, 6, 6), (6, 4)]
INTEGER_INPUTS = {"Embedding": 6, "TokenAndPositionEmbedding": 6}       # token ids in 0..5
# layers whose models need inputs this generic test cannot make (sequences with attention
# masks, a sparse adjacency): tests/test_attention_models.py round-trips them the same way
ROUND_TRIPPED_ELSEWHERE = {"MultiHeadAttention", "GCNConv", "SAGEConv"}
Residual = REGISTRY.get("Residual")


def _equal(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def _single_layer_model(name):
    """A model with the registered layer ``name`` between an input and a Dense head."""
    for shape in SHAPES:
        layer = FACTORIES.get(name, REGISTRY[name])()
        if getattr(layer, "multi_input", False):
            inp = nnlite.Input(shape=shape)
            a, b = Dense(4, name="a")(inp), Dense(4, activation="tanh", name="b")(inp)
            model = nnlite.Model(inp, Dense(2)(layer([a, b])), seed=1, dtype="float64")
        else:
            head = [Dense(2)]
            try:
                out = layer.compute_output_shape(shape)
            except Exception:
                continue
            if len(out) > 1:
                head.insert(0, Flatten())
            model = nnlite.Sequential([layer, *head], seed=1, dtype="float64")
        try:
            model.build(shape)
        except Exception:
            continue
        return model, shape
    raise AssertionError(f"no input shape in {SHAPES} builds layer {name}; add it to FACTORIES")


def _train(model, x, y, epochs=1, batch_size=4):
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0).history


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - ROUND_TRIPPED_ELSEWHERE))
def test_every_registered_layer_round_trips(tmp_path, name):
    model, shape = _single_layer_model(name)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, *shape)), rng.standard_normal((12, 2))
    if name in INTEGER_INPUTS:
        x = rng.integers(0, INTEGER_INPUTS[name], (12, *shape)).astype(np.float64)
    check_round_trip(tmp_path, model, x, y)


def check_round_trip(tmp_path, model, x, y, batch_size=4):
    """Save, load: same config, weights, predictions, optimizer state and continued training."""
    model.compile(nnlite.optimizers.Adam(learning_rate=0.01), "mse")
    _train(model, x, y, 1, batch_size)
    path = tmp_path / "model.nnlite"
    model.save(path)
    loaded = nnlite.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert _equal(loaded.get_weights(), model.get_weights())
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert _equal(list(loaded.optimizer.get_state().values()),
                  list(model.optimizer.get_state().values()))
    # continued training (the model's own generator shuffles; Dropout has its own) is identical
    assert _train(loaded, x, y, 2, batch_size) == _train(model, x, y, 2, batch_size)
    assert _equal(loaded.get_weights(), model.get_weights())


def test_sequential_with_everything_compiled(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    model = nnlite.Sequential([Dense(8, activation="relu", input_dim=4),
                               Dropout(0.2, seed=7),
                               Dense(1, activation="sigmoid", kernel_regularizer=L2(0.01))],
                              seed=5)
    opt = nnlite.optimizers.SGD(ExponentialDecay(0.1, 5, 0.5), momentum=0.9, clipnorm=1.0)
    model.compile(opt, "binary_crossentropy", metrics=["accuracy", "auc"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m")
    loaded = nnlite.load_model(tmp_path / "m")
    assert loaded.dtype == np.float32 and loaded.optimizer.get_config() == opt.get_config()
    assert loaded.evaluate(x, y, return_dict=True) == model.evaluate(x, y, return_dict=True)
    h1 = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    h2 = loaded.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert h1 == h2 and _equal(loaded.get_weights(), model.get_weights())


def test_graph_model_round_trip(tmp_path):
    inp = nnlite.Input(shape=(4,))
    h = Dense(8, activation="relu")(inp)
    merged = REGISTRY["Concatenate"]()([Dense(6)(h), Dense(5, activation="tanh")(h)])
    out = Dense(3, activation="softmax")(merged)
    model = nnlite.Model(inp, out, seed=2)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "g.nnlite")
    loaded = nnlite.load_model(tmp_path / "g.nnlite")
    assert isinstance(loaded, nnlite.Model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert (loaded.fit(x, y, epochs=2, batch_size=8, verbose=0).history ==
            model.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert _equal(loaded.get_weights(), model.get_weights())


def test_weights_only_and_mismatch_changes_nothing(tmp_path):
    a = nnlite.Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
    a.save_weights(tmp_path / "w")
    b = nnlite.Sequential([Dense(3, input_dim=2), Dense(1)], seed=1)
    b.load_weights(tmp_path / "w")
    assert _equal(a.get_weights(), b.get_weights())
    c = nnlite.Sequential([Dense(4, input_dim=2), Dense(1)], seed=1)
    before = c.get_weights()
    with pytest.raises(ShapeError, match="dense"):
        c.load_weights(tmp_path / "w")
    assert _equal(before, c.get_weights())


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path):
    path = tmp_path / "m.nnlite"
    a = nnlite.Sequential([Dense(2, input_dim=2)], seed=0)
    a.save(path)
    b = nnlite.Sequential([Dense(2, input_dim=2)], seed=1)
    b.save(path)
    assert os.listdir(tmp_path) == ["m.nnlite"]
    assert _equal(nnlite.load_model(path).get_weights(), b.get_weights())


# ------------------------------------------------------------------ hostile and broken files
class Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def _valid_file(tmp_path):
    model = nnlite.Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
    model.compile("adam", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), epochs=1, verbose=0)
    path = tmp_path / "valid.nnlite"
    model.save(path)
    return path


def _rewrite(src, dst, replace):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = replace.get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data)


def _npy_bytes(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _assert_rejected(path, sentinel=None, weights=True, **kwargs):
    with pytest.raises(FormatError, match="not a valid nnlite file"):
        nnlite.load_model(path, **kwargs)
    if weights:  # load_weights reads the same container (it ignores the model config)
        model = nnlite.Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
        before = model.get_weights()
        with pytest.raises(FormatError):
            nnlite.saving.load_weights(model, path, **kwargs)
        assert _equal(before, model.get_weights())
    if sentinel is not None:
        assert not os.path.exists(sentinel), "a payload was executed"


def test_pickle_payloads_are_never_executed(tmp_path):
    sentinel = str(tmp_path / "PWNED")
    evil = np.empty(1, dtype=object)
    evil[0] = Evil(sentinel)
    valid = _valid_file(tmp_path)
    # (1) an object-dtype .npy member in an otherwise valid file
    inside = tmp_path / "inside.nnlite"
    _rewrite(valid, inside, {"arrays/00000.npy": _npy_bytes(evil, allow_pickle=True)})
    # (2) a raw pickle, (3) an .npz holding a pickled array, (4) a pickled .npy
    raw = tmp_path / "raw.nnlite"
    raw.write_bytes(pickle.dumps(Evil(sentinel)))
    npz = tmp_path / "evil.npz"
    np.savez(npz, a=evil, allow_pickle=True)
    npy = tmp_path / "evil.npy"
    np.save(npy, evil, allow_pickle=True)
    for path in (inside, raw, npz, npy):
        _assert_rejected(path, sentinel)
    # the payloads do work when unpickled, so the test can fail
    pickle.loads(raw.read_bytes())
    assert os.path.exists(sentinel)


def test_truncated_files(tmp_path):
    data = _valid_file(tmp_path).read_bytes()
    for cut in (0, 1, 4, 30, 100, len(data) // 3, len(data) // 2, len(data) - 23, len(data) - 1):
        path = tmp_path / f"cut{cut}.nnlite"
        path.write_bytes(data[:cut])
        _assert_rejected(path)


def test_huge_claims_are_rejected_before_reading(tmp_path):
    valid = _valid_file(tmp_path)
    # a .npy header claiming a 2 GiB header (version 2.0 length field)
    huge_header = b"\x93NUMPY\x02\x00" + (2 ** 31).to_bytes(4, "little") + b"{" * 64
    # a header claiming 10^12 float64 values over a few bytes of data
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    header = header.ljust(118) + "\n"
    huge_shape = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() \
        + b"\x00" * 16
    for i, payload in enumerate((huge_header, huge_shape)):
        path = tmp_path / f"huge{i}.nnlite"
        _rewrite(valid, path, {"arrays/00000.npy": payload})
        _assert_rejected(path)
    # a member that inflates far beyond the caller's limit (a zip bomb in miniature)
    bomb = tmp_path / "bomb.nnlite"
    with zipfile.ZipFile(valid) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", zin.read("config.json"))
        z.writestr("arrays/00000.npy", b"\x00" * (20 << 20))
    assert bomb.stat().st_size < (1 << 20)
    _assert_rejected(bomb, max_bytes=1 << 20)
    _assert_rejected(valid, max_bytes=100)  # the file itself is over the limit


def test_foreign_and_inconsistent_files(tmp_path):
    valid = _valid_file(tmp_path)
    config = json.loads(zipfile.ZipFile(valid).read("config.json"))
    cases = {
        "empty": b"",
        "random": np.random.default_rng(0).bytes(3000),
        "npy": _npy_bytes(np.arange(5.0)),
        "text": b"PK\x03\x04 not really a zip",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        _assert_rejected(tmp_path / name)
    np.savez(tmp_path / "plain.npz", a=np.arange(3.0))
    _assert_rejected(tmp_path / "plain.npz")

    def variant(name, **changes):
        bad = json.loads(json.dumps(config))
        for key, value in changes.items():
            bad[key] = value
        path = tmp_path / f"{name}.nnlite"
        _rewrite(valid, path, {"config.json": json.dumps(bad).encode()})
        return path
    layer_spec = config["model"]["config"]["layers"][0]
    evil_model = json.loads(json.dumps(config["model"]))
    evil_model["config"]["layers"][0] = {"class_name": "os.system", "config": {}}
    wrong_shape = json.loads(json.dumps(config["weights"]))
    wrong_shape[0]["shape"] = [7, 7]
    for path in (variant("version", format_version=99), variant("kind", kind="other"),
                 variant("shape", weights=wrong_shape), variant("extra_key", surprise=1),
                 variant("missing", weights=config["weights"][:-1])):
        _assert_rejected(path)
    for path in (variant("unknown_layer", model=evil_model),
                 variant("rng", rng={"bit_generator": "MT"})):
        _assert_rejected(path, weights=False)
    assert layer_spec["class_name"] == "Dense"
    # an unexpected member and a wrong dtype
    extra = tmp_path / "extra.nnlite"
    _rewrite(valid, extra, {})
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("run_me.py", b"print('hi')")
    _assert_rejected(extra)
    ints = tmp_path / "ints.nnlite"
    _rewrite(valid, ints, {"arrays/00000.npy": _npy_bytes(np.zeros((2, 3), np.int64))})
    _assert_rejected(ints)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        nnlite.load_model(tmp_path / "nope.nnlite")


_SAVER = """
import sys, numpy as np, nnlite
from nnlite.layers import Dense
model = nnlite.Sequential([Dense(512, input_dim=512), Dense(512)], seed=1)
model.build()
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def test_save_killed_midway_leaves_the_old_file(tmp_path):
    path = tmp_path / "m.nnlite"
    old = nnlite.Sequential([Dense(512, input_dim=512), Dense(512)], seed=0)
    old.save(path)
    new = nnlite.Sequential([Dense(512, input_dim=512), Dense(512)], seed=1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE,
                            env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 30
        while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the saver never wrote a temporary file"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    loaded = nnlite.load_model(path)  # whole: the old model or a complete new one
    assert _equal(loaded.get_weights(), old.get_weights()) or \
        _equal(loaded.get_weights(), new.get_weights())


class MyDense(Dense):
    """A user layer: loadable only when the caller registers it."""


def test_custom_objects_must_be_registered_by_the_caller(tmp_path):
    model = nnlite.Sequential([MyDense(3, input_dim=2), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    model.save(tmp_path / "c")
    with pytest.raises(FormatError, match="MyDense"):
        nnlite.load_model(tmp_path / "c")
    loaded = nnlite.load_model(tmp_path / "c", custom_objects={"MyDense": MyDense})
    assert type(loaded.layers[0]) is MyDense
    assert _equal(loaded.get_weights(), model.get_weights())


def test_multi_output_graph_model_keeps_losses_and_weights(tmp_path):
    inp = nnlite.Input(shape=(3,))
    h = Dense(6, activation="tanh")(inp)
    a = Dense(1, name="reg")(h)
    b = Dense(2, activation="softmax", name="cls")(h)
    model = nnlite.Model(inp, [a, b], seed=0)
    model.compile("adam", ["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 2.0])
    rng = np.random.default_rng(0)
    x, y1, y2 = rng.standard_normal((20, 3)), rng.standard_normal(20), rng.integers(0, 2, 20)
    model.fit(x, [y1, y2], epochs=2, batch_size=5, verbose=0)
    model.save(tmp_path / "mo")
    loaded = nnlite.load_model(tmp_path / "mo")
    assert loaded._loss_weights == [0.5, 2.0]
    assert loaded.evaluate(x, [y1, y2]) == model.evaluate(x, [y1, y2])
    assert (loaded.fit(x, [y1, y2], epochs=1, batch_size=5, verbose=0).history ==
            model.fit(x, [y1, y2], epochs=1, batch_size=5, verbose=0).history)


def test_config_cannot_make_the_loader_allocate_beyond_the_file(tmp_path):
    import tracemalloc
    valid = _valid_file(tmp_path)
    config = json.loads(zipfile.ZipFile(valid).read("config.json"))
    config["model"]["config"]["layers"][0]["config"]["units"] = 2 ** 22  # 64 MiB of kernel
    path = tmp_path / "greedy.nnlite"
    _rewrite(valid, path, {"config.json": json.dumps(config).encode()})
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"weight 'kernel' of shape \(2, 4194304\) needs "
                                              r"33554432 bytes, more than the \d+ bytes allowed"):
            nnlite.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2 ** 20, f"peak {peak} bytes for a {path.stat().st_size}-byte file"


def test_graph_model_config_cannot_allocate_beyond_the_file(tmp_path):
    # graph models build their weights at construction: the cap must reach them too
    import tracemalloc
    x = nnlite.Input(shape=(2,))
    model = nnlite.Model(x, Dense(1)(Dense(3, activation="relu")(x)), seed=0)
    model.compile("sgd", "mse")
    valid = tmp_path / "graph.nnlite"
    model.save(valid)
    config = json.loads(zipfile.ZipFile(valid).read("config.json"))
    head = [e for e in config["model"]["config"]["layers"] if "units" in e["config"]][-1]
    head["config"]["units"] = 2 ** 22  # 48 MiB of kernel in a file of a few KiB
    path = tmp_path / "greedy_graph.nnlite"
    _rewrite(valid, path, {"config.json": json.dumps(config).encode()})
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="more than the \\d+ bytes allowed"):
            nnlite.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20
    assert nnlite.load_model(valid).count_params() == model.count_params()
