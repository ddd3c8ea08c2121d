"""The Trainer: callback order and logs, stop_training, progress output, batching."""
import io

import numpy as np
import pytest

import nnlite
from nnlite.callbacks import Callback, ProgressBar
from nnlite.layers import Dense


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch {batch} size {logs['size']}")
        if self.stop_at == batch:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def _model():
    model = nnlite.Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(loss="mse", optimizer="sgd", metrics=[])
    return model


def test_callback_order_and_batch_sizes():
    x, y = np.ones((10, 2)), np.ones(10)
    rec = Recorder()
    _model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[rec])
    assert rec.events == [
        "train_begin",
        "epoch_begin 0", "batch 0 size 4", "batch 1 size 4", "batch 2 size 2",
        "epoch_end 0 ['loss']",
        "epoch_begin 1", "batch 0 size 4", "batch 1 size 4", "batch 2 size 2",
        "epoch_end 1 ['loss']",
        "train_end"]


def test_stop_training_from_a_callback():
    x, y = np.ones((10, 2)), np.ones(10)
    rec = Recorder(stop_at=1)
    model = _model()
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[rec])
    assert history.epoch == [0]
    assert model.optimizer.iterations == 2


def test_epoch_loss_is_the_example_weighted_mean_of_batch_losses():
    x = np.arange(10, dtype=float).reshape(5, 2)
    y = np.arange(5, dtype=float)
    model = nnlite.Sequential([Dense(1, input_dim=2, kernel_initializer="zeros")],
                              dtype="float64")
    model.compile(loss="mse", optimizer=nnlite.optimizers.SGD(learning_rate=1e-9))
    history = model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    # weights barely move, so the epoch loss is the mean of y² over the five examples
    assert history.history["loss"][0] == pytest.approx(np.mean(y ** 2), rel=1e-6)


def test_full_batch_without_shuffle_uses_the_data_in_place():
    x, y = np.random.default_rng(0).standard_normal((8, 2)), np.ones(8)
    a, b = _model(), _model()
    a.fit(x, y, epochs=3, batch_size="full", verbose=0)
    b.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = np.ones((10, 2)), np.ones(10)
    _model().fit(x, y, epochs=3, batch_size=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch")]
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3") and "loss:" in lines[0]


def test_progress_bar_in_a_non_terminal_falls_back_to_lines():
    stream = io.StringIO()
    model = _model()
    model.fit(np.ones((50, 2)), np.ones(50), epochs=2, batch_size=1, verbose=0,
              callbacks=[ProgressBar(verbose=1, file=stream)])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2")
