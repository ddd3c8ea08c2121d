"""Data-parallel training over MPI: the same ``fit`` script on N processes, one model.

    # train.py -- run with:  mpiexec -n 4 python train.py
    model = nnlite.Sequential([...], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    dp = nnlite.distributed.DataParallel(model)     # like torch's DistributedDataParallel
    history = dp.fit(x, y, epochs=5, batch_size=32)  # 32 rows per rank and step
    if dp.is_root:
        model.save("model.nnlite")

Why a wrapper (PyTorch DDP's shape) rather than ``fit(strategy=...)`` (tf.distribute's): the
model, its files and ``fit`` stay exactly as they are, and the one object that knows about the
other processes is visible in the script.  Every rank loads the whole data; the wrapper keeps
rank r's rows r, r + N, r + 2N, ... (⌊n/N⌋ rows each, so all ranks take the same number of
steps).

Synchronous data-parallel SGD, step by step:

1. ``fit`` starts with a check that every rank builds the same model on the same arguments
   (``ConfigError`` on every rank otherwise), then broadcasts rank 0's weights, layer state and
   optimizer state;
2. every rank runs forward and backward on its batch of ``batch_size`` rows;
3. the model's gradient hook (``BaseModel._gradient_hook``, called after backward) sums the flat
   gradient buffer over the ranks with **one** in-place ``Allreduce`` and divides by N (the
   loss is a mean; ``reduction="sum"`` keeps the sum), so the gradient is that of one batch
   of N·batch_size rows: after any number of steps the weights equal those of one process with
   batches N times larger on the same examples in the same order (float64: to 1e-10);
4. every rank applies the same optimizer update (clipping acts on the summed gradient,
   regularizer gradients are added after the sum, once);
5. at each epoch end one more Allreduce turns the logged losses into those of all the data and
   averages layer state (BatchNormalization's moving statistics); metrics are merged from
   their counts (see ``nnlite.distributed.sync``), so the History is the same on every rank.

Rank 0 alone prints progress and runs ``ModelCheckpoint``/``CSVLogger`` (and callbacks with
``rank_zero_only = True``); the others run on every rank with the reduced logs, so
``EarlyStopping`` stops all ranks at the same epoch.

Failures end the job instead of hanging it:

* an exception in one rank's ``fit`` prints its traceback and calls ``MPI_Abort``;
* a rank that waits longer than ``timeout`` seconds (default 120) in any collective (its peer
  crashed hard, hangs, or left the loop) prints what it waited for and calls ``MPI_Abort``;
* Ctrl-C at the terminal reaches ``mpiexec``, which ends every rank; a SIGINT delivered to one
  rank makes *every* rank stop after the current step, as Ctrl-C does in one process (the
  request rides in the gradient buffer, so all ranks see it in the same step; a second one
  aborts the job);
* with ``TerminateOnNaN``, a rank whose loss is not finite poisons its gradient contribution,
  so every rank skips that step and stops together.

Not equivalent to one process (by design, as in DDP without SyncBatchNorm): BatchNormalization
uses per-rank batch statistics in training, and Dropout draws independent masks per rank.
``mpi4py`` is imported when a ``DataParallel`` is made: ``pip install "nnlite[mpi]"``.
"""
from .data_parallel import DataParallel, shard

__all__ = ["DataParallel", "shard"]
