"""BLAS threads for small products: the per-step matrix products of a recurrence.

A recurrent layer makes one small product per time step, e.g. (32, 128) · (128, 512) for an
LSTM of 128 units on a batch of 32.  OpenBLAS splits such a product over all its threads, and
a product of ~2 million multiply-adds is too small to pay for waking the second thread: when
another process holds the other core, the split product waits for it (measured on the 2-core
benchmark machine: 38 µs on one thread, 50–320 µs on two under load; see benchmarks/README.md,
"Recurrent training speed").  So the time loops run with one BLAS thread (``limit``, a context
entered once per forward or backward pass, which restores the previous count on exit), and the
large products around the loop (the input projection of every step, the weight gradients) keep
the caller's threads.

``threadpoolctl`` (optional) does the switching; without it ``limit`` changes nothing.  The
controller of the loaded BLAS libraries is looked up once, on first use.
"""
from __future__ import annotations

import contextlib

__all__ = ["SMALL_PRODUCT", "limit", "step_threads"]

#: products with at most this many multiply-adds run on one thread (rows · inner · columns).
#: On a quiet 2-core machine two threads pay from the char-RNN's per-step products on: W7
#: (32 · 128 · 512 = 2.1M) took 0.71–0.73 s an epoch with its loops on two threads against
#: 0.81 s on one, SimpleRNN (0.5M) 0.22 against 0.24 s, GRU within noise (benchmarks/README.md,
#: "Recurrent training speed"); on a machine shared with other jobs one thread is safer
#: (``limit(1)`` around your own loop).  A batch-1 step (e.g. 1 · 128 · 512) stays on one.
SMALL_PRODUCT = 1 << 18

_controllers = None   # the OpenBLAS/MKL/BLIS controllers, found on first use ([] without them)


def step_threads(rows, inner, columns):
    """The BLAS thread count for a (rows, inner) · (inner, columns) product made once per time
    step: 1 when it is small (≤ ``SMALL_PRODUCT`` multiply-adds), None (leave as is) else."""
    return 1 if rows * inner * columns <= SMALL_PRODUCT else None


def _blas():
    global _controllers
    if _controllers is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controllers = []
        else:
            _controllers = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _controllers


class _Limit:
    """Every BLAS library at ``threads`` inside the block, back to its own count after."""

    __slots__ = ("saved", "threads")

    def __init__(self, threads):
        self.threads = threads
        self.saved = []

    def __enter__(self):
        for lib in _blas():
            count = lib.get_num_threads()
            if count is not None and count > self.threads:
                lib.set_num_threads(self.threads)
                self.saved.append((lib, count))
        return self

    def __exit__(self, *exc):
        for lib, count in self.saved:
            lib.set_num_threads(count)
        self.saved = []
        return False


def limit(threads):
    """A context manager: at most ``threads`` BLAS threads inside (None: no change)."""
    return contextlib.nullcontext() if threads is None else _Limit(threads)
