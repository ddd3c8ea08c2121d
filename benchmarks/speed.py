"""Speed of nnlite against a hand-written NumPy loop, PyTorch eager, JAX and scikit-learn (CPU).

    python benchmarks/speed.py                 # every workload, 7 repetitions each
    python benchmarks/speed.py --only W1,W6 --reps 11 --threads 2
    python benchmarks/speed.py --quick         # tiny run (tests/test_benchmarks_smoke.py)

Adding a workload (the whole interface)
---------------------------------------
Write a module next to this file (``cnn.py`` is the example) that defines::

    WORKLOADS = [WorkloadSpec("W7", "char-LSTM H128 B32 T64, ...", build, memory=w7_memory)]

and add its name to ``WORKLOAD_MODULES`` below.  ``build(ctx)`` gets a ``_harness.Context``
(MNIST as ``ctx.x`` (n, 784) float32 / ``ctx.y`` int64, ``ctx.quick``, ``ctx.seed``, and
``ctx.torch`` / ``ctx.jax`` / ``ctx.sklearn``, each None when not installed or skipped) and
returns a ``_harness.Workload(key, samples, steps, flops)`` with its columns added by
``wl.add(name, run, reset=None, comparable=True)``: ``reset()`` runs untimed before every
repetition (restore the initial weights), ``run()`` is timed and returns the last epoch's mean
loss (or the predictions) so the harness can check that the columns did the same work.  Name the
columns "nnlite", "numpy" (a hand-written loop, if any), "torch", "jax jit-step", "jax scan",
"sklearn"; ``_peers.py`` has the PyTorch loop and builds both JAX columns from a pure loss.
``memory(quick)`` (optional) returns a ``_harness.MemoryCase`` whose fit the memory check
measures in a fresh process (data loaded without the peers imported).

Method (so the numbers mean something on a shared machine)
----------------------------------------------------------
* one process; repetitions interleaved (every column once per round, the order rotated by one
  each round), one warm-up round discarded (JAX compiles there), median and minimum of the rest;
* every repetition starts from a quiet machine: ``reset()``, then ``gc.collect()``, then a pause
  (``--settle``, default 0.25 s) so no column inherits another's spinning OpenBLAS/OpenMP worker
  threads; the garbage collector is off inside the timer;
* every pool pinned to ``--threads``: NumPy's and SciPy's OpenBLAS (and any OpenMP runtime)
  through threadpoolctl, PyTorch through ``set_num_threads``/``set_num_interop_threads``, JAX by
  ``XLA_FLAGS`` set before it is imported (one thread, or XLA's default pool when ``--threads``
  is the core count; other counts cannot be set for XLA and are reported as such);
* an A/A control column per workload: the NumPy loop (nnlite where there is none) timed again as
  a second column.  Its ratio must lie in 0.95–1.05 and both columns' medians within 1.25× their
  minima (two equally disturbed columns agree with each other), else the run is unusable: the
  script prints ``CHECK FAILED`` and exits with status 3 (``--quick`` reports it without
  failing: one repetition of a tiny run says nothing about fairness);
* the same initial weights and the same batch order everywhere (nnlite's ``fit(seed=S)`` draws
  ``default_rng(S).permutation(n)`` per epoch, and the loops draw exactly that): the columns'
  losses must agree (``value_rtol`` of the workload), else ``CHECK FAILED`` too.  scikit-learn
  shuffles with its own generator and is left out of that check;
* memory, for workloads with a ``MemoryCase`` (W1, W6): fits of 1 and 20 epochs (``--quick``: 1
  and 2 on 1,000 images) in fresh processes; the peak RSS during the fit (VmHWM, reset just before
  it) over the process's RSS after a warm-up fit (glibc's mmap threshold fixed at 64 KiB, so
  freed blocks leave RSS at once) must stay ≤ data + parameters (with gradients
  and optimizer state) + 3 × one batch's activations, and must not grow from 1 to 20 epochs
  (≤ 1 MiB).

Results go to ``benchmarks/results/speed.json`` (every timing) and stdout (markdown).
"""
from __future__ import annotations

import os
import sys


