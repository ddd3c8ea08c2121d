"""Save and load models without unpickling anything: one zip file (the ``.npz`` layout) holding
``config.json`` and the arrays as ``.npy`` members.

    config.json       {"format": "nnlite", "format_version": 1, "nnlite_version": "...",
                       "kind": "model" | "weights",
                       "model": {"class_name": "Sequential" | "Model", "config": {...}},
                       "compile": {"loss", "loss_weights", "optimizer", "metrics"} | null,
                       "weights": [{"layer", "key", "member", "shape", "dtype"}, ...],
                       "optimizer_state": {"iterations": int, "slots": [...]} | null,
                       "rng": the PCG64 bit-generator state of model.rng | null,
                       "layer_rngs": {layer name: {attribute: state}} (e.g. Dropout's masks)}
    arrays/00000.npy  one array per entry of "weights" and "optimizer_state.slots"

``model.save(path)`` writes everything needed to predict *and* to continue training
bit-identically (weights, layer states, optimizer slots and step count, the model's random
state); ``save_weights`` writes only the weights.  Writes go to a temporary file in the same
directory, are fsync'ed, then ``os.replace``'d over ``path``: a crash mid-save leaves the old file.

Reading trusts nothing in the file.  The zip is parsed with ``zipfile``; each ``.npy`` header is
read with ``numpy.lib.format``'s header readers (bounded header size) and its data copied with
``np.frombuffer`` — nothing unpickled, no object dtypes, no code, no import by name.
Limits are checked
*before* anything is read: the file size, the number of members, each member's declared size and
their total, the config size; only the member names the format defines are allowed, the dtype
must be one of ``DTYPES`` and must match the config, and the config must fit the schema
(see ``nnlite.archive`` for the container and its limits).
Only classes from nnlite's registries (``nnlite.layers.REGISTRY``, the loss and optimizer
tables, ``nnlite.schedules``) are built, plus classes the caller passes in ``custom_objects``.
Any corrupt, truncated, foreign or over-large file raises ``nnlite.errors.FormatError``.
"""
from __future__ import annotations

import io

import numpy as np

from .. import losses, metrics, optimizers
from ..errors import ConfigError, FormatError, ShapeError
from ..models.serialization import model_from_config
from ..models.services import provide
from ..models.weights import leaf_layers
from ..version import __version__
from .archive import DTYPES, MAX_BYTES, MEMBER, fail, read_archive, write_atomic, write_zip

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_bytes",
           "FORMAT_VERSION"]

FORMAT_VERSION = 1
_TOP_KEYS = {"format", "format_version", "nnlite_version", "kind", "model", "compile",
             "weights", "optimizer_state", "rng", "layer_rngs"}
_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM}


# --------------------------------------------------------------------------- writing
def _array_entries(model):
    for layer in leaf_layers(model.layers):
        for key, value in layer.params.items():
            yield layer.name, key, value
        for key, value in layer.state.items():
            yield layer.name, f"state:{key}", value


def _spec(obj, table, what):
    name = type(obj).__name__
    if table.get(name) is not type(obj):
        raise ConfigError(f"save: {what} {name!r} is not registered in nnlite; only built-in "
                          f"{what}s can be saved ({sorted(table)})")
    return {"class_name": name, "config": obj.get_config()}


def _compile_config(model):
    if model.loss is None:
        return None
    loss = model.loss
    loss_spec = ([_spec(l, losses._CLASSES, "loss") for l in loss] if isinstance(loss, list)
                 else _spec(loss, losses._CLASSES, "loss"))
    known = set(metrics.names()) | set(metrics._ALIASES)

    def metric_names(specs):
        names = []
        for m in specs:
            name = m if isinstance(m, str) else getattr(m, "name", None)
            if not isinstance(name, str) or name.lower() not in known:
                raise ConfigError(f"save: metric {m!r} is not registered in nnlite; it cannot "
                                  "be saved")
            names.append(name)
        return names
    if getattr(model, "_multi_out", False):  # one list per output, keyed by output name
        names = {node.label: metric_names(specs)
                 for node, specs in zip(model.outputs, model._metric_specs)}
    else:
        names = metric_names(model._metric_specs)
    return {"loss": loss_spec, "loss_weights": getattr(model, "_loss_weights", None),
            "optimizer": _spec(model.optimizer, optimizers._CLASSES, "optimizer"),
            "metrics": names}


def _rng_state(rng, owner="the model"):
    state = rng.bit_generator.state
    if state.get("bit_generator") not in _BIT_GENERATORS:
        raise ConfigError(f"save: the random generator of {owner} uses "
                          f"{state.get('bit_generator')!r}; only PCG64 (numpy's default) and "
                          "PCG64DXSM states can be saved")
    return state


