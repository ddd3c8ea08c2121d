"""W8 of benchmarks/speed.py (benchmarks/vit.py): its columns — nnlite, the PyTorch export and
the network rewritten in jax.numpy — do the same work: one epoch from the same weights on the same
batches gives the same mean loss.  No time is looked at."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vit  # noqa: E402
from _harness import Context, load_data  # noqa: E402


def _optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def test_w8_columns_compute_the_same_epoch():
    x, y = load_data(192)
    torch, jax = _optional("torch"), _optional("jax")
    wl = vit.build(Context(x, y, quick=True, seed=0, threads=1, torch=torch, jax=jax))
    assert wl.key == "W8" and wl.steps == 3 and wl.samples == 192
    values = {}
    for name, runner in wl.runners.items():
        runner.reset()
        values[name] = runner.run()
    assert {"nnlite"} <= set(values) and (torch is None or "torch" in values)
    assert (jax is None) or {"jax jit-step", "jax scan"} <= set(values)
    assert 1.0 < values["nnlite"] < 3.5                  # log 10 = 2.3: one short epoch
    for name, value in values.items():
        np.testing.assert_allclose(value, values["nnlite"], rtol=1e-4, err_msg=name)
    # and it trains: a second epoch from where the first ended has a lower loss
    assert wl.runners["nnlite"].run() < values["nnlite"]


def test_w8_is_registered_in_the_speed_harness():
    import speed

    assert "vit" in speed.WORKLOAD_MODULES and "W8" in speed.workload_specs()
    if _optional("torch") is None:
        pytest.skip("torch not installed: only the registration is checked")
