"""The depth study: sigmoid vs tanh vs ReLU vs ReLU + skip connections as networks grow deep.

``depth_study()`` trains one network per (activation, depth) — same width, data, seed, optimizer
and budget for all — and records the lecture's quantities: the gradient norm of every layer at
initialization and after training, the training-loss curve, train/test accuracy and wall time.

The networks (``build_network``), for ``depth = d`` hidden layers of ``width`` units::

    sigmoid / tanh / relu   x → Dense(w, f) → [Dense(w, f)] × (d−1) → Dense(classes, softmax)
    relu+residual           x → Dense(w, relu) → [h ← h + Dense(w)(relu(h))] × (d−1)
                              → Dense(classes, softmax)

Every network at depth d has exactly d hidden Dense layers, d ReLU/sigmoid/tanh nonlinearities,
d + 1 weight matrices and the same parameter count; the residual net adds d − 1 identity paths
around hidden layers 2..d, in the pre-activation form of He et al. (2016) — the ReLU moves in
front of its Dense so each branch W relu(h) + b has mean zero (with the post-activation form
h + relu(W h), every branch adds a positive mean and h grows linearly with depth).
Initialization ("auto"): Glorot-uniform for sigmoid/tanh, He-uniform for ReLU; ``init="glorot"``
or ``"he"`` forces one for every network.  An He-initialized branch doubles the variance of h at
each block, so the B = d − 1 branch kernels are scaled by 1/√B after initialization (as in
Fixup, Zhang et al. 2019): the stack then grows h, and the gradient, by at most (1 + 1/B)^B ≤ e
in squared norm, at any depth.  At d = 1 all ReLU variants are the same network.

    >>> results = depth_study(activations=("sigmoid", "relu+residual"), depths=(8,), epochs=1,
    ...                       data="spirals", progress=False)   # 3,000 points: < 1 s
    >>> [(row["activation"], row["first_grad_init"] < 1e-4) for row in results.table()]
    [('sigmoid', True), ('relu+residual', False)]
    >>> results.to_csv("depth.csv")                              # doctest: +SKIP
    >>> results.plot_gradient_norms("depth_grad_norms.png")      # doctest: +SKIP
"""
from __future__ import annotations

import csv
import json
import os
import time

import numpy as np

from .. import datasets
from .. import optimizers as optimizers_mod
from ..callbacks import TerminateOnNaN
from ..diagnostics import plotting
from ..diagnostics.measures import layer_gradient_norms
from ..errors import ConfigError
from ..io.files import atomic_write
from ..layers import Dense, ReLU, Residual
from ..models import Sequential

__all__ = ["ACTIVATIONS", "DEPTHS", "QUICK", "build_network", "depth_study",
           "DepthStudyResults", "load_study_data"]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "relu+residual")
DEPTHS = (1, 2, 4, 8, 16, 32)
#: ``depth_study(**QUICK)``: the smoke-test sweep of ``python -m nnlite depth --quick``
QUICK = {"depths": (1, 4, 16), "epochs": 3, "n_train": 2000}
_INITS = {"glorot": "glorot_uniform", "he": "he_uniform"}
_AUTO = {"sigmoid": "glorot", "tanh": "glorot", "relu": "he", "relu+residual": "he"}
_PROBE = 512  # examples in the fixed batch on which gradient norms are measured


