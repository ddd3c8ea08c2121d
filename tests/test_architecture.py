"""The architecture is enforced, not just drawn: ``lint-imports`` checks the floors and that no
import cycle exists (function-level imports included), and breaking either fails it.  The
public import paths users write keep working whatever floor a module lives on."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter")


def _lint(root):
    command = [sys.executable, "-c", "import sys; from importlinter.cli import "
               "lint_imports_command; sys.exit(lint_imports_command())",
               "--config", str(root / "pyproject.toml")]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def _copy(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "nnlite", root / "nnlite",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_layer_importing_a_model_breaks_the_floors(tmp_path):
    root = _copy(tmp_path)
    dense = root / "nnlite" / "layers" / "dense.py"
    dense.write_text(dense.read_text() + "\n\ndef _oops():\n    from ..models import Sequential"
                     "\n    return Sequential\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "floors" in result.stdout and "BROKEN" in result.stdout
    assert "nnlite.layers.dense -> nnlite.models" in result.stdout


def test_a_function_level_cycle_breaks_the_acyclic_contract(tmp_path):
    root = _copy(tmp_path)
    margin = root / "nnlite" / "losses" / "margin.py"
    crossentropy = root / "nnlite" / "losses" / "crossentropy.py"
    margin.write_text(margin.read_text() + "\n\ndef _a():\n    from . import crossentropy\n"
                      "    return crossentropy\n")
    crossentropy.write_text(crossentropy.read_text() + "\n\ndef _b():\n    from . import margin"
                            "\n    return margin\n")
    result = _lint(root)
    assert result.returncode != 0
    assert re.search(r"no import cycles .*BROKEN", result.stdout)


PUBLIC = {  # module: names the README, the docs and nnlite 0.1's users import from it
    "nnlite": ["Sequential", "Model", "Input", "load_model", "__version__"],
    "nnlite.layers": ["Dense", "Conv2D", "LSTM", "MultiHeadAttention", "Input", "REGISTRY",
                      "layer_from_spec", "Layer"],
    "nnlite.losses": ["LogisticLoss", "get"], "nnlite.optimizers": ["Adam", "MiniBatchSGD"],
    "nnlite.metrics": ["Accuracy"], "nnlite.models": ["model_from_json", "Sequential"],
    "nnlite.callbacks": ["EarlyStopping", "ModelCheckpoint", "GradientMonitor", "History"],
    "nnlite.activations": ["get", "names"], "nnlite.initializers": ["get"],
    "nnlite.regularizers": ["L2"], "nnlite.schedules": ["ExponentialDecay"],
    "nnlite.saving": ["save_model", "load_model"], "nnlite.archive": ["read_archive"],
    "nnlite.grad": ["gradients", "input_gradient"],
    "nnlite.gradcheck": ["check_layer", "check_model"],
    "nnlite.monitors": ["GradientMonitor", "ActivationMonitor", "layer_gradient_norms"],
    "nnlite.monitors_time": ["time_step_gradient_norms"],
    "nnlite.plotting": ["plot_history", "plot_graph"], "nnlite.graphview": ["plot_graph"],
    "nnlite.export": ["to_torch", "to_onnx", "EXPORTERS"],
    "nnlite.datasets": ["load_builtin_mnist", "make_moons", "load_stdlib_corpus",
                        "load_karate_club"],
    "nnlite.experiments": ["depth_study"], "nnlite.training": ["Trainer"],
    "nnlite.utils": ["to_categorical"], "nnlite.errors": ["ShapeError"],
    "nnlite.distributed": ["DataParallel"], "nnlite.sklearn": ["NNClassifier"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_import_paths_work(module):
    if module == "nnlite.sklearn":
        pytest.importorskip("sklearn")
    code = (f"import importlib, {module.split('.')[0]}; m = importlib.import_module({module!r}); "
            f"from {module} import {', '.join(PUBLIC[module])}; "
            f"import {module} as again; assert again is m; print(m.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_every_name_the_readme_and_docs_import_exists():
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = set()
    for path in texts:
        for module, names in re.findall(r"from (nnlite[\w.]*) import ([\w, ()]+)",
                                        path.read_text(encoding="utf-8")):
            for name in re.split(r"[\s,()]+", names):
                if name:
                    found.add((module, name))
    assert len(found) > 20
    import importlib
    missing = []
    for module, name in sorted(found):
        if module in ("nnlite.sklearn", "nnlite.distributed") and name:
            continue  # optional dependencies: test_public_import_paths_work covers them
        if not hasattr(importlib.import_module(module), name):
            missing.append(f"{module}.{name}")
    assert missing == []
