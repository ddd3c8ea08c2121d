"""Data-parallel scaling of W1 (MLP 784-256-256-10 ReLU, softmax cross-entropy, minibatch SGD
lr 0.05, float32, the 10,000 built-in MNIST images) with ``nnlite.distributed.DataParallel``.

    python benchmarks/scaling.py                 # measure 1 and 2 ranks, fit the model, print
    python benchmarks/scaling.py --quick --reps 1 --rounds 1   # a smoke run

Measured on this machine (each configuration a fresh process or mpiexec job, a warm-up epoch,
then ``--reps`` timed epochs, median; per epoch the slowest rank's wall time; the
configurations interleaved over ``--rounds`` rounds and the median round kept):

* plain ``model.fit`` in one process, 2 and 1 BLAS threads (the W1 baseline);
* ``DataParallel`` with 1 rank (the hook's cost) and 2 ranks of 1 thread each (the machine's
  2 cores), at a per-rank batch of 64 (global 128: the same steps as W1) and of 128 (global
  256: per-rank work as W1);
* the same 2-rank run with OpenMPI's ``mpi_yield_when_idle=1`` (a rank waiting in a
  collective yields its core instead of spinning: what a machine shared with other jobs needs);
* the time inside the gradient Allreduce (``DataParallel.collective.seconds``, including any
  wait for the slower rank) and an Allreduce of the 1.08 MB gradient buffer alone (the fastest
  of 40 is this machine's shared-memory transport, its latency α and bandwidth β).

Beyond 2 ranks it prints a **model**, not a measurement: a step on N ranks costs the measured
compute time of one rank's batch plus a ring Allreduce of S = 4·P bytes (P = 269,322
parameters), t_ar(N) = 2(N-1)·α + 2(N-1)/N · S/β, for the transport's latency α and bandwidth β
(this machine's shared memory as measured, and two assumed networks).  Results:
``benchmarks/results/scaling.json``; the table goes to benchmarks/README.md by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARAMS = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10       # 269,322
NETWORKS = {  # assumed transports for the model: (name, latency α in s, bandwidth β in B/s)
    "10 GbE (α 30 µs, β 1.25 GB/s)": (30e-6, 1.25e9),
    "100 Gb/s InfiniBand (α 2 µs, β 12 GB/s)": (2e-6, 12e9),
}


# ---------------------------------------------------------------------------- one run
def _model():
    import nnlite
    from nnlite.layers import Dense
    model = nnlite.Sequential([Dense(256, activation="relu", input_dim=784),
                               Dense(256, activation="relu"),
                               Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.MiniBatchSGD(batch_size=128, learning_rate=0.05))
    return model


def _data(quick):
    import nnlite
    (x_tr, y_tr), (x_te, y_te) = nnlite.datasets.load_builtin_mnist()
    x, y = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
    return (x[:2048], y[:2048]) if quick else (x, y)


def worker(args):
    """One configuration, inside its process (or mpiexec job); prints one JSON line (rank 0)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=args.threads):
        x, y = _data(args.quick)
        model = _model()
        if args.mode == "plain":
            fit, rank, size, coll, comm = model.fit, 0, 1, None, None
        else:
            from nnlite.distributed import DataParallel
            dp = DataParallel(model)
            fit, rank, size, coll, comm = dp.fit, dp.rank, dp.size, dp.collective, dp.comm
        times, ar_times = [], []
        for rep in range(args.reps + 1):  # the first epoch warms up
            if comm is not None:
                comm.Barrier()
            before = coll.seconds if coll else 0.0
            start = time.perf_counter()
            fit(x, y, epochs=1, batch_size=args.batch, seed=rep, verbose=0)
            elapsed = time.perf_counter() - start
            in_ar = (coll.seconds - before) if coll else 0.0
            if comm is not None:  # the slowest rank sets the pace
                from mpi4py import MPI
                elapsed = comm.allreduce(elapsed, op=MPI.MAX)
                in_ar = comm.allreduce(in_ar, op=MPI.MAX)
            if rep:
                times.append(elapsed)
                ar_times.append(in_ar)
        probe = _allreduce_probe(comm, args.reps) if comm is not None and size > 1 else None
    if rank == 0:
        rows = (len(x) // size) * size
        steps = -(-(rows // size) // args.batch)
        t = float(np.median(times))
        print(json.dumps({"mode": args.mode, "ranks": size, "threads": args.threads,
                          "batch_per_rank": args.batch, "global_batch": args.batch * size,
                          "rows": rows, "steps": steps, "epoch_s": t, "epoch_s_all": times,
                          "samples_per_s": rows / t, "allreduce_s": float(np.median(ar_times)),
                          "probe": probe}), flush=True)


def _allreduce_probe(comm, reps):
    """Times of an in-place Allreduce of the W1 gradient buffer (float32) and of 8 bytes: the
    fastest (the transport itself; other jobs only ever add time) and the median."""
    from mpi4py import MPI
    out = {}
    for name, n in (("grad_buffer", PARAMS), ("tiny", 2)):
        buf = np.ones(n, dtype=np.float32)
        samples = []
        for _ in range(max(40, 10 * reps)):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf)
            samples.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
        out[name] = float(np.min(samples))
        out[f"{name}_median"] = float(np.median(samples))
    return out


# ---------------------------------------------------------------------------- the driver
def _mpiexec():
    found = shutil.which("mpiexec") or shutil.which("mpiexec",
                                                    path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit("scaling.py needs mpiexec: pip install 'nnlite[mpi]'")
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    flags = []
    if "Open MPI" in version:
        flags = (["--allow-run-as-root"] if os.geteuid() == 0 else []) + ["--oversubscribe"]
    return [found, *flags]


def _run(ranks, mode, threads, batch, args, yield_when_idle=False):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--mode", mode,
           "--threads", str(threads), "--batch", str(batch), "--reps", str(args.reps)]
    if args.quick:
        cmd.append("--quick")
    if mode == "dp":
        cmd = [*_mpiexec(), "-n", str(ranks), *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    if yield_when_idle:  # OpenMPI: a waiting rank yields its core instead of spinning on it
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = [before, os.getloadavg()[0]]
    result["yield_when_idle"] = yield_when_idle
    print(f"  {mode} ranks={ranks} threads={threads} batch/rank={batch}"
          f"{' yield' if yield_when_idle else ''}: "
          f"{result['epoch_s']:.3f} s/epoch, {result['samples_per_s']:,.0f} samples/s, "
          f"{result['allreduce_s']:.3f} s in Allreduce (load {before:.1f})", flush=True)
    return result


def ring_allreduce_s(n, nbytes, alpha, beta):
    """Ring Allreduce: 2(N-1) messages of S/N bytes each way (reduce-scatter, all-gather)."""
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def model_table(compute_step_s, batch, nbytes, transports, ranks=(1, 2, 4, 8, 16, 32, 64)):
    """Predicted samples/s and efficiency for N ranks at ``batch`` rows per rank and step."""
    rows = []
    for name, (alpha, beta) in transports.items():
        for n in ranks:
            step = compute_step_s + ring_allreduce_s(n, nbytes, alpha, beta)
            rows.append({"transport": name, "ranks": n, "step_ms": 1e3 * step,
                         "allreduce_ms": 1e3 * ring_allreduce_s(n, nbytes, alpha, beta),
                         "samples_per_s": n * batch / step, "efficiency": compute_step_s / step})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed epochs per run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds over the configurations (median kept)")
    parser.add_argument("--quick", action="store_true", help="2,048 images, for a smoke run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="plain", choices=["plain", "dp"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    load = os.getloadavg()
    print(f"W1 scaling, {os.cpu_count()} cores, load {load[0]:.2f}", flush=True)
    configs = [(1, "plain", 2, 128, False), (1, "plain", 1, 128, False), (1, "dp", 1, 128, False),
               (2, "dp", 1, 64, False), (2, "dp", 1, 128, False), (2, "dp", 1, 128, True)]
    rounds = [[_run(*config[:4], args, config[4]) for config in configs]
              for _ in range(args.rounds)]
    runs = []  # per configuration: the round with the median epoch time
    for k in range(len(configs)):
        ordered = sorted((r[k] for r in rounds), key=lambda run: run["epoch_s"])
        median = dict(ordered[len(ordered) // 2])
        median["epoch_s_rounds"] = [run["epoch_s"] for run in (r[k] for r in rounds)]
        runs.append(median)
    # this machine's transport from the fastest probes of all 2-rank runs (other jobs only ever
    # add time): α from the 8-byte message, β from the gradient buffer (ring, N = 2)
    probes = [run["probe"] for r in rounds for run in r if run["probe"]]
    probe = {key: min(p[key] for p in probes) for key in ("tiny", "grad_buffer")}
    nbytes = 4 * PARAMS
    alpha = probe["tiny"] / 2
    beta = nbytes / max(probe["grad_buffer"] - 2 * alpha, 1e-9)
    transports = {f"this machine's shared memory (α {1e6 * alpha:.1f} µs, "
                  f"β {beta / 1e9:.2f} GB/s, measured)": (alpha, beta), **NETWORKS}
    one = runs[1]  # one rank, one thread, batch 128: the compute of one rank's step
    compute = (one["epoch_s"]) / one["steps"]
    table = model_table(compute, 128, nbytes, transports)
    out = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cores": os.cpu_count(), "load_before": load, "load_after":
                       os.getloadavg(), "time_utc": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                  time.gmtime())},
           "params": PARAMS, "grad_bytes": nbytes, "runs": runs, "all_rounds": rounds,
           "transport_probe": probe,
           "compute_step_s": compute, "model": table}
    results = HERE / "results" / "scaling.json"
    if not args.quick:
        results.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\ncompute per step (1 rank, 1 thread, batch 128): {1e3 * compute:.2f} ms; "
          f"gradient Allreduce of {nbytes / 1e6:.2f} MB here: "
          f"{1e3 * probe['grad_buffer']:.3f} ms")
    print("\n| transport | ranks | step (ms) | allreduce (ms) | samples/s | efficiency |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in table:
        print(f"| {row['transport']} | {row['ranks']} | {row['step_ms']:.2f} | "
              f"{row['allreduce_ms']:.2f} | {row['samples_per_s']:,.0f} | "
              f"{row['efficiency']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
