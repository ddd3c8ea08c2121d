"""``check_model`` with its defaults (eps = 1e-6, the noise-aware measure) is reliable on
recurrent models, whose gradients reach early time steps with entries far below the loss, and
still catches a small error in one layer's gradient."""
import numpy as np
import pytest

import nnlite
from nnlite.gradcheck import check_model
from nnlite.layers import LSTM, Dense, Embedding


def _model(seed):
    model = nnlite.Sequential([Embedding(11, 6, input_shape=(12,)), LSTM(7),
                               Dense(3, activation="softmax")], seed=seed, dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def _data(seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, size=(4, 12)), rng.integers(0, 3, size=4)


@pytest.mark.parametrize("seed", range(10))
def test_a_correct_recurrent_model_passes_with_the_defaults(seed):
    report = check_model(_model(seed), *_data(seed))
    assert report.ok, str(report)
    assert set(report.relative) == set(report.errors)


def test_a_small_gradient_error_still_fails(monkeypatch):
    model = _model(0)
    head = model.layers[-1]
    backward = type(head).backward

    def slightly_wrong(self, dy, input_grad=True):
        dx = backward(self, dy, input_grad)
        self.grads["kernel"] *= 1.0 + 1e-4
        return dx
    monkeypatch.setattr(head, "backward", slightly_wrong.__get__(head))
    report = check_model(model, *_data(0))
    assert not report.ok and report.errors["dense/kernel"] > 1e-5