def build_network(activation, depth, width, n_features, n_classes, init="auto", seed=0,
                  dtype="float32") -> Sequential:
    """The study's network (see the module docstring), built, not compiled.

    Args:
        activation: one of ``ACTIVATIONS``; depth: hidden layers (≥ 1); width: their units.
        init: ``"auto"`` (Glorot for sigmoid/tanh, He for ReLU), ``"glorot"`` or ``"he"``.
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(f"depth study: activation must be one of {list(ACTIVATIONS)}, "
                          f"got {activation!r}")
    for name, value in (("depth", depth), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"depth study: {name} must be a positive int, got {value!r}")
    if init not in ("auto", *_INITS):
        raise ConfigError(f"depth study: init must be 'auto', 'glorot' or 'he', got {init!r}")
    kernel_init = _INITS[_AUTO[activation] if init == "auto" else init]
    residual = activation == "relu+residual"
    act = "relu" if residual else activation
    layers = [Dense(width, activation=act, kernel_initializer=kernel_init, input_dim=n_features)]
    for _ in range(depth - 1):
        if residual:  # pre-activation block: h + W relu(h) + b (zero-mean branch)
            layers.append(Residual([ReLU(), Dense(width, kernel_initializer=kernel_init)]))
        else:
            layers.append(Dense(width, activation=act, kernel_initializer=kernel_init))
    layers.append(Dense(n_classes, activation="softmax"))
    model = Sequential(layers, seed=seed, dtype=dtype)
    model.build()
    if residual and depth > 1:
        scale = 1.0 / np.sqrt(depth - 1)  # keeps the stack's variance growth below e
        for block in layers[1:-1]:
            block.sublayers[-1].params["kernel"] *= scale
    return model


def load_study_data(data="mnist", seed=0, n_train=None):
    """``((x_train, y_train), (x_test, y_test))`` for the study.

    ``"mnist"``: the built-in split (8,000 / 2,000 images, 784 features in [0, 1]).
    ``"spirals"``: 3,000 points of 3 interleaved spirals (seeded), 2,400 / 600.
    A tuple of the same form passes through.  ``n_train`` keeps the first n training examples.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2:
        (x_train, y_train), (x_test, y_test) = data
    elif data == "mnist":
        (x_train, y_train), (x_test, y_test) = datasets.load_builtin_mnist()
    elif data == "spirals":
        x, y = datasets.make_spirals(3000, n_classes=3, noise=0.2, seed=seed)
        x_train, y_train, x_test, y_test = x[:2400], y[:2400], x[2400:], y[2400:]
    else:
        raise ConfigError(f"depth study: data must be 'mnist', 'spirals' or "
                          f"((x_train, y_train), (x_test, y_test)), got {data!r}")
    if n_train is not None:
        if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) \
                or n_train < 1:
            raise ConfigError(f"depth study: n_train must be a positive int, got {n_train!r}")
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    return (np.asarray(x_train), np.asarray(y_train)), (np.asarray(x_test), np.asarray(y_test))


def _fresh_optimizer(optimizer):
    """A new optimizer (no state) per run: a name, an instance (copied) or a factory."""
    if isinstance(optimizer, optimizers_mod.Optimizer):
        return optimizers_mod.from_config(type(optimizer).__name__, optimizer.get_config())
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizers_mod.get(optimizer())
    return optimizers_mod.get(optimizer)


def _kernel_norms(model, x, y):
    """``||dL/dW||`` of every kernel, input side first (layer index 1..d+1)."""
    norms = layer_gradient_norms(model, x, y)
    return [v for k, v in norms.items() if k.endswith("/kernel")]


