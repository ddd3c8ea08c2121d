"""The types a workload module hands to ``benchmarks/speed.py`` (see the interface there).

A workload module (``mlp.py``, ``cnn.py``, later ``rnn.py``, ``vit.py``) defines

    WORKLOADS = [WorkloadSpec(key, description, build, memory=None), ...]

where ``build(ctx: Context) -> Workload`` returns the runners of one workload and ``memory``
(optional) is ``memory(quick) -> MemoryCase``, the fit whose peak RSS the memory check measures.
Nothing here imports PyTorch or JAX: ``Context`` carries them when they are installed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Context", "MemoryCase", "Runner", "Workload", "WorkloadSpec", "activation_bytes",
           "load_data"]


@dataclass
class Context:
    """What a workload's ``build`` gets: the data (all 10,000 shipped MNIST images as (n, 784)
    float32 and int64 labels; 1,000 in ``--quick``), the seed, and the optional peers (None
    when not installed)."""

    x: np.ndarray
    y: np.ndarray
    quick: bool
    seed: int
    threads: int
    torch: Any = None
    jax: Any = None
    sklearn: Any = None


@dataclass
class Runner:
    """One column of a workload: ``reset()`` (untimed, before every repetition) then ``run()``
    (timed), which returns a number the frameworks must agree on (the last epoch's mean loss,
    or a checksum of predictions), or None.  ``comparable=False`` leaves it out of that check
    (scikit-learn, whose batch order differs)."""

    run: Callable[[], Any]
    reset: Callable[[], None] = lambda: None
    comparable: bool = True


@dataclass
class Workload:
    """The runners of one workload, with the sizes the report needs.

    ``samples``: examples processed per run (for samples/s); ``steps``: optimizer steps (or
    predict batches) per run; ``flops``: floating-point operations per run; ``value_rtol``: how
    closely the comparable runners' values must agree."""

    key: str
    samples: int
    steps: int
    flops: float
    value_rtol: float = 1e-3
    runners: dict = field(default_factory=dict)

    def add(self, name, run, reset=None, comparable=True):
        self.runners[name] = Runner(run, reset or (lambda: None), comparable)


@dataclass
class WorkloadSpec:
    key: str
    description: str
    build: Callable[[Context], Workload]
    memory: Callable[[bool], MemoryCase] | None = None


@dataclass
class MemoryCase:
    """A fit to measure in a fresh process: ``make(n)`` returns ``(model, x, y, fit_kwargs)``
    for the first ``n`` images (compiled model; ``fit_kwargs`` without ``epochs``)."""

    make: Callable[[int | None], tuple]


def load_data(n=None):
    """All 10,000 shipped MNIST images (train + test halves of the built-in split), float32
    (n, 784), and int64 labels; the first ``n`` when given."""
    import nnlite

    (x_tr, y_tr), (x_te, y_te) = nnlite.datasets.load_builtin_mnist()
    x = np.ascontiguousarray(np.concatenate([x_tr, x_te]), dtype=np.float32)
    y = np.concatenate([y_tr, y_te]).astype(np.int64)
    if n is not None:
        x, y = x[:n].copy(), y[:n].copy()
    return x, y


def activation_bytes(model, batch) -> int:
    """Bytes of one batch's activations of a built Sequential model: its input and every
    layer's output, ``batch`` rows each, in the model's dtype."""
    shapes = [model.layers[0].input_shape] + [layer.output_shape for layer in model.layers]
    return batch * sum(math.prod(s) for s in shapes) * model.dtype.itemsize
