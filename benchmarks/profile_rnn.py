"""Where a step of the recurrent workloads (W7, W9g, W9s of ``speed.py``) spends its time.

    python benchmarks/profile_rnn.py W7               # CPU time, one BLAS thread, 60 steps
    python benchmarks/profile_rnn.py W9g --threads 2 --wall

The char-RNN of ``rnn.py`` trains for ``--steps`` steps twice: once with a timer around each
layer's ``forward``/``backward``, the loss, the optimizer step and the batch gather (µs per
step, exclusive), once counting the NumPy calls made through the ``np`` namespace inside each
(``profile_step.Probe``; the counting wrappers slow NumPy's own Python code, so the two runs
are separate).  The recurrent layer's calls are also given per time step.  CPU time by default
(``time.process_time``: steadier on a shared machine; one thread only measures what it means).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from profile_step import Probe  # noqa: E402
from rnn import BATCH, T, corpus_windows, nnlite_char_rnn  # noqa: E402

import nnlite.training.loop  # noqa: E402

KINDS = {"W7": "LSTM", "W9g": "GRU", "W9s": "SimpleRNN"}


def instrument(model, probe):
    for i, layer in enumerate(model.layers):
        for attr in ("forward", "backward"):
            probe.wrap(layer, attr, f"{i} {type(layer).__name__}.{attr}")
    loss = model._train_loss
    probe.wrap(loss, "_forward", "loss forward")
    probe.wrap(loss, "_backward", "loss backward")
    probe.wrap(model.optimizer, "step", "optimizer step")
    probe.wrap(nnlite.training.loop._Batches, "__call__", "batch gather")


def profile(key, steps, threads, clock):
    size, x, y = corpus_windows()
    x, y = x[:steps * BATCH].copy(), y[:steps * BATCH].copy()
    fit = dict(epochs=1, batch_size=BATCH, verbose=0, seed=0)
    with threadpool_limits(limits=threads):
        model = nnlite_char_rnn(KINDS[key], size)
        model.fit(x[:10 * BATCH], y[:10 * BATCH], **fit)              # warm
        t0 = clock()
        model.fit(x, y, **fit)
        plain = clock() - t0
        Probe.clock = staticmethod(clock)
        timer = Probe()
        instrument(model, timer)
        t0 = clock()
        model.fit(x, y, **fit)
        wall = clock() - t0
        counter = Probe()
        counted = nnlite_char_rnn(KINDS[key], size)
        instrument(counted, counter)
        counter.count_numpy()
        counted.fit(x, y, **fit)
    return plain, wall, timer, counter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(KINDS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.wall else time.process_time
    plain, wall, timer, counter = profile(args.workload, args.steps, args.threads, clock)
    steps = timer.calls["optimizer step"]
    print(f"{args.workload} ({KINDS[args.workload]}): {steps} steps, {args.threads} thread(s), "
          f"{'wall' if args.wall else 'CPU'} time: {plain / steps * 1e3:.2f} ms/step plain, "
          f"{wall / steps * 1e3:.2f} instrumented")
    print(f"| component | µs/step | share | NumPy calls/step | per time step (T = {T}) |")
    print("|---|---:|---:|---:|---:|")
    for label in sorted(timer.time, key=timer.time.get, reverse=True):
        calls = counter.numpy[label] / steps
        per_t = f"{calls / T:.1f}" if KINDS[args.workload] in label else ""
        print(f"| {label} | {timer.time[label] / steps * 1e6:,.0f} | "
              f"{timer.time[label] / wall:.1%} | {calls:.0f} | {per_t} |")
    rest = wall - sum(timer.time.values())
    print(f"| rest of fit | {rest / steps * 1e6:,.0f} | {rest / wall:.1%} | | |")


if __name__ == "__main__":
    main()
