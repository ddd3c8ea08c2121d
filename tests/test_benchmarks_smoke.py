"""The speed benchmark runs, and its hand-written NumPy loops compute what nnlite computes.

Values only: the NumPy reference must give the same per-epoch losses and final weights as nnlite's
``fit`` for the same initial weights and batch order (so the benchmark compares equal work).
No test here looks at a time.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlite
from nnlite import optimizers
from nnlite.layers import Dense

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _numpy_reference import NumpyMLP, numpy_logistic_gd  # noqa: E402


def _data(n=300, features=20, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = rng.integers(0, classes, n)
    return x, y


def _mlp(widths, activation, dtype, features=20):
    layers = [Dense(widths[0], activation=activation, input_dim=features)]
    layers += [Dense(w, activation=activation) for w in widths[1:]]
    layers.append(Dense(10, activation="softmax"))
    model = nnlite.Sequential(layers, seed=1, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=optimizers.MiniBatchSGD(learning_rate=0.1))
    model.build((features,))
    return model


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_numpy_mlp_loop_matches_nnlite_float64(activation):
    x, y = _data()
    model = _mlp([16, 12], activation, "float64")
    init = model.get_weights()
    ref = NumpyMLP(list(zip(init[0::2], init[1::2])), activation)
    # batch 32 does not divide 300: the short last batch is covered too
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0, seed=7)
    losses = ref.fit(x, y, 3, 32, 0.1, 7)
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-10)
    assert losses[-1] < losses[0]  # it trained (the comparison is not between two no-ops)
    for got, want in zip(ref.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_numpy_mlp_loop_matches_nnlite_float32():
    x, y = _data()
    x = x.astype(np.float32)
    model = _mlp([32], "relu", "float32")
    init = model.get_weights()
    ref = NumpyMLP(list(zip(init[0::2], init[1::2])), "relu")
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, seed=3)
    losses = ref.fit(x, y, 2, 64, 0.1, 3)
    assert ref.dtype == np.float32
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-4)
    for got, want in zip(ref.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def test_numpy_predict_matches_nnlite():
    x, _ = _data(n=250)
    model = _mlp([16, 16], "relu", "float64")
    init = model.get_weights()
    ref = NumpyMLP(list(zip(init[0::2], init[1::2])), "relu")
    want = model.predict(x, batch_size=100)
    got = ref.predict(x, 100)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def test_numpy_logistic_gd_matches_nnlite():
    x, digits = _data(n=200, features=8)
    y = np.where(digits == 0, 1.0, -1.0)
    model = nnlite.Sequential([Dense(1, input_dim=8)], seed=2, dtype="float64")
    model.compile(loss="logistic", optimizer=optimizers.GD(learning_rate=0.5))
    model.build((8,))
    w0, b0 = model.get_weights()
    history = model.fit(x, y, epochs=25, batch_size="full", verbose=0)
    losses, (w, b) = numpy_logistic_gd(x, y.reshape(-1, 1), w0, b0, 25, 0.5)
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-12)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(w, model.get_weights()[0], rtol=1e-10)
    np.testing.assert_allclose(b, model.get_weights()[1], rtol=1e-10)


def test_speed_script_quick_mode_writes_table_and_json(tmp_path):
    out = tmp_path / "speed.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--threads", "1",
         "--only", "W1,W2s,W3,W4", "--skip", "sklearn", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {r["workload"] for r in rows} == {"W1", "W2s", "W3", "W4"}
    for key in ("W1", "W2s", "W3", "W4"):
        frameworks = {r["framework"] for r in rows if r["workload"] == key}
        assert {"nnlite", "numpy", "numpy (A/A)"} <= frameworks
        numpy_row = next(r for r in rows if r["workload"] == key and r["framework"] == "numpy")
        assert numpy_row["ratio_to_numpy"] == 1.0
    for r in rows:
        assert r["median_s"] > 0 and r["min_s"] <= r["median_s"]
        assert r["gflops"] > 0 and r["samples_per_s"] > 0
    checks = result["checks"]
    # every column did the same work as nnlite: same losses (same weights, same batches)
    # and the same predictions, within the workload's tolerance
    compared = {(c["workload"], c["framework"]) for c in checks["values"]}
    assert {("W1", "numpy"), ("W3", "numpy"), ("W4", "numpy")} <= compared
    assert all(c["ok"] for c in checks["values"]), checks["values"]
    try:
        import jax  # noqa: F401
        assert ("W1", "jax jit-step") in compared and ("W1", "jax scan") in compared
    except ImportError:
        pass
    assert {c["workload"] for c in checks["aa"]} == {"W1", "W2s", "W3", "W4"}
    assert "A/A control W1: numpy (A/A) ÷ numpy" in proc.stdout
    facts = result["facts"]
    assert facts["threads"] == 1 and facts["numpy"] == np.__version__
    assert checks["threads"]["ok"] and set(checks["threads"]["counts"]) == {1}
    assert "| W1 | nnlite |" in proc.stdout and "× NumPy" in proc.stdout
    [memory] = checks["memory"]  # W1 is the only selected workload with a memory case
    assert memory["workload"] == "W1" and [r["epochs"] for r in memory["runs"]] == [1, 2]
    for run in memory["runs"]:
        assert run["peak_fit_kib"] >= run["rss_before_fit_kib"] > run["rss_base_kib"] > 0
    assert memory["ok"], memory
    assert "growth of the peak" in proc.stdout and "All checks passed." in proc.stdout


def test_report_flags_an_unfair_run():
    from _report import markdown
    from speed import aa_checks

    def row(name, seconds):
        return {"workload": "W1", "framework": name, "median_s": seconds, "min_s": seconds,
                "samples_per_s": 1.0, "us_per_step": 1.0, "gflops": 1.0, "peak_share": 0.1,
                "ratio_to_numpy": None, "ratio_to_torch": None, "ratio_to_jax_step": None,
                "value": 1.0}

    rows = [row("numpy", 1.0), row("numpy (A/A)", 1.08)]
    [aa] = aa_checks(rows)
    assert aa["ratio"] == pytest.approx(1.08) and not aa["ok"]
    facts = {"load_average": [0.0] * 3, "blas": [], "torch": None, "jax": None, "cores": 2,
             "cpu": "cpu", "threads": 2, "reps": 7, "warmup": 1, "settle_s": 0.25,
             "env": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}, "python": "3",
             "numpy": "2", "sklearn": None, "nnlite": "0", "command": "c", "date_utc": "d"}
    checks = {"aa": [aa], "values": [], "memory": [], "aa_enforced": True, "reps_ok": True,
              "threads": {"counts": [2], "ok": True}}
    specs = {"W1": type("Spec", (), {"description": "W1"})}
    text, failures = markdown(rows, facts, 100.0, checks, specs)
    assert len(failures) == 1 and "CHECK FAILED: A/A control W1 = 1.080" in text
    checks["aa"] = aa_checks([row("numpy", 1.0), row("numpy (A/A)", 1.02)])
    text, failures = markdown(rows, facts, 100.0, checks, specs)
    assert failures == [] and "All checks passed." in text
    # equal medians, both far above their minima: a disturbed run, not a fair one
    noisy = [dict(row("numpy", 1.0), min_s=0.5), dict(row("numpy (A/A)", 1.0), min_s=0.5)]
    [aa] = aa_checks(noisy)
    assert aa["ratio"] == 1.0 and aa["spread"] == 2.0 and not aa["ok"]


def test_speed_script_rejects_unknown_workload():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--only", "W99"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert "unknown workload 'W99'" in proc.stderr
