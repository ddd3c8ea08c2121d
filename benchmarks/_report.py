"""The markdown report of ``benchmarks/speed.py`` and the list of failed checks."""
from __future__ import annotations

__all__ = ["markdown"]

MIB = 1 / 1024


def _ratio(value):
    return f"{value:.3f}" if value else "–"


def _header(facts, peak):
    load = ", ".join(f"{v:.2f}" for v in facts["load_average"])
    load_end = ", ".join(f"{v:.2f}" for v in facts.get("load_average_end", []))
    blas = "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, "
                     f"{b['num_threads']} threads)" for b in facts["blas"])
    torch = (f"torch {facts['torch']} ({facts['torch_threads'][0]} intra-op / "
             f"{facts['torch_threads'][1]} inter-op threads)" if facts["torch"] else "no torch")
    jax = (f"jax {facts['jax']} (XLA_FLAGS={facts['xla_flags'] or 'default'})"
           if facts["jax"] else "no jax")
    return [
        f"command: `{facts['command']}`  ",
        f"date: {facts['date_utc']}; load average (1, 5, 15 min) at start: {load}, after the "
        f"timings: {load_end}  ",
        f"machine: {facts['cores']} cores ({facts['cpu']}), {facts['threads']} threads for "
        f"every framework; {facts['reps']} timed repetitions after {facts['warmup']} warm-up "
        f"round, interleaved, {facts['settle_s']} s settle pause and gc before each  ",
        f"BLAS: {blas}  ",
        f"OPENBLAS_CORETYPE={facts['env']['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={facts['env']['OPENBLAS_L2_SIZE']}  ",
        f"python {facts['python']}, numpy {facts['numpy']}, {torch}, {jax}, "
        f"scikit-learn {facts['sklearn']}, nnlite {facts['nnlite']}  ",
        f"float32 matmul peak (sgemm, best of before and after the timings): {peak:.1f} GFLOP/s",
        "",
    ]