def _pin_environment(argv):
    """Thread counts for pools created at import time (OpenBLAS, OpenMP, XLA), before NumPy is
    imported; threadpoolctl and torch's setters re-pin at run time."""
    threads = "2"
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            threads = argv[i + 1]
        elif arg.startswith("--threads="):
            threads = arg.split("=", 1)[1]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if threads == "1":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


if __name__ == "__main__":
    _pin_environment(sys.argv[1:])

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _harness import Context, load_data  # noqa: E402
from _report import markdown  # noqa: E402

import nnlite  # noqa: E402

#: the workload modules, in table order; each defines WORKLOADS (see the docstring)
WORKLOAD_MODULES = ("mlp", "cnn", "rnn", "vit")
SEED = 0
AA_BOUNDS = (0.95, 1.05)
#: the A/A control also fails when its columns' medians are more than this over their minima: two
#: equally disturbed columns agree with each other although neither measured the code
AA_MAX_SPREAD = 1.25
GROWTH_LIMIT_KIB = 1024


def workload_specs():
    specs = {}
    for name in WORKLOAD_MODULES:
        for spec in importlib.import_module(name).WORKLOADS:
            specs[spec.key] = spec
    return specs


# ------------------------------------------------------------------------------ peers
def import_peers(threads, skip):
    """PyTorch, JAX and scikit-learn where installed and not skipped, pinned to ``threads``."""
    peers = {"torch": None, "jax": None, "sklearn": None}
    if "torch" not in skip:
        try:
            import torch
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(threads)
            peers["torch"] = torch
        except ImportError:
            pass
    if "jax" not in skip:
        try:
            import jax
            jax.config.update("jax_platforms", "cpu")
            peers["jax"] = jax
        except ImportError:
            pass
    if "sklearn" not in skip:
        try:
            import sklearn
            peers["sklearn"] = sklearn
        except ImportError:
            pass
    return peers


# ------------------------------------------------------------------------------ timing
def add_control(workload):
    """The A/A column: the NumPy loop (or nnlite where there is none) as a second column."""
    control = "numpy" if "numpy" in workload.runners else "nnlite"
    workload.runners[f"{control} (A/A)"] = workload.runners[control]
    return control


def time_interleaved(workload, reps, warmup, settle):
    """``{column: [seconds, ...]}`` and ``{column: value}`` (of the last repetition)."""
    names = list(workload.runners)
    times = {name: [] for name in names}
    values = {}
    for rnd in range(warmup + reps):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            runner = workload.runners[name]
            runner.reset()
            gc.collect()
            time.sleep(settle)
            gc.disable()
            try:
                t0 = time.perf_counter()
                value = runner.run()
                elapsed = time.perf_counter() - t0
            finally:
                gc.enable()
            if rnd >= warmup:
                times[name].append(elapsed)
            values[name] = value
    return times, {k: _as_value(v) for k, v in values.items()}


def _as_value(value):
    """A number to compare columns by: the loss itself, or for predictions the mean of each
    row's largest probability."""
    if value is None:
        return None
    a = np.asarray(value, dtype=np.float64)
    return float(a) if a.ndim == 0 else float(np.mean(np.max(a, axis=-1)))


def matmul_peak(size=2048, reps=5):
    """Best float32 GFLOP/s of a size³ matmul (2·size³ flops) with the current thread limits."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b = a.T.copy()
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * size ** 3 / best / 1e9


# ------------------------------------------------------------------------------ checks
def summarize(workload, times, values, peak):
    rows = []
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        gflops = workload.flops / med[name] / 1e9
        rows.append({
            "workload": workload.key, "framework": name, "median_s": med[name],
            "min_s": min(ts), "reps": len(ts), "samples_per_s": workload.samples / med[name],
            "us_per_step": med[name] / workload.steps * 1e6, "gflops": gflops,
            "peak_share": gflops / peak,
            "ratio_to_numpy": med[name] / med["numpy"] if "numpy" in med else None,
            "ratio_to_torch": med[name] / med["torch"] if "torch" in med else None,
            "ratio_to_jax_step": med[name] / med["jax jit-step"] if "jax jit-step" in med
            else None,
            "value": values.get(name), "times_s": ts,
        })
    return rows


def aa_checks(rows, bounds=AA_BOUNDS, max_spread=AA_MAX_SPREAD):
    """One entry per workload: the A/A column's median over its control's, and the larger of the
    two columns' median/min spreads."""
    checks = []
    by_key = {(r["workload"], r["framework"]): r for r in rows}
    for r in rows:
        if r["framework"].endswith(" (A/A)"):
            control = by_key[(r["workload"], r["framework"][:-len(" (A/A)")])]
            ratio = r["median_s"] / control["median_s"]
            spread = max(c["median_s"] / c["min_s"] for c in (r, control))
            checks.append({"workload": r["workload"], "columns": f"{r['framework']} ÷ "
                           f"{control['framework']}", "ratio": ratio, "spread": spread,
                           "ok": bounds[0] <= ratio <= bounds[1] and spread <= max_spread})
    return checks


