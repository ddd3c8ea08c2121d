"""The depth study as a benchmark: sigmoid vs tanh vs ReLU vs ReLU + skip connections, by depth.

    python benchmarks/depth.py              # the full default sweep (4 activations × 6 depths)
    python benchmarks/depth.py --quick      # the small sweep of ``python -m nnlite depth --quick``
                                            # (files named depth_quick_*)

A thin wrapper over ``nnlite.experiments.depth_study`` (see its docstring for the networks, the
initializations and the budget).  Writes into ``benchmarks/results/``: ``depth_results.csv``,
``depth_results.json``, ``depth_table.md``, the figures ``depth_grad_norms.png``,
``depth_accuracy.png``, ``depth_loss_curves.png``, and ``depth_machine.json`` (date, command,
wall time, CPU, load average before/after, library versions) for the README section.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nnlite import experiments  # noqa: E402


def machine_facts() -> dict:
    import numpy as np

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--data", choices=("mnist", "spirals"), default="mnist")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = dict(experiments.QUICK) if args.quick else {}
    before = machine_facts()
    start = time.perf_counter()
    results = experiments.depth_study(data=args.data, progress=not args.quiet, **settings)
    seconds = time.perf_counter() - start
    prefix = "depth_quick_" if args.quick else "depth_"  # never overwrite the full run
    paths = results.save(args.out, prefix)
    facts = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "command": "python benchmarks/depth.py" + (" --quick" if args.quick else "")
             + ("" if args.data == "mnist" else f" --data {args.data}"),
             "seconds": round(seconds, 1), "config": results.config, **before,
             "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    machine = os.path.join(args.out, f"{prefix}machine.json")
    with open(machine, "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1)
    print(results.to_markdown())
    print(f"\n{len(results.rows)} networks in {seconds:.1f} s on {facts['cpu']} "
          f"({facts['cores']} cores), load average before {before['load_average']}")
    for path in [*paths, machine]:
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
