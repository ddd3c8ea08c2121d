"""Speed of nnlite against a hand-written NumPy loop, PyTorch eager and scikit-learn, on the CPU.

    python benchmarks/speed.py                 # all workloads, 7 repetitions each
    python benchmarks/speed.py --only W1,W3 --reps 11 --threads 2
    python benchmarks/speed.py --quick         # tiny run (the smoke test uses it)

Method (so the numbers mean something on a shared machine):

* one process; repetitions are interleaved (A B C A B C ...), one warm-up round is discarded,
  the median and the minimum of the rest are reported;
* every thread pool is pinned to the same count: NumPy's BLAS through threadpoolctl, PyTorch
  through ``torch.set_num_threads``;
* float32 everywhere (W5: float64), the same initial weights (copied from the nnlite model) and
  the same batch order: nnlite's ``fit(seed=S)`` draws ``default_rng(S).permutation(n)`` once per
  epoch, and the NumPy and PyTorch loops draw exactly that order.  scikit-learn shuffles inside
  ``fit`` with its own generator (``random_state``), so its order differs (same batch size);
* weights are reset before every timed call, outside the timer.

Columns: seconds (median, min), samples/s, µs per optimizer step (per predict batch for W4),
GFLOP/s counted as 6·params·samples for training and 2·params·samples for predict, that as a
share of this machine's float32 matmul peak (a 2048³ sgemm timed in the same run), and the ratio
to the NumPy loop.  A memory check runs W1 fits of 1 and 20 epochs in fresh subprocesses and
compares their peak RSS (VmHWM).  Results go to ``benchmarks/results/speed.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import nnlite  # noqa: E402
from nnlite import optimizers  # noqa: E402
from nnlite.layers import Dense  # noqa: E402

from _numpy_reference import NumpyMLP, numpy_logistic_gd  # noqa: E402
from cnn import DESCRIPTION as CNN_DESCRIPTION, cnn_workload  # noqa: E402

torch = sklearn = ConvergenceWarning = MLPClassifier = None  # optional columns, see _import_optional


def _import_optional():
    """Import PyTorch and scikit-learn if installed (not in the memory subprocesses, whose peak
    RSS should be nnlite's alone)."""
    global torch, sklearn, ConvergenceWarning, MLPClassifier
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import sklearn
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        sklearn = None

SEED = 0
LR = 0.05
WORKLOADS = {
    "W1": "MLP 784-256-256-10 ReLU, softmax CE, SGD lr 0.05, batch 128, 1 epoch",
    "W2r": "20 hidden layers of width 64, ReLU, batch 32, 1 epoch",
    "W2s": "20 hidden layers of width 64, sigmoid, batch 32, 1 epoch",
    "W3": "logistic regression (0 vs rest, ±1), full-batch GD, 200 iterations",
    "W4": "predict with the W1 model, batch 1,000",
    "W5": "W1 in float64",
    "W6": CNN_DESCRIPTION,
}


# ------------------------------------------------------------------------------ data
def load_data(n=None):
    """All 10,000 shipped MNIST images (train + test halves of the built-in split), float32."""
    (x_tr, y_tr), (x_te, y_te) = nnlite.datasets.load_builtin_mnist()
    x = np.ascontiguousarray(np.concatenate([x_tr, x_te]), dtype=np.float32)
    y = np.concatenate([y_tr, y_te]).astype(np.int64)
    if n is not None:
        x, y = x[:n].copy(), y[:n].copy()
    return x, y


# ------------------------------------------------------------------------------ models
def nnlite_mlp(widths, activation, dtype="float32", n_in=784):
    layers = [Dense(widths[0], activation=activation, input_dim=n_in)]
    layers += [Dense(w, activation=activation) for w in widths[1:]]
    layers.append(Dense(10, activation="softmax"))
    model = nnlite.Sequential(layers, seed=SEED, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=optimizers.MiniBatchSGD(learning_rate=LR))
    model.build((n_in,))
    return model


def pairs(weights):
    return list(zip(weights[0::2], weights[1::2]))


def torch_mlp(weights, activation, dtype):
    mods = []
    for i, (w, b) in enumerate(weights):
        lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=dtype)
        mods.append(lin)
        if i < len(weights) - 1:
            mods.append(torch.nn.ReLU() if activation == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*mods)