def depth_study(activations=ACTIVATIONS, depths=DEPTHS, width=64, data="mnist", epochs=10,
                batch_size=64, optimizer=None, seed=0, init="auto", progress=True,
                n_train=None, blas_threads=1) -> DepthStudyResults:
    """Train every (activation, depth) network under one budget; return the results table.

    Args:
        activations: any of ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"relu+residual"``.
        depths: hidden-layer counts.  width: units per hidden layer.
        data: ``"mnist"`` (built-in 8,000/2,000 split), ``"spirals"`` or arrays (see
            ``load_study_data``); ``n_train`` keeps the first n training examples.
        epochs, batch_size: the budget, the same for every network.
        optimizer: name, instance (copied per run) or factory; default SGD(0.01, momentum 0.9):
            plain gradient steps, so a vanishing gradient means vanishing updates (Adam would
            rescale them).
        seed: weights, batch order and data (spirals) — the same for every network.
        init: ``"auto"``, ``"glorot"`` or ``"he"`` (see ``build_network``).
        progress: a tqdm bar over the whole sweep (on stderr).
        blas_threads: BLAS threads during the sweep (via threadpoolctl when installed; None
            leaves the setting alone).  The study's matrices are small (width × width), where
            one thread is fastest and several threads spin against each other on a busy machine
            (measured 20× slower with two threads on a loaded 2-core box).

    Gradient norms are those of the mean training loss on a fixed probe batch (the first 512
    training examples), at initialization and after training.
    """
    activations, depths = tuple(activations), tuple(depths)
    for a in activations:
        if a not in ACTIVATIONS:
            raise ConfigError(f"depth_study: activations must be among {list(ACTIVATIONS)}, "
                              f"got {a!r}")
    if not activations or not depths:
        raise ConfigError("depth_study: give at least one activation and one depth")
    (x_train, y_train), (x_test, y_test) = load_study_data(data, seed, n_train)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    probe = (x_train[:_PROBE], y_train[:_PROBE])
    if optimizer is None:
        optimizer = lambda: optimizers_mod.SGD(learning_rate=0.01, momentum=0.9)
    _fresh_optimizer(optimizer)  # fail now on a bad optimizer, not after some runs
    for d in depths:
        build_network(activations[0], d, width, x_train.shape[1], n_classes, init, seed)
    settings = [(a, d) for a in activations for d in depths]
    bar = _progress(len(settings)) if progress else None
    rows = []
    with _blas_threads(blas_threads):
        try:
            for activation, depth in settings:
                if bar is not None:
                    bar.set_postfix_str(f"{activation} depth {depth}", refresh=True)
                rows.append(_run_one(activation, depth, width, init, seed, optimizer, epochs,
                                     batch_size, n_classes, probe, (x_train, y_train),
                                     (x_test, y_test)))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    config = {"activations": list(activations), "depths": list(depths), "width": width,
              "data": data if isinstance(data, str) else "arrays", "n_train": len(x_train),
              "n_test": len(x_test), "epochs": epochs, "batch_size": batch_size,
              "optimizer": repr(_fresh_optimizer(optimizer)), "seed": seed, "init": init}
    return DepthStudyResults(rows, config)


