"""Small models, data and a fingerprint of everything a failed call must leave unchanged."""
from __future__ import annotations

import hashlib
import json

import numpy as np

import nnlite
from nnlite.layers import Dense, Dropout
from nnlite.models.base import leaf_layers


def blobs(n=64, features=4, classes=3, seed=0, dtype=np.float64):
    """Separable Gaussian blobs: x (n, features), integer labels (n,)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    x = centers[y] + rng.normal(0.0, 1.0, size=(n, features))
    return x.astype(dtype), y


def small_model(seed=0, features=4, classes=3, dropout=True, optimizer="adam", dtype="float32"):
    layers = [Dense(8, activation="relu", input_dim=features)]
    if dropout:
        layers.append(Dropout(0.25))
    layers.append(Dense(classes, activation="softmax"))
    model = nnlite.Sequential(layers, seed=seed, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                  metrics=["accuracy"])
    return model


def _update_array(h, name, a):
    a = np.asarray(a)
    h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())


def fingerprint(model) -> str:
    """sha256 over weights (parameters and layer states), optimizer state and config, the
    model's RNG state, history, and the built/compiled flags."""
    h = hashlib.sha256()
    h.update(f"built={model.built} loss={model.loss!r} opt={model.optimizer!r}".encode())
    if model.built:
        for i, w in enumerate(model.get_weights()):
            _update_array(h, f"w{i}", w)
    if model.optimizer is not None:
        for key, value in sorted(model.optimizer.get_state().items()):
            _update_array(h, f"opt/{key}", value)
    h.update(json.dumps(model.rng.bit_generator.state, sort_keys=True, default=str).encode())
    for layer in leaf_layers(getattr(model, "layers", [])):  # per-layer generators (Dropout)
        for key, value in sorted(vars(layer).items()):
            if isinstance(value, np.random.Generator):
                h.update(json.dumps([layer.name, key, value.bit_generator.state],
                                    sort_keys=True, default=str).encode())
    history = getattr(model, "history", None)
    if history is not None:
        h.update(json.dumps({"history": history.history, "epoch": history.epoch},
                            sort_keys=True, default=repr).encode())
    return h.hexdigest()


def losses_hex(history) -> list[str]:
    """Epoch losses as exact hex strings (bit-for-bit comparison)."""
    return [float(v).hex() for v in history.history.get("loss", [])]
