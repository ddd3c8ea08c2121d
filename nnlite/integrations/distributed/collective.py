"""MPI collectives with a deadline: a rank that waits too long ends the whole job.

A blocking MPI collective waits forever for a rank that crashed, hangs or left the training loop
early.  ``Collective`` runs every collective of a distributed ``fit`` under a deadline watched by
one daemon thread: past it, the waiting rank prints what it waited for and calls ``MPI_Abort``,
which ends every process of the job (mpiexec reports the abort and exits non-zero).  Arming the
deadline is two attribute writes, so the fast path stays MPI's own blocking call.

``abort(message)`` is the same exit for a rank that failed itself (an exception in ``fit``):
printed first, then ``MPI_Abort``, so no rank is left waiting in a collective or in
``MPI_Finalize``.  The time spent inside collectives is counted (``seconds``, ``calls``,
``bytes``) for the scaling model of ``benchmarks/scaling.py``.
"""
from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["Collective"]

PREFIX = "nnlite.distributed"


class Collective:
    """The collectives of one communicator, each under ``timeout`` seconds.

    ``comm`` is an mpi4py communicator; ``MPI`` the ``mpi4py.MPI`` module.  Use as a context
    manager around a training run (``with collective: ...``) to run the watchdog thread."""

    def __init__(self, comm, MPI, timeout: float):
        self.comm, self.MPI, self.timeout = comm, MPI, float(timeout)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.seconds, self.calls, self.bytes = 0.0, 0, 0
        self._deadline = None
        self._what = ""
        self._step = None
        self._stop = None
        self._thread = None

    # ------------------------------------------------------------------ the watchdog
    def __enter__(self):
        if self.size > 1 and self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._watch, name="nnlite-mpi-watchdog",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        return False

    def _watch(self):
        poll = min(1.0, self.timeout / 4)
        while not self._stop.wait(poll):
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                step = f" (step {self._step})" if self._step is not None else ""
                self.abort(f"waited more than {self.timeout:g} s in {self._what}{step}: another "
                           "rank crashed, hangs or left fit early; DataParallel(timeout=...) "
                           "sets the limit", code=2)

    def abort(self, message: str, code: int = 1):
        """Print ``message`` (naming this rank) and end every process of the job."""
        sys.stderr.write(f"{PREFIX}: rank {self.rank} of {self.size} {message}; aborting all "
                         "ranks\n")
        sys.stderr.flush()
        if self.size == 1:
            raise SystemExit(code)
        if self.MPI.Query_thread() == self.MPI.THREAD_MULTIPLE \
                or threading.current_thread() is threading.main_thread():
            self.comm.Abort(code)
        os._exit(code)  # without MPI_Finalize: the launcher ends the other ranks

    def _timed(self, what, step, nbytes, call, *args, **kwargs):
        self._what, self._step = what, step
        start = time.perf_counter()
        self._deadline = time.monotonic() + self.timeout
        try:
            return call(*args, **kwargs)
        finally:
            self._deadline = None
            self.seconds += time.perf_counter() - start
            self.calls += 1
            self.bytes += nbytes

    # ------------------------------------------------------------------ the collectives
    def allreduce(self, buffer, what: str, step=None):
        """Sum ``buffer`` (a contiguous NumPy array) over all ranks, in place."""
        self._timed(what, step, buffer.nbytes, self.comm.Allreduce, self.MPI.IN_PLACE, buffer,
                    op=self.MPI.SUM)
        return buffer

    def bcast(self, buffer, what: str, root: int = 0):
        """Overwrite ``buffer`` with root's copy, in place."""
        self._timed(what, None, buffer.nbytes, self.comm.Bcast, buffer, root=root)
        return buffer

    def allgather(self, value, what: str):
        """Every rank's ``value`` (any picklable object), as a list in rank order."""
        return self._timed(what, None, 0, self.comm.allgather, value)

    def bcast_object(self, value, what: str, root: int = 0):
        """Root's ``value`` (any picklable object) on every rank."""
        return self._timed(what, None, 0, self.comm.bcast, value, root=root)

    def barrier(self, what: str = "a barrier"):
        self._timed(what, None, 0, self.comm.Barrier)
