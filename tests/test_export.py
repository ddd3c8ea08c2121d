"""``nnlite.export.to_torch``: every layer type, Sequential and graph models (several inputs
and outputs, merges, residuals) give the same outputs in PyTorch (float64, ≤ 1e-10)."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError
from nnlite.export import ACTIVATIONS, EXPORTERS, to_torch
from nnlite.layers import (
    ELU,
    GELU,
    REGISTRY,
    Activation,
    Add,
    AvgPool2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    HardSigmoid,
    Identity,
    LayerNormalization,
    LeakyReLU,
    MaxPool2D,
    Multiply,
    ReLU,
    Reshape,
    Residual,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Subtract,
    Tanh,
)

torch = pytest.importorskip("torch")


def _same(model, *xs):
    net = to_torch(model)
    with torch.no_grad():
        out = net(*[torch.tensor(x) for x in xs])
    expected = model.predict(list(xs) if len(xs) > 1 else xs[0])
    outs = out if isinstance(out, tuple) else (out,)
    exp = expected if isinstance(expected, list) else [expected]
    assert len(outs) == len(exp)
    for o, e in zip(outs, exp):
        assert o.dtype == torch.float64
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12)
    return net


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


VECTOR_LAYERS = [
    lambda: Dense(5),
    lambda: Dense(5, use_bias=False),
    *[(lambda a=a: Dense(5, activation=a)) for a in sorted(ACTIVATIONS)],
    lambda: Dense(5, activation=nnlite.activations.leaky_relu(0.3)),
    Sigmoid, Tanh, ReLU, Softplus, Softmax, Identity, GELU, ELU, SiLU, Softsign, HardSigmoid,
    lambda: LeakyReLU(alpha=0.2), lambda: ELU(alpha=0.5), lambda: Activation("tanh"),
    lambda: Residual([Dense(4, activation="relu"), Dense(4)]),
    lambda: Residual(Dense(6, activation="tanh"), projection="dense"),
    lambda: Dropout(0.5),
    BatchNormalization,
    LayerNormalization,
    lambda: Reshape((2, 2)),
]


@pytest.mark.parametrize("factory", VECTOR_LAYERS)
def test_every_vector_layer_round_trips(factory):
    layer = factory()
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3), layer], seed=0,
                              dtype="float64")
    model.build()
    if isinstance(layer, BatchNormalization):  # non-trivial inference statistics
        layer.state["moving_mean"][...] = [0.1, -0.2, 0.3, 0.0]
        layer.state["moving_variance"][...] = [0.5, 2.0, 1.5, 1.0]
    x = _x((6, 3)) * 3  # wide enough to reach every activation's regimes
    _same(model, x)


IMAGE_LAYERS = [
    lambda: Conv2D(3, 3),
    lambda: Conv2D(2, (3, 2), strides=2, padding="same", activation="relu"),
    lambda: Conv2D(2, 3, dilation_rate=2, use_bias=False, activation="gelu"),
    MaxPool2D, lambda: MaxPool2D(3, strides=2, padding="same"),
    AvgPool2D, lambda: AvgPool2D((3, 2), strides=(2, 1), padding="same"),
    GlobalAveragePooling2D, lambda: GlobalAveragePooling2D(keepdims=True),
    Flatten, BatchNormalization,
]


@pytest.mark.parametrize("factory", IMAGE_LAYERS)
def test_every_image_layer_round_trips(factory):
    model = nnlite.Sequential([Conv2D(3, 3, padding="same", input_shape=(2, 7, 6)), factory()],
                              seed=1, dtype="float64")
    model.build()
    _same(model, _x((2, 2, 7, 6)))


def test_every_registered_layer_has_an_exporter():
    assert set(REGISTRY) <= set(EXPORTERS), sorted(set(REGISTRY) - set(EXPORTERS))
    assert set(nnlite.activations.names()) <= set(ACTIVATIONS)


def test_graph_model_with_two_inputs_two_outputs_merges_and_residual():
    a = nnlite.Input(shape=(3,), name="a")
    b = nnlite.Input(shape=(2,), name="b")
    ha = Dense(4, activation="tanh")(a)
    hb = Dense(4, activation="sigmoid")(b)
    s = Add()([ha, hb, ha])
    d = Subtract()([Multiply()([ha, hb]), s])
    r = Residual([Dense(4, activation="relu"), Dense(4)])(d)
    out1 = Dense(1)(r)
    out2 = Dense(3, activation="softmax")(Concatenate()([r, hb, a]))
    model = nnlite.Model([a, b], [out1, out2], seed=0, dtype="float64")
    net = _same(model, _x((5, 3)), _x((5, 2), 1))
    # same weights, as parameters PyTorch can train: one tensor per nnlite parameter
    assert sum(p.numel() for p in net.parameters()) == model.count_params()


def test_sequential_export_trains_in_torch_like_nnlite():
    # the exported module's parameters are real nn.Parameters: one SGD step in both agrees
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3),
                               Residual([Dense(4, activation="tanh"), Dense(4)]), Dense(1)],
                              seed=2, dtype="float64")
    model.compile(loss="mse", optimizer=nnlite.optimizers.SGD(learning_rate=0.1))
    x, y = _x((8, 3)), _x((8, 1), 3)
    net = to_torch(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = torch.mean((net(torch.tensor(x)) - torch.tensor(y)) ** 2)
    loss.backward()
    opt.step()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.tensor(x)).numpy(), model.predict(x), rtol=1e-10)


def test_float32_model_exports_float32_and_unknown_layers_are_named():
    model = nnlite.Sequential([Dense(2, input_dim=3)], seed=0)
    assert next(to_torch(model).parameters()).dtype == torch.float32

    class Odd(nnlite.layers.Layer):
        def forward(self, x, training=False):
            return x

    odd = nnlite.Sequential([Dense(2, input_dim=3), Odd(name="odd")])
    with pytest.raises(ConfigError, match="layer 'odd' of type Odd has no PyTorch export"):
        to_torch(odd)
