"""W1–W5 of ``benchmarks/speed.py``: multilayer perceptrons and logistic regression on MNIST.

    W1   MLP 784-256-256-10 ReLU, softmax cross-entropy, minibatch SGD lr 0.05, batch 128
    W2r  20 hidden layers of width 64, ReLU, batch 32 (per-layer overhead)
    W2s  the same with sigmoid
    W3   logistic regression (digit 0 vs rest, labels ±1), full-batch GD, 200 iterations
    W4   predict (softmax probabilities) with the W1 model, batch 1,000
    W5   W1 in float64

Columns: nnlite, the hand-written NumPy loop (``_numpy_reference.py``), PyTorch eager,
scikit-learn's MLPClassifier (its own batch order), JAX (jit step, lax.scan; float32 only).
"""
from __future__ import annotations

import warnings

import numpy as np
from _harness import MemoryCase, Workload, WorkloadSpec
from _numpy_reference import NumpyMLP, numpy_logistic_gd
from _peers import jax_predict, jax_train, torch_train_epoch

import nnlite
from nnlite import optimizers
from nnlite.layers import Dense

LR = 0.05


def nnlite_mlp(widths, activation, dtype="float32", n_in=784, seed=0):
    layers = [Dense(widths[0], activation=activation, input_dim=n_in)]
    layers += [Dense(w, activation=activation) for w in widths[1:]]
    layers.append(Dense(10, activation="softmax"))
    model = nnlite.Sequential(layers, seed=seed, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=optimizers.MiniBatchSGD(learning_rate=LR))
    model.build((n_in,))
    return model


def pairs(weights):
    return list(zip(weights[0::2], weights[1::2]))


# ------------------------------------------------------------------------------ PyTorch
def torch_mlp(torch, weights, activation, dtype):
    mods = []
    for i, (w, _) in enumerate(weights):
        mods.append(torch.nn.Linear(w.shape[0], w.shape[1], dtype=dtype))
        if i < len(weights) - 1:
            mods.append(torch.nn.ReLU() if activation == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*mods)


def torch_load(torch, net, weights):
    with torch.no_grad():
        lins = [m for m in net if isinstance(m, torch.nn.Linear)]
        for lin, (w, b) in zip(lins, weights):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            lin.bias.copy_(torch.from_numpy(b))


# ------------------------------------------------------------------------------ JAX
def _jax_mlp_logits(jax, activation):
    # jax.nn.relu: derivative 0 at 0 like nnlite and PyTorch (jnp.maximum splits it, 0.5)
    act = jax.nn.relu if activation == "relu" else jax.nn.sigmoid

    def logits(params, h):
        last = len(params) // 2 - 1
        for i in range(last + 1):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < last:
                h = act(h)
        return h
    return logits


def _jax_softmax_ce(jax, logits_fn):
    jnp = jax.numpy

    def loss(params, xb, yb):
        logp = jax.nn.log_softmax(logits_fn(params, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
    return loss


# ------------------------------------------------------------------------------ scikit-learn
def sk_mlp(ctx, hidden, activation, batch, max_iter=1):
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=hidden, activation=activation, solver="sgd",
                         learning_rate_init=LR, learning_rate="constant", momentum=0.0,
                         nesterovs_momentum=False, alpha=0.0, batch_size=batch,
                         max_iter=max_iter, shuffle=True, random_state=ctx.seed, tol=0.0,
                         n_iter_no_change=max_iter + 1, early_stopping=False)


def _quiet(fit):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


# ------------------------------------------------------------------------------ workloads
def mlp_workload(key, widths, activation, batch, dtype):
    def build(ctx):
        model = nnlite_mlp(widths, activation, dtype, seed=ctx.seed)
        init = model.get_weights()
        xd = ctx.x.astype(dtype)
        y = ctx.y
        n = xd.shape[0]
        wl = Workload(key, n, -(-n // batch), 6 * model.count_params() * n)
        wl.add("nnlite", lambda: model.fit(xd, y, epochs=1, batch_size=batch, shuffle=True,
                                           verbose=0, seed=ctx.seed).history["loss"][-1],
               lambda: model.set_weights(init))
        ref = {}

        def np_reset():
            ref["m"] = NumpyMLP(pairs(init), activation)
        wl.add("numpy", lambda: ref["m"].fit(xd, y, 1, batch, LR, ctx.seed)[-1], np_reset)
        torch = ctx.torch
        if torch is not None:
            tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
            net = torch_mlp(torch, pairs(init), activation, tdtype)
            opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.0)
            xt, yt = torch.from_numpy(xd), torch.from_numpy(y)
            wl.add("torch", lambda: torch_train_epoch(torch, net, opt, xt, yt, batch,
                                                      ctx.seed)[-1],
                   lambda: torch_load(torch, net, pairs(init)))
        if ctx.sklearn is not None:
            sk_act = "relu" if activation == "relu" else "logistic"
            wl.add("sklearn", lambda: _quiet(lambda: sk_mlp(ctx, tuple(widths), sk_act, batch)
                                             .fit(xd, y)).loss_curve_[-1], comparable=False)
        if ctx.jax is not None and np.dtype(dtype) == np.float32:
            loss = _jax_softmax_ce(ctx.jax, _jax_mlp_logits(ctx.jax, activation))
            jax_train(ctx.jax, wl, loss, init, ("sgd", LR), xd, y, batch, ctx.seed)
        return wl
    return build


def logistic_build(ctx):
    x, iterations = ctx.x, 5 if ctx.quick else 200
    y_pm = np.where(ctx.y == 0, 1.0, -1.0).astype(np.float32)
    model = nnlite.Sequential([Dense(1, input_dim=x.shape[1])], seed=ctx.seed)
    model.compile(loss="logistic", optimizer=optimizers.GD(learning_rate=LR))
    model.build((x.shape[1],))
    init = model.get_weights()
    n = x.shape[0]
    wl = Workload("W3", n * iterations, iterations, 6 * model.count_params() * n * iterations)
    wl.add("nnlite", lambda: model.fit(x, y_pm, epochs=iterations, batch_size="full",
                                       verbose=0, seed=ctx.seed).history["loss"][-1],
           lambda: model.set_weights(init))
    y_col = y_pm.reshape(-1, 1)
    wl.add("numpy", lambda: numpy_logistic_gd(x, y_col, init[0], init[1], iterations, LR)[0][-1])
    torch = ctx.torch
    if torch is not None:
        lin = torch.nn.Linear(x.shape[1], 1)
        opt = torch.optim.SGD(lin.parameters(), lr=LR)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y_col)

        def t_reset():
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(init[0].T)))
                lin.bias.copy_(torch.from_numpy(init[1]))

        def t_run():
            for _ in range(iterations):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.softplus(-yt * lin(xt)).mean()
                loss.backward()
                opt.step()
                value = loss.item()
            return value
        wl.add("torch", t_run, t_reset)
    if ctx.sklearn is not None:
        y01 = (ctx.y == 0).astype(np.int64)
        # no hidden layer: logistic regression, full batch, one step per epoch; its loss is
        # the {0, 1} cross-entropy (the same number as the ±1 logistic loss)
        wl.add("sklearn", lambda: _quiet(lambda: sk_mlp(ctx, (), "relu", n, iterations)
                                         .fit(x, y01)).loss_curve_[-1], comparable=False)
    if ctx.jax is not None:
        jnp = ctx.jax.numpy

        def loss(params, xb, yb):
            return jnp.mean(jnp.logaddexp(0.0, -yb * (xb @ params[0] + params[1])))
        jax_train(ctx.jax, wl, loss, init, ("sgd", LR), x, y_col, None, ctx.seed,
                  epochs=iterations)
    return wl