def _table(rows):
    lines = ["| workload | framework | median s | min s | samples/s | µs/step | GFLOP/s | % peak "
             "| × NumPy | × PyTorch | × JAX step | loss (value) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        value = f"{r['value']:.6g}" if r["value"] is not None else "–"
        lines.append(f"| {r['workload']} | {r['framework']} | {r['median_s']:.4f} | "
                     f"{r['min_s']:.4f} | {r['samples_per_s']:,.0f} | {r['us_per_step']:,.1f} | "
                     f"{r['gflops']:.1f} | {100 * r['peak_share']:.1f} | "
                     f"{_ratio(r['ratio_to_numpy'])} | {_ratio(r['ratio_to_torch'])} | "
                     f"{_ratio(r['ratio_to_jax_step'])} | {value} |")
    return lines


def _memory(memory):
    lines = ["", "| memory (fit in a fresh process without the peers) | 1st run | 2nd run |",
             "|---|---:|---:|"]
    for m in memory:
        s, l = m["runs"]
        lines += [
            f"| **{m['workload']}**: epochs | {s['epochs']} | {l['epochs']} |",
            f"| RSS after a warm-up fit (interpreter, libraries) | "
            f"{s['rss_base_kib'] * MIB:.1f} MiB | {l['rss_base_kib'] * MIB:.1f} MiB |",
            f"| RSS before fit (+ data, model) | {s['rss_before_fit_kib'] * MIB:.1f} MiB | "
            f"{l['rss_before_fit_kib'] * MIB:.1f} MiB |",
            f"| peak during fit | {s['peak_fit_kib'] * MIB:.1f} MiB | "
            f"{l['peak_fit_kib'] * MIB:.1f} MiB |",
            f"| peak − warm-up RSS (what the bound limits) | {m['used_kib'][0] * MIB:.1f} MiB | "
            f"{m['used_kib'][1] * MIB:.1f} MiB |",
            f"| bound: data {s['data_bytes'] / 2**20:.1f} + parameters, gradients, optimizer "
            f"state {s['param_bytes'] / 2**20:.2f} + 3 × one batch's activations "
            f"{s['activation_bytes'] / 2**20:.2f} MiB | {m['bound_kib'] * MIB:.1f} MiB | |",
            f"| growth of the peak, {s['epochs']} → {l['epochs']} epochs | "
            f"{m['growth_kib'] * MIB:+.1f} MiB | |",
        ]
    return lines


def _checks(checks, failures):
    lines = ["", "Checks:", ""]
    bounds = "0.95–1.05"
    for c in checks["aa"]:
        ok = c["ok"] or not checks["aa_enforced"]
        note = "ok" if c["ok"] else ("outside, not enforced (--quick)" if ok else "OUTSIDE")
        spread = c.get("spread", 1.0)
        lines.append(f"- A/A control {c['workload']}: {c['columns']} = {c['ratio']:.3f} "
                     f"(must be within {bounds}), median/min {spread:.2f} (must be ≤ 1.25): "
                     f"{note}")
        if not ok:
            failures.append(f"A/A control {c['workload']} = {c['ratio']:.3f} (within {bounds}?), "
                            f"median/min {spread:.2f} (≤ 1.25?): the machine was too busy for a "
                            "fair comparison")
    by_workload = {}
    for c in checks["values"]:
        by_workload.setdefault(c["workload"], []).append(c)
    for key, cs in by_workload.items():
        worst = max(cs, key=lambda c: c["rel_diff"])
        bad = [c for c in cs if not c["ok"]]
        lines.append(f"- same work {key}: {len(cs)} columns' values against nnlite's "
                     f"{worst['nnlite']:.6g}, largest relative difference {worst['rel_diff']:.1e}"
                     f" ({worst['framework']}): {'ok' if not bad else 'MISMATCH'}")
        failures += [f"{key} {c['framework']}: value {c['value']:.6g} differs from nnlite's "
                     f"{c['nnlite']:.6g} by {c['rel_diff']:.1e}" for c in bad]
    t = checks["threads"]
    lines.append(f"- thread pools (BLAS/OpenMP, torch intra/inter-op): {t['counts']}: "
                 f"{'ok' if t['ok'] else 'NOT ALL PINNED'}")
    if not t["ok"]:
        failures.append(f"thread pools not all at the pinned count: {t['counts']}")
    for m in checks["memory"]:
        lines.append(f"- memory {m['workload']}: peak − warm-up RSS "
                     f"{max(m['used_kib']) * MIB:.1f} MiB ≤ bound {m['bound_kib'] * MIB:.1f} MiB"
                     f", growth {m['growth_kib'] * MIB:+.1f} MiB ≤ +1.0 MiB: "
                     f"{'ok' if m['ok'] else 'NOT HELD'}")
        if not m["ok"]:
            failures.append(f"memory {m['workload']}: used {max(m['used_kib']) * MIB:.1f} MiB "
                            f"(bound {m['bound_kib'] * MIB:.1f}), growth "
                            f"{m['growth_kib'] * MIB:+.1f} MiB, peak reset "
                            f"{m['peak_was_reset']}")
    if not checks["reps_ok"]:
        lines.append("- fewer than 7 timed repetitions: not a run to publish")
    return lines


def markdown(rows, facts, peak, checks, specs):
    """``(report, failures)``: the markdown text and one line per failed check."""
    failures = []
    lines = _header(facts, peak) + _table(rows)
    keys = sorted({r["workload"] for r in rows}, key=list(specs).index)
    lines += ["", "Workloads: " + "; ".join(f"{k}: {specs[k].description}" for k in keys)]
    if checks["memory"]:
        lines += _memory(checks["memory"])
    lines += _checks(checks, failures)
    lines.append("")
    lines += [f"CHECK FAILED: {f}" for f in failures] or ["All checks passed."]
    return "\n".join(lines), failures
