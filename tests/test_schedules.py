"""Learning-rate schedules: closed forms, PyTorch's schedulers, use inside an optimizer."""
import math

import numpy as np
import pytest

from nnlite.errors import ConfigError, UnknownNameError
from nnlite.optimizers import SGD, Adam, from_config
from nnlite.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    StepDecay,
    deserialize,
    serialize,
)


def test_closed_forms():
    e = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert e(0) == 0.1 and e(10) == pytest.approx(0.05) and e(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    s = ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert s(9) == 0.1 and s(10) == pytest.approx(0.05)
    p = PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
    assert [p(t) for t in (0, 100, 101, 200, 201, 10 ** 6)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    c = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert c(0) == 1.0 and c(50) == pytest.approx(0.55) and c(100) == pytest.approx(0.1)
    assert c(1000) == pytest.approx(0.1)
    i = InverseTimeDecay(1.0, decay_steps=10, decay_rate=1.0)
    assert i(10) == pytest.approx(0.5) and i(5) == pytest.approx(1 / 1.5)
    assert InverseTimeDecay(1.0, 10, 1.0, staircase=True)(5) == 1.0


def test_match_torch_schedulers():
    torch = pytest.importorskip("torch")

    def torch_rates(make, steps=30, lr=0.2):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = make(opt)
        rates = []
        for _ in range(steps):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return rates
    ours = {
        "exp": ExponentialDecay(0.2, 1, 0.9),
        "step": StepDecay(0.2, step_size=7, gamma=0.3),
        "cos": CosineDecay(0.2, decay_steps=30, alpha=0.05),
    }
    ref = {
        "exp": torch_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
        "step": torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.3)),
        "cos": torch_rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=30, eta_min=0.01)),
    }
    for key, schedule in ours.items():
        np.testing.assert_allclose([schedule(t) for t in range(30)], ref[key], rtol=1e-9,
                                   err_msg=key)


def test_schedule_drives_the_optimizer_step_by_step():
    schedule = PiecewiseConstantDecay([1, 3], [1.0, 0.5, 0.25])
    opt = SGD(learning_rate=schedule)
    params = np.zeros(1)
    moves = []
    for _ in range(5):
        before = params.copy()
        opt.step(params, np.ones(1))
        moves.append(float(before[0] - params[0]))
    assert moves == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert opt.learning_rate == 0.25


def test_schedule_config_round_trip_through_optimizer():
    opt = Adam(learning_rate=CosineDecay(0.01, 100), clipvalue=1.0)
    again = from_config("Adam", opt.get_config())
    assert isinstance(again.schedule, CosineDecay) and again.clipvalue == 1.0
    assert [again.schedule(t) for t in (0, 30, 99)] == [opt.schedule(t) for t in (0, 30, 99)]
    for s in (ExponentialDecay(0.1, 3, 0.9, True), StepDecay(0.1, 2), InverseTimeDecay(1, 2, 3),
              PiecewiseConstantDecay([5], [0.1, 0.01])):
        assert deserialize(serialize(s)).get_config() == s.get_config()


def test_bad_schedules():
    with pytest.raises(ConfigError, match="decay_steps"):
        ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ConfigError, match="len"):
        PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ConfigError, match="increasing"):
        PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ConfigError, match="alpha"):
        CosineDecay(0.1, 10, alpha=2.0)
    with pytest.raises(UnknownNameError, match="Evil"):
        deserialize({"class_name": "Evil", "config": {}})
    assert math.isfinite(CosineDecay(0.1, 10)(10 ** 9))
