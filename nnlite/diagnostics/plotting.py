"""matplotlib helpers.  Each returns the Figure or Axes it drew on and never calls
``plt.show()`` (in a notebook the figure displays itself; in a script call ``plt.show()`` or
``fig.savefig(...)``).  matplotlib is imported only when a function is called.

    plot_history(history)                       loss and metrics per epoch, train vs validation
    plot_decision_boundary(model, x, y)         predicted class regions of 2-D data + the points
    plot_gradient_norms(history_or_monitor)     gradient norm per layer (``GradientMonitor``)
    plot_graph(model)                           the model's layer graph (``nnlite.graphview``)
    plot_depth_gradient_norms(results)          the depth study (``nnlite.experiments``): gradient
    plot_depth_accuracy(results)                norm per layer, accuracy vs depth and loss curves;
    plot_depth_loss_curves(results)             these save a PNG when given a ``path``
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError, ShapeError

__all__ = ["plot_history", "plot_decision_boundary", "plot_gradient_norms", "plot_graph",
           "plot_depth_gradient_norms", "plot_depth_accuracy", "plot_depth_loss_curves"]


def _series(history):
    """``{key: list}`` from a History, a fitted model (``model.history``) or a dict."""
    if hasattr(history, "history") and not isinstance(history, dict):
        history = history.history
    if hasattr(history, "history") and not isinstance(history, dict):  # model.history.history
        history = history.history
    if not isinstance(history, dict) or not history:
        raise ConfigError(f"plot_history: expected a History, a fitted model or a non-empty "
                          f"dict of lists, got {type(history).__name__}")
    return history


def plot_history(history, keys=None, figsize=None):
    """One panel per quantity (``loss`` first, then metrics; ``keys`` picks them), each with the
    training curve and, when recorded, the ``val_`` curve against the epoch number.
    Series recorded only every k epochs (``validation_freq``) are drawn at their epochs.
    Returns the Figure; ``fig.axes`` holds the panels in order."""
    import matplotlib.pyplot as plt

    data = _series(history)
    epochs = list(getattr(history, "epoch", [])) or None
    names = [k for k in data if not k.startswith("val_") and "/" not in k]
    names += [k[4:] for k in data if k.startswith("val_") and k[4:] not in names]
    if keys is not None:
        unknown = [k for k in keys if k not in names]
        if unknown:
            raise ConfigError(f"plot_history: unknown keys {unknown}; recorded: {names}")
        names = list(keys)
    names.sort(key=lambda k: k != "loss")
    fig, axes = plt.subplots(1, len(names), figsize=figsize or (4.2 * len(names), 3.4),
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            values = data.get(key)
            if not values:
                continue
            x = _epoch_axis(epochs, len(values), len(data.get("loss", values)))
            ax.plot(x, values, style, marker="o" if len(values) < 30 else None, markersize=3,
                    label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _epoch_axis(epochs, count, full):
    """1-based epochs for a series of ``count`` values in a run of ``full`` epochs."""
    base = [e + 1 for e in epochs] if epochs and len(epochs) == full else list(range(1, full + 1))
    if count == len(base):
        return base
    return list(range(1, count + 1))  # a series recorded on a different schedule


def _predict_labels(model, points):
    if hasattr(model, "predict_classes") and getattr(model, "loss", None) is not None:
        return np.asarray(model.predict_classes(points))  # nnlite model: its label space
    out = np.asarray(model.predict(points))
    if out.ndim == 2 and out.shape[1] > 1:
        return np.argmax(out, axis=1)
    if out.ndim == 2:
        out = out[:, 0]
    if out.dtype.kind == "f" and np.all((out >= 0) & (out <= 1)) and \
            not np.all(np.isin(out, (0.0, 1.0))):
        return (out > 0.5).astype(np.int64)  # a probability
    return out


def plot_decision_boundary(model, x, y=None, ax=None, resolution=200, padding=0.1,
                           cmap="coolwarm"):
    """Colour the plane by the class ``model`` predicts (binary or multi-class) over the
    range of the 2-D points ``x`` (widened by ``padding`` of the range), and scatter ``x``
    coloured by ``y``.  ``model``: an nnlite model (``predict_classes``) or anything with
    ``predict`` (a scikit-learn estimator).  Returns the Axes; the predicted grid is kept in
    ``ax.decision_grid`` as ``(xx, yy, labels)``."""
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ShapeError(f"plot_decision_boundary: x must have shape (n, 2), got {x.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 2:
        raise ConfigError(f"plot_decision_boundary: resolution must be an int ≥ 2, got "
                          f"{resolution!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    low, high = x.min(axis=0), x.max(axis=0)
    pad = padding * np.where(high > low, high - low, 1.0)
    xx, yy = np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], resolution),
                         np.linspace(low[1] - pad[1], high[1] + pad[1], resolution))
    labels = _predict_labels(model, np.column_stack([xx.ravel(), yy.ravel()]))
    classes = np.unique(labels if y is None else np.concatenate([labels, np.ravel(y)]))
    index = np.searchsorted(classes, labels).reshape(xx.shape)
    levels = np.arange(len(classes) + 1) - 0.5
    ax.contourf(xx, yy, index, levels=levels, cmap=cmap, alpha=0.3)
    if len(classes) > 1:
        ax.contour(xx, yy, index, levels=levels[1:-1], colors="k", linewidths=0.8)
    if y is not None:
        colours = np.searchsorted(classes, np.ravel(y))
        ax.scatter(x[:, 0], x[:, 1], c=colours, cmap=cmap, vmin=0, vmax=max(len(classes) - 1, 1),
                   edgecolors="k", linewidths=0.5, s=20)
    else:
        ax.scatter(x[:, 0], x[:, 1], c="k", s=10)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.decision_grid = (xx, yy, labels.reshape(xx.shape))
    return ax


def _layer_series(source) -> dict:
    """``{layer: [norms over recordings]}`` of kernel (else first parameter) gradient norms."""
    hist = getattr(source, "history", source)
    hist = getattr(hist, "history", hist)
    if not isinstance(hist, dict):
        raise ConfigError(f"plot_gradient_norms: expected a History, GradientMonitor or dict, "
                          f"got {type(source).__name__}")
    series: dict[str, list] = {}
    for key, values in hist.items():
        prefix, _, rest = key.partition("/")
        layer, _, param = rest.rpartition("/")
        # one series per layer: its kernel, else its first parameter
        if prefix == "grad_norm" and layer and param != "input" \
                and (layer not in series or param == "kernel"):
            series[layer] = list(values)
    if not series:
        raise ConfigError("plot_gradient_norms: no 'grad_norm/<layer>/<param>' records found; "
                          "train with callbacks=[GradientMonitor()] first")
    return series


def plot_gradient_norms(history_or_monitor, ax=None):
    """Gradient norm per layer from a ``GradientMonitor`` (or a History or dict holding its
    ``grad_norm/<layer>/<param>`` series): the kernel's norm (else the first parameter's) vs
    layer index, one line per recording, log scale; darker lines are later recordings.
    Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    series = _layer_series(history_or_monitor)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    layers = list(series)
    count = min(len(v) for v in series.values())
    cmap = plt.get_cmap("viridis")
    index = np.arange(1, len(layers) + 1)
    for r in range(count):
        values = np.array([series[name][r] for name in layers], dtype=float)
        label = "first recording" if r == 0 else ("last recording" if r == count - 1 else None)
        ax.plot(index, np.where(values > 0, values, np.nan), marker="o", markersize=3,
                color=cmap(r / max(count - 1, 1)), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer index (1 = input side)")
    ax.set_ylabel("||dL/dW|| (L2 norm)")
    ax.set_title("gradient norm per layer")
    ax.legend()
    return ax


def plot_graph(model, **kwargs):
    """The layer graph of ``model``; see ``nnlite.graphview.plot_graph``."""
    from .graphview import plot_graph as draw
    return draw(model, **kwargs)


# ------------------------------------------------------------------ the depth study's figures
# ``results`` is a ``nnlite.experiments.DepthStudyResults``: ``results.config`` names the
# activations and depths, ``results.row(activation, depth)`` holds one run's numbers.

def plot_depth_gradient_norms(results, path=None):
    """``||dL/dW_l||`` vs layer index l, one line per depth, one panel per activation; top row
    at initialization, bottom row after training; log scale.  Returns the Figure, or with
    ``path`` saves a PNG there and returns the path."""
    acts = results.config["activations"]
    fig, axes = _figure((3.2 * len(acts) + 0.6, 6.2), 2, len(acts), sharey="row",
                        squeeze=False)
    cmap = _cmap("viridis")
    depths = results.config["depths"]
    for j, act in enumerate(acts):
        for i, (key, when) in enumerate((("grad_norms_init", "at initialization"),
                                         ("grad_norms_trained", "after training"))):
            ax = axes[i][j]
            for k, depth in enumerate(depths):
                norms = np.asarray(results.row(act, depth)[key], dtype=float)
                ax.plot(np.arange(1, norms.size + 1), np.where(norms > 0, norms, np.nan),
                        marker="o", markersize=2.5, linewidth=1.2,
                        color=cmap(k / max(len(depths) - 1, 1)), label=f"depth {depth}")
            ax.set_yscale("log")
            ax.set_title(f"{act} — {when}", fontsize=10)
            ax.set_xlabel("layer index (1 = input side)")
            ax.grid(True, which="major", alpha=0.3)
        axes[0][j].legend(fontsize=7, loc="best")
    for i in range(2):
        axes[i][0].set_ylabel("‖dL/dW‖ (log scale)")
    fig.suptitle("Gradient norm per layer (first 512 training examples)", fontsize=11)
    return _finish(fig, path)


def plot_depth_accuracy(results, path=None):
    """Final test (solid) and train (dashed) accuracy vs depth, one colour per activation.
    Returns the Figure, or with ``path`` saves a PNG there and returns the path."""
    fig, ax = _figure((6.4, 4.2))
    for k, act in enumerate(results.config["activations"]):
        rows = [results.row(act, d) for d in results.config["depths"]]
        depths = [r["depth"] for r in rows]
        color = f"C{k}"
        ax.plot(depths, [r["test_accuracy"] for r in rows], marker="o", color=color,
                label=f"{act} (test)")
        ax.plot(depths, [r["train_accuracy"] for r in rows], linestyle="--", color=color,
                alpha=0.6, label=f"{act} (train)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(results.config["depths"], [str(d) for d in results.config["depths"]])
    ax.set_xlabel("depth (hidden layers, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Final accuracy vs depth ({results.config['epochs']} epochs each)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 0.14))
    return _finish(fig, path)


def plot_depth_loss_curves(results, path=None, depth=None):
    """Training loss per epoch (epoch 0 = at initialization) for each activation at ``depth``
    (default: the deepest setting); log scale.  Returns the Figure, or with ``path`` saves a
    PNG there and returns the path."""
    depth = max(results.config["depths"]) if depth is None else depth
    fig, ax = _figure((6.4, 4.2))
    for k, act in enumerate(results.config["activations"]):
        curve = results.row(act, depth)["loss_curve"]
        ax.plot(np.arange(len(curve)), curve, marker="o", markersize=3, color=f"C{k}",
                label=act)
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)
    ax.set_xlabel("epoch (0 = at initialization)")
    ax.set_ylabel("mean training loss (log scale)")
    ax.set_title(f"Training loss at depth {depth}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _finish(fig, path)


def _figure(figsize, rows=1, cols=1, **kw):
    """A matplotlib Figure and its axes, without pyplot: works headless (Agg) in any backend
    state, and nothing is left open in a pyplot figure registry."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, **kw)


def _plain_log_labels(axis):
    """Tick labels 0.2, 0.3, 0.5, 1, 2 instead of 2×10⁻¹ on a log axis spanning about a
    decade (other minor ticks stay unlabelled so labels do not collide)."""
    from matplotlib.ticker import FuncFormatter

    def label(value, _):
        if value <= 0:
            return ""
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        return f"{value:g}" if mantissa in (1, 2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def _cmap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _finish(fig, path):
    """Save as PNG to ``path`` and return the path; with ``path=None`` return the Figure
    (displayed by Jupyter)."""
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=90, format="png")
    return os.fspath(path)