def value_checks(workloads, rows):
    """The comparable columns' values against nnlite's, within the workload's tolerance."""
    checks = []
    for wl in workloads:
        ref = next(r["value"] for r in rows if r["workload"] == wl.key
                   and r["framework"] == "nnlite")
        for r in rows:
            runner = wl.runners.get(r["framework"])
            if r["workload"] != wl.key or runner is None or not runner.comparable \
                    or r["value"] is None or ref is None:
                continue
            rel = abs(r["value"] - ref) / max(abs(ref), 1e-30)
            checks.append({"workload": wl.key, "framework": r["framework"],
                           "value": r["value"], "nnlite": ref, "rel_diff": rel,
                           "ok": rel <= wl.value_rtol})
    return checks


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


def memory_child(key, epochs, quick):
    """In a fresh process without the peers: warm the code with a 300-image fit of the same
    model (a short last batch included), then measure the peak RSS of the real fit and what the
    bound counts."""
    from _harness import activation_bytes

    case = workload_specs()[key].memory(quick)
    model, x, y, kwargs = case.make(300)
    model.fit(x, y, epochs=1, verbose=0, **kwargs)
    del model, x, y
    gc.collect()
    rss_base = _status_kib("VmRSS")
    model, x, y, kwargs = case.make(1000 if quick else None)
    rss_before = _status_kib("VmRSS")
    reset = _reset_peak_rss()
    model.fit(x, y, epochs=epochs, verbose=0, **kwargs)
    peak = _status_kib("VmHWM")
    opt = model.optimizer
    param_bytes = (model._flat_params.nbytes + model._flat_grads.nbytes
                   + sum(a.nbytes for a in opt._state.values())
                   + (opt._scratch.nbytes if opt._scratch is not None else 0))
    print(json.dumps({
        "workload": key, "epochs": epochs, "rss_base_kib": rss_base,
        "rss_before_fit_kib": rss_before, "peak_fit_kib": peak,
        "rss_after_fit_kib": _status_kib("VmRSS"), "peak_was_reset": reset,
        "data_bytes": x.nbytes + y.nbytes, "param_bytes": param_bytes,
        "activation_bytes": activation_bytes(model, kwargs["batch_size"])}))


def memory_check(key, threads, quick):
    runs = []
    for epochs in ((1, 2) if quick else (1, 20)):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", key,
               "--epochs", str(epochs), "--threads", str(threads)] + (["--quick"] if quick
                                                                     else [])
        # glibc's mmap threshold fixed at 64 KiB: a freed large block goes back to the OS at
        # once, so RSS shows what is live (the default threshold grows after the first free
        # and leaves freed loader buffers in the heap, counted as if they were held)
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             env=env).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    short, long = runs
    bound_kib = (short["data_bytes"] + short["param_bytes"]
                 + 3 * short["activation_bytes"]) / 1024
    used = [r["peak_fit_kib"] - r["rss_base_kib"] for r in runs]
    growth = long["peak_fit_kib"] - short["peak_fit_kib"]
    return {"workload": key, "runs": runs, "bound_kib": bound_kib, "used_kib": used,
            "growth_kib": growth, "peak_was_reset": all(r["peak_was_reset"] for r in runs),
            "ok": all(r["peak_was_reset"] for r in runs) and max(used) <= bound_kib
            and growth <= GROWTH_LIMIT_KIB}