def torch_load(net, weights):
    with torch.no_grad():
        lins = [m for m in net if isinstance(m, torch.nn.Linear)]
        for lin, (w, b) in zip(lins, weights):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            lin.bias.copy_(torch.from_numpy(b))


def torch_train_epoch(net, opt, xt, yt, batch, seed, epochs=1):
    n = xt.shape[0]
    rng = np.random.default_rng(seed)
    lossf = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        losses.append(total / n)
    return losses


def sk_mlp(hidden, activation, batch, max_iter=1):
    return MLPClassifier(hidden_layer_sizes=hidden, activation=activation, solver="sgd",
                         learning_rate_init=LR, learning_rate="constant", momentum=0.0,
                         nesterovs_momentum=False, alpha=0.0, batch_size=batch,
                         max_iter=max_iter, shuffle=True, random_state=SEED, tol=0.0,
                         n_iter_no_change=max_iter + 1, early_stopping=False)


# ------------------------------------------------------------------------------ workloads
class Workload:
    """Builds the runners of one workload; each runner is ``reset()`` then ``run()`` (timed)."""

    def __init__(self, key, samples, steps, params, flops_per_param_sample=6):
        self.key, self.samples, self.steps, self.params = key, samples, steps, params
        self.flops = flops_per_param_sample * params * samples
        self.runners = {}  # name -> (reset, run)


def mlp_workload(key, x, y, widths, activation, batch, dtype):
    model = nnlite_mlp(widths, activation, dtype)
    init = model.get_weights()
    xd = x.astype(dtype)
    n = xd.shape[0]
    wl = Workload(key, n, -(-n // batch), model.count_params())

    def nn_reset():
        model.set_weights(init)

    def nn_run():
        model.fit(xd, y, epochs=1, batch_size=batch, shuffle=True, verbose=0, seed=SEED)

    wl.runners["nnlite"] = (nn_reset, nn_run)

    ref = {}

    def np_reset():
        ref["m"] = NumpyMLP(pairs(init), activation)

    def np_run():
        ref["m"].fit(xd, y, 1, batch, LR, SEED)

    wl.runners["numpy"] = (np_reset, np_run)

    if torch is not None:
        tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
        net = torch_mlp(pairs(init), activation, tdtype)
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.0)
        xt, yt = torch.from_numpy(xd), torch.from_numpy(y)
        wl.runners["torch"] = (lambda: torch_load(net, pairs(init)),
                               lambda: torch_train_epoch(net, opt, xt, yt, batch, SEED))
    if sklearn is not None:
        sk_act = "relu" if activation == "relu" else "logistic"

        def sk_run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                sk_mlp(tuple(widths), sk_act, batch).fit(xd, y)

        wl.runners["sklearn"] = (lambda: None, sk_run)
    return wl


def logistic_workload(x, y, iterations):
    y_pm = np.where(y == 0, 1.0, -1.0).astype(np.float32)
    model = nnlite.Sequential([Dense(1, input_dim=x.shape[1])], seed=SEED)
    model.compile(loss="logistic", optimizer=optimizers.GD(learning_rate=LR))
    model.build((x.shape[1],))
    init = model.get_weights()
    n = x.shape[0]
    wl = Workload("W3", n * iterations, iterations, model.count_params())
    wl.runners["nnlite"] = (
        lambda: model.set_weights(init),
        lambda: model.fit(x, y_pm, epochs=iterations, batch_size="full", verbose=0, seed=SEED))
    y_col = y_pm.reshape(-1, 1)
    wl.runners["numpy"] = (lambda: None,
                           lambda: numpy_logistic_gd(x, y_col, init[0], init[1], iterations, LR))
    if torch is not None:
        lin = torch.nn.Linear(x.shape[1], 1)
        opt = torch.optim.SGD(lin.parameters(), lr=LR)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y_col)

        def t_reset():
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(init[0].T)))
                lin.bias.copy_(torch.from_numpy(init[1]))

        def t_run():
            for _ in range(iterations):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.softplus(-yt * lin(xt)).mean()
                loss.backward()
                opt.step()
                loss.item()

        wl.runners["torch"] = (t_reset, t_run)
    if sklearn is not None:
        y01 = (y == 0).astype(np.int64)

        def sk_run():  # no hidden layer: logistic regression, full batch, one step per epoch
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                sk_mlp((), "relu", n, max_iter=iterations).fit(x, y01)

        wl.runners["sklearn"] = (lambda: None, sk_run)
    return wl


