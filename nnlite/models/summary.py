"""The text table printed by ``model.summary()``."""
from __future__ import annotations

from .weights import leaf_layers


def _shape(shape):
    if isinstance(shape, list):  # a layer with several inputs' shapes or several outputs
        return ", ".join(_shape(s) for s in shape)
    return "(None, " + ", ".join(map(str, shape)) + ")" if shape is not None else "?"


def summary_text(model) -> str:
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for layer in model.layers:
        count = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name or layer.default_name} ({type(layer).__name__})",
                     _shape(layer.output_shape), f"{count:,}"))
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    line = "-" * sum(widths)
    out = [f'Model: "{model.name}"', line]
    out.append("".join(c.ljust(w) for c, w in zip(rows[0], widths)))
    out.append("=" * sum(widths))
    out.extend("".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows[1:])
    out.append("=" * sum(widths))
    leaves = [l for l in leaf_layers(model.layers) if l.built]
    trainable = sum(l.count_params() for l in leaves if l.trainable)
    # frozen parameters and state arrays (e.g. moving statistics), as Keras counts them
    non_trainable = sum(l.count_params() for l in leaves if not l.trainable) + \
        sum(v.size for l in leaves for v in l.state.values())
    out.append(f"Total params: {trainable + non_trainable:,}")
    out.append(f"Trainable params: {trainable:,}")
    out.append(f"Non-trainable params: {non_trainable:,}")
    return "\n".join(out)
