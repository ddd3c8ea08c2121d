"""W6 of ``benchmarks/speed.py``: a small CNN on MNIST images, nnlite against PyTorch and JAX.

    python benchmarks/speed.py --only W6

The network is the one of ``tests/test_cnn_mnist.py``: Conv2D(16, 3, relu) → MaxPool2D(2) →
Conv2D(32, 3, relu) → MaxPool2D(2) → Flatten → Dense(64, relu) → Dense(10, softmax), Adam
(lr 0.001), batch 64, one epoch.  PyTorch and JAX get the same initial weights (conv kernels
share the (filters, channels, kh, kw) layout; dense kernels are transposed for PyTorch) and the
same batch order.  There is no hand-written NumPy loop for this workload, so the table's
``× NumPy`` column is empty, ``× PyTorch`` is the comparison, and the A/A control times nnlite
against itself.
"""
from __future__ import annotations

import numpy as np
from _harness import MemoryCase, Workload, WorkloadSpec, load_data
from _peers import jax_train, torch_train_epoch

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


def jax_cnn_loss(jax):
    jnp, lax = jax.numpy, jax.lax
    dims = ("NCHW", "OIHW", "NCHW")

    def conv_relu_pool(h, k, b):
        h = lax.conv_general_dilated(h, k, (1, 1), "VALID", dimension_numbers=dims)
        h = jax.nn.relu(h + b[None, :, None, None])
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(params, xb, yb):
        k1, b1, k2, b2, w3, b3, w4, b4 = params
        h = conv_relu_pool(conv_relu_pool(xb, k1, b1), k2, b2).reshape(xb.shape[0], -1)
        logits = jax.nn.relu(h @ w3 + b3) @ w4 + b4
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
    return loss


def build(ctx):
    """nnlite, PyTorch (if installed) and JAX (if installed) runners on ``ctx.x`` as images."""
    images = np.ascontiguousarray(ctx.x.reshape(-1, 1, 28, 28))
    y, seed = ctx.y, ctx.seed
    model = nnlite_cnn(seed)
    init = model.get_weights()
    n = images.shape[0]
    # FLOPs: the conv layers reuse each kernel weight at every output pixel, so 6·params·samples
    # undercounts; count 6·(multiply-adds per sample) instead (2 for forward, 4 for backward)
    macs = 16 * 9 * 26 * 26 + 32 * 16 * 9 * 11 * 11 + 800 * 64 + 64 * 10
    # one epoch of float32 training from the same start: the frameworks' summation orders
    # differ, so the losses agree to a few parts in 10⁴, not bit for bit
    wl = Workload("W6", n, -(-n // BATCH), 6 * macs * n, value_rtol=3e-3)

    def nn_reset():
        model.set_weights(init)
        model.optimizer = nnlite.optimizers.Adam(learning_rate=LR)

    wl.add("nnlite", lambda: model.fit(images, y, epochs=1, batch_size=BATCH, shuffle=True,
                                       verbose=0, seed=seed).history["loss"][-1], nn_reset)
    torch = ctx.torch
    if torch is not None:
        net = torch_cnn(torch)
        xt, yt = torch.from_numpy(images), torch.from_numpy(y)
        state = {}

        def t_reset():
            torch_load(torch, net, init)
            state["opt"] = torch.optim.Adam(net.parameters(), lr=LR)

        wl.add("torch", lambda: torch_train_epoch(torch, net, state["opt"], xt, yt, BATCH,
                                                  seed)[-1], t_reset)
    if ctx.jax is not None:
        jax_train(ctx.jax, wl, jax_cnn_loss(ctx.jax), init, ("adam", LR), images, y, BATCH,
                  seed)
    return wl


def w6_memory(quick):
    """The W6 fit for the memory check (fresh process, no torch/JAX imported)."""
    def make(n):
        x, y = load_data(n)
        return nnlite_cnn(0), x.reshape(-1, 1, 28, 28), y, {"batch_size": BATCH, "seed": 0}
    return MemoryCase(make)


WORKLOADS = [WorkloadSpec("W6", DESCRIPTION, build, memory=w6_memory)]
