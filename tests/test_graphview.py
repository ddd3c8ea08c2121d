"""``plot_graph``: the ResNet-style MLP rendered to a PNG (Agg), boxes and edges as expected,
edge annotations from the last traced pass."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nnlite  # noqa: E402
from nnlite.errors import ConfigError  # noqa: E402
from nnlite.graphview import plot_graph  # noqa: E402
from nnlite.layers import Add, Dense, Residual  # noqa: E402


def _resnet_graph(blocks=8):
    x = nnlite.Input(shape=(6,))
    h = Dense(12, activation="relu")(x)
    for _ in range(blocks):
        h = Add()([h, Dense(12)(Dense(12, activation="relu")(h))])
    return nnlite.Model(x, Dense(3, activation="softmax")(h), seed=0, dtype="float64")


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_resnet_mlp_renders_to_png_with_one_box_per_node(tmp_path):
    model = _resnet_graph()
    model.input_gradient(np.random.default_rng(0).standard_normal((4, 6)), unit=0)
    fig = plot_graph(model, values=True)
    path = tmp_path / "resnet.png"
    fig.savefig(path, dpi=60)
    image = plt.imread(path)
    assert image.shape[0] > 600 and image.shape[1] > 200
    assert (image[..., :3] < 0.9).any()  # something was drawn
    texts = _texts(fig)
    boxes = [t for t in texts if " (" in t and "params" in t or "(Input)" in t]
    assert len(boxes) == len(model.nodes) == 1 + 1 + 3 * 8 + 1
    assert "dense_1 (Dense, relu)\n(None, 12) · 156 params" in texts
    assert "add_7 (Add)\n(None, 12) · 0 params" in texts
    # one value/gradient label per node with consumers, showing the recorded norms
    labels = [t for t in texts if t.startswith("‖v‖=")]
    assert len(labels) == len(model.nodes) - 1
    assert f"‖v‖={model._trace['values'][0]:.2e}" in labels[0]
    plt.close(fig)


def test_sequential_with_residual_is_a_chain_and_values_need_a_trace():
    model = nnlite.Sequential([Dense(4, input_dim=3),
                               Residual([Dense(4, activation="tanh"), Dense(4)]), Dense(1)],
                              seed=0)
    fig = plot_graph(model)
    texts = _texts(fig)
    assert "residual (Residual: Dense → Dense)\n(None, 4) · 40 params" in texts
    assert not any(t.startswith("‖v‖") for t in texts)
    plt.close(fig)
    with pytest.raises(ConfigError, match="call model.fit, model.input_gradient"):
        plot_graph(model, values=True)
    model.input_gradient(np.ones((2, 3)))
    fig, ax = plt.subplots()
    assert plot_graph(model, values=True, ax=ax) is fig
    assert sum(t.get_text().startswith("‖v‖") for t in ax.texts) == 3
    plt.close(fig)
