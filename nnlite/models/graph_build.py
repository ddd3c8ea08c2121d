"""Building a computational graph: symbolic nodes, layer calls, topological order, checks.

``x = Input(shape=(4,))`` makes a source node; ``h = Dense(8)(x)`` makes a node whose parent is
``x`` (``Layer.__call__`` lands in :func:`call_layer`).  Nothing is computed: a node only knows
its layer, its parents and its output shape (batch excluded).

Two extensions serve layers such as ``MultiHeadAttention``:

* **keyword node arguments** — ``mha(q, v, key=k, attention_mask=m, use_causal_mask=True)``:
  the layer's own ``__call__`` orders its node arguments into the parent list and passes
  ``call={"inputs": [argument names, in parent order], **options}`` (JSON values only).  The
  node keeps that record, the model's config stores it with the layer, and rebuilding calls
  ``layer(**dict(zip(call["inputs"], parents)), **options)``.
* **several outputs** — a layer whose ``multi_output`` is True (e.g. ``return_attention_scores=
  True``) returns a list of shapes from ``compute_output_shape``, and the call returns a tuple
  of sibling nodes (``index`` 0, 1, ...; labels ``name``, ``name:1``, ...).  The model runs the
  layer once for all of them: ``forward`` returns a tuple, ``backward`` gets a list of
  gradients (None for an output that receives none).  :func:`topological_order` lists
every node an output depends on, parents before children (micrograd's ``build_topo``), and
:func:`check_graph` turns every way of mis-wiring a graph into a ``GraphError`` that names the
layers and shapes involved.
"""
from __future__ import annotations

from ..errors import ConfigError, GraphError, ShapeError
from ..layers.base import Layer, _as_shape

__all__ = ["Node", "Input", "call_layer", "topological_order", "check_graph", "assign_names",
           "execution_plan", "graph_config", "graph_from_config"]


class Node:
    """One value in the graph: the output of ``layer`` applied to ``parents`` (an ``Input``
    node has no layer and no parents).  ``shape`` excludes the batch axis."""

    __slots__ = ("layer", "parents", "shape", "name", "call", "index", "group", "sparse")

    def __init__(self, layer, parents, shape, name=None, call=None, sparse=False):
        self.layer = layer
        self.parents = tuple(parents)
        self.shape = tuple(shape)
        self.name = name
        self.call = call        # the keyword-call record (see the module docstring) or None
        self.index = 0          # which output of its layer's call
        self.group = None       # the tuple of sibling nodes of a multi-output call, else None
        self.sparse = sparse    # an Input taking scipy.sparse matrices (a graph adjacency)

    @property
    def is_input(self) -> bool:
        return self.layer is None

    @property
    def label(self) -> str:
        """The name used in messages: the input's or layer's name, else its type."""
        if self.layer is None:
            return self.name or "input"
        name = self.layer.name or self.layer.default_name
        return f"{name}:{self.index}" if self.index else name

    def __repr__(self):
        kind = "Input" if self.layer is None else type(self.layer).__name__
        return f"<Node {self.label!r} ({kind}) shape=(None, {', '.join(map(str, self.shape))})>"


def Input(shape, name=None, sparse=False) -> Node:  # noqa: N802 (Keras name)
    """A graph input of shape ``(batch, *shape)``: ``x = nnlite.Input(shape=(784,))``.

    ``sparse=True`` declares a graph adjacency of ``N`` nodes, ``Input(shape=(N,),
    sparse=True)``: its value is a ``scipy.sparse`` matrix of shape (N, N) or an edge list, an
    integer array of shape (E, 2) whose rows (i, j) set A[i, j] = 1 (list both directions for
    an undirected graph).  It stays sparse through the model (see ``GCNConv``), which then
    trains and predicts full batch: the N node rows of every input form one batch."""
    shape = _as_shape(shape, "Input: shape")
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise ConfigError(f"Input: name must be a non-empty str without '/', got {name!r}")
    if not isinstance(sparse, bool):
        raise ConfigError(f"Input: sparse must be True or False, got {sparse!r}")
    if sparse and len(shape) != 1:
        raise ConfigError(f"Input: a sparse input is an (N, N) adjacency, declared with "
                          f"shape=(N,); got shape={shape}")
    return Node(None, (), shape, name, sparse=sparse)


