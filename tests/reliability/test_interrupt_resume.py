"""Interrupt and resume.

* ``KeyboardInterrupt`` (raised by a callback before batch k) and a real SIGINT (after batch k)
  at every batch index of a run: ``fit`` returns the History with ``interrupted`` set, the
  weights are exactly those of the uninterrupted run after the steps that completed, the history
  holds only the completed epochs, and the model trains on afterwards.
* Checkpoint and resume: a run interrupted at batch k, reloaded from its last ``ModelCheckpoint``
  file and continued with ``fit(initial_epoch=...)``, ends with the same weights and epoch losses,
  bit for bit, as the run that was never interrupted (Adam state, the model's RNG and the
  Dropout masks included).
"""
from __future__ import annotations

import hashlib
import signal

import numpy as np
import pytest

import nnlite
from nnlite.callbacks import Callback, ModelCheckpoint

from .helpers import blobs, losses_hex, small_model

N, BATCH, EPOCHS = 48, 8, 3
STEPS = N // BATCH


def _weights_digest(model):
    return hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()


class Recorder(Callback):
    """Digest of the weights before the first step and after every step."""

    def __init__(self):
        self.after = []

    def on_train_begin(self, logs=None):
        self.after = [_weights_digest(self.model)]

    def on_batch_end(self, batch, logs=None):
        self.after.append(_weights_digest(self.model))


class InterruptAt(Callback):
    """Raise KeyboardInterrupt before global step ``k`` (or send SIGINT after step ``k``)."""

    def __init__(self, k, how="raise"):
        self.k, self.how, self.step = k, how, 0

    def on_batch_begin(self, batch, logs=None):
        if self.how == "raise" and self.step == self.k:
            raise KeyboardInterrupt

    def on_batch_end(self, batch, logs=None):
        if self.how == "signal" and self.step == self.k:
            signal.raise_signal(signal.SIGINT)
        self.step += 1


@pytest.fixture(scope="module")
def data():
    return blobs(N, seed=9)


@pytest.fixture(scope="module")
def reference(data):
    x, y = data
    model = small_model(seed=4)
    recorder = Recorder()
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[recorder])
    return recorder.after, losses_hex(history), model


@pytest.mark.parametrize("how", ["raise", "signal"])
def test_interrupt_at_every_batch(data, reference, how, record):
    if how == "signal" and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a custom handler in this process")
    x, y = data
    after, ref_losses, _ = reference
    total = EPOCHS * STEPS
    for k in range(total):
        model = small_model(seed=4)
        history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                            callbacks=[InterruptAt(k, how)])
        steps_done = k if how == "raise" else k + 1
        assert history.interrupted, k
        assert _weights_digest(model) == after[steps_done], k
        assert all(np.isfinite(w).all() for w in model.get_weights())
        epochs_done = k // STEPS  # the interrupted epoch is never recorded
        assert history.epoch == list(range(epochs_done)), (k, history.epoch)
        assert losses_hex(history) == ref_losses[:epochs_done]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        more = model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)  # still trains
        assert not more.interrupted and np.isfinite(more.history["loss"]).all()
    record("interrupt_resume", **{f"interrupt_{how}_batch_indices": total,
                                  f"interrupt_{how}_mismatches": 0})


def test_checkpoint_and_resume_is_bit_identical(data, reference, tmp_path, scale, record):
    x, y = data
    after, ref_losses, ref_model = reference
    ks = range(STEPS, EPOCHS * STEPS) if scale.slow else range(STEPS, EPOCHS * STEPS, 2)
    resumed = 0
    for k in ks:
        directory = tmp_path / f"k{k}"
        directory.mkdir()
        model = small_model(seed=4)
        checkpoint = ModelCheckpoint(str(directory / "ckpt-{epoch}.nnlite"), monitor="loss")
        model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                  callbacks=[checkpoint, InterruptAt(k)])
        epochs_done = k // STEPS
        assert len(checkpoint.saved) == epochs_done
        restored = nnlite.load_model(checkpoint.saved[-1])
        history = restored.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                               initial_epoch=epochs_done)
        assert history.epoch == list(range(epochs_done, EPOCHS))
        assert losses_hex(history) == ref_losses[epochs_done:], k
        assert _weights_digest(restored) == after[-1], k
        np.testing.assert_array_equal(restored.predict(x), ref_model.predict(x))
        resumed += 1
    record("interrupt_resume", resumed_runs=resumed, resume_mismatches=0)
