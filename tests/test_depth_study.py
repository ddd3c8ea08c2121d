"""The depth study: the lecture's claims about depth, measured on a small fixed-seed sweep, and
the per-layer gradient norms cross-checked against PyTorch on the same weights."""
import json

import numpy as np
import pytest

from nnlite.errors import ConfigError
from nnlite.experiments import ACTIVATIONS, build_network, depth_study, load_study_data
from nnlite.layers import Dense, ReLU, Residual
from nnlite.monitors import layer_gradient_norms


@pytest.fixture(scope="module")
def sweep():
    # 1,500 MNIST images, width 32, 3 epochs: the same budget for all 8 networks
    return depth_study(depths=(2, 16), width=32, n_train=1500, epochs=3, batch_size=32,
                       progress=False, seed=0)


def _first(sweep, activation, depth):
    return sweep.row(activation, depth)["grad_norms_init"][0]


def test_sigmoid_first_layer_gradient_vanishes_with_depth(sweep):
    assert _first(sweep, "sigmoid", 2) / _first(sweep, "sigmoid", 16) > 10


def test_relu_with_he_keeps_the_first_layer_gradient_within_10x(sweep):
    ratio = _first(sweep, "relu", 2) / _first(sweep, "relu", 16)
    assert 0.1 < ratio < 10


def test_residual_blocks_keep_the_first_layer_gradient_within_3x(sweep):
    ratio = _first(sweep, "relu+residual", 2) / _first(sweep, "relu+residual", 16)
    assert ratio > 1 / 3 and ratio < 3


def test_deep_sigmoid_trains_to_a_clearly_worse_loss_than_residual(sweep):
    sigmoid = sweep.row("sigmoid", 16)["final_loss"]
    residual = sweep.row("relu+residual", 16)["final_loss"]
    assert sigmoid > 1.5 * residual and sigmoid - residual > 0.5
    # and the residual net did learn: well below chance level, log(10) ≈ 2.30
    assert residual < 1.5
    assert sweep.row("relu+residual", 16)["test_accuracy"] > 0.5


def test_results_table_files_and_figures(sweep, tmp_path):
    rows = sweep.table()
    assert [(r["activation"], r["depth"]) for r in rows] == [
        (a, d) for a in ACTIVATIONS for d in (2, 16)]
    for r in rows:
        assert len(r["grad_norms_init"]) == len(r["grad_norms_trained"]) == r["depth"] + 1
        assert len(r["loss_curve"]) == 4  # initial + 3 epochs
        assert r["loss_curve"][-1] == r["final_loss"]
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["seconds"] > 0
    # the same parameter count at equal depth, whatever the activation
    assert len({r["params"] for r in rows if r["depth"] == 16}) == 1

    sweep.to_json(tmp_path / "r.json")
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["rows"] == rows and loaded["config"]["depths"] == [2, 16]
    sweep.to_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 1 + len(rows) and lines[0].startswith("activation,depth,")
    md = sweep.to_markdown()
    assert md.count("\n") == 1 + len(rows) and "| sigmoid | 16 |" in md

    for path in sweep.save_figures(tmp_path):
        with open(path, "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000
    fig = sweep.plot_gradient_norms()
    axes = fig.axes
    assert len(axes) == 8 and all(ax.get_yscale() == "log" for ax in axes)
    assert len(axes[0].lines) == 2 and axes[0].get_legend() is not None


def test_networks_are_comparable():
    relu = build_network("relu", 1, 8, 5, 3, seed=4, dtype="float64")
    residual = build_network("relu+residual", 1, 8, 5, 3, seed=4, dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(relu.predict(x), residual.predict(x))  # d = 1: same net
    deep = build_network("relu+residual", 5, 8, 5, 3)
    assert sum(isinstance(l, Residual) for l in deep.layers) == 4
    assert deep.count_params() == build_network("sigmoid", 5, 8, 5, 3).count_params()
    # init: Glorot for sigmoid by default, He on request (He's variance is larger)
    glorot = build_network("sigmoid", 2, 200, 200, 3, dtype="float64").layers[1]
    he = build_network("sigmoid", 2, 200, 200, 3, init="he", dtype="float64").layers[1]
    assert np.var(glorot.params["kernel"]) == pytest.approx(1 / 200, rel=0.05)
    assert np.var(he.params["kernel"]) == pytest.approx(2 / 200, rel=0.05)


def test_bad_settings_are_rejected():
    with pytest.raises(ConfigError, match="activation"):
        build_network("swish", 2, 8, 4, 2)
    with pytest.raises(ConfigError, match="depth"):
        build_network("relu", 0, 8, 4, 2)
    with pytest.raises(ConfigError, match="init"):
        build_network("relu", 2, 8, 4, 2, init="lecun")
    with pytest.raises(ConfigError, match="data"):
        load_study_data("cifar")
    with pytest.raises(ConfigError, match="activations"):
        depth_study(activations=("relu", "gelu"), progress=False)


# ------------------------------------------------------------------ PyTorch cross-check
def _torch_norms(model, x, y):
    """The same per-layer norms, computed by PyTorch autograd on the model's weights."""
    import torch
    import torch.nn.functional as F

    def t(a, grad=True):
        return torch.tensor(a, dtype=torch.float64, requires_grad=grad)

    params = {}
    acts = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "linear": lambda z: z}

    def dense(layer, h, last=False):
        k, b = t(layer.params["kernel"]), t(layer.params["bias"])
        params[f"{layer.name}/kernel"], params[f"{layer.name}/bias"] = k, b
        z = h @ k + b
        return z if last else acts[layer.activation.name](z)  # last: logits (softmax in loss)

    h = t(x)
    inputs = {}
    for i, layer in enumerate(model.layers):
        h.retain_grad()
        inputs[layer.name] = h
        if isinstance(layer, Residual):
            branch = h
            for sub in layer.block:
                branch = torch.relu(branch) if isinstance(sub, ReLU) else dense(sub, branch)
            h = h + branch
        else:
            assert isinstance(layer, Dense)
            h = dense(layer, h, last=i == len(model.layers) - 1)
    F.cross_entropy(h, torch.tensor(y)).backward()
    norms = {k: float(torch.linalg.norm(p.grad)) for k, p in params.items()}
    norms.update({f"{k}/input": float(torch.linalg.norm(v.grad)) for k, v in inputs.items()})
    return norms


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_norms_at_init_match_pytorch(activation):
    pytest.importorskip("torch")
    (x, y), _ = load_study_data("mnist", n_train=64)
    model = build_network(activation, 16, 32, 784, 10, seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    ours = layer_gradient_norms(model, x.astype(np.float64), y)
    theirs = _torch_norms(model, x.astype(np.float64), y)
    assert set(ours) == set(theirs) and len(ours) == 3 * 17
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-8, abs=0), key


def test_command_line_quick_run_writes_table_and_figures(tmp_path):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "nnlite", "depth", "--quick", "--quiet",
                           "--depths", "1", "4", "--out", str(tmp_path)],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(f"depth_quick_{n}" for n in (
        "results.csv", "results.json", "table.md", "grad_norms.png", "accuracy.png",
        "loss_curves.png"))
    rows = json.loads((tmp_path / "depth_quick_results.json").read_text())["rows"]
    assert [(r["activation"], r["depth"]) for r in rows] == [
        (a, d) for a in ACTIVATIONS for d in (1, 4)]
    assert "| relu+residual | 4 |" in done.stdout
