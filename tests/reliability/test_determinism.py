"""Determinism: the same seed gives bit-identical weights and losses, in one process and across
processes; different seeds give different weights.

The run covers every source of randomness in training: weight initialisation, the shuffled batch
order and Dropout masks (a model with Dropout, Adam, minibatches of 16 over 64 examples)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .helpers import blobs, fingerprint, losses_hex, small_model

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from tests.reliability.test_determinism import run
print(json.dumps(run({seed})))
"""


def run(seed: int, epochs: int = 3) -> dict:
    """Train a fresh model with ``seed``; the sha256 of its weights and its losses in hex."""
    x, y = blobs(64, seed=123)
    model = small_model(seed=seed)
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    weights = b"".join(w.tobytes() for w in model.get_weights())
    import hashlib
    return {"weights": hashlib.sha256(weights).hexdigest(), "losses": losses_hex(history),
            "state": fingerprint(model),
            "predictions": hashlib.sha256(model.predict(x).tobytes()).hexdigest()}


def _in_subprocess(seed: int) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=str(1000 + seed))  # a different hash seed per process
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT), seed=seed)],
                         capture_output=True, text=True, check=True, env=env, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_seed_same_bits_in_process(scale, record):
    repeats = scale(3, 10)
    runs = [run(7) for _ in range(repeats)]
    assert all(r == runs[0] for r in runs)
    assert len(runs[0]["losses"]) == 3
    record("determinism", in_process_runs=repeats,
           in_process_identical=sum(r == runs[0] for r in runs))


def test_same_seed_same_bits_across_processes(scale, record):
    here = run(7)
    procs = scale(2, 4)
    others = [_in_subprocess(7) for _ in range(procs)]
    for other in others:
        assert other == here
    record("determinism", subprocess_runs=procs,
           subprocess_identical=sum(o == here for o in others))


def test_different_seeds_differ(scale, record):
    seeds = list(range(scale(4, 16)))
    results = [run(s, epochs=1) for s in seeds]
    weights = {r["weights"] for r in results}
    losses = {tuple(r["losses"]) for r in results}
    assert len(weights) == len(seeds)
    assert len(losses) == len(seeds)
    record("determinism", distinct_seeds=len(seeds), distinct_weight_hashes=len(weights))


def test_fit_seed_fixes_batch_order_only():
    """fit(seed=...) fixes the batch order: same model seed + same fit seed → same bits;
    another fit seed → another trajectory from the same initial weights."""
    x, y = blobs(64, seed=5)
    a, b, c = (small_model(seed=1, dropout=False) for _ in range(3))
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), c.get_weights()))
    ha = a.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=11)
    hb = b.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=11)
    hc = c.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=12)
    assert losses_hex(ha) == losses_hex(hb)
    assert losses_hex(ha) != losses_hex(hc)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
