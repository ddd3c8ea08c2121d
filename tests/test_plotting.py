"""Plot helpers draw the recorded values, return Figure/Axes and never call plt.show()."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nnlite  # noqa: E402
from nnlite.datasets import make_moons, make_spirals  # noqa: E402
from nnlite.errors import ConfigError, ShapeError  # noqa: E402
from nnlite.layers import Dense  # noqa: E402
from nnlite.plotting import plot_decision_boundary, plot_gradient_norms, plot_graph, plot_history  # noqa


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() must not be called")
    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _fitted(epochs=4):
    x, y = make_moons(120, noise=0.1, seed=0)
    model = nnlite.Sequential([Dense(16, activation="relu", input_dim=2),
                               Dense(1, activation="sigmoid")], seed=0)
    model.compile(nnlite.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=epochs, validation_split=0.25, verbose=0)
    return model, hist, x, y


def test_plot_history_draws_train_and_validation():
    model, hist, _, _ = _fitted()
    fig = plot_history(hist)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["train"].get_ydata(), hist.history["loss"])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), hist.history["val_loss"])
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3, 4])
    assert len(plot_history(model, keys=["accuracy"]).axes) == 1  # a fitted model works too
    with pytest.raises(ConfigError, match="unknown keys"):
        plot_history(hist, keys=["f1"])


def test_plot_decision_boundary_binary_matches_predictions():
    model, _, x, y = _fitted(epochs=30)
    ax = plot_decision_boundary(model, x, y, resolution=40)
    xx, yy, labels = ax.decision_grid
    assert xx.shape == (40, 40)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    np.testing.assert_array_equal(labels.ravel(), model.predict_classes(points))
    assert set(np.unique(labels)) == {0, 1}
    assert ax.get_xlim()[0] < x[:, 0].min() and ax.get_ylim()[1] > x[:, 1].max()


def test_plot_decision_boundary_multiclass_and_sklearn_estimator():
    x, y = make_spirals(150, n_classes=3, seed=0)
    from nnlite.sklearn import NNClassifier
    clf = NNClassifier(hidden_layer_sizes=(32, 32), epochs=60, random_state=0).fit(x, y)
    ax = plot_decision_boundary(clf, x, y, resolution=30)
    _, _, labels = ax.decision_grid
    assert set(np.unique(labels)) == {0, 1, 2}
    with pytest.raises(ShapeError, match=r"\(n, 2\)"):
        plot_decision_boundary(clf, np.ones((5, 3)))


def test_plot_gradient_norms_and_graph():
    monitors = pytest.importorskip("nnlite.monitors")
    x, y = make_moons(64, seed=0)
    model = nnlite.Sequential([Dense(8, activation="tanh", input_dim=2),
                               Dense(8, activation="tanh"), Dense(1, activation="sigmoid")],
                              seed=0)
    model.compile("adam", "binary_crossentropy")
    monitor = monitors.GradientMonitor()
    hist = model.fit(x, y, epochs=3, verbose=0, callbacks=[monitor])
    ax = plot_gradient_norms(hist)
    assert len(ax.get_lines()) == 3  # one line per recorded epoch
    first = ax.get_lines()[0].get_ydata()
    assert len(first) == 3 and np.all(first > 0)
    fig = plot_graph(model)
    assert isinstance(fig, matplotlib.figure.Figure)


def _depth_results():
    """A hand-made two-activation, two-depth study table (no training needed)."""
    from nnlite.experiments import DepthStudyResults

    rows = []
    for k, act in enumerate(("sigmoid", "relu")):
        for depth in (1, 3):
            layers = depth + 1
            init = [10.0 ** -(k + i) for i in range(layers)]
            rows.append({"activation": act, "depth": depth, "grad_norms_init": init,
                         "grad_norms_trained": [0.0] + init[1:],  # 0 cannot go on a log axis
                         "loss_curve": [2.3, 1.0 / (depth + k), 0.5 / (depth + k)],
                         "train_accuracy": 0.5 + 0.1 * depth, "test_accuracy": 0.4 + 0.1 * k})
    return DepthStudyResults(rows, {"activations": ["sigmoid", "relu"], "depths": [1, 3],
                                    "epochs": 2})


def test_depth_study_figures_draw_the_table(tmp_path):
    from nnlite.plotting import (
        plot_depth_accuracy,
        plot_depth_gradient_norms,
        plot_depth_loss_curves,
    )

    results = _depth_results()
    open_before = plt.get_fignums()
    fig = plot_depth_gradient_norms(results)
    assert isinstance(fig, matplotlib.figure.Figure) and plt.get_fignums() == open_before
    axes = np.array(fig.axes).reshape(2, 2)  # rows: init / trained; columns: activations
    relu_init = axes[0][1].get_lines()[1]  # relu, depth 3
    np.testing.assert_allclose(relu_init.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(relu_init.get_ydata(), results.row("relu", 3)["grad_norms_init"])
    trained = axes[1][0].get_lines()[0].get_ydata()  # sigmoid, depth 1: the zero is masked
    assert np.isnan(trained[0]) and trained[1] == 0.1
    assert all(ax.get_yscale() == "log" for ax in fig.axes)

    ax = plot_depth_accuracy(results).axes[0]
    test_relu, train_relu = ax.get_lines()[2:4]
    np.testing.assert_allclose(test_relu.get_ydata(), [0.5, 0.5])
    np.testing.assert_allclose(train_relu.get_ydata(), [0.6, 0.8])
    np.testing.assert_allclose(test_relu.get_xdata(), [1, 3])

    ax = plot_depth_loss_curves(results).axes[0]  # default: the deepest setting (3)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [2.3, 0.25, 0.125])
    ax = plot_depth_loss_curves(results, depth=1).axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [2.3, 1.0, 0.5])
    with pytest.raises(ConfigError, match="depth 7"):
        plot_depth_loss_curves(results, depth=7)

    # with a path: a PNG is written and its path returned; the methods delegate here
    path = tmp_path / "acc.png"
    assert plot_depth_accuracy(results, path) == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results.plot_accuracy(tmp_path / "m.png") == str(tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes() == path.read_bytes()
