"""The shared check of the ONNX export tests: export, ``onnx.checker`` (full check), then run the
graph with the ONNX ReferenceEvaluator and with onnxruntime and compare with ``model.predict``.

Tolerances: 1e-5 in float32; 1e-10 in float64.  What a runtime cannot run is skipped there,
and only there (the other still checks the graph):

* onnxruntime's CPU provider has float32 kernels for every operator used; it has no float64
  kernels for Conv, AveragePool, GlobalAveragePool, Erf and the recurrent operators (RNN: "not
  implemented", LSTM/GRU: "does not support double yet");
* the ReferenceEvaluator ignores the ``activations`` attribute of LSTM and GRU (it always
  uses sigmoid/tanh) and knows only Tanh and Affine for RNN, and it ignores ``sequence_lens``
  (only the LSTM cell state output of a masked layer depends on it, see
  nnlite.export_onnx_recurrent); its Erf rounds to float32 even for float64 inputs
  (np.vectorize(math.erf, otypes=["f"])), so float64 graphs with Erf (GELU) are held to float32
  accuracy there.
"""
import numpy as np
import pytest

from nnlite.export import to_onnx

onnx = pytest.importorskip("onnx")
from onnx.reference import ReferenceEvaluator  # noqa: E402 (onnx may be absent: skip first)

try:
    import onnxruntime as ort
except ImportError:  # the ReferenceEvaluator still checks everything
    ort = None

ORT_NO_FLOAT64 = {"Conv", "AveragePool", "GlobalAveragePool", "Erf", "RNN", "LSTM", "GRU"}
REFERENCE_FLOAT32_OPS = {"Erf"}
_DEFAULT_ACTIVATIONS = {"LSTM": [b"Sigmoid", b"Tanh", b"Tanh"], "GRU": [b"Sigmoid", b"Tanh"],
                        "RNN": [b"Tanh"]}


def all_nodes(graph):
    """Every node of ``graph``, those of subgraphs included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from all_nodes(attr.g)


def reference_runs(proto):
    """False when the graph uses a recurrent activation the ReferenceEvaluator ignores."""
    for node in all_nodes(proto.graph):
        if node.op_type in _DEFAULT_ACTIVATIONS:
            acts = [list(a.strings) for a in node.attribute if a.name == "activations"]
            if acts and acts[0] != _DEFAULT_ACTIVATIONS[node.op_type] \
                    and not (node.op_type == "RNN" and acts[0] == [b"Affine"]):
                return False
    return True


def run_reference(proto, feeds):
    return ReferenceEvaluator(proto).run(None, feeds)


def run_ort(proto, feeds):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check(model, xs, names=None, feeds=None, reference_skips=(), expect_runners=None):
    """Export ``model``, check it, run it and compare with ``model.predict(xs)``; returns
    (proto, the runners used).  ``feeds``: the graph's inputs when they differ from ``xs``
    (a dense adjacency); ``reference_skips``: indices of outputs the ReferenceEvaluator does
    not compute exactly (see the module docstring); ``expect_runners``: the runners that must
    have run (so that a test cannot pass by running nothing)."""
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    xs = xs if isinstance(xs, list) else [xs]
    names = names or [i.name for i in proto.graph.input]
    feeds = dict(zip(names, feeds if feeds is not None else xs))
    expected = model.predict(xs if len(xs) > 1 else xs[0])
    expected = expected if isinstance(expected, list) else [expected]
    float64 = model.dtype == np.float64
    ops = {n.op_type for n in all_nodes(proto.graph)}
    runs = []
    if reference_runs(proto):
        runs.append(("reference", run_reference(proto, feeds)))
    if ort is not None and not (float64 and ops & ORT_NO_FLOAT64):
        runs.append(("onnxruntime", run_ort(proto, feeds)))
    for runner, outs in runs:
        tol = 1e-10 if float64 and not (runner == "reference" and ops & REFERENCE_FLOAT32_OPS) \
            else 1e-5
        assert len(outs) == len(expected), runner
        for k, (out, exp) in enumerate(zip(outs, expected)):
            assert out.dtype == model.dtype and out.shape == exp.shape, runner
            if runner == "reference" and k in reference_skips:
                continue
            err = float(np.max(np.abs(out.astype(np.float64) - exp)))
            assert err <= tol, f"{runner} output {k}: max |onnx - predict| = {err:.3g} > {tol}"
    used = [r for r, _ in runs]
    assert used, "no runtime ran the graph"
    for runner in expect_runners or ():
        if runner == "onnxruntime" and ort is None:
            continue
        assert runner in used, f"{runner} did not run"
    return proto, used


def x_like(shape, seed=0, scale=3.0, dtype=np.float32):
    """Random normal inputs, wide enough to reach every activation's regimes."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
