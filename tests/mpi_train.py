"""The training script ``tests/test_distributed.py`` runs under ``mpiexec -n N`` (not a test
module itself).  Every rank prints one ``RESULT {json}`` line; rank 0 also writes
``<out>/weights.npz``.

    mpiexec -n 2 python tests/mpi_train.py --out /tmp/run --batch 32 --epochs 1
    --mode crash|hang|sigint|nan     make rank 1 fail in that way after its 3rd batch
    --mode mismatch                  rank 1 asks for one more epoch
"""
import argparse
import json
import os
import signal
import sys
import time

import numpy as np

import nnlite
from nnlite.callbacks import LambdaCallback, ModelCheckpoint, TerminateOnNaN
from nnlite.layers import Concatenate, Dense

ROWS = 6400  # 100 steps of 64 rows, 50 of 128
VALIDATION_ROWS = 501  # not a multiple of the rank count: unequal validation shards


def data(kind):
    """float64 MNIST rows (x, y, x_val, y_val); the graph model takes two 392-pixel halves."""
    (x, y), (xv, yv) = nnlite.datasets.load_builtin_mnist()
    x, xv = x[:ROWS].astype(np.float64), xv[:VALIDATION_ROWS].astype(np.float64)
    y, yv = y[:ROWS], yv[:VALIDATION_ROWS]
    if kind == "graph":
        return ([x[:, :392], x[:, 392:]], [y, (y >= 5).astype(np.float64)[:, None]],
                [xv[:, :392], xv[:, 392:]], [yv, (yv >= 5).astype(np.float64)[:, None]])
    return x, y, xv, yv


def build(kind, reduction="mean"):
    """A compiled float64 model with seed 0: an MLP 784-32-10 (L2 on its first kernel, Adam
    with clipnorm) or a graph with two inputs and two outputs."""
    adam = nnlite.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)
    if kind == "graph":
        a, b = nnlite.Input(shape=(392,), name="top"), nnlite.Input(shape=(392,), name="bottom")
        h = Concatenate()([Dense(16, activation="relu")(a), Dense(16, activation="tanh")(b)])
        model = nnlite.Model([a, b], [Dense(10, activation="softmax", name="digit")(h),
                                      Dense(1, name="high")(h)], seed=0, dtype="float64")
        model.compile(loss=[nnlite.losses.SparseCategoricalCrossEntropy(reduction=reduction),
                            nnlite.losses.MeanSquaredError(reduction=reduction)],
                      loss_weights=[1.0, 0.5], optimizer=adam,
                      metrics={"digit": ["accuracy"], "high": ["mse", "r2"]})
        return model
    model = nnlite.Sequential([
        Dense(32, activation="relu", input_dim=784,
              kernel_regularizer=nnlite.regularizers.L2(1e-4)),
        Dense(10, activation="softmax"),
    ], seed=0, dtype="float64")
    model.compile(loss=nnlite.losses.SparseCategoricalCrossEntropy(reduction=reduction),
                  optimizer=adam, metrics=["accuracy"])
    return model


def _fault(mode, rank, model):
    """A callback making rank 1 fail after its 3rd batch."""
    def on_batch_end(batch, logs):
        if rank != 1 or batch != 3:
            return
        if mode == "crash":
            raise RuntimeError("boom on rank 1")
        if mode == "hang":
            time.sleep(600)
        if mode == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        if mode == "nan":
            model.layers[0].params["kernel"][0, 0] = np.inf  # rank 1's next loss is NaN
    return LambdaCallback(on_batch_end=on_batch_end)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="mlp", choices=["mlp", "graph"])
    parser.add_argument("--reduction", default="mean", choices=["mean", "sum"])
    parser.add_argument("--mode", default="train", choices=["train", "crash", "hang", "sigint",
                                                            "nan", "mismatch"])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--validation-split", type=float, default=0.0)
    args = parser.parse_args(argv)
    from nnlite.distributed import DataParallel

    x, y, xv, yv = data(args.model)
    model = build(args.model, args.reduction)
    dp = DataParallel(model, timeout=args.timeout)
    callbacks = [ModelCheckpoint(os.path.join(args.out, "ckpt-{epoch}.nnlite"), monitor="loss")]
    if args.mode in ("crash", "hang", "sigint", "nan"):
        callbacks.append(_fault(args.mode, dp.rank, model))
    if args.mode == "mismatch" and dp.rank == 1:
        args.epochs += 1
    if args.mode == "nan":
        callbacks.append(TerminateOnNaN(verbose=False))
    validation = None if args.validation_split else (xv, yv)
    history = dp.fit(x, y, epochs=args.epochs, batch_size=args.batch, shuffle=False,
                     validation_data=validation, validation_split=args.validation_split,
                     verbose=0, callbacks=callbacks)
    evaluated = dp.evaluate(xv, yv, return_dict=True)
    flat = model._flat_params.copy()
    spread = float(np.max(np.abs(dp.comm.allreduce(flat) / dp.size - flat)))
    result = {"rank": dp.rank, "size": dp.size, "iterations": model.optimizer.iterations,
              "history": history.history, "interrupted": history.interrupted,
              "evaluate": evaluated, "spread": spread,
              "collective_calls": dp.collective.calls}
    if dp.is_root:
        np.savez(os.path.join(args.out, "weights.npz"), *model.get_weights())
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
