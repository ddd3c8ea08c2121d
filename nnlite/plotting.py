"""matplotlib helpers.  Each returns the Figure or Axes it drew on and never calls
``plt.show()`` (in a notebook the figure displays itself; in a script call ``plt.show()`` or
``fig.savefig(...)``).  matplotlib is imported only when a function is called.

    plot_history(history)                       loss and metrics per epoch, train vs validation
    plot_decision_boundary(model, x, y)         predicted class regions of 2-D data + the points
    plot_gradient_norms(history_or_monitor)     gradient norm per layer (``GradientMonitor``)
    plot_graph(model)                           the model's layer graph (``nnlite.graphview``)
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, ShapeError

__all__ = ["plot_history", "plot_decision_boundary", "plot_gradient_norms", "plot_graph"]


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


def plot_gradient_norms(history_or_monitor, ax=None):
    """Gradient norm per layer from a ``GradientMonitor`` (or a History holding its
    ``grad_norm/<layer>/<param>`` series); see ``nnlite.monitors.plot_gradient_norms``."""
    from .monitors import plot_gradient_norms as draw
    return draw(history_or_monitor, ax=ax)


def plot_graph(model, **kwargs):
    """The layer graph of ``model``; see ``nnlite.graphview.plot_graph``."""
    from .graphview import plot_graph as draw
    return draw(model, **kwargs)
