"""W6 of ``benchmarks/speed.py``: a small CNN on MNIST images, nnlite against PyTorch eager.

    python benchmarks/speed.py --only W6 --reps 5 --no-memory

The network is the one of ``tests/test_cnn_mnist.py``: Conv2D(16, 3, relu) → MaxPool2D(2) →
Conv2D(32, 3, relu) → MaxPool2D(2) → Flatten → Dense(64, relu) → Dense(10, softmax), Adam
(lr 0.001), batch 64, one epoch.  PyTorch gets the same initial weights (conv kernels share the
(filters, channels, kh, kw) layout; dense kernels are transposed) and the same batch order.
There is no hand-written NumPy loop for this workload, so the table's ``× NumPy`` column is empty
and ``× PyTorch`` is the comparison.
"""
from __future__ import annotations

import numpy as np

import nnlite
from nnlite.layers import Conv2D, Dense, Flatten, MaxPool2D

DESCRIPTION = ("CNN conv3x3(16)-maxpool-conv3x3(32)-maxpool-dense64-10, ReLU, softmax CE, "
               "Adam lr 0.001, batch 64, 1 epoch on 1x28x28 images")
BATCH = 64
LR = 0.001


def nnlite_cnn(seed):
    model = nnlite.Sequential([
        Conv2D(16, 3, activation="relu", input_shape=(1, 28, 28)), MaxPool2D(2),
        Conv2D(32, 3, activation="relu"), MaxPool2D(2), Flatten(),
        Dense(64, activation="relu"), Dense(10, activation="softmax")], seed=seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=LR))
    model.build()
    return model


def torch_cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 10))


def torch_load(torch, net, weights):
    """nnlite weights [k1, b1, k2, b2, W3, b3, W4, b4] into the torch modules."""
    params = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for module, (w, b) in zip(params, zip(weights[0::2], weights[1::2])):
            w = w if isinstance(module, torch.nn.Conv2d) else w.T
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            module.bias.copy_(torch.from_numpy(b))


def cnn_workload(workload_cls, x, y, torch, seed, train_epoch):
    """A ``Workload`` with "nnlite" and (if installed) "torch" runners.  ``x`` is (n, 784)
    float32; ``train_epoch(net, opt, xt, yt, batch, seed)`` is speed.py's PyTorch loop."""
    images = np.ascontiguousarray(x.reshape(-1, 1, 28, 28))
    model = nnlite_cnn(seed)
    init = model.get_weights()
    n = images.shape[0]
    wl = workload_cls("W6", n, -(-n // BATCH), model.count_params())
    # FLOPs: the conv layers reuse each kernel weight at every output pixel, so 6·params·samples
    # undercounts; count 6·(multiply-adds per sample) instead (2 for forward, 4 for backward)
    macs = 16 * 9 * 26 * 26 + 32 * 16 * 9 * 11 * 11 + 800 * 64 + 64 * 10
    wl.flops = 6 * macs * n

    def nn_reset():
        model.set_weights(init)
        model.optimizer = nnlite.optimizers.Adam(learning_rate=LR)

    def nn_run():
        model.fit(images, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0, seed=seed)

    wl.runners["nnlite"] = (nn_reset, nn_run)
    if torch is not None:
        net = torch_cnn(torch)
        xt, yt = torch.from_numpy(images), torch.from_numpy(y)
        state = {}

        def t_reset():
            torch_load(torch, net, init)
            state["opt"] = torch.optim.Adam(net.parameters(), lr=LR)

        def t_run():
            train_epoch(net, state["opt"], xt, yt, BATCH, seed)

        wl.runners["torch"] = (t_reset, t_run)
    return wl
