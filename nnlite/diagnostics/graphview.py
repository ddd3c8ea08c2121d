"""``plot_graph(model)``: draw a model's computational graph with matplotlib (no Graphviz).

One box per node — the input(s) and every layer — with its name, type, output shape and
parameter count; an arrow per edge.  Layout by topological depth: depth(input) = 0 and
depth(node) = 1 + max depth of its parents, so every arrow points down; nodes of one depth sit
side by side.  Edges that skip levels (skip connections) are drawn as arcs so they do not run
through the boxes in between.  A ``Residual`` in a ``Sequential`` is one box listing its block.

With ``values=True`` each edge leaving a node is labelled with ‖value‖ (the node's output in
the last traced pass) and ‖∇‖ (the gradient reaching that node, summed over its consumers) —
backprop made visible.  The trace is recorded by ``model.input_gradient(...)`` and
``model.gradients(...)``; right after ``fit`` (which keeps the first rows of its last batch),
``plot_graph(model, values=True)`` traces the loss gradient on those rows itself.
"""
from __future__ import annotations

from matplotlib.patches import FancyBboxPatch

from ..errors import ConfigError

__all__ = ["plot_graph"]


def _graph(model):
    """(labels, parents) per node in topological order, for graph and sequential models."""
    if hasattr(model, "nodes"):
        index = {id(n): i for i, n in enumerate(model.nodes)}
        return ([_node_text(n.layer, n.label, n.shape) for n in model.nodes],
                [[index[id(p)] for p in n.parents] for n in model.nodes])
    shape = model.input_shape
    texts = [_node_text(None, "input", shape)]
    parents = [[]]
    for i, layer in enumerate(model.layers):
        texts.append(_node_text(layer, layer.name, layer.output_shape))
        parents.append([i])
    return texts, parents


def _shape(shape):
    return "?" if shape is None else "(None, " + ", ".join(map(str, shape)) + ")"


def _node_text(layer, name, shape):
    if layer is None:
        return f"{name} (Input)\n{_shape(shape)}"
    kind = type(layer).__name__
    act = getattr(layer, "activation", None)
    if kind == "Dense" and act is not None and act.name != "linear":
        kind += f", {act.name}"
    inner = getattr(layer, "sublayers", None)
    if inner:
        kind += ": " + " → ".join(type(l).__name__ for l in inner)
    count = layer.count_params() if layer.built else 0
    return f"{name} ({kind})\n{_shape(shape)} · {count:,} params"  # a node's own shape


def _depths(parents):
    depth = []
    for ps in parents:
        depth.append(1 + max(depth[p] for p in ps) if ps else 0)
    return depth


def _columns(parents, depth):
    """A column per node: its first parent's if free at its depth, else the nearest free one
    (so chains stay straight and branches step aside)."""
    taken, columns = set(), []
    for i, ps in enumerate(parents):
        want = columns[ps[0]] if ps else 0
        for step in range(len(parents) + 1):
            col = next((c for c in (want + step, want - step) if (depth[i], c) not in taken
                        and c >= 0), None)
            if col is not None:
                break
        taken.add((depth[i], col))
        columns.append(col)
    return columns


def plot_graph(model, values=False, ax=None):
    """Draw ``model`` (Sequential or graph Model) and return the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if not model.built:
        model._require_built("plot_graph")
    texts, parents = _graph(model)
    trace = getattr(model, "_trace", None) if values else None
    probe = getattr(model, "_probe", None)
    if values and trace is None and probe is not None and model.loss is not None:
        model.gradients(*probe)  # records model._trace
        trace = model._trace
    if values and (trace is None or len(trace["values"]) != len(texts)):
        raise ConfigError("plot_graph(values=True): no recorded pass for this model; call "
                          "model.fit, model.input_gradient(x) or model.gradients(x, y) first")
    depth = _depths(parents)
    columns = _columns(parents, depth)
    pos = {i: (_DX * c, -_DY * depth[i]) for i, c in enumerate(columns)}
    xs = [x for x, _ in pos.values()]
    x_lo, x_hi = min(xs) - _W / 2 - 0.2, max(xs) + _W / 2 + 1.9
    y_lo, y_hi = -_DY * max(depth) - _H, _H
    if ax is None:
        height = _INCH * (y_hi - y_lo) + 0.4
        fig, ax = plt.subplots(figsize=(_INCH * (x_hi - x_lo), height))
        fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=1.0 - 0.4 / height)
    else:
        fig = ax.figure
    for i, text in enumerate(texts):
        x, y = pos[i]
        inp = not parents[i]
        ax.add_patch(FancyBboxPatch((x - _W / 2, y - _H / 2), _W, _H, zorder=3,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor="#e6f4ea" if inp else "#e8f0fe",
                                    edgecolor="#188038" if inp else "#3367d6"))
        ax.text(x, y, text, ha="center", va="center", fontsize=7, zorder=4)
    labelled = set()  # a node's norms are shown once, on its first outgoing edge
    for child, ps in enumerate(parents):
        for p in ps:
            show = trace is not None and p not in labelled
            labelled.add(p)
            _edge(ax, pos[p], pos[child], depth[child] - depth[p],
                  (trace["values"][p], trace["grads"][p]) if show else None)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"{model.name} ({type(model).__name__})", fontsize=10)
    return fig


_W, _H, _DX, _DY, _INCH = 2.8, 0.5, 3.4, 0.95, 0.75  # box size, spacing (data units), inch/unit
_ARROW = dict(arrowstyle="-|>", color="#555555", lw=1.0, shrinkA=0, shrinkB=0)


def _edge(ax, start, end, span, norms):
    """An arrow between two boxes; skip connections run down the right-hand side."""
    (x0, y0), (x1, y1) = start, end
    if span > 1 and x0 == x1:
        side = x0 + _W / 2
        out = side + 0.25 + 0.2 * (round(-y0 / _DY) % 2)  # alternate so touching skips part
        ax.plot([side, out, out], [y0, y0, y1], color="#555555", lw=1.0, zorder=2)
        ax.annotate("", xy=(side, y1), xytext=(out, y1), arrowprops=_ARROW, zorder=2)
        label_at = (out + 0.08, (y0 + y1) / 2)
    elif span > 1:  # another column: go down in the parent's column, then across
        bend = y1 + _DY - _H / 2
        ax.plot([x0, x0], [y0 - _H / 2, bend], color="#555555", lw=1.0, zorder=2)
        ax.annotate("", xy=(x1, y1 + _H / 2), xytext=(x0, bend), arrowprops=_ARROW, zorder=2)
        label_at = (x0 + 0.1, (y0 + bend) / 2)
    else:
        ax.annotate("", xy=(x1, y1 + _H / 2), xytext=(x0, y0 - _H / 2), arrowprops=_ARROW,
                    zorder=2)
        label_at = ((x0 + x1) / 2 + 0.1, (y0 + y1) / 2)
    if norms is not None:
        v, g = norms
        label = f"‖v‖={v:.2e}" + (f"\n‖∇‖={g:.2e}" if g is not None else "")
        ax.text(*label_at, label, fontsize=6, color="#a50e0e", ha="left", va="center",
                zorder=5)