def call_layer(layer: Layer, inputs, call=None):
    """The node ``layer(inputs)`` (a tuple of nodes when ``layer.multi_output``); checks the
    shapes now, so a bad merge fails at the call.  ``call``: the record of a call with keyword
    arguments (see the module docstring)."""
    what = f"{type(layer).__name__} {layer.name or layer.default_name!r}"
    if layer.multi_input:
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(n, Node) for n in inputs):
            raise GraphError(f"{what} takes a list of graph nodes, got {_describe(inputs)}")
        parents = tuple(inputs)
        in_shape = [p.shape for p in parents]
    else:
        if not isinstance(inputs, Node):
            raise GraphError(f"{what} must be called on a graph node (from nnlite.Input or "
                             f"another layer call), got {_describe(inputs)}; use "
                             "model.predict(x) to compute with arrays")
        parents = (inputs,)
        in_shape = inputs.shape
        if layer.input_shape is not None and tuple(layer.input_shape) != in_shape:
            raise GraphError(f"{what} was declared with input_shape {tuple(layer.input_shape)} "
                             f"but is called on {parents[0].label!r} of shape {in_shape}")
    try:
        shape = layer.compute_output_shape(in_shape)
    except (ShapeError, ConfigError) as err:
        given = ", ".join(f"{p.label!r} {p.shape}" for p in parents)
        raise GraphError(f"{what} cannot take {given}: {err}") from None
    if not getattr(layer, "multi_output", False):
        return Node(layer, parents, shape, call=call)
    group = tuple(Node(layer, parents, s, call=call) for s in shape)
    for k, node in enumerate(group):
        node.index, node.group = k, group
    return group


def _describe(value):
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of " + ", ".join(type(v).__name__ for v in value)
    return type(value).__name__


def topological_order(outputs) -> list:
    """Every node the outputs depend on, each after its parents (depth-first post-order).

    A node still on the DFS stack when reached again closes a cycle; graphs built by calling
    layers cannot have one, so a cycle means ``parents`` were edited by hand."""
    order, done, active = [], set(), []
    on_stack = set()

    def visit(node):
        if id(node) in done:
            return
        if id(node) in on_stack:
            path = active[active.index(node):] + [node]
            raise GraphError("the graph has a cycle: " + " -> ".join(n.label for n in path))
        on_stack.add(id(node))
        active.append(node)
        for parent in node.parents:
            if not isinstance(parent, Node):
                raise GraphError(f"node {node.label!r} has a parent that is not a graph node: "
                                 f"{type(parent).__name__}")
            visit(parent)
        active.pop()
        on_stack.discard(id(node))
        done.add(id(node))
        order.append(node)

    for out in outputs:
        visit(out)
    return order


def check_graph(inputs, outputs, nodes) -> None:
    """Raise GraphError for unknown or unused inputs, repeated inputs/outputs and layers used
    at more than one node (weight sharing is not supported, see ``nnlite.models.graph``)."""
    for kind, group in (("inputs", inputs), ("outputs", outputs)):
        if not group:
            raise GraphError(f"Model needs at least one node in {kind}")
        for node in group:
            if not isinstance(node, Node):
                raise GraphError(f"Model {kind} must be graph nodes (nnlite.Input(...) or a "
                                 f"layer call), got {type(node).__name__}")
        if len({id(n) for n in group}) != len(group):
            raise GraphError(f"Model {kind} list the same node twice: "
                             f"{[n.label for n in group]}")
    for node in outputs:
        if node.is_input:
            raise GraphError(f"output {node.label!r} is an Input node; a Model needs at least "
                             "one layer between its inputs and each output")
    for node in inputs:
        if not node.is_input:
            raise GraphError(f"Model inputs must be nnlite.Input nodes; {node.label!r} is the "
                             f"output of a {type(node.layer).__name__} layer")
    known = {id(n) for n in inputs}
    used = {id(n) for n in nodes if n.is_input}
    for out in outputs:
        for src in topological_order([out]):
            if src.is_input and id(src) not in known:
                raise GraphError(f"output {out.label!r} depends on input {src.label!r} of shape "
                                 f"{src.shape}, which is not among the model's inputs "
                                 f"{[n.label for n in inputs]} (unknown input)")
    for node in inputs:
        if id(node) not in used:
            raise GraphError(f"input {node.label!r} of shape {node.shape} is disconnected: no "
                             f"output {[n.label for n in outputs]} depends on it")
    seen = {}
    for node in nodes:
        if node.is_input:
            continue
        first = seen.get(id(node.layer))
        if first is not None and not (node.group is not None and node.group is first.group):
            raise GraphError(
                f"layer {node.label!r} ({type(node.layer).__name__}) is called at two places in "
                "the graph; shared layers are not supported (a layer keeps one forward cache), "
                "create a second layer instead")
        seen[id(node.layer)] = node


