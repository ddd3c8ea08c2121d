"""fit options on values: validation_split/data/freq, shuffle, sample_weight, class_weight,
initial_epoch, train/test/predict_on_batch, regularizers, gradient clipping, Ctrl-C."""
import signal
import threading

import numpy as np
import pytest

import nnlite
from nnlite.callbacks import Callback, LambdaCallback
from nnlite.errors import ConfigError, InputValueError, LabelError, ShapeError
from nnlite.layers import Dense
from nnlite.regularizers import L1, L1L2, L2


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(seed=0, dtype="float64", optimizer="sgd", **dense):
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3, **dense),
                               Dense(1, activation="sigmoid")], seed=seed, dtype=dtype)
    model.compile(optimizer, "binary_crossentropy", metrics=["accuracy"])
    return model


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# ------------------------------------------------------------------ validation
def test_validation_split_takes_the_last_rows_before_shuffling():
    x, y = _data(50)
    a, b = _model(), _model()
    ha = a.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, seed=3, verbose=0)
    hb = b.fit(x[:40], y[:40], epochs=2, batch_size=8, validation_data=(x[40:], y[40:]),
               seed=3, verbose=0)
    assert ha.history == hb.history
    assert _same(a, b)
    # the recorded val_loss is the loss of the last 10 rows
    assert ha.history["val_loss"][-1] == pytest.approx(a.evaluate(x[40:], y[40:])[0], rel=1e-12)


@pytest.mark.parametrize("split", [1.0, 0.0001, -0.2, True])
def test_validation_split_rejects_bad_fractions(split):
    x, y = _data(20)
    model = _model()
    if split == 0.0001:
        with pytest.raises(ConfigError, match="empty"):
            model.fit(x, y, validation_split=split, verbose=0)
    else:
        with pytest.raises(ConfigError, match="validation_split"):
            model.fit(x, y, validation_split=split, verbose=0)
    assert not model.built  # nothing happened


def test_validation_split_and_data_together_is_an_error():
    x, y = _data(20)
    with pytest.raises(ConfigError, match="not both"):
        _model().fit(x, y, validation_split=0.2, validation_data=(x, y), verbose=0)


@pytest.mark.parametrize("freq, expected", [(2, [2, 4, 6]), ([1, 5], [1, 5])])
def test_validation_freq(freq, expected):
    x, y = _data(30)
    seen = []
    cb = LambdaCallback(on_epoch_end=lambda e, logs: "val_loss" in logs and seen.append(e + 1))
    hist = _model().fit(x, y, epochs=6, validation_data=(x, y), validation_freq=freq,
                        callbacks=[cb], verbose=0)
    assert seen == expected
    assert len(hist.history["val_loss"]) == len(expected)


@pytest.mark.parametrize("freq", [0, -1, [], [0], "2", 1.5])
def test_validation_freq_rejects_bad_values(freq):
    x, y = _data(10)
    with pytest.raises(ConfigError, match="validation_freq"):
        _model().fit(x, y, validation_data=(x, y), validation_freq=freq, verbose=0)


# ------------------------------------------------------------------ order and epochs
def test_shuffle_false_uses_the_data_order():
    x, y = _data(24)
    order = []

    class Spy(Callback):
        def on_batch_begin(self, batch, logs=None):
            order.append(batch)

    a = _model()
    a.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[Spy()])
    b = _model()  # by hand: three SGD steps over consecutive slices
    for start in (0, 8, 16):
        b.train_on_batch(x[start:start + 8], y[start:start + 8])
    assert _same(a, b) and order == [0, 1, 2]


def test_initial_epoch_resumes_the_same_run():
    x, y = _data(40)
    full = _model()
    full.fit(x, y, epochs=3, batch_size=8, seed=np.random.default_rng(5), verbose=0)
    part = _model()
    rng = np.random.default_rng(5)
    part.fit(x, y, epochs=1, batch_size=8, seed=rng, verbose=0)
    hist = part.fit(x, y, epochs=3, batch_size=8, seed=rng, initial_epoch=1, verbose=0)
    assert hist.epoch == [1, 2]
    assert _same(full, part)