def _finite(value):
    """JSON-safe copy: non-finite floats become None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _blas_threads(count):
    import contextlib

    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the BLAS default applies
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def _progress(total):
    from tqdm import tqdm
    return tqdm(total=total, desc="depth study", unit="net", dynamic_ncols=True)


def _run_one(activation, depth, width, init, seed, optimizer, epochs, batch_size, n_classes,
             probe, train, test):
    start = time.perf_counter()
    model = build_network(activation, depth, width, train[0].shape[1], n_classes, init, seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=_fresh_optimizer(optimizer),
                  metrics=["accuracy"])
    grad_init = _kernel_norms(model, *probe)
    initial_loss = model.evaluate(*train)[0]
    stop = TerminateOnNaN(verbose=False)  # a diverging run is a result, not a crash
    history = model.fit(*train, epochs=epochs, batch_size=batch_size, verbose=0, seed=seed,
                        callbacks=[stop])
    grad_trained = _kernel_norms(model, *probe)
    train_loss, train_acc = model.evaluate(*train)
    test_loss, test_acc = model.evaluate(*test)
    return {"activation": activation, "depth": depth, "init": _INITS[
                _AUTO[activation] if init == "auto" else init],
            "params": model.count_params(),
            "first_grad_init": grad_init[0], "first_grad_trained": grad_trained[0],
            "ratio_init": grad_init[0] / grad_init[-1],
            "final_loss": history.history["loss"][-1] if history.history else initial_loss,
            "diverged": stop.stopped_at is not None,
            "train_loss": train_loss, "train_accuracy": train_acc,
            "test_loss": test_loss, "test_accuracy": test_acc,
            "seconds": time.perf_counter() - start,
            "grad_norms_init": grad_init, "grad_norms_trained": grad_trained,
            "loss_curve": [initial_loss, *history.history["loss"]]}


_LIST_COLUMNS = ("grad_norms_init", "grad_norms_trained", "loss_curve")


class DepthStudyResults:
    """The study's tidy table: one row (a dict) per (activation, depth), plus the run's config.

    Scalar columns: activation, depth, init, params, first_grad_init / first_grad_trained
    (``||dL/dW_1||``), ratio_init (``||dL/dW_1|| / ||dL/dW_last||`` at init), final_loss (last
    epoch's mean training loss), diverged (stopped on a non-finite loss), train_loss,
    train_accuracy, test_loss, test_accuracy, seconds.
    List columns: grad_norms_init, grad_norms_trained (per layer, input side first) and
    loss_curve (initial loss, then one value per epoch).
    """

    def __init__(self, rows, config):
        self.rows = [dict(r) for r in rows]
        self.config = dict(config)

    def table(self) -> list[dict]:
        """The rows (copies)."""
        return [dict(r) for r in self.rows]

    def row(self, activation, depth) -> dict:
        for r in self.rows:
            if r["activation"] == activation and r["depth"] == depth:
                return dict(r)
        raise ConfigError(f"no result for activation {activation!r} at depth {depth!r}")

    def to_csv(self, path) -> None:
        """One line per row; list columns as space-separated numbers."""
        keys = list(self.rows[0]) if self.rows else []
        with atomic_write(path) as f:
            writer = csv.writer(f)
            writer.writerow(keys)
            for r in self.rows:
                writer.writerow([" ".join(f"{v:.6g}" for v in r[k]) if k in _LIST_COLUMNS
                                 else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                                 for k in keys])

    def to_json(self, path) -> None:
        """``{"config": ..., "rows": [...]}``; NaN/inf (a diverged run) become ``null``."""
        with atomic_write(path) as f:
            json.dump(_finite({"config": self.config, "rows": self.rows}), f, indent=1,
                      allow_nan=False)

    def to_markdown(self) -> str:
        """A markdown table of the scalar results (for ``benchmarks/README.md``)."""
        header = ("| activation | depth | ‖dL/dW₁‖ at init | ‖dL/dW₁‖/‖dL/dW_last‖ | "
                  "final train loss | train acc | test acc | time (s) |")
        lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(f"| {r['activation']} | {r['depth']} | {r['first_grad_init']:.2e} | "
                         f"{r['ratio_init']:.2e} | {r['final_loss']:.4f} | "
                         f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                         f"{r['seconds']:.1f} |")
        return "\n".join(lines)

    # ---------------------------------------------------------------- figures
    # The drawing lives in nnlite.plotting (which imports matplotlib only when called).
    def plot_gradient_norms(self, path=None):
        """Figure 1: ``||dL/dW_l||`` vs layer index l, one line per depth, one panel per
        activation; top row at initialization, bottom row after training; log scale.
        Returns the Figure, or with ``path`` saves a PNG and returns the path."""
        return plotting.plot_depth_gradient_norms(self, path)

    def plot_accuracy(self, path=None):
        """Figure 2: final test (solid) and train (dashed) accuracy vs depth, per activation."""
        return plotting.plot_depth_accuracy(self, path)

    def plot_loss_curves(self, path=None, depth=None):
        """Figure 3: training loss per epoch (epoch 0 = at initialization) for each activation
        at ``depth`` (default: the deepest setting); log scale."""
        return plotting.plot_depth_loss_curves(self, path, depth)

    def save(self, out_dir, prefix="depth_") -> list[str]:
        """Write ``<prefix>results.csv``, ``<prefix>results.json``, ``<prefix>table.md`` and
        the three figures into ``out_dir`` (created if missing); returns the paths."""
        os.makedirs(out_dir, exist_ok=True)
        paths = [os.path.join(out_dir, f"{prefix}results.{ext}") for ext in ("csv", "json")]
        self.to_csv(paths[0])
        self.to_json(paths[1])
        paths.append(os.path.join(out_dir, f"{prefix}table.md"))
        with atomic_write(paths[-1]) as f:
            f.write(self.to_markdown() + "\n")
        return paths + self.save_figures(out_dir, prefix)

    def save_figures(self, out_dir, prefix="depth_") -> list[str]:
        """Write the three PNGs into ``out_dir``; returns their paths."""
        paths = [os.path.join(out_dir, f"{prefix}{name}.png")
                 for name in ("grad_norms", "accuracy", "loss_curves")]
        self.plot_gradient_norms(paths[0])
        self.plot_accuracy(paths[1])
        self.plot_loss_curves(paths[2])
        return paths

    def __repr__(self):
        return (f"DepthStudyResults({len(self.rows)} runs: activations="
                f"{self.config['activations']}, depths={self.config['depths']})")

