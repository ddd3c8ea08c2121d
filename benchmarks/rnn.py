"""The char-LSTM training workload: nnlite against PyTorch's ``nn.LSTM`` (eager), interleaved.

    python benchmarks/rnn.py                  # 40 steps per repetition, 5 repetitions + warm-up
    python benchmarks/rnn.py --steps 10 --reps 2 --out /tmp/rnn.json    # quick

The network is the one of ``examples/char_lm.py``: Embedding(97, 32) → LSTM(128,
return_sequences=True) → Dense(97, softmax), sparse categorical cross-entropy over every step,
Adam (lr 2e-3, clipnorm 5 over all gradients), batch 32 windows of T = 64 characters of the
stdlib corpus.  PyTorch gets the same initial weights (``nnlite.export.to_torch``: its
``nn.Embedding``, ``nn.LSTM`` and ``nn.Linear``, trained on logits with ``F.cross_entropy``
and ``clip_grad_norm_``) and the same batches in the same order.  One BLAS/torch thread by
default: the per-step products are (32, 128) x (128, 512), too small to share.

Interface for ``benchmarks/speed.py`` (as ``benchmarks/cnn.py``): ``rnn_workload(Workload, torch,
seed, steps)`` returns a workload with "nnlite" and (when torch is given) "torch" runners, each a
``(reset, run)`` pair; ``run`` trains ``steps`` optimizer steps from the reset weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))

import char_lm  # noqa: E402

import nnlite  # noqa: E402

DESCRIPTION = ("char-LSTM Embedding(97, 32)-LSTM(128)-Dense(97) softmax CE over every step, "
               "Adam lr 2e-3 clipnorm 5, batch 32 windows of 64 characters")
BATCH, LR, CLIP = char_lm.BATCH, 2e-3, 5.0


def torch_twin(torch, model):
    """(embedding, lstm, linear) torch modules holding ``model``'s current weights."""
    from nnlite.export import to_torch

    net = to_torch(model)          # Embedding wrapper, recurrent wrapper, Linear + Softmax
    lstm = net[1].rnn
    # Keras has one LSTM bias where PyTorch adds b_ih + b_hh: to_torch puts it in b_ih and
    # zeros in b_hh; b_hh stays frozen at 0, or Adam would move the sum twice as fast (both
    # get the same gradient) and clip_grad_norm_ would count that gradient twice
    lstm.bias_hh_l0.requires_grad_(False)
    return net[0].table, lstm, net[2][0]


def torch_steps(torch, modules, opt, x, y, order, vocab):
    """Adam steps on the batches ``order`` (index arrays) of (x, y); returns the last loss."""
    F = torch.nn.functional
    emb, lstm, linear = modules
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    loss = None
    for idx in order:
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(emb(x[idx]))
        loss = F.cross_entropy(linear(out).reshape(-1, vocab), y[idx].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
    return float(loss.detach())


def fit_order(n, steps, seed, batch=BATCH):
    """The batch index arrays of ``Model.fit(..., batch_size=batch, seed=seed)``: a fresh
    ``default_rng(seed).permutation(n)`` every epoch, cut into batches (the last one short)."""
    rng = np.random.default_rng(seed)
    order = []
    while len(order) < steps:
        perm = rng.permutation(n)
        order.extend(perm[s:s + batch] for s in range(0, n, batch))
    return order[:steps]


class Workload:
    """A stand-in for ``benchmarks/speed.py``'s Workload when run alone."""

    def __init__(self, key, samples, steps, params, flops_per_param_sample=6):
        self.key, self.samples, self.steps, self.params = key, samples, steps, params
        self.flops = flops_per_param_sample * params * samples
        self.runners = {}


def rnn_workload(workload_cls, torch, seed=0, steps=40, key="W7"):
    """The workload: ``steps`` training steps of the char-LSTM per run."""
    vocab, (x, y), _ = char_lm.load_data(verbose=False)
    x, y = x[:steps * BATCH], y[:steps * BATCH]
    model = char_lm.build(len(vocab), seed)
    model.build()
    init = model.get_weights()
    n, size = x.shape[0], len(vocab)
    wl = workload_cls(key, n, steps, model.count_params())
    # multiply-adds per character: input and recurrent products of 4 gates, the output layer
    macs = char_lm.EMBED * 4 * char_lm.UNITS + char_lm.UNITS * 4 * char_lm.UNITS \
        + char_lm.UNITS * size
    wl.flops = 6 * macs * n * x.shape[1]

    def nn_reset():
        model.set_weights(init)
        model.optimizer = nnlite.optimizers.Adam(learning_rate=LR, clipnorm=CLIP)

    def nn_run():
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0, seed=seed)

    wl.runners["nnlite"] = (nn_reset, nn_run)
    if torch is not None:
        xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
        order = [torch.from_numpy(i) for i in fit_order(n, steps, seed)]
        state = {}

        def t_reset():
            model.set_weights(init)
            state["modules"] = torch_twin(torch, model)
            params = [p for m in state["modules"] for p in m.parameters() if p.requires_grad]
            state["opt"] = torch.optim.Adam(params, lr=LR)

        def t_run():
            torch_steps(torch, state["modules"], state["opt"], xt, yt, order, size)

        wl.runners["torch"] = (t_reset, t_run)
    return wl


def _time(workload, reps, warmup=1):
    times = {name: [] for name in workload.runners}
    for rep in range(warmup + reps):
        for name, (reset, run) in workload.runners.items():
            reset()
            start = time.perf_counter()
            run()
            if rep >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "rnn.json"))
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    from threadpoolctl import threadpool_limits

    load_before = os.getloadavg()
    with threadpool_limits(args.threads):
        wl = rnn_workload(Workload, torch, seed=0, steps=args.steps)
        times = _time(wl, args.reps)
    load_after = os.getloadavg()
    rows = []
    for name, ts in times.items():
        median = float(np.median(ts))
        rows.append({"framework": name, "median_s": median, "min_s": float(min(ts)),
                     "ms_per_step": 1000 * median / args.steps,
                     "gflops": wl.flops / median / 1e9})
    base = next((r["median_s"] for r in rows if r["framework"] == "torch"), None)
    print(f"{DESCRIPTION}; {args.steps} steps, {args.reps} repetitions, {args.threads} thread(s); "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print("| framework | median s | min s | ms/step | GFLOP/s | × PyTorch |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        r["ratio_to_torch"] = r["median_s"] / base if base else None
        ratio = f"{r['ratio_to_torch']:.2f}" if base else "–"
        print(f"| {r['framework']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
              f"{r['ms_per_step']:.1f} | {r['gflops']:.1f} | {ratio} |")
    result = {"workload": DESCRIPTION, "steps": args.steps, "reps": args.reps,
              "threads": args.threads, "rows": rows, "times": times,
              "load_before": load_before, "load_after": load_after,
              "python": platform.python_version(), "numpy": np.__version__,
              "torch": getattr(torch, "__version__", None),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
