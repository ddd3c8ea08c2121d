"""Where one epoch of nnlite's fit spends its time, per component and per step.

    python benchmarks/profile_step.py W1            # one epoch of W1, 2 threads
    python benchmarks/profile_step.py W6 --threads 1 --cprofile

Each layer's ``forward``/``backward``, the loss, the optimizer step and the batch gather are
wrapped with timers (µs per step) and with a counter of the NumPy calls made through the ``np``
namespace while they run (functions and ufuncs such as ``np.matmul``, ``np.maximum``;
in-place operators such as ``z += b`` dispatch to ufuncs without that lookup and are *not*
counted, nor are array methods).  "rest of fit" is the epoch's wall time minus the wrapped
parts: the loop, callbacks, checks.  The wrappers cost ~1 µs each, so the instrumented epoch is
a little slower than the plain one (both are printed).  ``--cprofile`` prints cProfile's top
functions instead.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _harness import load_data  # noqa: E402

import nnlite.training.loop  # noqa: E402


def make(key, x, y):
    """``(model, x, y, fit_kwargs)`` of a workload's nnlite column."""
    from cnn import nnlite_cnn
    from mlp import nnlite_mlp
    if key == "W1":
        return nnlite_mlp([256, 256], "relu"), x, y, {"batch_size": 128}
    if key in ("W2r", "W2s"):
        return (nnlite_mlp([64] * 20, "relu" if key == "W2r" else "sigmoid"), x, y,
                {"batch_size": 32})
    if key == "W3":
        model = nnlite.Sequential([nnlite.layers.Dense(1, input_dim=784)], seed=0)
        model.compile(loss="logistic", optimizer=nnlite.optimizers.GD(learning_rate=0.05))
        return model, x, np.where(y == 0, 1.0, -1.0).astype(np.float32), \
            {"batch_size": "full", "epochs": 200}
    if key == "W6":
        return nnlite_cnn(0), x.reshape(-1, 1, 28, 28), y, {"batch_size": 64}
    raise SystemExit(f"unknown workload {key!r}: W1, W2r, W2s, W3, W6")


class Probe:
    clock = time.perf_counter

    def __init__(self):
        self.time = defaultdict(float)
        self.calls = defaultdict(int)
        self.numpy = defaultdict(int)
        self.stack = []

    def wrap(self, owner, attr, label):
        original = getattr(owner, attr)
        probe = self

        def timed(*args, **kwargs):
            probe.stack.append(label)
            t0 = probe.clock()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = probe.clock() - t0
                probe.stack.pop()
                probe.time[label] += elapsed
                probe.calls[label] += 1
                if probe.stack:  # report exclusive times: take it off the caller's
                    probe.time[probe.stack[-1]] -= elapsed
        setattr(owner, attr, timed)

    def count_numpy(self):
        probe = self

        class Counted:
            """A NumPy callable that counts its calls (and, for ufuncs, its methods')."""

            def __init__(self, fn):
                self._fn = fn

            def __call__(self, *args, **kwargs):
                if probe.stack:
                    probe.numpy[probe.stack[-1]] += 1
                return self._fn(*args, **kwargs)

            def __getattr__(self, attr):
                value = getattr(self._fn, attr)
                return Counted(value) if callable(value) else value

        for name in dir(np):
            fn = getattr(np, name)
            if isinstance(fn, np.ufunc) or (callable(fn) and type(fn).__name__ in (
                    "function", "builtin_function_or_method", "_ArrayFunctionDispatcher")):
                setattr(np, name, Counted(fn))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--cpu", action="store_true",
                        help="time with process_time (CPU time: steadier on a busy machine, "
                        "one thread)")
    args = parser.parse_args(argv)
    if args.cpu:
        Probe.clock = time.process_time
    clock = Probe.clock
    x, y = load_data()
    model, x, y, kwargs = make(args.workload, x, y)
    epochs = kwargs.pop("epochs", 1)
    with threadpool_limits(limits=args.threads):
        model.fit(x[:512], y[:512], epochs=1, verbose=0, seed=0, **kwargs)  # warm
        t0 = clock()
        model.fit(x, y, epochs=epochs, verbose=0, seed=0, **kwargs)
        plain = clock() - t0
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.runcall(model.fit, x, y, epochs=epochs, verbose=0, seed=0, **kwargs)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        probe = Probe()
        for i, layer in enumerate(model.layers):
            name = f"{i} {type(layer).__name__}"
            for attr in ("forward", "backward"):
                probe.wrap(layer, attr, f"{name}.{attr}")
        loss = model._train_loss
        probe.wrap(loss, "_forward", "loss forward")
        probe.wrap(loss, "_backward", "loss backward")
        probe.wrap(model.optimizer, "step", "optimizer step")
        probe.wrap(nnlite.training.loop._Batches, "__call__", "batch gather")
        probe.count_numpy()
        t0 = clock()
        model.fit(x, y, epochs=epochs, verbose=0, seed=0, **kwargs)
        wall = clock() - t0
    steps = probe.calls["optimizer step"]
    rest = wall - sum(probe.time.values())
    print(f"{args.workload}: {steps} steps; epoch {plain * 1e3:.1f} ms plain, "
          f"{wall * 1e3:.1f} ms instrumented ({plain / steps * 1e6:.0f} µs/step plain)")
    print(f"{'component':28s} {'µs/step':>9s} {'share':>6s} {'np calls/step':>14s}")
    for label in sorted(probe.time, key=probe.time.get, reverse=True):
        print(f"{label:28s} {probe.time[label] / steps * 1e6:9.1f} "
              f"{probe.time[label] / wall:6.1%} {probe.numpy[label] / steps:14.1f}")
    print(f"{'rest of fit':28s} {rest / steps * 1e6:9.1f} {rest / wall:6.1%}")


if __name__ == "__main__":
    main()