def predict_workload(x, batch):
    model = nnlite_mlp([256, 256], "relu")
    init = model.get_weights()
    n = x.shape[0]
    wl = Workload("W4", n, -(-n // batch), model.count_params(), flops_per_param_sample=2)
    wl.runners["nnlite"] = (lambda: None, lambda: model.predict(x, batch_size=batch))
    ref = NumpyMLP(pairs(init), "relu")
    wl.runners["numpy"] = (lambda: None, lambda: ref.predict(x, batch))
    if torch is not None:
        net = torch_mlp(pairs(init), "relu", torch.float32)
        torch_load(net, pairs(init))
        xt = torch.from_numpy(x)

        def t_run():
            with torch.inference_mode():
                return torch.cat([torch.softmax(net(xt[s:s + batch]), dim=1)
                                  for s in range(0, n, batch)])

        wl.runners["torch"] = (lambda: None, t_run)
    if sklearn is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = sk_mlp((256, 256), "relu", 128).fit(x[:256], np.arange(256) % 10)
        sk.coefs_ = [w.copy() for w in init[0::2]]
        sk.intercepts_ = [b.copy() for b in init[1::2]]

        def sk_run():  # sklearn predicts in one pass (its batching is internal)
            return sk.predict_proba(x)

        wl.runners["sklearn"] = (lambda: None, sk_run)
    return wl


def build_workloads(keys, x, y, quick):
    n_iter = 5 if quick else 200
    makers = {
        "W1": lambda: mlp_workload("W1", x, y, [256, 256], "relu", 128, "float32"),
        "W2r": lambda: mlp_workload("W2r", x, y, [64] * 20, "relu", 32, "float32"),
        "W2s": lambda: mlp_workload("W2s", x, y, [64] * 20, "sigmoid", 32, "float32"),
        "W3": lambda: logistic_workload(x, y, n_iter),
        "W4": lambda: predict_workload(x, 1000),
        "W5": lambda: mlp_workload("W5", x, y, [256, 256], "relu", 128, "float64"),
        "W6": lambda: cnn_workload(Workload, x, y, torch, SEED, torch_train_epoch),
    }
    return [makers[k]() for k in keys]


# ------------------------------------------------------------------------------ timing
def time_interleaved(workload, reps, warmup=1):
    times = {name: [] for name in workload.runners}
    for rep in range(warmup + reps):
        for name, (reset, run) in workload.runners.items():
            reset()
            t0 = time.perf_counter()
            run()
            elapsed = time.perf_counter() - t0
            if rep >= warmup:
                times[name].append(elapsed)
    return times


def matmul_peak(size=2048, reps=5):
    """Best float32 GFLOP/s of a size³ matmul (2·size³ flops) with the current thread limits."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b = a.T.copy()
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(reps))
    return 2 * size ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------ memory
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(epochs, n):
    """Run in a fresh process (no torch/sklearn imported): RSS after the imports, before the fit
    (data and model in memory), and the peak RSS during a W1 fit of ``epochs`` epochs."""
    rss_imports = _status_kib("VmRSS")
    x, y = load_data(n)
    model = nnlite_mlp([256, 256], "relu")
    model.fit(x[:256], y[:256], epochs=1, batch_size=128, verbose=0, seed=SEED)  # warm code
    rss_before = _status_kib("VmRSS")
    reset = _reset_peak_rss()
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, seed=SEED)
    print(json.dumps({"epochs": epochs, "rss_imports_kib": rss_imports,
                      "rss_before_fit_kib": rss_before, "peak_fit_kib": _status_kib("VmHWM"),
                      "rss_after_fit_kib": _status_kib("VmRSS"), "peak_was_reset": reset}))


def memory_check(threads, quick):
    """Peak RSS of W1 fits of 1 and 20 epochs (quick: 1 and 2 on 1,000 images), each in a
    fresh process, against data + parameters + activations of one batch."""
    n = 1000 if quick else None
    results = []
    for epochs in ((1, 2) if quick else (1, 20)):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(epochs),
               "--threads", str(threads)] + (["--quick"] if quick else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    n_samples = n or 10_000
    batch = 128
    params = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    widths = 256 + 256 + 10
    # data (x float32 + y int64); parameters, their gradients and the SGD scratch (one flat
    # buffer each); per layer the output, dz and dx buffers of one batch, plus the gathered batch
    estimate = {
        "data_bytes": n_samples * (784 * 4 + 8),
        "params_grads_scratch_bytes": 3 * params * 4,
        "one_batch_activations_bytes": batch * (3 * widths + 784) * 4 + batch * 8,
    }
    short, long = results
    return {
        "runs": results,
        "growth_long_vs_short_kib": long["peak_fit_kib"] - short["peak_fit_kib"],
        "estimate": estimate,
        "estimate_total_kib": sum(estimate.values()) // 1024,
    }


# ------------------------------------------------------------------------------ report
def machine_facts(threads, argv):
    blas = [{k: info.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                      "num_threads", "filepath")}
            for info in threadpool_info()]
    return {
        "command": " ".join([Path(sys.executable).name, *argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "threads": threads,
        "cpu": _cpu_name(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch else None,
        "sklearn": sklearn.__version__ if sklearn else None,
        "nnlite": nnlite.__version__,
        "blas": blas,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def summarize(workload, times, peak):
    rows = []
    base = statistics.median(times["numpy"]) if "numpy" in times else None
    torch_base = statistics.median(times["torch"]) if "torch" in times else None
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        gflops = workload.flops / med / 1e9
        rows.append({
            "workload": workload.key, "framework": name, "median_s": med, "min_s": best,
            "reps": len(ts), "samples_per_s": workload.samples / med,
            "us_per_step": med / workload.steps * 1e6, "gflops": gflops,
            "peak_share": gflops / peak, "ratio_to_numpy": med / base if base else None,
            "ratio_to_torch": med / torch_base if torch_base else None,
            "times_s": ts,
        })
    return rows


def markdown(rows, facts, peak, memory):
    lines = [
        f"command: `{facts['command']}`  ",
        f"date: {facts['date_utc']}; load average (1, 5, 15 min) at start: "
        f"{', '.join(f'{v:.2f}' for v in facts['load_average'])}, after the timings: "
        f"{', '.join(f'{v:.2f}' for v in facts.get('load_average_end', []))}  ",
        f"machine: {facts['cores']} cores ({facts['cpu']}), {facts['threads']} threads for every "
        f"framework  ",
        "BLAS: " + "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, "
                             f"{b['num_threads']} threads)" for b in facts["blas"]) + "  ",
        f"OPENBLAS_CORETYPE={facts['env']['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={facts['env']['OPENBLAS_L2_SIZE']}  ",
        f"python {facts['python']}, numpy {facts['numpy']}, torch {facts['torch']}, "
        f"scikit-learn {facts['sklearn']}, nnlite {facts['nnlite']}  ",
        f"float32 matmul peak (2048³ sgemm, best of 5, before and after the timings): "
        f"{peak:.1f} GFLOP/s",
        "",
        "| workload | framework | median s | min s | samples/s | µs/step | GFLOP/s | % peak "
        "| × NumPy | × PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['ratio_to_numpy']:.3f}" if r["ratio_to_numpy"] else "–"
        ratio_torch = f"{r['ratio_to_torch']:.3f}" if r.get("ratio_to_torch") else "–"
        lines.append(f"| {r['workload']} | {r['framework']} | {r['median_s']:.4f} | "
                     f"{r['min_s']:.4f} | {r['samples_per_s']:,.0f} | {r['us_per_step']:,.1f} | "
                     f"{r['gflops']:.1f} | {100 * r['peak_share']:.1f} | {ratio} | "
                     f"{ratio_torch} |")
    lines += ["", "Workloads: " + "; ".join(f"{k}: {v}" for k, v in WORKLOADS.items()
                                           if any(r["workload"] == k for r in rows))]
    if memory:
        e = memory["estimate"]
        s, l = memory["runs"]
        mib = 1 / 1024
        lines += [
            "",
            "| memory (W1 fit, fresh process without torch/sklearn) | RSS |",
            "|---|---:|",
            f"| after imports (Python, NumPy, SciPy, nnlite) | {s['rss_imports_kib'] * mib:.1f} MiB |",
            f"| before fit (+ data, model) | {s['rss_before_fit_kib'] * mib:.1f} MiB |",
            *(f"| peak during a {r['epochs']}-epoch fit{'' if r['peak_was_reset'] else ' (VmHWM not reset: includes loading)'} | "
              f"{r['peak_fit_kib'] * mib:.1f} MiB "
              f"(+{(r['peak_fit_kib'] - r['rss_before_fit_kib']) * mib:.1f} MiB over before fit) |"
              for r in (s, l)),
            f"| growth of the peak, {s['epochs']} → {l['epochs']} epochs | "
            f"{memory['growth_long_vs_short_kib'] * mib:+.1f} MiB |",
            f"| peak − imports, measured | {(l['peak_fit_kib'] - l['rss_imports_kib']) * mib:.1f} MiB |",
            f"| estimate: data {e['data_bytes'] / 2**20:.1f} MiB + params/grads/scratch "
            f"{e['params_grads_scratch_bytes'] / 2**20:.1f} MiB + one batch's activations "
            f"{e['one_batch_activations_bytes'] / 2**20:.2f} MiB | "
            f"{memory['estimate_total_kib'] * mib:.1f} MiB |",
        ]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 1,000 images, 1 repetition, 5 GD iterations")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every framework")
    parser.add_argument("--only", default=None,
                        help="comma-separated workloads (W1,W2,W2r,W2s,W3,W4,W5,W6)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--out", default=str(HERE / "results" / "speed.json"))
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    keys = list(WORKLOADS)
    if args.only:
        keys = []
        for k in args.only.split(","):
            k = k.strip()
            expanded = ["W2r", "W2s"] if k == "W2" else [k]
            for e in expanded:
                if e not in WORKLOADS:
                    parser.error(f"--only: unknown workload {k!r}; valid: W1, W2, "
                                 f"{', '.join(WORKLOADS)}")
                keys.append(e)
    reps = args.reps if args.reps is not None else (1 if args.quick else 7)

    if args.memory_child is not None:
        with threadpool_limits(limits=args.threads):
            memory_child(args.memory_child, 1000 if args.quick else None)
        return None
    _import_optional()
    with threadpool_limits(limits=args.threads):
        if torch is not None:
            torch.set_num_threads(args.threads)
        facts = machine_facts(args.threads, ["benchmarks/speed.py", *argv])
        size, tries = (512, 2) if args.quick else (2048, 5)
        peaks = [matmul_peak(size, tries)]
        x, y = load_data(1000 if args.quick else None)
        timed = []
        for workload in build_workloads(keys, x, y, args.quick):
            timed.append((workload, time_interleaved(workload, reps)))
            print(f"  done {workload.key}", file=sys.stderr, flush=True)
        # the peak is timed before and after the workloads; the better one counts (a busy
        # machine only ever makes it lower)
        peaks.append(matmul_peak(size, tries))
        peak = max(peaks)
        facts["load_average_end"] = list(os.getloadavg())
        rows = [row for workload, times in timed for row in summarize(workload, times, peak)]
        memory = None if args.no_memory else memory_check(args.threads, args.quick)
    table = markdown(rows, facts, peak, memory)
    print(table)
    result = {"facts": facts, "matmul_peak_gflops": peak, "rows": rows, "memory": memory,
              "table_markdown": table}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
