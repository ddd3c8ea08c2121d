"""The peers of the recurrent workloads (``rnn.py``): PyTorch eager and JAX twins of the
char-RNN ``Embedding → SimpleRNN/LSTM/GRU(return_sequences) → Dense(softmax)``.

PyTorch: ``nnlite.export.to_torch`` gives ``nn.Embedding``, ``nn.LSTM``/``nn.GRU``/``nn.RNN``
(batch first) and ``nn.Linear`` holding the nnlite model's weights; trained on logits with
``F.cross_entropy``, ``clip_grad_norm_`` and ``torch.optim.Adam``.  LSTM and SimpleRNN have
one Keras bias where PyTorch adds ``b_ih + b_hh``: ``to_torch`` puts it in ``b_ih`` and zeros
in ``b_hh``, which stays frozen (else Adam would move the sum twice as fast and the clipping
norm would count that gradient twice).  GRU (reset_after) has two real biases, both trained.

JAX: the same network as a pure function of the Keras-layout weights (the recurrence as a
``lax.scan`` over time inside the loss), trained by ``jax_train_clipped``: a ``jax.jit`` step
called from Python (``jax jit-step``) and the whole epoch as one ``lax.scan`` over the batches
(``jax scan``), Adam with the global-norm clipping of nnlite's ``clipnorm`` (the update rule of
``_peers.jax_train``, which has no clipping).
"""
from __future__ import annotations

import numpy as np
from _peers import _optimizer, epoch_batches

__all__ = ["fit_order", "jax_rnn_loss", "jax_train_clipped", "torch_steps", "torch_twin"]


def fit_order(n, steps, seed, batch=32):
    """The batch index arrays of ``Model.fit(..., batch_size=batch, seed=seed)``: a fresh
    ``default_rng(seed).permutation(n)`` every epoch, cut into batches (the last one short)."""
    rng = np.random.default_rng(seed)
    order = []
    while len(order) < steps:
        perm = rng.permutation(n)
        order.extend(perm[s:s + batch] for s in range(0, n, batch))
    return order[:steps]


# ------------------------------------------------------------------------------ PyTorch
def torch_twin(torch, model):
    """(embedding, recurrent, linear) torch modules holding ``model``'s current weights."""
    from nnlite.export import to_torch

    net = to_torch(model)          # Embedding wrapper, recurrent wrapper, Linear + Softmax
    rnn = net[1].rnn
    if not isinstance(rnn, torch.nn.GRU):
        rnn.bias_hh_l0.requires_grad_(False)
    return net[0].table, rnn, net[2][0]


def torch_steps(torch, modules, opt, x, y, order, vocab, clip=5.0):
    """Training steps on the batches ``order`` (index tensors) of (x, y); returns the mean of
    their losses."""
    F = torch.nn.functional
    emb, rnn, linear = modules
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    total = 0.0
    for idx in order:
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(emb(x[idx]))
        loss = F.cross_entropy(linear(out).reshape(-1, vocab), y[idx].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        total += loss.item()
    return total / len(order)


# ------------------------------------------------------------------------------ JAX
def _cell(jax, kind, units):
    """``step(params, carry, p_t) -> (carry, h_t)`` of the Keras cell, ``p_t = x_t W + b_0``;
    and the initial carry for a batch."""
    jnp, sig, h = jax.numpy, jax.nn.sigmoid, units

    if kind == "LSTM":                                    # gates i, f, c, o
        def step(U, carry, p):
            hp, cp = carry
            z = p + hp @ U
            i, f, g, o = sig(z[:, :h]), sig(z[:, h:2 * h]), jnp.tanh(z[:, 2 * h:3 * h]), \
                sig(z[:, 3 * h:])
            c = f * cp + i * g
            hn = o * jnp.tanh(c)
            return (hn, c), hn
        return step, lambda n, dt: (jnp.zeros((n, h), dt), jnp.zeros((n, h), dt))
    if kind == "GRU":                                     # reset_after: gates z, r, h
        def step(Ub, hp, p):
            U, b1 = Ub
            u = hp @ U + b1
            z = sig(p[:, :h] + u[:, :h])
            r = sig(p[:, h:2 * h] + u[:, h:2 * h])
            cand = jnp.tanh(p[:, 2 * h:] + r * u[:, 2 * h:])
            hn = z * hp + (1 - z) * cand
            return hn, hn
        return step, lambda n, dt: jnp.zeros((n, h), dt)

    def step(U, hp, p):                                  # SimpleRNN, tanh
        hn = jnp.tanh(p + hp @ U)
        return hn, hn
    return step, lambda n, dt: jnp.zeros((n, h), dt)


def jax_rnn_loss(jax, kind, units):
    """``loss(params, xb, yb)``: mean next-character cross-entropy over every step, ``params``
    the nnlite model's weights in ``get_weights()`` order [E, W, U, b, Wd, bd]."""
    jnp, lax = jax.numpy, jax.lax
    step, zeros = _cell(jax, kind, units)

    def loss(params, xb, yb):
        E, W, U, b, Wd, bd = params
        emb = jnp.take(E, xb, axis=0)                     # (n, T, F)
        b0, rec = (b[0], (U, b[1])) if kind == "GRU" else (b, U)
        proj = jnp.swapaxes(emb @ W + b0, 0, 1)          # (T, n, G·H), time major
        _, hs = lax.scan(lambda c, p: step(rec, c, p), zeros(xb.shape[0], emb.dtype), proj)
        logits = jnp.swapaxes(hs, 0, 1) @ Wd + bd        # (n, T, V)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yb[..., None], axis=-1))
    return loss


def jax_train_clipped(jax, wl, loss_fn, params0, lr, clip, x, y, batch, seed):
    """Add ``jax jit-step`` and ``jax scan`` columns to ``wl``: one epoch of Adam (``lr``) with
    the gradients rescaled to global norm ``clip`` when larger, over nnlite's batch order."""
    jnp, lax, tree = jax.numpy, jax.lax, jax.tree_util
    init, update = _optimizer(jax, ("adam", lr))
    n = x.shape[0]
    X, Y = jax.device_put(x), jax.device_put(y)

    def train(carry, idx):
        params, state, total = carry
        xb, yb = jnp.take(X, idx, axis=0), jnp.take(Y, idx, axis=0)
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        norm = jnp.sqrt(sum(jnp.vdot(g, g) for g in tree.tree_leaves(grads)))
        scale = jnp.where(norm > clip, clip / norm, 1.0)
        grads = tree.tree_map(lambda g: g * scale, grads)
        params, state = update(params, state, grads)
        return params, state, total + loss * xb.shape[0]

    step = jax.jit(train, donate_argnums=0)
    scan = jax.jit(lambda carry, idx: lax.scan(lambda c, i: (train(c, i), None), carry, idx)[0],
                   donate_argnums=0)
    holder = {}

    def reset():
        params = [jnp.array(p) for p in params0]
        holder["carry"] = (params, init(params), jnp.zeros((), jnp.float32))

    def loop_run():
        carry = holder.pop("carry")
        for batches in epoch_batches(n, batch, seed):
            for idx in batches:
                carry = step(carry, idx)
        return float(carry[2]) / n

    def scan_run():
        carry = holder.pop("carry")
        full = (n // batch) * batch
        for batches in epoch_batches(n, batch, seed):
            order = np.concatenate(batches)
            carry = scan(carry, order[:full].reshape(-1, batch))
            if full < n:
                carry = step(carry, order[full:])
        return float(carry[2]) / n

    wl.add("jax jit-step", loop_run, reset)
    wl.add("jax scan", scan_run, reset)
