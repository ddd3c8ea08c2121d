"""Building a model from a computational graph: topological order, checks, names, the
execution plan and the config round trip.  The nodes themselves (``Input``, ``Node``, a layer
call) are in ``nnlite.layers.nodes``.

:func:`topological_order` lists every node an output depends on, parents before children
(micrograd's ``build_topo``), and :func:`check_graph` turns every way of mis-wiring a graph into
a ``GraphError`` that names the layers and shapes involved.
"""
from __future__ import annotations

from ..errors import GraphError
from ..layers.nodes import Input, Node, call_layer
from ..layers.registry import layer_from_spec
from .weights import limit_allocation

__all__ = ["Node", "Input", "call_layer", "topological_order", "check_graph", "assign_names",
           "execution_plan", "graph_config", "graph_from_config"]


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