def _layer_rngs(model):
    """{layer: {attribute: Generator}} for layers that draw their own random numbers."""
    found = {}
    for layer in leaf_layers(model.layers):
        gens = {k: v for k, v in vars(layer).items() if isinstance(v, np.random.Generator)}
        if gens:
            found[layer.name] = gens
    return found


def _generator(state):
    cls = _BIT_GENERATORS.get(state.get("bit_generator")) if isinstance(state, dict) else None
    if cls is None:
        raise FormatError(f"unsupported random generator state {state!r:.80}")
    bit_generator = cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _collect(model, kind):
    model._require_built(f"save{'_weights' if kind == 'weights' else ''}")
    arrays, weights = [], []
    for layer, key, value in _array_entries(model):
        member = f"arrays/{len(arrays):05d}.npy"
        weights.append({"layer": layer, "key": key, "member": member,
                        "shape": list(value.shape), "dtype": value.dtype.str})
        arrays.append((member, value))
    config = {"format": "nnlite", "format_version": FORMAT_VERSION,
              "nnlite_version": __version__, "kind": kind, "model": None, "compile": None,
              "weights": weights, "optimizer_state": None, "rng": None, "layer_rngs": {}}
    if kind == "model":
        config["model"] = model.get_config()
        config["compile"] = _compile_config(model)
        config["rng"] = _rng_state(model.rng)
        config["layer_rngs"] = {name: {attr: _rng_state(g, f"layer {name!r}")
                                       for attr, g in gens.items()}
                                for name, gens in _layer_rngs(model).items()}
        if model.optimizer is not None:
            state = model.optimizer.get_state()
            slots = []
            for name in sorted(k for k in state if k != "iterations"):
                member = f"arrays/{len(arrays):05d}.npy"
                value = np.ascontiguousarray(state[name])
                slots.append({"name": name, "member": member, "shape": list(value.shape),
                              "dtype": value.dtype.str})
                arrays.append((member, value))
            config["optimizer_state"] = {"iterations": int(state.get("iterations", 0)),
                                         "slots": slots}
    return config, arrays


def save_model(model, path) -> None:
    """Write ``model`` (architecture, compile settings, weights, optimizer and random state)."""
    config, arrays = _collect(model, "model")
    write_atomic(path, config, arrays)


def model_to_bytes(model) -> bytes:
    """The bytes ``save_model`` would write; ``load_model(data)`` accepts them back."""
    config, arrays = _collect(model, "model")
    buf = io.BytesIO()
    write_zip(buf, config, arrays)
    return buf.getvalue()


def save_weights(model, path) -> None:
    """Write only the weights (and layer states) of ``model``."""
    config, arrays = _collect(model, "weights")
    write_atomic(path, config, arrays)


# --------------------------------------------------------------------------- reading
def _entry_ok(entry, keys):
    return (isinstance(entry, dict) and set(entry) == keys
            and isinstance(entry["member"], str) and MEMBER.fullmatch(entry["member"])
            and isinstance(entry["shape"], list) and len(entry["shape"]) <= 32
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                    for d in entry["shape"])
            and entry["dtype"] in DTYPES)


def _check_schema(config):
    if not isinstance(config, dict) or config.get("format") != "nnlite":
        raise FormatError("config.json does not describe an nnlite file")
    if set(config) != _TOP_KEYS:
        raise FormatError(f"config.json keys {sorted(config)} differ from {sorted(_TOP_KEYS)}")
    version = config["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(f"format_version {version} was written by a newer nnlite "
                          f"({config['nnlite_version']!r}); this one reads up to {FORMAT_VERSION}")
    if config["kind"] not in ("model", "weights"):
        raise FormatError(f"invalid kind {config['kind']!r}")
    weights = config["weights"]
    if not isinstance(weights, list) or not all(
            _entry_ok(e, {"layer", "key", "member", "shape", "dtype"})
            and isinstance(e["layer"], str) and isinstance(e["key"], str) for e in weights):
        raise FormatError("invalid 'weights' table")
    entries = list(weights)
    if config["kind"] == "model":
        model = config["model"]
        if not isinstance(model, dict) or not isinstance(model.get("class_name"), str) or \
                not isinstance(model.get("config"), dict):
            raise FormatError("invalid 'model' entry")
        if config["compile"] is not None and not isinstance(config["compile"], dict):
            raise FormatError("invalid 'compile' entry")
        state = config["optimizer_state"]
        if state is not None:
            if not isinstance(state, dict) or set(state) != {"iterations", "slots"} or \
                    not isinstance(state["iterations"], int) or state["iterations"] < 0 or \
                    not isinstance(state["slots"], list) or not all(
                        _entry_ok(e, {"name", "member", "shape", "dtype"})
                        and isinstance(e["name"], str) for e in state["slots"]):
                raise FormatError("invalid 'optimizer_state' entry")
            entries += state["slots"]
        if not isinstance(config["rng"], dict):
            raise FormatError("invalid 'rng' entry")
        if not isinstance(config["layer_rngs"], dict) or not all(
                isinstance(v, dict) for v in config["layer_rngs"].values()):
            raise FormatError("invalid 'layer_rngs' entry")
    members = [e["member"] for e in entries]
    if len(set(members)) != len(members):
        raise FormatError("an array member is listed twice")
    return entries