# ------------------------------------------------------------------ weights
def test_sample_weight_equals_repeating_rows():
    # integer weights on full-batch GD: Σ w_i ℓ_i / n is the loss of the data with row i
    # repeated w_i times, rescaled by n_repeated / n (a different learning rate).
    x, y = _data(12)
    w = np.array([1, 2, 3, 1, 1, 2, 1, 1, 3, 1, 1, 2], dtype=float)
    weighted = _model()
    weighted.compile(nnlite.optimizers.GD(learning_rate=0.1), "binary_crossentropy")
    weighted.fit(x, y, epochs=3, sample_weight=w, verbose=0)
    repeated = _model()
    repeated.compile(nnlite.optimizers.GD(learning_rate=0.1 * w.sum() / len(w)),
                     "binary_crossentropy")
    idx = np.repeat(np.arange(12), w.astype(int))
    repeated.fit(x[idx], y[idx], epochs=3, verbose=0)
    for a, b in zip(weighted.get_weights(), repeated.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sample_weight_loss_value_and_zero_weights():
    x, y = _data(10)
    model = _model()
    w = np.zeros(10)
    w[:4] = 1.0
    before = model.get_weights()
    logs = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
    p = 1 / (1 + np.exp(-(np.tanh(x @ before[0] + before[1]) @ before[2] + before[3])))[:, 0]
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert logs["loss"] == pytest.approx(per[:4].sum() / 10, rel=1e-10)
    # rows with weight 0 do not matter: changing their labels changes nothing
    a, b = _model(), _model()
    y2 = y.copy()
    y2[4:] = 1 - y2[4:]
    a.train_on_batch(x, y, sample_weight=w)
    b.train_on_batch(x, y2, sample_weight=w)
    assert _same(a, b)


def test_class_weight_matches_sample_weight():
    x, y = _data(30)
    a, b = _model(), _model()
    a.fit(x, y, epochs=2, batch_size=7, seed=1, class_weight={0: 0.5, 1: 3.0}, verbose=0)
    b.fit(x, y, epochs=2, batch_size=7, seed=1, sample_weight=np.where(y == 1, 3.0, 0.5),
          verbose=0)
    assert _same(a, b)


def test_class_weight_sparse_and_errors():
    x, _ = _data(30)
    y = np.arange(30) % 3
    model = nnlite.Sequential([Dense(3, activation="softmax", input_dim=3)], seed=0,
                              dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    ref = nnlite.Sequential([Dense(3, activation="softmax", input_dim=3)], seed=0,
                            dtype="float64")
    ref.compile("sgd", "sparse_categorical_crossentropy")
    model.train_on_batch(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.0})
    ref.train_on_batch(x, y, sample_weight=np.array([1.0, 2.0, 0.0])[y])
    assert _same(model, ref)
    with pytest.raises(LabelError, match=r"classes \[2\]"):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)


@pytest.mark.parametrize("w, error", [(np.ones(5), ShapeError), (-np.ones(30), InputValueError),
                                      (np.full(30, np.nan), InputValueError)])
def test_bad_sample_weight_changes_nothing(w, error):
    x, y = _data(30)
    model = _model()
    model.build()
    before = model.get_weights()
    with pytest.raises(error, match="sample_weight"):
        model.fit(x, y, sample_weight=w, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.history is None


# ------------------------------------------------------------------ single batches
def test_train_test_predict_on_batch():
    x, y = _data(16)
    model = _model()
    before = model.get_weights()
    loss, acc = model.test_on_batch(x, y)
    assert _same(model, model) and all(
        np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert loss == pytest.approx(model.evaluate(x, y)[0], rel=1e-12)
    train_loss = model.train_on_batch(x, y)[0]
    assert train_loss == pytest.approx(loss, rel=1e-12)  # loss before the step
    assert model.test_on_batch(x, y)[0] < loss
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x))
    # the same as fit over one full batch
    other = _model()
    other.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert _same(other, _model_after_one_step(x, y))


def _model_after_one_step(x, y):
    m = _model()
    m.train_on_batch(x, y)
    return m


# ------------------------------------------------------------------ regularizers, clipping
def test_l2_regularizer_adds_penalty_and_gradient():
    x, y = _data(20)
    reg = _model(kernel_regularizer=L2(0.1))
    plain = _model()
    kernel = plain.get_weights()[0]
    loss_plain = plain.evaluate(x, y)[0]
    assert reg.evaluate(x, y)[0] == pytest.approx(loss_plain + 0.1 * np.sum(kernel ** 2),
                                                  rel=1e-12)
    reg.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    # SGD lr 0.01: the regularized kernel moved by an extra -lr * 2 * 0.1 * W
    np.testing.assert_allclose(reg.get_weights()[0],
                               plain.get_weights()[0] - 0.01 * 0.2 * kernel, rtol=1e-10)
    np.testing.assert_array_equal(reg.get_weights()[2], plain.get_weights()[2])


def test_l1_and_l1l2_penalties():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert L1(0.5).penalty(w) == pytest.approx(3.0)
    assert L1L2(0.5, 0.1).penalty(w) == pytest.approx(3.0 + 1.4)
    grad = np.zeros_like(w)
    L1L2(0.5, 0.1).add_gradient(w, grad)
    np.testing.assert_allclose(grad, 0.5 * np.sign(w) + 0.2 * w)
    with pytest.raises(ConfigError, match="l2"):
        L2(-1.0)


