"""Arbitrary derivatives (``nnlite.grad``): input gradients (saliency) and parameter gradients
of the loss or of an output, checked against finite differences in float64 — including a
trained MNIST classifier — and against PyTorch autograd."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import _numeric, relative_error
from nnlite.layers import Add, Concatenate, Dense, Residual


def _model(seed=0, head="softmax"):
    model = nnlite.Sequential([Dense(6, activation="tanh", input_dim=4),
                               Residual([Dense(6, activation="sigmoid"), Dense(6)]),
                               Dense(3, activation=head)], seed=seed, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return model


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("kind", ["all", "unit", "weights"])
def test_input_gradient_matches_finite_differences(kind):
    # (the rows of a softmax sum to 1, so "all" needs another head to be non-trivial)
    model = _model(head="sigmoid" if kind == "all" else "softmax")
    x = _x((5, 4))
    w = _x((5, 3), 1)
    kwargs = {"all": {}, "unit": {"unit": 2}, "weights": {"weights": w}}[kind]
    seed = {"all": np.ones((5, 3)), "unit": np.eye(3)[[2] * 5], "weights": w}[kind]
    grad = model.input_gradient(x, **kwargs)
    assert grad.shape == x.shape
    numeric = _numeric(lambda: float(np.sum(seed * model.predict(x))), x, 1e-6)
    assert relative_error(grad, numeric) < 1e-7


def test_input_gradient_rows_are_per_example_saliency():
    model = _model()
    x = _x((4, 4))
    batch = model.input_gradient(x, unit=1)
    for i in range(4):
        np.testing.assert_allclose(model.input_gradient(x[i:i + 1], unit=1), batch[i:i + 1],
                                   rtol=1e-12)


def test_loss_gradients_match_finite_differences_and_change_nothing():
    model = _model()
    x, y = _x((6, 4)), np.arange(6) % 3
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    before = model.get_weights()
    state = {k: v.copy() for k, v in model.optimizer.get_state().items()}
    history = model.history
    grads = model.gradients(x, y)
    assert list(grads)[:2] == ["dense/kernel", "dense/bias"]
    assert "residual/dense_1/kernel" in grads
    for layer in nnlite.models.base.leaf_layers(model.layers):
        for key, param in layer.params.items():
            numeric = _numeric(lambda: model.evaluate(x, y), param, 1e-6)
            assert relative_error(grads[f"{layer.name}/{key}"], numeric) < 1e-6
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for k, v in model.optimizer.get_state().items():
        np.testing.assert_array_equal(v, state[k])
    assert model.history is history


def test_output_gradients_with_respect_to_parameters():
    model = _model(1)
    x = _x((3, 4))
    grads = model.gradients(x, unit=0)
    kernel = model.layers[-1].params["kernel"]
    numeric = _numeric(lambda: float(np.sum(model.predict(x)[:, 0])), kernel, 1e-6)
    assert relative_error(grads["dense_1/kernel"], numeric) < 1e-7


def test_graph_model_with_two_inputs_and_outputs_matches_pytorch_autograd():
    torch = pytest.importorskip("torch")
    from nnlite.export import to_torch

    a, b = nnlite.Input(shape=(3,)), nnlite.Input(shape=(2,))
    h = Dense(4, activation="tanh")(a)
    s = Add()([h, Dense(4, activation="sigmoid")(b), h])
    o1 = Dense(2)(Concatenate()([s, b]))
    o2 = Dense(3, activation="softmax")(s)
    model = nnlite.Model([a, b], [o1, o2], seed=0, dtype="float64")
    xa, xb, w = _x((5, 3)), _x((5, 2), 1), _x((5, 3), 2)
    ga, gb = model.input_gradient([xa, xb], output=1, weights=w)
    ta = torch.tensor(xa, requires_grad=True)
    tb = torch.tensor(xb, requires_grad=True)
    out = to_torch(model)(ta, tb)[1]
    (out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_input_gradient_of_a_trained_mnist_classifier_matches_finite_differences():
    (x_train, y_train), (x_test, _) = nnlite.datasets.load_builtin_mnist()
    model = nnlite.Sequential([Dense(32, activation="tanh", input_dim=784),
                               Dense(10, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    model.fit(x_train[:2000], y_train[:2000], epochs=2, batch_size=64, verbose=0, seed=0)
    assert model.evaluate(x_train[:2000], y_train[:2000])[1] > 0.8  # it did learn
    x = x_test[:8].astype(np.float64)
    classes = model.predict(x).argmax(axis=1)
    weights = np.eye(10)[classes]  # saliency of each image's predicted class
    grad = model.input_gradient(x, weights=weights)
    assert grad.shape == (8, 784)

    def score():
        return float(np.sum(weights * model.predict(x)))

    pixels = [(0, 300), (1, 405), (3, 350), (5, 210), (7, 489), (2, 0)]
    for i, j in pixels:
        old = x[i, j]
        x[i, j] = old + 1e-6
        plus = score()
        x[i, j] = old - 1e-6
        minus = score()
        x[i, j] = old
        numeric = (plus - minus) / 2e-6
        assert abs(grad[i, j] - numeric) <= 1e-7 * max(abs(numeric), 1e-3), (i, j)
    assert np.abs(grad).max() > 1e-3


def test_bad_arguments_are_named():
    model = _model()
    x = _x((2, 4))
    with pytest.raises(ConfigError, match=r"unit must be an int in \[0, 3\), got 3"):
        model.input_gradient(x, unit=3)
    with pytest.raises(ConfigError, match=r"output must be an int in \[0, 1\), got 1"):
        model.input_gradient(x, output=1)
    with pytest.raises(ShapeError, match=r"weights must have the output's shape \(2, 3\)"):
        model.input_gradient(x, weights=np.ones((2, 2)))
    with pytest.raises(ConfigError, match="give targets y .* not both"):
        model.gradients(x, np.zeros(2), unit=1)
    with pytest.raises(ShapeError, match=r"expects x of shape \(batch, 4\), got \(2, 5\)"):
        model.input_gradient(np.zeros((2, 5)))


def test_gradients_leave_dropout_and_batchnorm_models_unchanged():
    from nnlite.layers import BatchNormalization, Dropout
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    model = nnlite.Sequential([Dense(8, activation="relu", input_dim=4), BatchNormalization(),
                               Dropout(0.5, seed=1), Dense(3, activation="softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    before = [w.copy() for w in model.get_weights()]  # includes the running statistics
    rng_states = [repr(model.rng.bit_generator.state),
                  repr(model.layers[2]._rng.bit_generator.state)]
    prediction = model.predict(x)
    model.input_gradient(x, unit=1)
    model.gradients(x, y)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert rng_states == [repr(model.rng.bit_generator.state),
                          repr(model.layers[2]._rng.bit_generator.state)]
    np.testing.assert_array_equal(model.predict(x), prediction)