def _build(config, arrays, custom_objects):
    # Hyper-parameters come from the untrusted config (units=2**28 in a 4 KiB file): the build
    # may allocate no more weight bytes than the file's weight table holds.
    held = sum(int(np.prod(e["shape"], dtype=object)) * np.dtype(e["dtype"]).itemsize
               for e in config["weights"])
    model = model_from_config(config["model"], custom_objects, max_weight_bytes=held)
    compile_config = config["compile"]
    if compile_config is not None:
        custom = custom_objects or {}

        def make_loss(s):
            table = {**custom, **losses._CLASSES}
            if not isinstance(s, dict) or s.get("class_name") not in table:
                raise FormatError(f"unknown loss {s!r}")
            return table[s["class_name"]](**s["config"])
        loss = compile_config["loss"]
        loss = [make_loss(s) for s in loss] if isinstance(loss, list) else make_loss(loss)
        opt = compile_config["optimizer"]
        if not isinstance(opt, dict):
            raise FormatError(f"invalid optimizer entry {opt!r}")
        optimizer = optimizers.from_config(opt.get("class_name"), opt.get("config"), custom)
        extra = {}
        if compile_config.get("loss_weights") is not None:
            extra["loss_weights"] = compile_config["loss_weights"]
        metrics = compile_config["metrics"]
        metrics = dict(metrics) if isinstance(metrics, dict) else list(metrics)
        model.compile(optimizer, loss, metrics=metrics, **extra)
    model.build()
    _assign_weights(model, config, arrays)
    state = config["optimizer_state"]
    if state is not None and model.optimizer is not None:
        slots = {s["name"]: arrays[s["member"]] for s in state["slots"]}
        model.optimizer.set_state({**slots, "iterations": state["iterations"]})
    model.rng = _generator(config["rng"])
    built = _layer_rngs(model)
    saved = config["layer_rngs"]
    if {n: sorted(g) for n, g in built.items()} != {n: sorted(g) for n, g in saved.items()}:
        raise FormatError(f"layer random generators {sorted(saved)} do not match the model's "
                          f"{sorted(built)}")
    for name, gens in saved.items():
        layer = next(l for l in _leaf(model) if l.name == name)
        for attr, state in gens.items():
            setattr(layer, attr, _generator(state))
    return model


def _leaf(model):
    return leaf_layers(model.layers)


def _assign_weights(model, config, arrays):
    """Check the file's weight table against the model's, then copy (all or nothing)."""
    entries = config["weights"]
    targets = list(_array_entries(model))
    if len(entries) != len(targets):
        raise ShapeError(f"the file holds {len(entries)} weight arrays, model {model.name!r} "
                         f"has {len(targets)}")
    for entry, (layer, key, value) in zip(entries, targets):
        if (entry["layer"], entry["key"]) != (layer, key) or \
                tuple(entry["shape"]) != value.shape:
            raise ShapeError(f"weight {entry['layer']}/{entry['key']} of shape "
                             f"{tuple(entry['shape'])} in the file does not fit layer {layer!r} "
                             f"{key} of shape {value.shape}")
    model.set_weights([arrays[e["member"]] for e in entries])


def load_model(path, custom_objects=None, max_bytes=MAX_BYTES):
    """The model saved at ``path`` (or given as the file's bytes) by ``model.save``: same
    architecture, compile settings,
    weights, optimizer state and random state.  ``custom_objects`` ({class name: class}) allows
    your own layer/loss/optimizer/schedule classes; nothing else outside nnlite is built."""
    config, arrays = read_archive(path, _check_schema, max_bytes)
    if config["kind"] != "model":
        fail(path, "it holds only weights (written by save_weights); build the model and "
                    "call model.load_weights(path)")
    try:
        return _build(config, arrays, custom_objects)
    except FormatError as err:
        fail(path, str(err))
    except Exception as err:  # any failure to rebuild from the file's config is a bad file
        fail(path, f"its model config cannot be rebuilt ({type(err).__name__}: {err})")


def load_weights(model, path, max_bytes=MAX_BYTES) -> None:
    """Copy the weights stored at ``path`` (by ``save_weights`` or ``save``) into ``model``;
    the layer names, keys and shapes must match (ShapeError otherwise, model unchanged)."""
    config, arrays = read_archive(path, _check_schema, max_bytes)
    model._require_built("load_weights")
    _assign_weights(model, config, arrays)


for _name, _function in (("save_model", save_model), ("save_weights", save_weights),
                         ("load_weights", load_weights)):
    provide(_name, _function)  # model.save/save_weights/load_weights (see models/services.py)
