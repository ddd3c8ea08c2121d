"""``DataParallel``: synchronous data-parallel training of one model over the ranks of an MPI
job, shaped like PyTorch's ``DistributedDataParallel`` (see ``nnlite.distributed``)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import signal
import threading
import traceback

import numpy as np

from ...callbacks import CSVLogger, ModelCheckpoint
from ...errors import ConfigError
from ...models.base import BaseModel
from ...models.fit_options import penalty
from ...models.weights import leaf_layers
from .collective import PREFIX, Collective
from .sync import EpochSync, SyncedMetric, is_loss_key, reduce_loss

__all__ = ["DataParallel", "shard"]


def shard(data, rank: int, size: int, equal: bool = True):
    """Rank ``rank``'s rows of ``data``: rows rank, rank + size, rank + 2·size, ...

    ``data`` is an array (rows first), a list of arrays or a dict of arrays (several inputs or
    outputs), or None.  ``equal=True`` keeps ⌊n / size⌋ rows on every rank (the last n mod size
    rows are dropped, as ``DistributedSampler(drop_last=True)``), so every rank takes the same
    number of steps; consecutive global batches then hold the same examples as one process
    running batches ``size`` times larger."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: shard(v, rank, size, equal) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [shard(v, rank, size, equal) for v in data]
    data = np.asarray(data)
    stop = (data.shape[0] // size) * size if equal else data.shape[0]
    return np.ascontiguousarray(data[rank:stop:size])


def _rows(data):
    if isinstance(data, dict):
        data = next(iter(data.values()))
    if isinstance(data, (list, tuple)):
        data = data[0]
    return int(np.shape(data)[0])


def _on_every_rank(message):
    """A ConfigError that every rank raises at once (after a collective check), so no rank is
    left waiting and no abort is needed."""
    err = ConfigError(message)
    err.on_every_rank = True
    return err


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('nnlite.distributed needs mpi4py and an MPI runtime: '
                          'pip install "nnlite[mpi]"') from None
    return MPI


class DataParallel:
    """``DataParallel(model, comm=None, timeout=120.0)``: train ``model`` on every rank of an
    MPI job (``mpiexec -n N python train.py``), each rank on its shard of the data.

    >>> dp = DataParallel(model)                          # doctest: +SKIP
    >>> history = dp.fit(x, y, epochs=5, batch_size=32)   # doctest: +SKIP

    ``fit`` and ``evaluate`` take the model's arguments and the *whole* data on every rank;
    ``batch_size`` is per rank (PyTorch's and Horovod's convention: 32 gives 32·N rows a step).
    After every backward pass the flat gradient buffer is summed over the ranks with one
    Allreduce and divided by N, so
    each step equals one step of a single process on the N shards' batches together, and every
    rank applies the same update.  ``timeout``: seconds a rank may wait in one collective before
    it aborts the job (a crashed or hung rank).  ``comm`` defaults to ``MPI.COMM_WORLD``.
    """

    def __init__(self, model, comm=None, timeout=120.0):

        if not isinstance(model, BaseModel):
            raise ConfigError(f"DataParallel: model must be an nnlite model, got "
                              f"{type(model).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not math.isfinite(timeout) or timeout <= 0:
            raise ConfigError(f"DataParallel: timeout must be a positive number of seconds, "
                              f"got {timeout!r}")
        MPI = _mpi()
        self.model = model
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.collective = Collective(self.comm, MPI, timeout)
        self.rank, self.size = self.collective.rank, self.collective.size
        self._step = 0
        self._scale = 1.0
        self._checks_finite = False
        self._interrupted = False

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that prints progress and writes checkpoints."""
        return self.rank == 0

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size}, model={self.model.name!r})"

    # ------------------------------------------------------------------ training
    def fit(self, x, y, epochs=1, batch_size=None, shuffle=True, validation_data=None,
            verbose=1, callbacks=None, seed=None, initial_epoch=0, validation_split=0.0,
            validation_freq=1, sample_weight=None, class_weight=None):
        """``model.fit`` on this rank's shard, in step with the other ranks; returns the History
        (the same on every rank: losses and metrics of all the data).

        Rank 0's weights, state and optimizer state are broadcast first.  Shuffling draws from a
        generator of (seed, rank); ``seed=None`` takes the seed from rank 0's model generator.
        Only rank 0 prints progress (``verbose``) and runs ``ModelCheckpoint``, ``CSVLogger``
        and callbacks with ``rank_zero_only = True``; every other callback runs on all ranks
        and sees the reduced logs, so EarlyStopping and ReduceLROnPlateau decide alike."""
        model = self.model
        model._require_compiled("fit")
        n = _rows(x)
        if n < self.size:
            raise ConfigError(f"DataParallel.fit: {n} rows cannot be shared by {self.size} ranks")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ConfigError("fit: validation_data must be a tuple (x_val, y_val)")
            if _rows(validation_data[0]) < self.size:
                raise ConfigError(f"DataParallel.fit: {_rows(validation_data[0])} validation "
                                  f"rows cannot be shared by {self.size} ranks")
            val = tuple(shard(v, self.rank, self.size, equal=False) for v in validation_data)
        callbacks = list(callbacks or [])
        if not self.is_root:
            callbacks = [cb for cb in callbacks if not _rank_zero_only(cb)]
        xs, ys = shard(x, self.rank, self.size), shard(y, self.rank, self.size)
        with self._running("fit"):
            base = self._prepare(xs, seed,
                                 (n, epochs, batch_size, initial_epoch, shuffle,
                                  _rows(validation_data[0]) if val else 0))
            rng = np.random.default_rng([base, self.rank])
            if val:
                n_val, all_val = _rows(val[0]), _rows(validation_data[0])
            else:  # validation_split holds out the same rows of every (equal) shard
                n_val = _split_rows(n // self.size, validation_split)
                all_val = n_val * self.size
            sync = EpochSync(self.collective, model._train_loss.reduction == "mean", n_val,
                             all_val, lambda: penalty(model))
            self._checks_finite = any(getattr(cb, "checks_finite", False) for cb in callbacks)
            with self._attached():
                return model.fit(xs, ys, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                                 validation_data=val, verbose=verbose if self.is_root else 0,
                                 callbacks=[sync, *callbacks], seed=rng,
                                 initial_epoch=initial_epoch, validation_split=validation_split,
                                 validation_freq=validation_freq,
                                 sample_weight=shard(sample_weight, self.rank, self.size),
                                 class_weight=class_weight)

    def evaluate(self, x, y, batch_size=None, return_dict=False):
        """``model.evaluate`` of all of (x, y), each rank evaluating its shard; the loss and
        metrics are those of the whole set, on every rank."""
        model = self.model
        model._require_compiled("evaluate")
        n = _rows(x)
        if n < self.size:
            raise ConfigError(f"DataParallel.evaluate: {n} rows cannot be shared by "
                              f"{self.size} ranks")
        xs, ys = shard(x, self.rank, self.size, False), shard(y, self.rank, self.size, False)
        with self._running("evaluate"):
            self._prepare(xs, 0, (n, "evaluate"))
            with self._attached():
                logs = model.evaluate(xs, ys, batch_size=batch_size, return_dict=True)
            rows = _rows(xs)
            mean = model._train_loss.reduction == "mean"
            keys = [k for k in logs if is_loss_key(k)]
            totals = self.collective.allreduce(
                np.array([logs[k] * (rows if mean else 1) for k in keys]), "the evaluate loss")
            for k, total in zip(keys, totals):
                logs[k] = reduce_loss(float(total), n, mean, self.size,
                                      penalty(model) if k == "loss" and not mean else 0.0)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None):
        """``model.predict`` on this rank (every rank holds the same weights)."""
        return self.model.predict(x, batch_size)

    # ------------------------------------------------------------------ the gradient hook
    def _hook(self, model, loss):
        """After backward: sum the gradients of all ranks, in place, and scale them.

        Control travels in the same buffer: a rank whose loss is not finite (when a callback
        asked for finite checks) contributes NaN, so every rank's check sees the bad step; a rank
        that got Ctrl-C contributes +inf at index 0, and every rank then stops before applying
        this step (``fit`` returns the History with ``interrupted``)."""
        grads = model._flat_grads
        if self._checks_finite and not math.isfinite(loss):
            grads.fill(np.nan)
        elif self._interrupted:
            grads[0] = np.inf
        self.collective.allreduce(grads, "the gradient Allreduce", self._step)
        self._step += 1
        if self._scale != 1.0:
            grads *= self._scale
        if grads[0] == np.inf:
            if self.is_root:
                print(f"{PREFIX}: a rank got Ctrl-C; every rank stopped before step "
                      f"{self._step}", flush=True)
            raise KeyboardInterrupt(f"{PREFIX}: Ctrl-C on a rank; every rank stopped")

    # ------------------------------------------------------------------ set-up
    def _prepare(self, x_shard, seed, arguments):
        """Build, check that every rank runs the same model on the same arguments, broadcast
        rank 0's weights; returns rank 0's shuffling seed."""
        model = self.model
        if not model.built:
            model.build(x_shard.shape[1:] if isinstance(x_shard, np.ndarray) else None)
        config = json.dumps(model.get_config(), sort_keys=True, default=str)
        base = int(np.random.default_rng(seed).integers(2**63)) if seed is not None \
            else int(model.rng.integers(2**63)) if self.is_root else 0
        mine = (hashlib.sha256(config.encode()).hexdigest()[:16], model.count_params(),
                arguments)
        everyone = self.collective.allgather((mine, base), "the set-up check")
        fields = ("the model's config (hash)", "the number of parameters",
                  ("the arguments (rows, epochs, batch_size, initial_epoch, shuffle, "
                   "validation rows)"))
        reference = everyone[0][0]
        for rank, (theirs, _) in enumerate(everyone):  # every rank sees the same list
            for field, a, b in zip(fields, theirs, reference):
                if a != b:
                    raise _on_every_rank(f"DataParallel: rank {rank} differs from rank 0 in "
                                         f"{field}: {a} vs {b}")
        if model.count_params() == 0:
            raise _on_every_rank("DataParallel: the model has no trainable parameters")
        coll = self.collective
        coll.bcast(model._flat_params, "the weight broadcast")
        for layer in leaf_layers(model.layers):
            for array in layer.state.values():
                coll.bcast(array, "the state broadcast")
        state = coll.bcast_object(model.optimizer.get_state() if self.is_root else None,
                                  "the optimizer-state broadcast")
        if not self.is_root:
            model.optimizer.set_state(state)
        root_base = everyone[0][1]
        if self.size > 1:  # independent dropout masks on every rank
            for k, layer in enumerate(leaf_layers(model.layers)):
                if isinstance(getattr(layer, "_rng", None), np.random.Generator):
                    layer._rng = np.random.default_rng([root_base, self.rank, k])
        return root_base

    @contextlib.contextmanager
    def _attached(self):
        """The hook and the merged metrics on the model, for one call."""
        model = self.model
        metrics = model._metrics
        self._scale = 1.0 / self.size if model._train_loss.reduction == "mean" else 1.0
        model._metrics = [SyncedMetric(m, self.collective) for m in metrics]
        model._gradient_hook = self._hook
        try:
            yield
        finally:
            model._gradient_hook = None
            model._metrics = metrics

    @contextlib.contextmanager
    def _running(self, what):
        """The watchdog, Ctrl-C handling and the abort of all ranks when this rank fails."""
        self._interrupted = False
        previous = None
        if self.size > 1 and threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            with self.collective:
                yield
        except ConfigError as err:
            if not getattr(err, "on_every_rank", False):
                self._fail(what)
            raise
        except BaseException:
            self._fail(what)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _fail(self, what):
        if self.size > 1:
            traceback.print_exc()
            self.collective.abort(f"failed in {what} (traceback above)")

    def _on_sigint(self, signum, frame):
        if self._interrupted:
            self.collective.abort("got a second Ctrl-C", code=130)
        self._interrupted = True
        print(f"{PREFIX}: rank {self.rank}: Ctrl-C, every rank stops after the current step "
              "(again to abort)", flush=True)


def _split_rows(rows, split) -> int:
    """The rows ``fit(validation_split=split)`` holds out of ``rows`` (0 when none or invalid:
    fit itself then raises)."""
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
        return 0
    return rows - math.ceil(rows * (1.0 - split))


def _rank_zero_only(callback) -> bool:
    return isinstance(callback, (ModelCheckpoint, CSVLogger)) \
        or bool(getattr(callback, "rank_zero_only", False))
