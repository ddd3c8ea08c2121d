"""The character language model of examples/char_lm.py against its PyTorch twin.

    python benchmarks/char_lm_vs_torch.py                       # nnlite for 5 minutes, then PyTorch
    python benchmarks/char_lm_vs_torch.py --minutes 0.2 --out /tmp/char_lm.json      # a quick check

1. nnlite trains ``examples/char_lm.py``'s model (Embedding 32 → LSTM 128 → Dense, Adam 2e-3,
   clipnorm 5, batch 32, T = 64) for ``--minutes`` of wall time (one BLAS thread), recording the
   validation bits per character on the first 1,000 validation windows every 500 steps, and
   on all validation windows at the end.
2. PyTorch trains the same model — the same initial weights through ``nnlite.export.to_torch``
   (``nn.Embedding``, ``nn.LSTM``, ``nn.Linear`` on logits, ``F.cross_entropy``,
   ``clip_grad_norm_``, ``torch.optim.Adam``) — on the same batches in the same order for the
   same number of steps, evaluated at the same steps on the same windows.

Both curves, the step count, the times and the machine go to ``benchmarks/results/char_lm.json``
and a table to ``benchmarks/results/char_lm.md``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE))

import char_lm  # noqa: E402
from rnn import LR, fit_order, torch_steps, torch_twin  # noqa: E402


def torch_bpc(torch, modules, x, y, vocab, batch=512):
    F = torch.nn.functional
    emb, lstm, linear = modules
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out, _ = lstm(emb(x[s:s + batch]))
            total += float(F.cross_entropy(linear(out).reshape(-1, vocab),
                                           y[s:s + batch].reshape(-1), reduction="sum"))
    return total / y.numel() / math.log(2)


def run_torch(torch, model_init, data, steps, every, vocab_size, seed, probe_windows):
    (x, y), (xv, yv) = data
    modules = torch_twin(torch, model_init)
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)

    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    xvt, yvt = torch.from_numpy(xv.astype(np.int64)), torch.from_numpy(yv.astype(np.int64))
    order = [torch.from_numpy(i) for i in fit_order(len(x), steps, seed)]
    curve, start, done = [], time.perf_counter(), 0
    while done < steps:
        chunk = order[done:done + every]
        torch_steps(torch, modules, opt, xt, yt, chunk, vocab_size)
        done += len(chunk)
        if done % every == 0:
            bpc = torch_bpc(torch, modules, xvt[:probe_windows], yvt[:probe_windows],
                            vocab_size)
            curve.append((done, time.perf_counter() - start, bpc))
            print(f"torch  step {done:6d}  {curve[-1][1]:6.1f} s  validation {bpc:.3f} bpc",
                  flush=True)
    seconds = time.perf_counter() - start
    return curve, seconds, torch_bpc(torch, modules, xvt, yvt, vocab_size)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "char_lm.json"))
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load_before = os.getloadavg()
    vocab, train_windows, val_windows = char_lm.load_data()
    data = (train_windows, val_windows)
    probe = 1000
    with threadpool_limits(args.threads):
        model = char_lm.build(len(vocab), args.seed)
        model.build()
        init = char_lm.build(len(vocab), args.seed)
        init.build()
        init.set_weights(model.get_weights())
        budget = char_lm.train(model, data, None, args.minutes * 60, args.seed, args.every,
                               probe)
        nn_seconds = time.perf_counter() - budget.start
        nn_bpc = char_lm.bits_per_char(model, *val_windows)
        steps = budget.steps
        print(f"nnlite: {steps} steps in {nn_seconds:.1f} s, validation {nn_bpc:.4f} bpc")
        curve, t_seconds, t_bpc = run_torch(torch, init, data, steps, args.every, len(vocab),
                                            args.seed, probe)
    print(f"torch:  {steps} steps in {t_seconds:.1f} s, validation {t_bpc:.4f} bpc")
    print(f"difference (nnlite - torch): {nn_bpc - t_bpc:+.4f} bpc")
    sample = char_lm.sample(model, vocab, temperature=0.7, seed=args.seed)
    result = {
        "minutes": args.minutes, "steps": steps, "batch": char_lm.BATCH, "T": char_lm.STEPS,
        "vocabulary": len(vocab), "nnlite": {"seconds": nn_seconds, "val_bpc": nn_bpc,
                                             "curve": budget.curve},
        "torch": {"seconds": t_seconds, "val_bpc": t_bpc, "curve": curve},
        "difference_bpc": nn_bpc - t_bpc, "sample": sample, "threads": args.threads,
        "load_before": load_before, "load_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(), "numpy": np.__version__,
        "torch_version": torch.__version__, "cpus": os.cpu_count()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    lines = ["| step | nnlite s | nnlite bpc (1,000 windows) | PyTorch s | PyTorch bpc |",
             "|---:|---:|---:|---:|---:|"]
    for (s, a, b), (_, c, d) in zip(budget.curve, curve):
        lines.append(f"| {s} | {a:.0f} | {b:.3f} | {c:.0f} | {d:.3f} |")
    lines.append(f"| **{steps} (all {len(val_windows[0]):,} windows)** | {nn_seconds:.0f} | "
                 f"**{nn_bpc:.3f}** | {t_seconds:.0f} | **{t_bpc:.3f}** |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("--- nnlite sample, temperature 0.7 ---")
    print(sample)


if __name__ == "__main__":
    main()
