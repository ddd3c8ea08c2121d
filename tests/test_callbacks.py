"""Callbacks on values: EarlyStopping, ModelCheckpoint, TerminateOnNaN, CSVLogger,
LearningRateScheduler, ReduceLROnPlateau, LambdaCallback and the ProgressBar's output."""
import csv
import io
import math

import numpy as np
import pytest

import nnlite
from nnlite.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from nnlite.errors import ConfigError
from nnlite.layers import Dense
from nnlite.losses import MeanSquaredError


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    return x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(n)


def _model(loss="mse", optimizer=None, seed=0):
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3), Dense(1)], seed=seed,
                              dtype="float64")
    model.compile(optimizer or nnlite.optimizers.SGD(learning_rate=0.05), loss)
    return model


class Script(Callback):
    """Overwrites ``logs[key]`` with scripted values (it runs before the callbacks after it)."""

    def __init__(self, values, key="val_loss"):
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


# ------------------------------------------------------------------ EarlyStopping
def test_early_stopping_patience_and_restore_best_weights():
    x, y = _data()
    model = _model()
    snaps = Snapshots()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    values = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0, 0.5]
    hist = model.fit(x, y, epochs=7, batch_size=10, verbose=0,
                     callbacks=[Script(values), snaps, es])
    assert hist.epoch == [0, 1, 2, 3, 4]          # no improvement at epochs 3 and 4
    assert es.stopped_epoch == 4 and es.best_epoch == 2 and es.best == 3.0
    assert _equal(model.get_weights(), snaps.weights[2])
    assert not _equal(model.get_weights(), snaps.weights[4])


def test_early_stopping_restores_best_on_real_validation_loss():
    x, y = _data(60)
    model = _model(optimizer=nnlite.optimizers.SGD(learning_rate=0.3))
    snaps = Snapshots()
    es = EarlyStopping(patience=3, restore_best_weights=True)
    hist = model.fit(x[:40], y[:40], epochs=15, batch_size=4, validation_data=(x[40:], y[40:]),
                     verbose=0, callbacks=[snaps, es])
    best = int(np.argmin(hist.history["val_loss"]))
    assert _equal(model.get_weights(), snaps.weights[best])
    assert model.evaluate(x[40:], y[40:]) == pytest.approx(min(hist.history["val_loss"]),
                                                           rel=1e-12)


def test_early_stopping_min_delta_mode_max_and_start_from_epoch():
    model = _model()
    x, y = _data()
    # mode max with min_delta: 0.505 is not an improvement over 0.5 + 0.01
    es = EarlyStopping(monitor="val_acc", mode="max", min_delta=0.01, patience=1)
    hist = model.fit(x, y, epochs=5, verbose=0,
                     callbacks=[Script([0.5, 0.505, 0.9, 0.95, 0.99], "val_acc"), es])
    assert hist.epoch == [0, 1] and es.best == 0.5
    # epochs before start_from_epoch are not watched
    es = EarlyStopping(monitor="val_loss", patience=1, start_from_epoch=3)
    hist = _model().fit(x, y, epochs=6, verbose=0,
                        callbacks=[Script([1, 2, 3, 4, 5, 6]), es])
    assert hist.epoch == [0, 1, 2, 3, 4] and es.best_epoch == 3


def test_early_stopping_auto_mode_and_bad_arguments():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ConfigError, match="mode"):
        EarlyStopping(mode="lowest")


def test_early_stopping_warns_when_monitor_missing():
    x, y = _data()
    with pytest.warns(UserWarning, match="val_loss"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=0)])


# ------------------------------------------------------------------ ModelCheckpoint
def test_model_checkpoint_save_best_only(tmp_path):
    x, y = _data()
    model = _model()
    snaps = Snapshots()
    path = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.1f}.nnlite")
    ckpt = ModelCheckpoint(path, save_best_only=True)
    model.fit(x, y, epochs=5, verbose=0,
              callbacks=[Script([3.0, 2.0, 2.5, 1.0, 4.0]), snaps, ckpt])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-01-3.0.nnlite", "ckpt-02-2.0.nnlite", "ckpt-04-1.0.nnlite"]
    best = nnlite.load_model(tmp_path / "ckpt-04-1.0.nnlite")
    assert _equal(best.get_weights(), snaps.weights[3])


def test_model_checkpoint_weights_only_every_epoch(tmp_path):
    x, y = _data()
    model = _model()
    snaps = Snapshots()
    path = tmp_path / "w.nnlite"
    model.fit(x, y, epochs=3, verbose=0,
              callbacks=[snaps, ModelCheckpoint(path, save_weights_only=True)])
    other = _model(seed=1)
    other.load_weights(path)
    assert _equal(other.get_weights(), snaps.weights[-1])
    with pytest.raises(nnlite.errors.FormatError, match="only weights"):
        nnlite.load_model(path)


