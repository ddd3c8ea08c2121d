"""Crash safety of ``model.save``: a save killed at a random moment (SIGKILL of a child process
that saves in a loop) never leaves a corrupt target and never loses the previous good file;
clean exits, failed saves and interrupted saves leave no temporary files behind."""
from __future__ import annotations

import hashlib
import os
import signal
import sys
import time

import numpy as np
import pytest

import nnlite
from nnlite.layers import Dense

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _model(seed):
    model = nnlite.Sequential([Dense(192, activation="relu", input_dim=64),
                               Dense(192, activation="relu"), Dense(4)], seed=seed)
    model.compile(loss="mse", optimizer="adam")
    x = np.random.default_rng(seed).normal(size=(32, 64))
    model.fit(x, np.zeros((32, 4)), epochs=1, batch_size=8, verbose=0)
    return model


def _digest(model, x):
    return hashlib.sha256(model.predict(x).tobytes()).hexdigest()


def _temp_files(directory, target):
    return [n for n in os.listdir(directory) if n != os.path.basename(target)]


def _child_saves(models, target, rounds):
    """In a forked child: save the models alternately, then exit without cleanup handlers.
    Stops as soon as the test process is gone (it is the one that should kill us)."""
    parent = os.getppid()
    try:
        for i in range(rounds):
            if os.getppid() != parent:
                break
            models[i % len(models)].save(target)
    finally:
        os._exit(0)


def test_sigkill_during_save_never_corrupts(tmp_path, scale, record):
    x = np.random.default_rng(0).normal(size=(8, 64))
    a, b = _model(1), _model(2)
    good = {_digest(a, x), _digest(b, x)}
    target = str(tmp_path / "model.nnlite")
    a.save(target)
    start = time.perf_counter()
    a.save(target)
    save_seconds = time.perf_counter() - start
    rng = np.random.default_rng(11)
    trials = scale(50, 500)
    killed_mid_run = leftover = 0
    for _ in range(trials):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child_saves([b, a], target, rounds=10_000)
        time.sleep(float(rng.uniform(0.0, 4.0)) * save_seconds)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            killed_mid_run += 1
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        loaded = nnlite.load_model(target)  # raises FormatError if the target were corrupt
        assert _digest(loaded, x) in good
        extra = _temp_files(tmp_path, target)
        leftover += len(extra)
        for name in extra:  # a SIGKILL cannot clean up; the next trial starts clean
            os.unlink(tmp_path / name)
    assert killed_mid_run >= trials * 0.9
    record("crash_safety", sigkill_trials=trials, killed_while_saving=killed_mid_run,
           corrupt_targets=0, lost_targets=0, temp_files_left_by_sigkill=leftover,
           save_ms=round(1000 * save_seconds, 2))


def test_clean_exit_leaves_no_temp_files(tmp_path, record):
    model = _model(3)
    target = str(tmp_path / "model.nnlite")
    pid = os.fork()
    if pid == 0:
        _child_saves([model], target, rounds=20)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert _temp_files(tmp_path, target) == []
    for _ in range(10):
        model.save(target)
        model.save_weights(target + ".weights")
    assert sorted(os.listdir(tmp_path)) == ["model.nnlite", "model.nnlite.weights"]
    record("crash_safety", clean_exit_temp_files=0)


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch, error):
    """An error (or Ctrl-C) in the middle of writing the arrays: the old file is intact and the
    temporary file is gone."""
    x = np.random.default_rng(0).normal(size=(8, 64))
    old, new = _model(4), _model(5)
    target = str(tmp_path / "model.nnlite")
    old.save(target)
    before = open(target, "rb").read()
    calls = {"n": 0}
    real = np.lib.format.write_array

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(type(error)):
        new.save(target)
    monkeypatch.undo()
    assert calls["n"] == 3
    assert open(target, "rb").read() == before
    assert _temp_files(tmp_path, target) == []
    assert _digest(nnlite.load_model(target), x) == _digest(old, x)
