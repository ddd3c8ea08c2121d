"""``check_layer`` is reliable on recurrent layers: a correct layer passes on each of 50 random
inputs (and weights), and a backprop through time truncated after one step fails every time.

Before the noise-aware error measure, the plain relative error at eps=1e-6 failed a correct
LSTM on about 1 input in 8 (entries of the early steps' gradients are far below the scale of
the checked sum, so the difference quotient's round-off dominated them).
"""
import numpy as np
import pytest

from nnlite.gradcheck import _numeric, check_layer, relative_error
from nnlite.layers import GRU, LSTM, SimpleRNN
from nnlite.layers.recurrent import slope

TRIALS = 50


class TruncatedSimpleRNN(SimpleRNN):
    """BPTT cut after one step: dL/dy_t reaches step t and step t-1, no further."""

    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        hs = self._scan_cache
        steps = hs.shape[0] - 1
        fac = slope(self.activation, hs[1:], self._one, np.empty(hs[1:].shape))
        dz = np.empty_like(fac)
        own = [np.zeros(hs.shape[1:]) if dy_tm is None else dy_tm[t] for t in range(steps)]
        if finals[0] is not None:
            own[-1] = own[-1] + finals[0]
        carry = np.zeros(hs.shape[1:])
        for t in range(steps - 1, -1, -1):
            dz[t] = (own[t] + carry) * fac[t]
            carry = (own[t] * fac[t]) @ self.params["recurrent_kernel"].T   # one step only
        np.matmul(hs[:steps].reshape(-1, self.units).T, dz.reshape(-1, self.units),
                  out=self.grads["recurrent_kernel"])
        return dz[None], (0,)          # dP as (gates, T, n, H), gates in Keras order


class TruncatedLSTM(LSTM):
    """LSTM whose BPTT carries dL/dh and dL/dc back one step only."""

    def _step(self, t, dh, dc):
        z, _ = self._scan_cache          # slots of step t: i, f, o, g, c_{t-1}, tanh(c_t)
        i, f, o, g, c_prev, tc = (z[k, t] for k in range(6))
        act, ract, one = self.activation, self.recurrent_activation, self._one
        dtc = slope(act, tc, one, np.empty(tc.shape))
        dc = dc + dh * o * dtc
        d = np.stack([dc * g, dc * c_prev, dc * i, dh * tc])          # i, f, g, o
        d *= np.stack([slope(ract, i, one, np.empty(i.shape)),
                       slope(ract, f, one, np.empty(f.shape)),
                       slope(act, g, one, np.empty(g.shape)),
                       slope(ract, o, one, np.empty(o.shape))])
        return d, np.concatenate(d, axis=1) @ self.params["recurrent_kernel"].T, dc * f

    def _scan_backward(self, dy_tm, finals, on, rec_drop):
        _, hs = self._scan_cache
        steps, n, h = hs.shape[0] - 1, hs.shape[1], self.units
        zero = np.zeros((n, h))
        own = [zero if dy_tm is None else dy_tm[t] for t in range(steps)]
        if finals[0] is not None:
            own[-1] = own[-1] + finals[0]
        dz = np.empty((4, steps, n, h))
        carry_h = carry_c = zero
        for t in range(steps - 1, -1, -1):
            dz[:, t] = self._step(t, own[t] + carry_h, carry_c)[0]
            _, carry_h, carry_c = self._step(t, own[t], zero)       # one step only
        np.matmul(hs[:steps].reshape(-1, h).T, dz.transpose(1, 2, 0, 3).reshape(-1, 4 * h),
                  out=self.grads["recurrent_kernel"])
        return dz, (0, 1, 2, 3)


def _trial(k):
    rng = np.random.default_rng(1000 + k)
    return rng.standard_normal((2, 6, 3)), 2000 + k


CORRECT = [
    ("simple_rnn", lambda: SimpleRNN(4, return_sequences=True)),
    ("lstm", lambda: LSTM(4, return_sequences=True)),
    ("lstm_last", lambda: LSTM(4)),
    ("gru", lambda: GRU(4, return_sequences=True)),
]


@pytest.mark.parametrize("name,factory", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_recurrent_layer_passes_on_every_random_input(name, factory):
    errors = []
    for k in range(TRIALS):
        x, seed = _trial(k)
        report = check_layer(factory(), x, seed=seed)
        assert report.ok, f"trial {k}: {report}"
        errors.append(report.max_error)
    assert max(errors) < 1e-6


@pytest.mark.parametrize("factory", [lambda: TruncatedSimpleRNN(4, return_sequences=True),
                                     lambda: TruncatedLSTM(4, return_sequences=True),
                                     lambda: TruncatedLSTM(4)],
                         ids=["simple_rnn", "lstm", "lstm_last"])
def test_one_step_truncated_bptt_fails_every_time(factory):
    for k in range(TRIALS):
        x, seed = _trial(k)
        report = check_layer(factory(), x, seed=seed)
        assert not report.ok, f"trial {k}: the truncated gradient passed\n{report}"
        assert report.errors["param:recurrent_kernel"] > 1e-4


def test_truncated_layers_truncate_only_the_recurrence():
    # sanity of the fixtures: with 2 steps, cutting after one step changes nothing
    x = np.random.default_rng(3).standard_normal((2, 2, 3))
    for cls in (TruncatedSimpleRNN, TruncatedLSTM):
        assert check_layer(cls(4, return_sequences=True), x, seed=4).ok


def test_plain_relative_error_is_what_failed_correct_layers():
    # the old measure on the same correct LSTM misses 1e-6 on some of the trial inputs
    misses = 0
    for k in range(TRIALS):
        x, seed = _trial(k)
        layer = LSTM(4)
        rng = np.random.default_rng(seed)
        layer.build(x.shape[1:], rng, np.float64)
        r = rng.standard_normal((2, 4))
        layer.forward(x, training=True)
        layer.backward(r)
        analytic = layer.grads["recurrent_kernel"].copy()
        numeric = _numeric(lambda r=r, layer=layer, x=x: float(np.sum(
            r * layer.forward(x, training=True))), layer.params["recurrent_kernel"], 1e-6)
        misses += relative_error(analytic, numeric) >= 1e-6
    assert misses >= 1
