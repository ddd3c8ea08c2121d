"""The graph ``Model``: any directed acyclic graph of layers, with the ``Sequential`` API.

    x = nnlite.Input(shape=(4,))
    h = Dense(16, activation="relu")(x)
    y = Add()([h, Dense(16)(h)])                  # h fans out: two consumers
    model = nnlite.Model(x, Dense(1)(y))

The lecture's automatic differentiation, literally (cf. micrograd's ``backward``):

* forward visits the nodes in topological order, each layer computing its value from its
  parents' values;
* backward visits them in reverse order; each node's gradient is complete when it is reached
  (all its consumers come later in the forward order), its layer's ``backward`` is called once,
  and the returned ``dx`` is *added* to each parent's gradient — the sum at fan-out.
  Both passes are O(|nodes|) layer calls.

Several inputs: pass ``x`` as a list (in the order of ``inputs``).  Several outputs:
``compile(loss=[...] or {output_name: loss}, loss_weights=...)`` minimises Σ_k w_k L_k and
``fit`` takes a list (or dict) of targets; ``predict`` returns a list of arrays.  Metrics of a
multi-output model are computed per output and logged as ``<output>_<metric>``.

Shared layers (one layer object called at two nodes) are **rejected** with a ``GraphError``:
a layer keeps one forward cache for its backward, so sharing would need per-call caches.  Call
two layers and tie nothing; weight sharing is out of scope.
"""
from __future__ import annotations

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from ..errors import ConfigError, GraphError, ShapeError
from .base import BaseModel
from .checks import check_adjacency, check_compile_order, check_token_ids, check_verbose, chunk_size
from .fit_options import penalty
from .graph_build import (
    Input,
    Node,
    assign_names,
    check_graph,
    execution_plan,
    graph_config,
    graph_from_config,
    topological_order,
)
from .masks import graph_run, plan
from .output_losses import LossTracker, WeightedLosses
from .sequence_head import prepare_targets, wrap_sequence_head

__all__ = ["Model", "Input", "Node"]


