"""The README's code runs: every ```python block, in order, in one namespace; the "Beyond one
machine" section's blocks run where their systems are installed (ONNX, MPI, PyTorch)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BEYOND = "## Beyond one machine"


def _split_beyond(text):
    """(the README without the Beyond section, the Beyond section's python blocks)."""
    start = text.index(BEYOND)
    end = text.find("\n## ", start + len(BEYOND))
    end = len(text) if end < 0 else end
    blocks = re.findall(r"```python\n(.*?)```", text[start:end], re.S)
    return text[:start] + text[end:], blocks


def test_readme_python_blocks_run(capsys):
    text, _ = _split_beyond(README.read_text())
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 (our own README)
    assert namespace["accuracy"] > 0.85
    assert namespace["saliency"].shape == (8, 784)
    assert namespace["history"].history["val_accuracy"][-1] > 0.85
    assert namespace["scores"].mean() > 0.7
    assert namespace["row_accuracy"] > 0.8                      # the sequence section
    assert namespace["tagger"]._masks and 0.0 <= namespace["tag_accuracy"] <= 1.0
    assert [v.shape for v in namespace["encoder"].predict(namespace["xs_test"][:2])] == \
        [(2, 28, 32), (2, 32), (2, 32)]
    club, communities = namespace["club"], namespace["communities"]
    assert (communities == club.labels).sum() >= 32          # 30 of the 32 unlabelled, and 0, 33
    assert namespace["attention"].output_shape == [(5, 8), (2, 5, 7)]


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert first_block[0].startswith("pip install . && python -m nnlite")
    assert first_block[1].startswith('pip install -e ".[test]" && python -m pytest -q')
    run_ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in run_ci


@pytest.fixture(scope="module")
def beyond():
    """The Beyond section's blocks by role, and the namespace after its shared set-up block."""
    _, blocks = _split_beyond(README.read_text())
    roles = {"onnx": [b for b in blocks if "to_onnx" in b],
             "mpi": [b for b in blocks if b.startswith("# train.py")],
             "torch": [b for b in blocks if "to_torch" in b]}
    assert all(len(v) == 1 for v in roles.values()), roles
    setup = [b for b in blocks if all(b not in v for v in roles.values())]
    assert len(setup) == 1
    namespace = {}
    exec(compile(setup[0], str(README), "exec"), namespace)  # noqa: S102
    return {k: v[0] for k, v in roles.items()}, namespace


def test_readme_onnx_block_runs(beyond):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    blocks, namespace = beyond
    exec(compile(blocks["onnx"], str(README), "exec"), dict(namespace))  # noqa: S102


def test_readme_torch_block_runs(beyond):
    pytest.importorskip("torch")
    blocks, namespace = beyond
    exec(compile(blocks["torch"], str(README), "exec"), dict(namespace))  # noqa: S102


def test_readme_mpi_script_runs_on_two_ranks(beyond, tmp_path):
    pytest.importorskip("mpi4py")
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec",
                                                      path=str(Path(sys.executable).parent))
    if mpiexec is None:
        pytest.skip("no mpiexec")
    blocks, _ = beyond
    (tmp_path / "train.py").write_text(blocks["mpi"])
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    flags = ((["--allow-run-as-root"] if os.geteuid() == 0 else []) + ["--oversubscribe"]
             if "Open MPI" in version else [])
    env = dict(os.environ, PYTHONPATH=str(README.parent), OMP_NUM_THREADS="1")
    proc = subprocess.run([mpiexec, *flags, "-n", "2", sys.executable, "train.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("val_accuracy") == 2  # verbose=2 on rank 0 only: one line/epoch
    import nnlite
    (_, _), (x_test, y_test) = nnlite.datasets.load_builtin_mnist()
    saved = nnlite.load_model(tmp_path / "mnist.nnlite")
    assert np.mean(saved.predict_classes(x_test) == y_test) > 0.9
