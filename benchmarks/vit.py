"""A small Vision Transformer on MNIST images, nnlite against the identical PyTorch model.

    python benchmarks/vit.py                  # accuracy run: 15 epochs each, table + JSON
    python benchmarks/vit.py --epochs 30 --schedule constant --threads 2

The network (the one of ``tests/test_vit_mnist.py`` and ``examples/vit_mnist.py``):
PatchEmbedding(7, 64) on 1×28×28 images (16 patches) → ClassToken → + PositionEmbedding(17) →
2 × TransformerEncoder(128, 4 heads, GELU, pre-norm) → LayerNormalization → the class token →
Dense(10) logits; softmax cross-entropy, Adam, batch 64, on the built-in split (8,000 / 2,000).
PyTorch gets the model through ``nnlite.export.to_torch`` (the same initial weights: its
modules are nn.TransformerEncoderLayer and nn.Conv2d) and the same batches: nnlite's
``fit(seed=e)`` for epoch e draws ``default_rng(e).permutation(n)``, and the PyTorch loop draws
exactly that; the learning rate follows the same schedule step by step.

``vit_workload`` mirrors ``cnn.cnn_workload`` (one timed epoch, constant learning rate) for a
speed harness; ``main`` is the accuracy comparison whose results ``benchmarks/README.md`` quotes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import nnlite  # noqa: E402
import nnlite.export  # noqa: E402  (to_torch; not imported by nnlite itself)
from nnlite.layers import (  # noqa: E402
    Add,
    ClassToken,
    Dense,
    LayerNormalization,
    PatchEmbedding,
    PositionEmbedding,
    SelectToken,
    TransformerEncoder,
)

DESCRIPTION = ("ViT patch 7, dim 64, 4 heads, 2 pre-norm encoder blocks, GELU MLP 128, class "
               "token, Adam, batch 64, on 1x28x28 images")
BATCH = 64
LR = 0.001


def nnlite_vit(seed, logits=True, dtype="float32"):
    """The ViT as a graph Model (a Dense(10) logits head, or softmax with ``logits=False``)."""
    images = nnlite.Input(shape=(1, 28, 28))
    tokens = ClassToken()(PatchEmbedding(7, 64)(images))              # (17, 64)
    tokens = Add()([tokens, PositionEmbedding(17)(tokens)])
    for _ in range(2):
        tokens = TransformerEncoder(128, 4, activation="gelu", normalize_first=True)(tokens)
    cls = SelectToken(0)(LayerNormalization(epsilon=1e-5)(tokens))
    head = Dense(10, activation=None if logits else "softmax")(cls)
    return nnlite.Model(images, head, seed=seed, dtype=dtype)


def learning_rates(schedule, epochs, steps_per_epoch, peak):
    """Learning rate per optimizer step: constant, or cosine decay to 0 over the run."""
    total = epochs * steps_per_epoch
    if schedule == "constant":
        return lambda step: peak
    return lambda step: peak * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def nnlite_schedule(schedule, epochs, steps_per_epoch, peak):
    if schedule == "constant":
        return peak
    return nnlite.schedules.CosineDecay(peak, epochs * steps_per_epoch)


def torch_fit_epoch(torch, net, opt, xt, yt, seed, rate, step):
    """One epoch over ``default_rng(seed).permutation(n)`` in batches of 64; returns the step."""
    n = xt.shape[0]
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    loss_fn = torch.nn.CrossEntropyLoss()
    for start in range(0, n, BATCH):
        idx = order[start:start + BATCH]
        for group in opt.param_groups:
            group["lr"] = rate(step)
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xt.index_select(0, idx)), yt.index_select(0, idx)).backward()
        opt.step()
        step += 1
    return step


def torch_accuracy(torch, net, x, y):
    net.train(False)
    with torch.no_grad():
        correct = (net(torch.from_numpy(x)).argmax(dim=1).numpy() == y).mean()
    net.train(True)
    return float(correct)


def vit_workload(workload_cls, x, y, torch, seed, train_epoch):
    """A ``Workload`` with "nnlite" and (if installed) "torch" runners for one epoch; ``x`` is
    (n, 784) float32 and ``train_epoch(net, opt, xt, yt, batch, seed)`` a PyTorch loop."""
    images = np.ascontiguousarray(x.reshape(-1, 1, 28, 28))
    model = nnlite_vit(seed)
    model.compile(loss=nnlite.losses.SparseCategoricalCrossEntropy(from_logits=True),
                  optimizer=nnlite.optimizers.Adam(LR))
    init = model.get_weights()
    n = images.shape[0]
    wl = workload_cls("W7", n, -(-n // BATCH), model.count_params())

    def nn_reset():
        model.set_weights(init)
        model.optimizer = nnlite.optimizers.Adam(learning_rate=LR)

    def nn_run():
        model.fit(images, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0, seed=seed)

    wl.runners["nnlite"] = (nn_reset, nn_run)
    if torch is not None:
        xt, yt = torch.from_numpy(images), torch.from_numpy(y)
        state = {}

        def t_reset():
            model.set_weights(init)
            state["net"] = nnlite.export.to_torch(model).train(True)
            state["opt"] = torch.optim.Adam(state["net"].parameters(), lr=LR)

        def t_run():
            train_epoch(state["net"], state["opt"], xt, yt, BATCH, seed)

        wl.runners["torch"] = (t_reset, t_run)
    return wl


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "vit.json"))
    args = parser.parse_args(argv)

    import os

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist(flatten=False)
    steps = -(-len(x_train) // BATCH)
    model = nnlite_vit(args.seed)
    model.compile(loss=nnlite.losses.SparseCategoricalCrossEntropy(from_logits=True),
                  optimizer=nnlite.optimizers.Adam(
                      nnlite_schedule(args.schedule, args.epochs, steps, args.lr)))
    net = nnlite.export.to_torch(model).train(True)       # the same initial weights
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rate = learning_rates(args.schedule, args.epochs, steps, args.lr)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    rows, step = [], 0
    load_before = os.getloadavg()
    with threadpool_limits(args.threads):
        for epoch in range(args.epochs):
            start = time.perf_counter()
            model.fit(x_train, y_train, epochs=1, batch_size=BATCH, verbose=0, seed=epoch)
            t_nnlite = time.perf_counter() - start
            start = time.perf_counter()
            step = torch_fit_epoch(torch, net, opt, xt, yt, epoch, rate, step)
            t_torch = time.perf_counter() - start
            acc_nnlite = float(np.mean(model.predict_classes(x_test) == y_test))
            acc_torch = torch_accuracy(torch, net, x_test, y_test)
            rows.append({"epoch": epoch + 1, "nnlite_s": t_nnlite, "torch_s": t_torch,
                         "nnlite_test_accuracy": acc_nnlite, "torch_test_accuracy": acc_torch})
            print(f"epoch {epoch + 1:2d}  nnlite {acc_nnlite:.4f} ({t_nnlite:.1f} s)  "
                  f"torch {acc_torch:.4f} ({t_torch:.1f} s)", flush=True)
    result = {"command": "python benchmarks/vit.py " + " ".join(argv or sys.argv[1:]),
              "description": DESCRIPTION,
              "args": {k: v for k, v in vars(args).items() if k != "out"},
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "numpy": np.__version__, "torch": torch.__version__,
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "epochs": rows}
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    last = rows[-1]
    print(f"final test accuracy: nnlite {last['nnlite_test_accuracy']:.4f}, PyTorch "
          f"{last['torch_test_accuracy']:.4f} (difference "
          f"{100 * (last['nnlite_test_accuracy'] - last['torch_test_accuracy']):+.2f} points); "
          f"time nnlite {sum(r['nnlite_s'] for r in rows):.0f} s, PyTorch "
          f"{sum(r['torch_s'] for r in rows):.0f} s")


if __name__ == "__main__":
    main()