# ------------------------------------------------------------------ TerminateOnNaN
class NaNAt(MeanSquaredError):
    """MSE whose ``where`` (loss value or gradient) becomes NaN on the k-th training call."""

    def __init__(self, k, where="loss"):
        super().__init__()
        self.k, self.where, self.calls = k, where, 0

    def _forward(self, y_pred, y):
        self.calls += 1
        value = super()._forward(y_pred, y)
        return float("nan") if self.where == "loss" and self.calls == self.k else value

    def _backward(self):
        grad = super()._backward()
        if self.where == "grad" and self.calls == self.k:
            grad[0, 0] = np.nan
        return grad


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_terminate_on_nan_stops_at_the_faulting_batch_with_last_good_weights(where):
    x, y = _data(40)
    model = _model(loss=NaNAt(7, where), optimizer="adam")
    steps = []
    rec = LambdaCallback(on_batch_end=lambda b, logs: steps.append(model.get_weights()))
    stop = TerminateOnNaN(verbose=False)
    hist = model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[rec, stop])
    # 4 batches per epoch: call 7 is epoch 1, batch 2
    assert stop.stopped_at == (1, 2)
    assert hist.epoch == [0, 1] and math.isnan(hist.history["loss"][1])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert _equal(model.get_weights(), steps[5])  # the state after the 6th (last good) step
    assert model.optimizer.iterations == 6


def test_terminate_on_nan_keeps_plain_path_when_absent():
    model = _model()
    assert CallbackList([LambdaCallback(on_epoch_end=print)], model).checks_finite is False
    assert CallbackList([TerminateOnNaN()], model).checks_finite is True


# ------------------------------------------------------------------ CSVLogger
def test_csv_logger_rows_equal_history(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    hist = _model().fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
                        callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(open(path, newline="")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["loss"]) for r in rows] == hist.history["loss"]
    assert [float(r["val_loss"]) for r in rows] == hist.history["val_loss"]
    _model().fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                 callbacks=[CSVLogger(path, append=True)])
    rows = list(csv.DictReader(open(path, newline="")))
    assert len(rows) == 5 and open(path).read().count("epoch") == 1


# ------------------------------------------------------------------ learning rates
def test_learning_rate_scheduler_sets_rate_per_epoch():
    x, y = _data()
    model = _model()
    rates = []
    rec = LambdaCallback(on_epoch_begin=lambda e, logs: rates.append(
        model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    hist = model.fit(x, y, epochs=4, verbose=0, callbacks=[sched, rec])
    assert rates == [0.1, 0.05, 0.025, 0.0125]
    assert hist.epoch == [0, 1, 2, 3]


def test_learning_rate_scheduler_refuses_optimizer_schedule():
    x, y = _data()
    from nnlite.schedules import ExponentialDecay
    model = _model(optimizer=nnlite.optimizers.SGD(ExponentialDecay(0.1, 10, 0.5)))
    with pytest.raises(ConfigError, match="schedule"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[LearningRateScheduler(lambda e, lr: lr)])


def test_reduce_lr_on_plateau_changes_rate_at_the_right_epoch():
    x, y = _data()
    model = _model()
    rates = []
    rec = LambdaCallback(on_epoch_begin=lambda e, logs: rates.append(
        model.optimizer.learning_rate))
    # Keras' rule.  best 1.0 at epoch 1; epochs 2, 3 do not improve (patience 2) -> reduce
    # after epoch 3.  Cooldown 1: epoch 4 ends the cooldown (wait reset, then counted: wait 1),
    # epoch 5 -> wait 2 -> reduce after epoch 5; epoch 6 ends the cooldown, epoch 7 improves.
    values = [2.0, 1.0, 1.0, 1.5, 3.0, 2.0, 2.0, 0.1]
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.0)
    hist = model.fit(x, y, epochs=8, verbose=0, callbacks=[rec, Script(values), plateau])
    assert rates == [0.05] * 4 + [0.025] * 2 + [0.0125] * 2
    assert hist.history["learning_rate"] == rates  # the rate each epoch trained with


def test_reduce_lr_on_plateau_respects_min_lr():
    x, y = _data()
    model = _model()
    plateau = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.02)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[Script([1.0] * 5), plateau])
    assert model.optimizer.learning_rate == 0.02
    with pytest.raises(ConfigError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


# ------------------------------------------------------------------ LambdaCallback
def test_lambda_callback_calls_only_given_hooks():
    x, y = _data(20)
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_end=lambda e, logs: events.append(("end", e, logs["loss"])))
    model = _model()
    assert CallbackList([cb], model).wants_batches is False
    hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert events == ["begin", ("end", 0, hist.history["loss"][0]),
                      ("end", 1, hist.history["loss"][1])]
    with pytest.raises(ConfigError, match="on_epoch_ending"):
        LambdaCallback(on_epoch_ending=print)


# ------------------------------------------------------------------ ProgressBar
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_not_a_tty_prints_one_line_per_epoch(verbose):
    x, y = _data(200)
    out = io.StringIO()
    model = _model()
    bar = ProgressBar(verbose, file=out)
    assert CallbackList([bar], model).wants_batches is False
    model.fit(x, y, epochs=3, batch_size=1, verbose=0, callbacks=[bar])
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "loss:" in lines[2]


def test_progress_bar_on_a_tty_is_throttled():
    x, y = _data(400)
    sizes = []
    for batch in (200, 1):  # 2 vs 400 batches per epoch
        out = FakeTTY()
        _model().fit(x, y, epochs=2, batch_size=batch, verbose=0,
                     callbacks=[ProgressBar(1, mininterval=60.0, file=out)])
        text = out.getvalue()
        assert "Epoch 2/2" in text and "loss" in text
        sizes.append(text.count("\r"))
    assert sizes[1] <= sizes[0] + 2  # refreshes do not grow with the number of batches