def predict_build(ctx, batch=1000):
    x = ctx.x
    model = nnlite_mlp([256, 256], "relu", seed=ctx.seed)
    init = model.get_weights()
    n = x.shape[0]
    wl = Workload("W4", n, -(-n // batch), 2 * model.count_params() * n, value_rtol=1e-4)
    wl.add("nnlite", lambda: model.predict(x, batch_size=batch))
    ref = NumpyMLP(pairs(init), "relu")
    wl.add("numpy", lambda: ref.predict(x, batch))
    torch = ctx.torch
    if torch is not None:
        net = torch_mlp(torch, pairs(init), "relu", torch.float32)
        torch_load(torch, net, pairs(init))
        xt = torch.from_numpy(x)

        def t_run():
            with torch.inference_mode():
                return torch.cat([torch.softmax(net(xt[s:s + batch]), dim=1)
                                  for s in range(0, n, batch)]).numpy()
        wl.add("torch", t_run)
    if ctx.sklearn is not None:
        sk = _quiet(lambda: sk_mlp(ctx, (256, 256), "relu", 128).fit(x[:256],
                                                                      np.arange(256) % 10))
        sk.coefs_ = [w.copy() for w in init[0::2]]
        sk.intercepts_ = [b.copy() for b in init[1::2]]
        # sklearn predicts in one pass (its batching is internal)
        wl.add("sklearn", lambda: sk.predict_proba(x))
    if ctx.jax is not None and n % batch == 0:
        logits = _jax_mlp_logits(ctx.jax, "relu")
        jax_predict(ctx.jax, wl, lambda p, xb: ctx.jax.nn.softmax(logits(p, xb)), init, x,
                    batch)
    return wl


def w1_memory(quick):
    """The W1 fit for the memory check (fresh process, no torch/JAX imported)."""
    from _harness import load_data

    def make(n):
        x, y = load_data(n)
        return nnlite_mlp([256, 256], "relu"), x, y, {"batch_size": 128, "seed": 0}
    return MemoryCase(make)


WORKLOADS = [
    WorkloadSpec("W1", "MLP 784-256-256-10 ReLU, softmax CE, SGD lr 0.05, batch 128, 1 epoch",
                 mlp_workload("W1", [256, 256], "relu", 128, "float32"), memory=w1_memory),
    WorkloadSpec("W2r", "20 hidden layers of width 64, ReLU, batch 32, 1 epoch",
                 mlp_workload("W2r", [64] * 20, "relu", 32, "float32")),
    WorkloadSpec("W2s", "20 hidden layers of width 64, sigmoid, batch 32, 1 epoch",
                 mlp_workload("W2s", [64] * 20, "sigmoid", 32, "float32")),
    WorkloadSpec("W3", "logistic regression (0 vs rest, ±1), full-batch GD, 200 iterations",
                 logistic_build),
    WorkloadSpec("W4", "predict with the W1 model, batch 1,000", predict_build),
    WorkloadSpec("W5", "W1 in float64", mlp_workload("W5", [256, 256], "relu", 128,
                                                     "float64")),
]
