"""Optimizers Keras users name ("nadam", "adamw", weight_decay= on every rule), the update of
trainable segments only (frozen layers), and the conventions nnlite pins where Keras and
PyTorch differ (see the README's conventions table)."""
import numpy as np
import pytest

from nnlite import optimizers
from nnlite.errors import ConfigError

# (id, nnlite optimizer, torch optimizer factory)
TORCH_TWINS = [
    ("nadam", lambda: optimizers.Nadam(learning_rate=0.01),
     lambda torch, p: torch.optim.NAdam(p, lr=0.01)),
    ("nadam_betas", lambda: optimizers.Nadam(learning_rate=0.004, beta_1=0.8, beta_2=0.95,
                                             epsilon=1e-6),
     lambda torch, p: torch.optim.NAdam(p, lr=0.004, betas=(0.8, 0.95), eps=1e-6)),
    ("adamw", lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.05),
     lambda torch, p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05)),
    ("adam_weight_decay", lambda: optimizers.Adam(learning_rate=0.01, weight_decay=0.1),
     lambda torch, p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    ("adagrad_initial_accumulator",
     lambda: optimizers.AdaGrad(learning_rate=0.1, initial_accumulator_value=0.1),
     lambda torch, p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("case", TORCH_TWINS, ids=[c[0] for c in TORCH_TWINS])
def test_steps_match_torch_optim(case):
    torch = pytest.importorskip("torch")
    _, make, make_torch = case
    rng = np.random.default_rng(0)
    params = rng.standard_normal(40)
    param_t = torch.tensor(params.copy(), requires_grad=True)
    opt, opt_t = make(), make_torch(torch, [param_t])
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam keeps Π μ_s in the default (float32) dtype
    try:
        for step in range(100):
            grads = rng.standard_normal(40) * (1.0 + step % 3)
            opt.step(params, grads)
            param_t.grad = torch.tensor(grads)
            opt_t.step()
            np.testing.assert_allclose(params, param_t.detach().numpy(), rtol=1e-10,
                                       atol=1e-13, err_msg=f"step {step}")
    finally:
        torch.set_default_dtype(default)


def test_sgd_weight_decay_is_decoupled_as_keras():
    # Keras 3: w ← w - η λ w, then the update rule (PyTorch's SGD adds λ w to the gradient)
    rng = np.random.default_rng(1)
    params = rng.standard_normal(10)
    ref = params.copy()
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.2)
    velocity = np.zeros(10)
    for _ in range(5):
        g = rng.standard_normal(10)
        opt.step(params, g)
        ref -= 0.1 * 0.2 * ref
        velocity = 0.5 * velocity + g
        ref -= 0.1 * velocity
    np.testing.assert_allclose(params, ref, rtol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad"])
def test_segments_update_only_their_ranges(name):
    # frozen layers sit between the segments: their weights and state never move, and the
    # trainable ranges follow exactly the path they would take on their own
    rng = np.random.default_rng(2)
    params = rng.standard_normal(30)
    segments = [(0, 8), (20, 30)]
    kwargs = dict(clipnorm=1.0) if name != "sgd" else dict(weight_decay=0.1)
    whole, parts = optimizers.get(name), optimizers.get(name)
    for opt in (whole, parts):
        for key, value in kwargs.items():
            setattr(opt, key, value)
        opt._prepares = opt.clipnorm is not None
    alone = params[np.r_[0:8, 20:30]].copy()
    frozen = params[8:20].copy()
    for _ in range(7):
        g = rng.standard_normal(30)
        parts.step(params, g.copy(), segments)
        whole.step(alone, g[np.r_[0:8, 20:30]].copy())
    np.testing.assert_array_equal(params[8:20], frozen)
    np.testing.assert_allclose(params[np.r_[0:8, 20:30]], alone, rtol=1e-12, atol=1e-15)
    for key, slot in parts.get_state().items():
        if slot.ndim:
            assert not slot[8:20].any(), key


def test_nadam_resumes_exactly_from_its_state():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(6) for _ in range(10)]
    straight = np.ones(6)
    opt = optimizers.Nadam()
    for g in grads:
        opt.step(straight, g)
    resumed = np.ones(6)
    first = optimizers.Nadam()
    for g in grads[:4]:
        first.step(resumed, g)
    second = optimizers.Nadam()
    second.set_state(first.get_state())
    for g in grads[4:]:
        second.step(resumed, g)
    np.testing.assert_array_equal(resumed, straight)


def test_keras_names_and_spellings():
    assert type(optimizers.get("nadam")) is optimizers.Nadam
    assert type(optimizers.get("adamw")) is optimizers.AdamW
    assert type(optimizers.get("RMSprop")) is optimizers.RMSProp
    assert type(optimizers.get("Adagrad")) is optimizers.AdaGrad
    assert optimizers.AdamW().weight_decay == 0.004   # Keras' default (PyTorch's: 0.01)


def test_conventions_are_pinned():
    # the defaults the README's conventions table states (PyTorch's where they differ)
    assert optimizers.Adam().epsilon == 1e-8 and optimizers.Nadam().epsilon == 1e-8
    assert optimizers.RMSProp().epsilon == 1e-8
    adagrad = optimizers.AdaGrad()
    assert (adagrad.epsilon, adagrad.initial_accumulator_value) == (1e-10, 0.0)
    # ε outside the square root: one RMSProp step from v = 0 moves w by η g / (√((1-ρ) g²) + ε)
    w = np.zeros(1)
    optimizers.RMSProp(learning_rate=1.0, rho=0.0, epsilon=1.0).step(w, np.array([4.0]))
    assert w[0] == pytest.approx(-4.0 / (4.0 + 1.0))


def test_bad_weight_decay():
    with pytest.raises(ConfigError, match="SGD: weight_decay must be a finite number ≥ 0, "
                                          "got -1"):
        optimizers.SGD(weight_decay=-1)


def test_weight_decay_round_trips_through_config():
    opt = optimizers.RMSProp(learning_rate=0.01, weight_decay=0.3)
    again = optimizers.from_config("RMSProp", opt.get_config())
    assert again.weight_decay == 0.3 and again.get_config() == opt.get_config()
