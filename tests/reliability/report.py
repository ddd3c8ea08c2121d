"""Run the reliability suite and write its figures into RELIABILITY.md.

    python tests/reliability/report.py              # CI counts (what CI runs), then rewrite
    python tests/reliability/report.py --slow       # the long run (NNLITE_SLOW=1)
    python tests/reliability/report.py --from DIR   # only re-render from the JSON in DIR

Each test writes what it measured to ``$NNLITE_RELIABILITY_RESULTS/<promise>.json`` (see
``conftest.Recorder``); this script renders those numbers between the ``<!-- BEGIN figures:... -->``
and ``<!-- END figures:... -->`` markers of RELIABILITY.md.  No figure is typed by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "RELIABILITY.md"
SUITE = "python -m pytest tests/reliability -q"


def run_suite(results: Path, slow: bool) -> dict:
    env = dict(os.environ, NNLITE_RELIABILITY_RESULTS=str(results))
    if slow:
        env["NNLITE_SLOW"] = "1"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/reliability", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, env=env, text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    summary = [line for line in proc.stdout.splitlines() if line.strip()][-1:]
    suite = {"seconds": round(seconds, 1), "returncode": proc.returncode,
             "summary": summary[0].strip("= ") if summary else "", "slow": slow}
    (results / "suite.json").write_text(json.dumps({"figures": suite}))
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-5000:])
    return suite


def load(results: Path) -> dict:
    out = {}
    for path in sorted(results.glob("*.json")):
        out[path.stem] = json.loads(path.read_text())
    return out


def _fig(data, promise):
    return data.get(promise, {}).get("figures", {})


def _sci(x):
    return f"{x:.1e}"


def numerics_totals(data):
    totals = {}
    for promise in ("numerics_activations", "numerics_losses"):
        for key, f in _fig(data, promise).items():
            dtype = key.rsplit("/", 1)[1]
            t = totals.setdefault(dtype, {"functions": 0, "checked": 0, "floor": 0,
                                          "unrepresentable": 0, "max_rel": 0.0, "failures": 0})
            t["functions"] += 1
            t["checked"] += f["checked"]
            t["floor"] += f["absolute_floor_used"]
            t["unrepresentable"] += f["unrepresentable"]
            t["failures"] += f["failures"]
            t["max_rel"] = max(t["max_rel"], f["max_rel_error"])
    return totals


def summary_rows(data):
    rows = []
    bad = _fig(data, "bad_input")
    rows.append(("1. Bad input gets a documented nnlite error whose message names the argument, "
                 "expected vs got; a failed call changes nothing",
                 f"{bad.get('failing_calls', '?')} bad calls: each the documented type with "
                 f"the expected fragments; {bad.get('state_unchanged', '?')} fingerprints "
                 "(weights, optimizer, RNGs, history) unchanged; "
                 f"{bad.get('valid_variants', '?')} unusual-but-valid inputs (lists, strided, "
                 "Fortran, read-only, float32) bit-identical to a clean array",
                 "python -m pytest tests/reliability/test_bad_input.py -q"))
    tot = numerics_totals(data)
    if tot:
        f64, f32 = tot.get("float64", {}), tot.get("float32", {})
        points = sum(t["checked"] for t in tot.values())
        rows.append(("2. Every loss and activation is finite, warning-free and accurate at "
                     "extreme logits (f64 ≤ 1e-12, f32 ≤ 1e-5 relative)",
                     f"{points} values and gradients ({f64.get('functions', 0)} functions × "
                     f"f32/f64): {sum(t['failures'] for t in tot.values())} failures, 0 FP "
                     f"warnings; max relative error f64 {_sci(f64.get('max_rel', 0))}, f32 "
                     f"{_sci(f32.get('max_rel', 0))}; absolute floor used at "
                     f"{sum(t['floor'] for t in tot.values())} points, "
                     f"{sum(t['unrepresentable'] for t in tot.values())} points out of range;"
                     f" {sum(_fig(data, 'numerics_models').values())} one-layer training steps "
                     "(every activation as the head, logit = each grid value) finite, "
                     "warning-free, with the layer's gradient equal to loss' · f'",
                     "python -m pytest tests/reliability/test_numerics.py -q"))
    fuzz = {k: _fig(data, k) for k in data if k.startswith("fuzz_")}
    if fuzz:
        mut, trunc = fuzz.get("fuzz_mutations", {}), fuzz.get("fuzz_truncation", {})
        hyp = fuzz.get("fuzz_hypothesis", {})
        loads = sum(f.get("loads", 0) for f in fuzz.values()) + \
            hyp.get("hypothesis_splices", 0) + hyp.get("hypothesis_config_values", 0)
        unexpected = sum(f.get("unexpected_exceptions", 0) for f in fuzz.values()) + \
            hyp.get("hypothesis_unexpected", 0)
        executions = sum(f.get("executions", 0) for f in fuzz.values())
        max_s = max([f.get("max_load_seconds", 0) for f in fuzz.values()]
                    + [hyp.get("hypothesis_max_load_seconds", 0)])
        peak = max(f.get("max_peak_memory_mb", 0) for f in fuzz.values())
        huge = fuzz.get("fuzz_huge_headers", {})
        rows.append(("3. No file can run code; every bad file is a FormatError; loads are fast "
                     "and bounded",
                     f"{loads} loads: {mut.get('mutants', '?')} mutated files (p99 "
                     f"{mut.get('p99_load_ms', '?')} ms), "
                     f"{fuzz.get('fuzz_in_memory', {}).get('mutants', '?')} more loaded both "
                     f"from a file and from bytes "
                     f"({fuzz.get('fuzz_in_memory', {}).get('disagreements', '?')} "
                     "disagreements), "
                     f"{trunc.get('loads', '?')} truncations (every byte offset), "
                     f"{hyp.get('hypothesis_splices', '?')} + "
                     f"{hyp.get('hypothesis_config_values', '?')} hypothesis splices/config "
                     f"values, {fuzz.get('fuzz_payloads', {}).get('payload_files', '?')} pickle/"
                     f"object payloads, {fuzz.get('fuzz_configs', {}).get('config_edits', '?')} "
                     f"configs naming classes/modules, {huge.get('cases', '?')} enormous size "
                     f"claims, {fuzz.get('fuzz_foreign', {}).get('foreign_files', '?')} foreign "
                     f"files: {executions} code executions, {unexpected} exceptions other than "
                     f"FormatError; slowest load {1000 * max_s:.1f} ms; peak traced memory "
                     f"{peak} MiB (a 5 GiB sparse file: refused in "
                     f"{1e6 * huge.get('sparse_5gib_seconds', 0):.0f} µs); a config asking "
                     f"for weights the file lacks (units=2^20 in a 4 KiB file) is refused at a "
                     f"{huge.get('dense_units_peak_mb', '?')} MiB peak, and BatchNormalization / "
                     f"LayerNormalization over 2^24 features at "
                     f"{huge.get('batch_normalization_input_shape_peak_mb', '?')} / "
                     f"{huge.get('layer_normalization_input_shape_peak_mb', '?')} MiB. A "
                     f"{huge.get('deflate_bomb_file_bytes', 0) // 1024} KiB "
                     f"deflate bomb declaring 64 MiB: refused at a "
                     f"{huge.get('deflate_bomb_default_limit_peak_mb', '?')} MiB peak",
                     "python -m pytest tests/reliability/test_file_fuzzing.py -q"))
    crash = _fig(data, "crash_safety")
    if crash:
        rows.append(("4. A save killed at any point never corrupts the target or loses the "
                     "previous file; clean exits leave no temporary files",
                     f"{crash.get('sigkill_trials', '?')} SIGKILLs "
                     f"({crash.get('killed_while_saving', '?')} with the child still in its "
                     "save loop, "
                     f"one save ≈ {crash.get('save_ms', '?')} ms): "
                     f"{crash.get('corrupt_targets', '?')} corrupt targets, "
                     f"{crash.get('lost_targets', '?')} lost; clean exits, errors and Ctrl-C "
                     f"mid-save: {crash.get('clean_exit_temp_files', '?')} temporary files left "
                     f"(a SIGKILL cannot clean up: {crash.get('temp_files_left_by_sigkill', '?')} "
                     "orphaned .tmp files over the trials)",
                     "python -m pytest tests/reliability/test_crash_safety.py -q"))
    intr = _fig(data, "interrupt_resume")
    if intr:
        rows.append(("5. Ctrl-C stops cleanly at any batch; checkpoint + resume reproduces the "
                     "uninterrupted run bit for bit",
                     f"KeyboardInterrupt at all {intr.get('interrupt_raise_batch_indices', '?')}"
                     f" batch indices and SIGINT at all "
                     f"{intr.get('interrupt_signal_batch_indices', '?')}: weights equal the "
                     f"uninterrupted run's after the completed steps "
                     f"({intr.get('interrupt_raise_mismatches', '?')} + "
                     f"{intr.get('interrupt_signal_mismatches', '?')} mismatches); "
                     f"{intr.get('resumed_runs', '?')} checkpoint+resume runs, "
                     f"{intr.get('resume_mismatches', '?')} differing in any weight or loss bit",
                     "python -m pytest tests/reliability/test_interrupt_resume.py -q"))
    det = _fig(data, "determinism")
    if det:
        rows.append(("6. Same seed → bit-identical weights and losses (in one process and "
                     "across processes); different seeds differ",
                     f"{det.get('in_process_identical', '?')}/{det.get('in_process_runs', '?')} "
                     f"in-process runs and {det.get('subprocess_identical', '?')}/"
                     f"{det.get('subprocess_runs', '?')} fresh processes bit-identical; "
                     f"{det.get('distinct_weight_hashes', '?')}/{det.get('distinct_seeds', '?')}"
                     " seeds give distinct weights",
                     "python -m pytest tests/reliability/test_determinism.py -q"))
    st = _fig(data, "stateful")
    if st:
        rows.append(("7. Any sequence of build, fit, predict, save, load, bad input and "
                     "interrupt keeps the invariants",
                     f"{st.get('machines', '?')} random programs × up to "
                     f"{st.get('steps_per_machine', '?')} steps: "
                     f"{st.get('invariant_violations', '?')} violations (finite weights, "
                     "consistent history, predictions unchanged by failed calls)",
                     "python -m pytest tests/reliability/test_stateful.py -q"))
    est = _fig(data, "sklearn_bad_input")
    if est:
        rows.append(("1b. scikit-learn estimators: bad input fails with scikit-learn's "
                     "errors (ValueError, NotFittedError); a failed call changes nothing",
                     f"{est.get('failing_calls', '?')} bad calls, "
                     f"{est.get('state_unchanged', '?')} estimator states unchanged",
                     "python -m pytest tests/reliability/test_sklearn_bad_input.py -q"))
    return rows


def render_summary(data):
    suite = _fig(data, "suite")
    meta = next((v for k, v in data.items() if k != "suite"), {})
    lines = [f"Last run: {meta.get('recorded', '?')}, Python {meta.get('python', '?')}, "
             f"NumPy {meta.get('numpy', '?')}, {'long (--slow)' if suite.get('slow') else 'CI'}"
             f" counts; `{SUITE}`: {suite.get('summary', '?')} in {suite.get('seconds', '?')} s"
             " wall time.", "",
             "| Promise | Figure (last run) | Reproduce |", "|---|---|---|"]
    for promise, figure, command in summary_rows(data):
        lines.append(f"| {promise} | {figure} | `{command}` |")
    return "\n".join(lines)


def render_numerics(data):
    lines = ["| Function | dtype | checked | max rel. error | absolute floor used | "
             "out of range |", "|---|---|---|---|---|---|"]
    for promise in ("numerics_activations", "numerics_losses"):
        for key, f in sorted(_fig(data, promise).items()):
            name, dtype = key.rsplit("/", 1)
            lines.append(f"| {name} | {dtype} | {f['checked']} | {_sci(f['max_rel_error'])} | "
                         f"{f['absolute_floor_used']} | {f['unrepresentable']} |")
    return "\n".join(lines)


BLOCKS = {"summary": render_summary, "numerics": render_numerics}
FIGURES = ROOT / "tests" / "reliability" / "figures"


def draw_figures(data):
    """Two small PNGs: load times of the mutated files, numerics errors per function."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(exist_ok=True)
    written = []
    mut = _fig(data, "fuzz_mutations")
    hist = mut.get("load_time_histogram")
    if hist:
        fig, ax = plt.subplots(figsize=(6, 3))
        edges = hist["edges_s"]
        labels = [f"{1e3 * a:g}–{1e3 * b:g}" for a, b in zip(edges[:-1], edges[1:])]
        ax.bar(range(len(hist["counts"])), hist["counts"], color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("load time (ms)")
        ax.set_ylabel("mutated files")
        ax.set_title(f"{mut['mutants']} mutated model files: {mut['unexpected_exceptions']} "
                     f"unexpected exceptions, max {1000 * mut['max_load_seconds']:.1f} ms",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(FIGURES / "reliability_load_times.png", dpi=80)
        plt.close(fig)
        written.append("reliability_load_times.png")
    rows = []
    for promise in ("numerics_activations", "numerics_losses"):
        for key, f in sorted(_fig(data, promise).items()):
            name, dtype = key.rsplit("/", 1)
            rows.append((name.replace("(from_logits=", "(").replace("CategoricalCrossEntropy",
                                                                      "CCE"), dtype,
                         max(f["max_rel_error"], 1e-18)))
    if rows:
        names = sorted({r[0] for r in rows}, key=[r[0] for r in rows].index)
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, (dtype, color, rtol) in enumerate((("float32", "tab:orange", 1e-5),
                                                  ("float64", "tab:blue", 1e-12))):
            values = [next((r[2] for r in rows if r[0] == n and r[1] == dtype), 1e-18)
                      for n in names]
            ax.barh([j + 0.4 * i for j in range(len(names))], values, height=0.4, color=color,
                    label=f"{dtype} (tolerance {rtol:g})")
            ax.axvline(rtol, color=color, linestyle="--", linewidth=1)
        ax.set_yticks([j + 0.2 for j in range(len(names))], names, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("max relative error vs mpmath over the grid (exact: drawn at 1e-18)")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(FIGURES / "reliability_numerics.png", dpi=80)
        plt.close(fig)
        written.append("reliability_numerics.png")
    return written


def write_doc(data):
    """CI runs fill the ``summary`` and ``numerics`` blocks (and the PNGs); long runs fill
    ``summary-long`` only, so both sets of figures stay in the document."""
    text = DOC.read_text()
    long_run = _fig(data, "suite").get("slow", False)
    blocks = {"summary-long": render_summary} if long_run else BLOCKS
    for name, render in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN figures:{name} -->\n).*?(\n<!-- END figures:{name} "
                             rf"-->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{DOC} lacks the markers of block {name!r}")
        block = render(data)
        text = pattern.sub(lambda m, b=block: m.group(1) + b + m.group(2), text)
    DOC.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="long run (NNLITE_SLOW=1)")
    parser.add_argument("--from", dest="source", help="render from this results directory")
    args = parser.parse_args(argv)
    if args.source:
        data = load(Path(args.source))
        code = 0
    else:
        with tempfile.TemporaryDirectory(prefix="nnlite-reliability-") as tmp:
            suite = run_suite(Path(tmp), args.slow)
            data = load(Path(tmp))
            code = suite["returncode"]
    write_doc(data)
    if not _fig(data, "suite").get("slow", False):
        draw_figures(data)
    print(f"wrote {DOC} ({_fig(data, 'suite').get('summary', '')})")
    return code


if __name__ == "__main__":
    sys.exit(main())