def test_clipnorm_and_clipvalue():
    from nnlite.optimizers import SGD
    grads = np.array([3.0, -4.0, 0.0])
    params = np.zeros(3)
    SGD(learning_rate=1.0, clipnorm=1.0).step(params, grads.copy())
    np.testing.assert_allclose(params, [-0.6, 0.8, 0.0])
    params = np.zeros(3)
    SGD(learning_rate=1.0, clipvalue=2.5).step(params, grads.copy())
    np.testing.assert_allclose(params, [-2.5, 2.5, 0.0])
    params = np.zeros(3)
    SGD(learning_rate=1.0, clipnorm=10.0).step(params, grads.copy())  # below: unchanged
    np.testing.assert_allclose(params, [-3.0, 4.0, 0.0])
    with pytest.raises(ConfigError, match="not both"):
        SGD(clipnorm=1.0, clipvalue=1.0)


def test_clipnorm_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal(10) * 5
    t = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_([t], max_norm=2.0)
    from nnlite.optimizers import SGD
    params = np.zeros(10)
    SGD(learning_rate=1.0, clipnorm=2.0).step(params, g.copy())
    # torch divides by (norm + 1e-6): agreement to ~1e-7 relative
    np.testing.assert_allclose(-params, t.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(params), 2.0, rtol=1e-12)


# ------------------------------------------------------------------ Ctrl-C
class _Interrupt(Callback):
    def __init__(self, epoch, batch):
        self.at, self.epoch, self.weights = (epoch, batch), None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.weights = self.model.get_weights()
            raise KeyboardInterrupt


def test_keyboard_interrupt_from_callback_leaves_consistent_state():
    x, y = _data(40)
    model = _model()
    cb = _Interrupt(epoch=2, batch=1)
    seen_end = []
    hist = model.fit(x, y, epochs=5, batch_size=8, seed=0, verbose=0,
                     callbacks=[cb, LambdaCallback(on_train_end=seen_end.append)])
    assert hist.interrupted and hist.epoch == [0, 1] and seen_end == [{"interrupted": True}]
    assert all(np.array_equal(a, b) for a, b in zip(cb.weights, model.get_weights()))
    # History equals the first two epochs of an uninterrupted run, and the weights equal a run
    # of two epochs plus two batches of the third
    ref = _model()
    ref_hist = ref.fit(x, y, epochs=2, batch_size=8, seed=np.random.default_rng(0), verbose=0)
    assert hist.history == ref_hist.history
    partial = _model()
    rng = np.random.default_rng(0)
    partial.fit(x, y, epochs=2, batch_size=8, seed=rng, verbose=0)
    order = rng.permutation(40)
    for b in range(2):
        idx = order[b * 8:(b + 1) * 8]
        partial.train_on_batch(x[idx], y[idx])
    assert _same(model, partial)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread only")
def test_sigint_stops_after_the_current_batch_and_second_one_raises():
    x, y = _data(40)
    model = _model()

    class Sigint(Callback):
        def on_batch_begin(self, batch, logs=None):
            if batch == 2:
                signal.raise_signal(signal.SIGINT)  # handled: no exception here
                self.after = True

        def on_batch_end(self, batch, logs=None):
            self.last = batch
    cb = Sigint()
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert cb.after and cb.last == 2 and hist.interrupted and hist.epoch == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    class Twice(Callback):
        def on_batch_begin(self, batch, logs=None):
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Twice()])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_conv2d_kernel_regularizer_adds_its_penalty():
    from nnlite.layers import Conv2D, Flatten
    x = np.random.default_rng(0).standard_normal((6, 1, 5, 5))
    y = np.random.default_rng(1).standard_normal(6)

    def conv_model(**kw):
        m = nnlite.Sequential([Conv2D(2, 3, input_shape=(1, 5, 5), **kw), Flatten(), Dense(1)],
                              seed=0, dtype="float64")
        m.compile("sgd", "mse")
        return m

    reg, plain = conv_model(kernel_regularizer=L2(0.1)), conv_model()
    kernel = plain.get_weights()[0]
    assert reg.evaluate(x, y) == pytest.approx(plain.evaluate(x, y) + 0.1 * np.sum(kernel ** 2),
                                               rel=1e-12)
    clone = Conv2D.from_config(reg.layers[0].get_config())
    assert clone.kernel_regularizer.get_config() == reg.layers[0].kernel_regularizer.get_config()