class Model(BaseModel):
    """``Model(inputs, outputs, name=None, seed=None, dtype="float32")`` over the DAG that
    connects ``inputs`` (``Input`` nodes, one or a list) to ``outputs`` (one node or a list).

    Errors at construction (``GraphError``): a cycle, an output depending on an input not in
    ``inputs``, an input no output depends on, a layer used at two nodes, repeated names."""

    _masks = False  # True when a layer creates a mask (decided at build, see models.masks)

    def __init__(self, inputs, outputs, name=None, seed=None, dtype="float32"):
        super().__init__(name=name, seed=seed, dtype=dtype)
        self._multi_in = isinstance(inputs, (list, tuple))
        self._multi_out = isinstance(outputs, (list, tuple))
        self.inputs = list(inputs) if self._multi_in else [inputs]
        self.outputs = list(outputs) if self._multi_out else [outputs]
        for node in self.outputs:
            if not isinstance(node, Node):
                raise GraphError(f"Model outputs must be graph nodes, got {type(node).__name__}")
        self.nodes = topological_order(self.outputs)
        check_graph(self.inputs, self.outputs, self.nodes)
        assign_names(self.inputs, self.nodes)
        self.layers = list(dict.fromkeys(n.layer for n in self.nodes if not n.is_input))
        index = {id(n): i for i, n in enumerate(self.nodes)}
        self._input_index = [index[id(n)] for n in self.inputs]
        self._output_index = [index[id(n)] for n in self.outputs]
        self._sparse = any(n.sparse for n in self.inputs)
        #: (node index, layer, parent indices) in topological order, inputs excluded (see
        #: graph_build.execution_plan for calls with several outputs)
        self._plan, self._consumers = execution_plan(self.nodes)
        self._trace = None          # (values, grads) of the last traced pass, for plot_graph
        self._loss_weights = None
        if self._seeded:
            # every shape is known: with a seed, weights exist from construction on (as in
            # Keras); without one they are drawn when first needed — by fit from its seed
            self.build()

    # ------------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        shapes = [n.shape for n in self.inputs]
        return shapes if self._multi_in else shapes[0]

    @property
    def output_shape(self):
        shapes = [n.shape for n in self.outputs]
        return shapes if self._multi_out else shapes[0]

    def output_shape_for(self, input_shape):
        return self.output_shape

    @property
    def _head(self):
        return None if self._multi_out else self.outputs[0].layer

    def _first_layer_name(self):
        return self.inputs[0].name

    def _build_layers(self, input_shape, rng):
        for _, layer, parents in self._plan:
            shapes = [self.nodes[p].shape for p in parents]
            layer.build(shapes if layer.multi_input else shapes[0], rng, self.dtype)
        self._masks = plan(self)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", loss=None, metrics=None, loss_weights=None):
        """As ``Sequential.compile`` (Keras's order: optimizer, loss, metrics, loss_weights);
        with several outputs ``loss`` is one loss for all, a list (one per output) or a dict
        {output layer name: loss}, and ``loss_weights`` a list or dict of floats (default 1).
        The training loss is Σ_k w_k L_k; each output's own loss is logged as
        ``<output>_loss`` (as Keras).  ``metrics`` is a list (computed for every output) or a
        dict {output name: list}; they are logged as ``<output>_<metric>``."""
        if not self._multi_out:
            return super().compile(optimizer, loss, metrics, loss_weights)
        if loss is None or isinstance(loss, (str, losses_mod.Loss)):
            optimizer, loss = check_compile_order(optimizer, loss)
        names = [n.label for n in self.outputs]
        losses = [losses_mod.get(l) for l in self._per_output(loss, "loss", names, None)]
        weights = self._per_output(loss_weights, "loss_weights", names, 1.0)
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) \
                    or w < 0:
                raise ConfigError(f"compile: loss_weights must be finite numbers ≥ 0, got {w!r}")
        if len({l.reduction for l in losses}) != 1:
            raise ConfigError("compile: all output losses need the same reduction, got "
                              f"{[l.reduction for l in losses]}")
        if isinstance(metrics, dict):
            specs = self._per_output(metrics, "metrics", names, None)
        else:
            specs = [list(metrics or [])] * len(names)
        old = (self.loss, self.optimizer, self._loss_weights, self._loss_trackers)
        self.loss, self._loss_weights = losses, [float(w) for w in weights]
        self.optimizer = optimizers_mod.get(optimizer)
        self._metric_specs = [list(m or []) for m in specs]
        mean = losses[0].reduction == "mean"
        self._loss_trackers = [LossTracker(f"{name}_loss", mean) for name in names]
        try:
            self._configure_head()
        except Exception:
            self.loss, self.optimizer, self._loss_weights, self._loss_trackers = old
            raise

    def _per_output(self, value, what, names, default):
        n = len(names)
        if value is None and default is not None:
            return [default] * n
        if isinstance(value, dict):
            unknown = set(value) - set(names)
            if unknown or len(value) != n:
                raise ConfigError(f"compile: {what} keys must be the output names {names}, "
                                  f"got {sorted(value)}")
            return [value[k] for k in names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ConfigError(f"compile: {what} needs {n} entries (outputs {names}), "
                                  f"got {len(value)}")
            return list(value)
        return [value] * n

    def _configure_head(self):
        if not self._multi_out:
            super()._configure_head()
            if self._fused and self._consumers[self._output_index[0]]:
                # the head's value also feeds other layers, so it must stay an activation
                self._fused, self._train_loss = False, self.loss
                threshold = 0.0 if self.loss.from_logits else 0.5
                self._metrics = [metrics_mod.get(m, self.loss.task, threshold)
                                 for m in self._metric_specs]
            wrap_sequence_head(self)
            return
        losses = self.loss if isinstance(self.loss, list) else [self.loss] * len(self.outputs)
        fused, train, metrics = [], [], []
        for k, (node, loss) in enumerate(zip(self.outputs, losses)):
            act = getattr(node.layer, "activation", None)
            f = (act is not None and act.name in loss.fuses_with
                 and self._consumers[self._output_index[k]] == 0)
            fused.append(f)
            train.append(loss.with_logits() if f else loss)
            threshold = 0.0 if (f or train[-1].from_logits) else 0.5
            for spec in self._metric_specs[k]:
                metric = metrics_mod.get(spec, loss.task, threshold)
                metric.name = f"{node.label}_{metric.name}"
                metrics.append((k, metric))
        self._fused = tuple(fused)
        self._train_loss = WeightedLosses(train, self._loss_weights)
        self._metrics = [m for _, m in metrics]
        self._metric_outputs = [k for k, _ in metrics]
        wrap_sequence_head(self)

    # ------------------------------------------------------------------ checking
    def _check_x(self, x, what="x"):
        if not self._multi_in:
            out = super()._check_x(x, what)
            check_token_ids(self._readers(self.inputs[0]), out)
            return out
        xs = self._as_list(x, self.inputs, what)
        out = [check_adjacency(v, f"{what}[{k}] (input {n.name!r})", n.shape[0], self.dtype)
               if n.sparse else self._check_array(v, f"{what}[{k}] (input {n.name!r})", n.shape)
               for k, (v, n) in enumerate(zip(xs, self.inputs))]
        lengths = {v.shape[0] for v in out}
        if len(lengths) != 1:
            raise ShapeError(f"{what}: all inputs need the same batch length, got "
                             f"{[v.shape[0] for v in out]}")
        for v, node in zip(out, self.inputs):
            check_token_ids(self._readers(node), v)
        return out

    def _readers(self, node):
        return [n.layer for n in self.nodes if any(p is node for p in n.parents)]

    def _check_xy(self, x, y):
        if not self._multi_in and not self._multi_out:
            return super()._check_xy(x, y)
        x = self._check_x(x)
        n = x[0].shape[0] if self._multi_in else x.shape[0]
        if not self._multi_out:
            ys = [y]
        else:
            ys = self._as_list(y, self.outputs, "y", names=True)
        losses = self.loss if isinstance(self.loss, list) else [self.loss]
        out = []
        for node, loss, target in zip(self.outputs, losses, ys):
            arr = np.asarray(target)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise ShapeError(f"y for output {node.label!r} must have {n} rows like x, got "
                                 f"shape {arr.shape}")
            arr = prepare_targets(loss, arr, (n,) + node.shape, self.dtype)
            out.append(np.ascontiguousarray(arr))
        return x, (out if self._multi_out else out[0])

    def _as_list(self, value, nodes, what, names=False):
        if names and isinstance(value, dict):
            keys = [n.label for n in nodes]
            if set(value) != set(keys):
                raise ShapeError(f"{what} keys must be {keys}, got {sorted(value)}")
            return [value[k] for k in keys]
        if not isinstance(value, (list, tuple)) or len(value) != len(nodes):
            got = (f"{len(value)} arrays" if isinstance(value, (list, tuple))
                   else type(value).__name__)
            raise ShapeError(f"{what}: model {self.name!r} has {len(nodes)} "
                             f"{'outputs' if names else 'inputs'} "
                             f"{[n.label for n in nodes]}, so {what} must be a list of "
                             f"{len(nodes)} arrays, got {got}")
        return list(value)

    # ------------------------------------------------------------------ computing
    def _forward(self, x, training, logits):
        return self._run(x, training, logits, None)

    def _run(self, x, training, logits, record):
        """Values of every node, in topological order; returns the output(s).  ``logits`` is a
        bool (one output) or a tuple of bools (per output) asking fused heads for logits."""
        if self._masks:
            return graph_run(self, x, training, logits, record)
        values = [None] * len(self.nodes)
        xs = x if self._multi_in else (x,)
        for i, v in zip(self._input_index, xs):
            values[i] = v
        heads = self._logit_heads(logits)
        for i, layer, parents in self._plan:
            args = [values[p] for p in parents] if layer.multi_input else values[parents[0]]
            if i in heads:
                out = layer.forward(args, training, logits=True)
            else:
                out = layer.forward(args, training)
            if type(i) is tuple:  # a multi-output call
                for j, v in zip(i, out):
                    if j is not None:
                        values[j] = v
            else:
                values[i] = out
        if record is not None:
            record["values"] = values
        outs = [values[i] for i in self._output_index]
        return outs if self._multi_out else outs[0]

    def _logit_heads(self, logits):
        if not logits:
            return ()
        if logits is True:
            return (self._output_index[0],)
        return {i for i, f in zip(self._output_index, logits) if f}

    def _backward(self, dy, input_grad=True):
        return self._run_backward(dy, input_grad, None)

    def _run_backward(self, dy, input_grad, record):
        """Reverse topological sweep; a node's gradient is the sum over its consumers.

        Every layer's ``backward`` runs (it fills the parameter gradients), with
        ``input_grad=False`` when all its parents are model inputs and ``input_grad`` is False.
        An input that receives no gradient (a mask, a sparse adjacency) gets ``None``."""
        grads = [None] * len(self.nodes)
        owned = set()  # gradients we allocated (safe to add into in place)

        def accumulate(i, g):
            cur = grads[i]
            if cur is None:
                grads[i] = g           # may be a layer's buffer or the upstream array: no +=
            elif i in owned:
                cur += g
            else:
                grads[i] = cur + g
                owned.add(i)

        for i, g in zip(self._output_index, dy if self._multi_out else (dy,)):
            accumulate(i, g)
        nodes = self.nodes
        for i, layer, parents in reversed(self._plan):
            g = [grads[j] if j is not None else None for j in i] if type(i) is tuple \
                else grads[i]
            if g is None or (type(g) is list and all(d is None for d in g)):
                # every path from here ends in an argument without a gradient (a mask)
                for grad in layer.grads.values():
                    grad[...] = 0
                continue
            need = input_grad or not all(nodes[p].is_input for p in parents)
            d = layer.backward(g, need)
            if not need:
                continue
            for p, dp in zip(parents, d) if layer.multi_input else ((parents[0], d),):
                if dp is not None:
                    accumulate(p, dp)
        if record is not None:
            record["grads"] = grads
        if not input_grad:
            return None
        dxs = [grads[i] for i in self._input_index]
        return dxs if self._multi_in else dxs[0]

    def _train_step(self, xb, yb):
        if not self._multi_out:
            return super()._train_step(xb, yb)
        outs = self._forward(xb, True, self._fused)
        value = self._train_loss.forward_many(outs, yb, self._loss_trackers)
        self._backward(self._train_loss.backward_many(), False)
        self._after_backward(value)
        self.optimizer.step(self._flat_params, self._flat_grads, self._segments)
        for k, metric in zip(self._metric_outputs, self._metrics):
            metric.update(outs[k], yb[k])
        return value

    def _evaluate_checked(self, x, y, batch_size=None):
        if not self._multi_in and not self._multi_out:
            return super()._evaluate_checked(x, y, batch_size)
        xs = x if self._multi_in else [x]
        ys = y if self._multi_out else [y]
        n = xs[0].shape[0]
        chunk = self._chunk(batch_size or 4096, n)
        self._reset_metrics()
        loss = self._train_loss if self._multi_out else WeightedLosses([self._train_loss], [1.0])
        mean = loss.reduction == "mean"
        total = 0.0
        for start in range(0, n, chunk):
            xb = [v[start:start + chunk] for v in xs] if chunk < n else xs
            yb = [v[start:start + chunk] for v in ys] if chunk < n else ys
            outs = self._forward(xb if self._multi_in else xb[0], False, self._fused)
            outs = outs if self._multi_out else [outs]
            value = loss.forward_many(outs, yb, self._loss_trackers)
            total += value * xb[0].shape[0] if mean else value
            ks = getattr(self, "_metric_outputs", [0] * len(self._metrics))
            for k, metric in zip(ks, self._metrics):
                metric.update(outs[k], yb[k])
        for part in loss.losses:
            part._cache = None  # do not keep the last chunk alive
        logs = {"loss": total / n if mean else total}
        if self._has_regularizers:
            logs["loss"] += penalty(self)
        logs.update(self._metric_results())
        return logs

    def predict(self, x, batch_size=None, verbose=0):
        """Output(s) for ``x`` (a list of arrays when the model has several inputs); a list of
        arrays when it has several outputs."""
        if not self._multi_in and not self._multi_out:
            return super().predict(x, batch_size, verbose)
        self._require_built("predict")
        chunk = chunk_size(batch_size, "predict")
        check_verbose(verbose, "predict")
        xs = self._check_x(x)
        xs = xs if self._multi_in else [xs]
        n = xs[0].shape[0]
        chunk = self._chunk(chunk, n)
        parts = []
        for start in range(0, n, chunk):
            xb = [v[start:start + chunk] for v in xs] if chunk < n else xs
            out = self._forward(xb if self._multi_in else xb[0], False, False)
            parts.append(out if self._multi_out else [out])
        outs = [np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k]
                for k in range(len(self.outputs))]
        return outs if self._multi_out else outs[0]

    def _chunk(self, chunk, n):
        """Rows per pass: ``chunk``, except that a model taking a sparse graph adjacency runs
        all ``n`` node rows at once (a graph's rows cannot be cut)."""
        return n if self._sparse else chunk

    def predict_proba(self, x, batch_size=None):
        if self._multi_out:
            raise ConfigError("predict_proba: the model has several outputs; use predict")
        return super().predict_proba(x, batch_size)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """``{"class_name": "Model", "config": {...}}``: inputs, every layer as a spec
        ``{"class_name", "config", "inbound": [parent names]}``, and the output names."""
        return graph_config(self)

    @classmethod
    def from_config(cls, spec, seed=None, custom_objects=None, max_weight_bytes=None) -> Model:
        """The model described by ``get_config()`` (new weights; copy them with set_weights).
        ``custom_objects`` and ``max_weight_bytes`` as in ``Sequential.from_config``."""
        return graph_from_config(cls, spec, seed, custom_objects, max_weight_bytes)
