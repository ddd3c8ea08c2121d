"""End to end: a small CNN (two conv blocks) learns the built-in MNIST split.

Measured budget (see the issue-9 report): about 15-30 s on the shared 2-core machine, well
under the 60 s the issue allows; the test itself asserts on accuracy only.
"""
import contextlib

import numpy as np

import nnlite
from nnlite.layers import Conv2D, Dense, Flatten, MaxPool2D

# per-epoch learning rates of Adam: fast start, then decay to settle into a good minimum
LEARNING_RATES = (0.002, 0.002, 0.0007, 0.0002)


def _one_blas_thread():
    # The matrices of a small CNN are small: with 2 BLAS threads on a busy 2-core machine
    # OpenBLAS spends its time waiting for the other core (measured 5-10x slower per epoch);
    # one thread is as fast when idle and robust under load.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        return contextlib.nullcontext()
    return threadpool_limits(1)


def test_small_cnn_reaches_97_percent_on_builtin_mnist():
    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist(flatten=False)
    assert x_train.shape == (8000, 1, 28, 28) and x_test.shape == (2000, 1, 28, 28)
    model = nnlite.Sequential([
        Conv2D(16, 3, activation="relu", input_shape=(1, 28, 28)),  # (16, 26, 26)
        MaxPool2D(2),                                                # (16, 13, 13)
        Conv2D(32, 3, activation="relu"),                            # (32, 11, 11)
        MaxPool2D(2),                                                # (32, 5, 5)
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ], seed=0)
    optimizer = nnlite.optimizers.Adam(LEARNING_RATES[0])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                  metrics=["accuracy"])
    losses = []
    with _one_blas_thread():
        for epoch, rate in enumerate(LEARNING_RATES):
            optimizer.learning_rate = rate
            history = model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0,
                                seed=epoch)
            losses.extend(history.history["loss"])
        _, accuracy = model.evaluate(x_test, y_test)
        probabilities = model.predict(x_test)
        again = model.predict(x_test)
    assert losses[-1] < losses[0]
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f}"
    np.testing.assert_array_equal(probabilities, again)               # predict is deterministic
    assert np.mean(np.argmax(probabilities, axis=1) == y_test) == accuracy
