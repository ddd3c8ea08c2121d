"""PyTorch parity of training: every optimizer step by step vs ``torch.optim`` on identical
parameters and gradients, and 100-step training runs (SGD with momentum, Adam; fixed batches)
of a 4-layer network with a residual block whose loss trajectory matches PyTorch's.  float64."""
import numpy as np
import pytest

import nnlite
from nnlite import optimizers
from nnlite.layers import Dense, Residual

torch = pytest.importorskip("torch")

# (id, nnlite optimizer, torch optimizer factory)
OPTIMIZERS = [
    ("sgd", lambda: optimizers.SGD(learning_rate=0.05),
     lambda p: torch.optim.SGD(p, lr=0.05)),
    ("sgd_momentum", lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("sgd_nesterov", lambda: optimizers.SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("gd_momentum", lambda: optimizers.GD(learning_rate=0.1, momentum=0.5),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5)),
    ("adam", lambda: optimizers.Adam(learning_rate=0.01),
     lambda p: torch.optim.Adam(p, lr=0.01)),
    ("adam_betas", lambda: optimizers.Adam(learning_rate=0.003, beta_1=0.8, beta_2=0.99,
                                           epsilon=1e-6),
     lambda p: torch.optim.Adam(p, lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
    ("rmsprop", lambda: optimizers.RMSProp(learning_rate=0.01, rho=0.95, epsilon=1e-7),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-7)),
    ("adagrad", lambda: optimizers.AdaGrad(learning_rate=0.1),
     lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10)),
]


@pytest.mark.parametrize("case", OPTIMIZERS, ids=[c[0] for c in OPTIMIZERS])
def test_optimizer_steps_match_torch_optim(case):
    _, make, make_torch = case
    rng = np.random.default_rng(0)
    params = rng.standard_normal(40)
    param_t = torch.tensor(params.copy(), requires_grad=True)
    opt, opt_t = make(), make_torch([param_t])
    for step in range(30):
        grads = rng.standard_normal(40) * (1.0 + step % 3)
        opt.step(params, grads)
        param_t.grad = torch.tensor(grads)
        opt_t.step()
        np.testing.assert_allclose(params, param_t.detach().numpy(), rtol=1e-10, atol=1e-13,
                                   err_msg=f"step {step}")
    assert not np.allclose(params, np.random.default_rng(0).standard_normal(40))


def _network(seed):
    """4 layers, the second a residual block:  x → tanh → x + B(x) → relu → softmax."""
    return nnlite.Sequential([
        Dense(16, activation="tanh", input_dim=5),
        Residual([Dense(16, activation="tanh"), Dense(16)]),
        Dense(12, activation="relu"),
        Dense(3, activation="softmax"),
    ], seed=seed, dtype="float64")


def _torch_network(model):
    """The same network written directly in torch (not via nnlite.export), same weights."""
    nn = torch.nn
    dense = [l for l in nnlite.models.base.leaf_layers(model.layers)]
    linears = []
    for layer in dense:
        lin = nn.Linear(*layer.params["kernel"].shape, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.params["kernel"].T))
            lin.bias.copy_(torch.tensor(layer.params["bias"]))
        linears.append(lin)
    l1, b1, b2, l3, l4 = linears

    def logits(x):
        h = torch.tanh(l1(x))
        h = h + b2(torch.tanh(b1(h)))
        return l4(torch.relu(l3(h)))
    return logits, [p for lin in linears for p in lin.parameters()]


@pytest.mark.parametrize("name", ["sgd_momentum", "adam"])
def test_100_step_training_run_matches_pytorch_loss_trajectory(name):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 5))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    model = _network(3)
    model.build()
    logits, params = _torch_network(model)
    if name == "adam":
        opt, opt_t = optimizers.Adam(learning_rate=0.01), torch.optim.Adam(params, lr=0.01)
    else:
        opt = optimizers.SGD(learning_rate=0.05, momentum=0.9)
        opt_t = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=opt)
    ours, theirs = [], []
    for step in range(100):
        xb, yb = batches[step % 4]
        # one fit call per fixed batch: the recorded loss is the one before the update
        ours.append(model.fit(xb, yb, epochs=1, batch_size=16, shuffle=False,
                              verbose=0).history["loss"][0])
        opt_t.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits(torch.tensor(xb)), torch.tensor(yb))
        theirs.append(loss.item())
        loss.backward()
        opt_t.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=0)
    assert ours[-1] < 0.5 * ours[0]  # it trained
    with torch.no_grad():
        probs = torch.softmax(logits(torch.tensor(x)), dim=-1).numpy()
    np.testing.assert_allclose(model.predict(x), probs, rtol=1e-8, atol=1e-12)
