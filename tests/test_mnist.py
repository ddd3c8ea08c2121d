"""End to end on the built-in MNIST split: a 784-128-10 ReLU network learns the digits."""
import numpy as np

import nnlite
from nnlite.layers import Dense


def test_784_128_10_relu_reaches_92_percent():
    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist()
    model = nnlite.Sequential([Dense(128, activation="relu", input_dim=784),
                               Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.MiniBatchSGD(batch_size=32, learning_rate=0.1),
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=5, verbose=0, seed=0,
                        validation_data=(x_test, y_test))
    loss, accuracy = model.evaluate(x_test, y_test)
    assert accuracy >= 0.92, accuracy
    assert history.history["val_accuracy"][-1] == accuracy
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict_classes(x_test)
    assert np.mean(predicted == y_test) == accuracy
    proba = model.predict_proba(x_test[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