def assign_names(inputs, nodes) -> None:
    """Give unnamed inputs and layers unique names (``dense``, ``dense_1``, ...); a name used
    twice raises GraphError.  Containers rename their sublayers ``container/inner``."""
    taken = set()
    for node in inputs:
        if node.name is not None:
            if node.name in taken:
                raise GraphError(f"two Model inputs are named {node.name!r}")
            taken.add(node.name)
    layers = list(dict.fromkeys(n.layer for n in nodes if not n.is_input))  # siblings: once
    for layer in layers:
        if layer.name is not None:
            if layer.name in taken:
                raise GraphError(f"layer name {layer.name!r} is used twice in the graph")
            taken.add(layer.name)
    for node in inputs:
        if node.name is None:
            node.name = _fresh("input", taken)
    for layer in layers:
        if layer.name is None:
            layer.name = _fresh(layer.default_name, taken)


def execution_plan(nodes):
    """``(plan, consumers)`` for nodes in topological order: ``plan`` lists ``(node index,
    layer, parent indices)`` for every layer call, ``consumers[i]`` counts the calls reading
    node i.  A call with several outputs is one entry, at its first output's place, whose
    node index is a tuple (one per output, None for an output no model output depends on):
    all their consumers come later, so in the reverse sweep their gradients are complete."""
    index = {id(n): i for i, n in enumerate(nodes)}
    consumers = [0] * len(nodes)
    plan, groups = [], {}
    for i, node in enumerate(nodes):
        if node.is_input:
            continue
        if node.group is None:
            slots = i
        elif id(node.group) in groups:
            groups[id(node.group)][node.index] = i
            continue
        else:
            slots = groups[id(node.group)] = [None] * len(node.group)
            slots[node.index] = i
        parents = tuple(index[id(p)] for p in node.parents)
        for p in parents:
            consumers[p] += 1
        plan.append((slots, node.layer, parents))
    return [(tuple(i) if isinstance(i, list) else i, layer, parents)
            for i, layer, parents in plan], consumers


def _fresh(base, taken):
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def graph_config(model) -> dict:
    """The JSON-able description of a graph model (see ``Model.get_config``)."""
    layer_specs, seen = [], set()
    for node in model.nodes:
        if not node.is_input and id(node.layer) not in seen:  # sibling outputs: one entry
            seen.add(id(node.layer))
            spec = {"class_name": type(node.layer).__name__, "config": node.layer.get_config(),
                    "inbound": [p.label for p in node.parents]}
            if node.call is not None:
                spec["call"] = node.call
            layer_specs.append(spec)
    config = {"name": model.name, "dtype": model.dtype.name,
              "inputs": [{"name": n.name, "shape": list(n.shape),
                          **({"sparse": True} if n.sparse else {})} for n in model.inputs],
              "layers": layer_specs, "outputs": [n.label for n in model.outputs],
              "multi_input": model._multi_in, "multi_output": model._multi_out}
    return {"class_name": type(model).__name__, "config": config}


def graph_from_config(cls, spec, seed=None, custom_objects=None, max_weight_bytes=None):
    """Rebuild the graph of ``graph_config`` by calling fresh layers on fresh inputs
    (``custom_objects`` and ``max_weight_bytes`` as in ``Sequential.from_config``)."""
    from ..layers import layer_from_spec
    from .base import limit_allocation

    config = spec["config"] if "class_name" in spec else spec
    nodes, inputs, layers = {}, [], []
    for entry in config["inputs"]:
        node = Input(shape=tuple(entry["shape"]), name=entry["name"],
                     sparse=entry.get("sparse", False))
        nodes[entry["name"]] = node
        inputs.append(node)
    for entry in config["layers"]:
        layer = layer_from_spec(entry, custom_objects)
        layers.append(layer)
        missing = [p for p in entry["inbound"] if p not in nodes]
        if missing:
            raise GraphError(f"Model.from_config: layer {layer.name!r} refers to unknown "
                             f"nodes {missing}")
        parents = [nodes[p] for p in entry["inbound"]]
        call = entry.get("call")
        if call is not None:
            names = call.get("inputs") if isinstance(call, dict) else None
            if not isinstance(names, list) or len(names) != len(parents):
                raise GraphError(f"Model.from_config: layer {layer.name!r} has a call record "
                                 f"{call!r} that does not name its {len(parents)} inputs")
            options = {k: v for k, v in call.items() if k != "inputs"}
            result = layer(**dict(zip(names, parents)), **options)
        else:
            result = layer(parents if layer.multi_input else parents[0])
        for node in result if isinstance(result, tuple) else (result,):
            nodes[node.label] = node
    try:
        outputs = [nodes[o] for o in config["outputs"]]
    except KeyError as err:
        raise GraphError(f"Model.from_config: unknown output {err.args[0]!r}") from None
    limit_allocation(layers, max_weight_bytes)  # the Model builds its weights at construction
    return cls(inputs if config.get("multi_input", len(inputs) > 1) else inputs[0],
               outputs if config.get("multi_output", len(outputs) > 1) else outputs[0],
               name=config.get("name"), seed=seed, dtype=config.get("dtype", "float32"))
