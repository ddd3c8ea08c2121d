"""The peer frameworks' training loops, shared by the workload modules.

PyTorch eager: ``torch_train_epoch`` (the loop a PyTorch user writes: index_select the batch,
zero_grad, forward, CrossEntropyLoss, backward, step, ``loss.item()``).

JAX: ``jax_train`` builds two columns from one pure ``loss_fn(params, xb, yb)``:

* ``jax jit-step``: a ``jax.jit``-compiled train step (gather the batch on the device, value and
  gradient, optimizer update) called from a Python loop, the loss summed on the device and read
  once at the end of the epoch (so Python never waits for a step);
* ``jax scan``: the whole epoch compiled as one ``lax.scan`` over the batch indices (the short
  last batch, if any, by the compiled step).

Both take the batch order from the same ``np.random.default_rng(seed).permutation(n)`` per epoch
as nnlite's ``fit(seed=...)``, and start from copies of the same initial weights (float32).
"""
from __future__ import annotations

import numpy as np

__all__ = ["torch_train_epoch", "jax_train", "jax_predict", "epoch_batches"]


def epoch_batches(n, batch, seed, epochs=1):
    """The batch index arrays of each epoch, in nnlite's order."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        yield [order[s:s + batch] for s in range(0, n, batch)]


def torch_train_epoch(torch, net, opt, xt, yt, batch, seed, epochs=1):
    """PyTorch eager minibatch training with CrossEntropyLoss; returns per-epoch mean losses."""
    n = xt.shape[0]
    rng = np.random.default_rng(seed)
    lossf = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        losses.append(total / n)
    return losses


# ------------------------------------------------------------------------------ JAX
def _optimizer(jax, optimizer):
    """``(init(params) -> state, update(params, state, grads) -> (params, state))`` for
    ``("sgd", lr)`` or ``("adam", lr)`` (PyTorch's Adam: β 0.9/0.999, ε 1e-8 outside the sqrt)."""
    jnp, tree = jax.numpy, jax.tree_util
    kind, lr = optimizer
    if kind == "sgd":
        def init(params):
            return ()

        def update(params, state, grads):
            return tree.tree_map(lambda p, g: p - lr * g, params, grads), state
        return init, update
    if kind != "adam":
        raise ValueError(f"unknown optimizer {kind!r}")
    b1, b2, eps = 0.9, 0.999, 1e-8

    def init(params):
        zeros = tree.tree_map(jnp.zeros_like, params)
        return (zeros, tree.tree_map(jnp.zeros_like, params), jnp.zeros((), jnp.float32))

    def update(params, state, grads):
        m, v, t = state
        t = t + 1.0
        m = tree.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = tree.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        step = lr / (1 - b1 ** t)
        root = jnp.sqrt(1 - b2 ** t)
        params = tree.tree_map(lambda p, m, v: p - step * m / (jnp.sqrt(v) / root + eps),
                               params, m, v)
        return params, (m, v, t)
    return init, update


def jax_train(jax, wl, loss_fn, params0, optimizer, x, y, batch, seed, epochs=1):
    """Add the ``jax jit-step`` and ``jax scan`` runners to workload ``wl``.

    ``loss_fn(params, xb, yb)`` is the mean loss of a batch; ``params0`` a list of NumPy arrays;
    ``batch=None`` means full-batch GD (``epochs`` iterations over all of ``x``, no gather)."""
    jnp, lax = jax.numpy, jax.lax
    init, update = _optimizer(jax, optimizer)
    n = x.shape[0]
    X, Y = jax.device_put(x), jax.device_put(y)

    def train(carry, X, Y, idx):
        params, state, total = carry
        xb, yb = (X, Y) if idx is None else (jnp.take(X, idx, axis=0), jnp.take(Y, idx, axis=0))
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        params, state = update(params, state, grads)
        # minibatch: the epoch's summed loss; full batch: the latest iteration's loss (what
        # nnlite's History and the NumPy loop report for the last of the GD iterations)
        weighted = loss * xb.shape[0]
        return (params, state, weighted if idx is None else total + weighted)

    step = jax.jit(train, donate_argnums=0)

    def scan_epoch(carry, X, Y, idx):
        def body(c, i):
            return train(c, X, Y, i), None
        if idx is None:
            return lax.scan(lambda c, _: (train(c, X, Y, None), None), carry, None,
                            length=epochs)[0]
        return lax.scan(body, carry, idx)[0]

    scan = jax.jit(scan_epoch, donate_argnums=0)
    holder = {}

    def reset():
        params = [jnp.array(p) for p in params0]
        holder["carry"] = (params, init(params), jnp.zeros((), jnp.float32))

    def loop_run():
        carry = holder.pop("carry")
        if batch is None:
            for _ in range(epochs):
                carry = step(carry, X, Y, None)
            return float(carry[2]) / n
        for batches in epoch_batches(n, batch, seed, epochs):
            carry = carry[:2] + (jnp.zeros((), jnp.float32),)
            for idx in batches:
                carry = step(carry, X, Y, idx)
        return float(carry[2]) / n

    def scan_run():
        carry = holder.pop("carry")
        if batch is None:
            return float(scan(carry, X, Y, None)[2]) / n
        full = (n // batch) * batch
        for batches in epoch_batches(n, batch, seed, epochs):
            order = np.concatenate(batches)
            carry = carry[:2] + (jnp.zeros((), jnp.float32),)
            carry = scan(carry, X, Y, order[:full].reshape(-1, batch))
            if full < n:
                carry = step(carry, X, Y, order[full:])
        return float(carry[2]) / n

    wl.add("jax jit-step", loop_run, reset)
    wl.add("jax scan", scan_run, reset)


def jax_predict(jax, wl, forward, params0, x, batch):
    """Add ``jax jit-step`` (a compiled forward per batch, from a Python loop) and ``jax scan``
    (all batches in one compiled ``lax.map``) prediction runners; ``forward(params, xb)``."""
    jnp, lax = jax.numpy, jax.lax
    n = x.shape[0]
    X = jax.device_put(x)
    params = [jnp.array(p) for p in params0]
    one = jax.jit(lambda p, X, s: forward(p, lax.dynamic_slice_in_dim(X, s, batch)))
    every = jax.jit(lambda p, X: lax.map(lambda xb: forward(p, xb),
                                         X.reshape(n // batch, batch, -1)).reshape(n, -1))

    def loop_run():
        parts = [one(params, X, s) for s in range(0, n, batch)]
        return np.asarray(jnp.concatenate(parts))

    def scan_run():
        return np.asarray(every(params, X))

    if n % batch:
        raise ValueError("jax_predict: batch must divide n")
    wl.add("jax jit-step", loop_run)
    wl.add("jax scan", scan_run)
