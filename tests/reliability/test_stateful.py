"""A hypothesis state machine over build, fit, predict, evaluate, train_on_batch, save, load, bad
input and interrupts.  After every step: finite weights, a consistent history (every key has one
value per recorded epoch, epochs consecutive), and predictions that only change when a
successful training call or a load changed the model (never after a failed call)."""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import nnlite
from nnlite import errors

from .helpers import blobs, fingerprint, small_model
from .test_interrupt_resume import InterruptAt

X, Y = blobs(24, seed=21)
PROBE = X[:5]


def _bad_calls(model, directory):
    """Calls that must fail with an NnliteError and change nothing."""
    corrupt = os.path.join(directory, "corrupt.nnlite")
    with open(corrupt, "wb") as fh:
        fh.write(b"PK\x03\x04 definitely not a model")
    x_nan = X.copy()
    x_nan[0, 0] = np.nan
    return [
        lambda: model.fit(x_nan, Y, epochs=1, verbose=0),
        lambda: model.fit(X, Y + 10, epochs=1, verbose=0),
        lambda: model.fit(X, Y, epochs=-1, verbose=0),
        lambda: model.fit(X, Y, verbose=0, sample_weight=-np.ones(len(Y))),
        lambda: model.train_on_batch(X[:, :2], Y),
        lambda: model.evaluate(X, Y[:-1]),
        lambda: model.predict(X.astype(complex)),
        lambda: model.predict(X[:0]),
        lambda: model.load_weights(corrupt),
        lambda: model.set_weights(model.get_weights()[:-1]),
        lambda: model.compile(loss="sparse_categorical_crossentropy", metrics=["nope"]),
    ]


class ModelLifecycle(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 3))
    def build(self, seed):
        self.directory = tempfile.mkdtemp(prefix="nnlite-stateful-")
        self.model = small_model(seed=seed)
        self.model.build()
        self.saved = {}  # path -> predictions at save time
        self.expected = self.model.predict(PROBE)

    def teardown(self):
        shutil.rmtree(getattr(self, "directory", ""), ignore_errors=True)

    def _changed(self):
        self.expected = self.model.predict(PROBE)

    @rule(epochs=st.integers(1, 2), batch_size=st.sampled_from([4, 8, 24]))
    def fit(self, epochs, batch_size):
        history = self.model.fit(X, Y, epochs=epochs, batch_size=batch_size, verbose=0)
        assert history.epoch == list(range(epochs)) and not history.interrupted
        self._changed()

    @rule(k=st.integers(0, 12))
    def interrupted_fit(self, k):
        history = self.model.fit(X, Y, epochs=3, batch_size=8, verbose=0,
                                 callbacks=[InterruptAt(k)])
        assert history.interrupted == (k < 9)
        self._changed()

    @rule()
    def train_on_batch(self):
        value = self.model.train_on_batch(X[:8], Y[:8])
        assert np.all(np.isfinite(value))
        self._changed()

    @rule()
    def evaluate(self):
        before = fingerprint(self.model)
        assert np.all(np.isfinite(self.model.evaluate(X, Y)))
        assert fingerprint(self.model) == before

    @rule()
    def predict(self):
        np.testing.assert_array_equal(self.model.predict(PROBE), self.expected)

    @rule(slot=st.integers(0, 2))
    def save(self, slot):
        path = os.path.join(self.directory, f"m{slot}.nnlite")
        self.model.save(path)
        self.saved[path] = self.expected.copy()
        assert [n for n in os.listdir(self.directory) if n.endswith(".tmp")] == []

    @precondition(lambda self: bool(self.saved))
    @rule(data=st.data())
    def load(self, data):
        path = data.draw(st.sampled_from(sorted(self.saved)))
        self.model = nnlite.load_model(path)
        np.testing.assert_array_equal(self.model.predict(PROBE), self.saved[path])
        self._changed()

    @rule(data=st.data())
    def bad_input(self, data):
        calls = _bad_calls(self.model, self.directory)
        call = calls[data.draw(st.integers(0, len(calls) - 1))]
        before = fingerprint(self.model)
        try:
            call()
        except errors.NnliteError:
            pass
        else:
            raise AssertionError("a bad call succeeded")
        assert fingerprint(self.model) == before
        np.testing.assert_array_equal(self.model.predict(PROBE), self.expected)

    @invariant()
    def weights_are_finite(self):
        if hasattr(self, "model"):
            assert all(np.isfinite(w).all() for w in self.model.get_weights())

    @invariant()
    def history_is_consistent(self):
        history = getattr(getattr(self, "model", None), "history", None)
        if history is None:
            return
        n = len(history.epoch)
        assert all(len(v) == n for v in history.history.values())
        if n:
            assert history.epoch == list(range(history.epoch[0], history.epoch[0] + n))
            assert np.isfinite(history.history["loss"]).all()


def test_model_lifecycle(scale, record):
    examples = scale(60, 500)
    run_state_machine_as_test(ModelLifecycle, settings=settings(
        max_examples=examples, stateful_step_count=12, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow]))
    record("stateful", machines=examples, steps_per_machine=12, invariant_violations=0)
