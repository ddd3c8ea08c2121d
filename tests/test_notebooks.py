"""The lecture notebooks (``notebooks/*.ipynb``) run top to bottom, and what is committed is the
output of such a run.

* ``test_notebook_executes``: runs a temporary copy of each notebook with nbclient (kernel
  ``python3``, working directory = the copy of ``notebooks/``, this checkout's ``nnlite`` first
  on ``PYTHONPATH``, one BLAS thread), fails on any cell error or any warning printed to stderr,
  and checks that every cell that produces output in the fresh run also has output (of the same
  kinds) in the committed file.  The committed files are never modified.  The run time of each
  notebook is printed and recorded as the ``runtime_s`` property (``pytest -rP`` or
  ``--junitxml`` shows it); the per-cell timeout only guards against hangs, it is not a speed
  test.
* ``test_committed_outputs_in_order``: code cells' execution counts are exactly 1..n in order
  and no committed output is an error.
* ``test_notebook_structure``: the first cell is markdown naming the slides covered; the last
  cell is a markdown "What we saw" summary; images are embedded as small PNGs.

The claims a notebook's prose makes are asserted in its own summary cell, so a change in nnlite
that falsifies one makes the notebook, and therefore this test, fail.  Regenerate the committed
outputs with ``python notebooks/execute.py``.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = [
    "01_logistic_regression",
    "02_stacking_layers",
    "03_backpropagation",
    "04_computational_graphs",
    "05_gradient_vanishing",
    "06_mnist_end_to_end",
    "07_recurrent_networks",
    "08_attention_and_graphs",
]
CELL_TIMEOUT_S = 240       # a hang guard, not a speed requirement
MAX_NOTEBOOK_BYTES = 600_000  # committed with outputs: keep them readable on a code host
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _read(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    assert path.is_file(), f"notebook {path.name} is missing from {NOTEBOOK_DIR}"
    return nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _output_kinds(cell) -> set:
    """What a cell shows: stream names and MIME types (not their text, which may hold times)."""
    kinds = set()
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            kinds.add(f"stream:{out.name}")
        elif out.output_type in ("display_data", "execute_result"):
            kinds.update(k for k in out.get("data", {}) if k != "text/plain")
        else:
            kinds.add(out.output_type)
    return kinds


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_in_order(name):
    nb = _read(name)
    cells = _code_cells(nb)
    assert cells, f"{name}: no code cells"
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{name}: execution counts {counts} are not 1..{len(cells)}; re-run the notebook top to "
        "bottom in a fresh kernel and save it with its outputs")
    for i, cell in enumerate(cells, 1):
        for out in cell.outputs:
            assert out.output_type != "error", f"{name}: cell [{i}] was saved with an error"
            if out.output_type == "execute_result":
                assert out.execution_count == i, f"{name}: cell [{i}] has a stale result"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_structure(name):
    nb = _read(name)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("#"), \
        f"{name}: the first cell must be a markdown title saying what the notebook shows"
    assert "slides covered" in first.source.lower(), \
        f"{name}: the first cell must name the slides it covers ('Slides covered: ...')"
    assert last.cell_type == "markdown" and "what we saw" in last.source.lower().split("\n")[0], \
        f"{name}: the last cell must be a markdown '## What we saw' summary"
    size = (NOTEBOOK_DIR / f"{name}.ipynb").stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{name}: {size} bytes with outputs; use smaller figures"
    images = [out for cell in _code_cells(nb) for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, f"{name}: no plots in the committed outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, tmp_path, monkeypatch, record_property):
    committed = _read(name)
    workdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, workdir)  # relative paths behave as in notebooks/
    nb = nbformat.read(workdir / f"{name}.ipynb", as_version=4)
    # the kernel imports nnlite from this checkout, installed or not
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # One BLAS thread per kernel: on a busy 2-core machine threaded BLAS spins against the
    # other processes (measured: an MNIST epoch 20x slower with two threads under load).
    for var in _BLAS_THREAD_VARS:
        monkeypatch.setenv(var, "1")
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on any error
    runtime = time.perf_counter() - start
    record_property("runtime_s", round(runtime, 1))
    print(f"{name}: executed in {runtime:.1f} s")

    fresh_cells, committed_cells = _code_cells(nb), _code_cells(committed)
    for i, cell in enumerate(fresh_cells, 1):
        for out in cell.outputs:
            text = out.get("text", "") if out.output_type == "stream" else ""
            assert not (out.output_type == "stream" and out.name == "stderr"
                        and "Warning" in text), f"{name}: cell [{i}] printed a warning:\n{text}"
        fresh, saved = _output_kinds(cell), _output_kinds(committed_cells[i - 1])
        assert fresh == saved, (
            f"{name}: cell [{i}] shows {sorted(fresh)} when run but {sorted(saved)} in the "
            "committed file; re-run the notebook and save it with its outputs")