# ------------------------------------------------------------------------------ report
def machine_facts(args, argv, peers):
    blas = [{k: info.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                      "num_threads", "filepath")} for info in threadpool_info()]
    torch, jax = peers["torch"], peers["jax"]
    return {
        "command": " ".join([Path(sys.executable).name, "benchmarks/speed.py", *argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(), "threads": args.threads, "cpu": _cpu_name(),
        "load_average": list(os.getloadavg()), "python": platform.python_version(),
        "numpy": np.__version__, "nnlite": nnlite.__version__, "blas": blas,
        "torch": torch.__version__ if torch else None,
        "torch_threads": [torch.get_num_threads(), torch.get_num_interop_threads()]
        if torch else None,
        "jax": jax.__version__ if jax else None,
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "sklearn": peers["sklearn"].__version__ if peers["sklearn"] else None,
        "settle_s": args.settle, "reps": args.reps, "warmup": 1,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                               "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
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


def thread_check(facts):
    """Every pool at the pinned count (XLA's pool is checked by its flags only)."""
    counts = [b["num_threads"] for b in facts["blas"]] + (facts["torch_threads"] or [])
    return {"counts": counts, "ok": all(c == facts["threads"] for c in counts)}


def parse_args(argv, specs):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 1,000 images, 1 repetition, 5 GD iterations")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every framework")
    parser.add_argument("--settle", type=float, default=None,
                        help="pause in seconds before every timed repetition (default 0.25; "
                             "--quick 0.02)")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated workloads ({', '.join(['W2', *specs])})")
    parser.add_argument("--skip", default="", help="peers to leave out: torch,jax,sklearn")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--out", default=str(HERE / "results" / "speed.json"))
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    keys = list(specs)
    if args.only:
        keys = []
        for k in (k.strip() for k in args.only.split(",")):
            expanded = [s for s in specs if s.startswith("W2") and len(s) == 3] \
                if k == "W2" else [k]
            for e in expanded:
                if e not in specs:
                    parser.error(f"--only: unknown workload {k!r}; valid: W2, "
                                 f"{', '.join(specs)}")
                keys.append(e)
    args.keys = keys
    if args.reps is None:
        args.reps = 1 if args.quick else 7
    if args.settle is None:
        args.settle = 0.02 if args.quick else 0.25
    return args


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    specs = workload_specs()
    args = parse_args(argv, specs)
    if args.memory_child is not None:
        with threadpool_limits(limits=args.threads):
            memory_child(args.memory_child, args.epochs, args.quick)
        return 0
    peers = import_peers(args.threads, {s.strip() for s in args.skip.split(",")})
    with threadpool_limits(limits=args.threads):
        facts = machine_facts(args, argv, peers)
        size, tries = (512, 2) if args.quick else (2048, 5)
        peaks = [matmul_peak(size, tries)]
        x, y = load_data(1000 if args.quick else None)
        ctx = Context(x, y, args.quick, SEED, args.threads, **peers)
        timed = []
        for key in args.keys:
            workload = specs[key].build(ctx)
            add_control(workload)
            timed.append((workload, *time_interleaved(workload, args.reps, 1, args.settle)))
            print(f"  done {key}", file=sys.stderr, flush=True)
        # the peak is timed before and after the workloads; the better one counts (a busy
        # machine only ever makes it lower)
        peaks.append(matmul_peak(size, tries))
        facts["load_average_end"] = list(os.getloadavg())
        peak = max(peaks)
        rows = [r for wl, times, values in timed for r in summarize(wl, times, values, peak)]
        memory = [] if args.no_memory else [memory_check(k, args.threads, args.quick)
                                            for k in args.keys if specs[k].memory]
    checks = {"aa": aa_checks(rows), "values": value_checks([t[0] for t in timed], rows),
              "memory": memory, "threads": thread_check(facts),
              "aa_enforced": not args.quick, "reps_ok": args.reps >= 7}
    table, failures = markdown(rows, facts, peak, checks, specs)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"facts": facts, "matmul_peak_gflops": peak, "rows": rows,
                               "checks": checks, "failures": failures,
                               "table_markdown": table}, indent=1))
    return 3 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
