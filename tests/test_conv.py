"""Conv2D beyond the shared contract (test_layers.py): im2col/col2im as adjoints, output
geometry, initializer fans, fused logits, errors, and a small CNN inside models."""
import numpy as np
import pytest

import nnlite
from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import check_layer, check_model
from nnlite.layers import (
    REGISTRY,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    layer_from_spec,
)
from nnlite.layers.conv import WHOLE_BATCH_MIN_K, col2im, im2col, window_geometry
from nnlite.layers.im2col import col2im_batch, col2im_full, im2col_batch


def _built(layer, shape, dtype=np.float64, seed=0):
    layer.build(shape, np.random.default_rng(seed), dtype)
    return layer


@pytest.mark.parametrize("kernel,strides,dilation", [((3, 3), (1, 1), (1, 1)),
                                                     ((2, 3), (2, 1), (1, 2)),
                                                     ((3, 2), (3, 2), (2, 1))])
def test_col2im_is_the_adjoint_of_im2col(kernel, strides, dilation):
    # <im2col(x), c> = <x, col2im(c)> for all x, c: col2im is exactly im2col's transpose
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8))
    ho = (9 - (kernel[0] - 1) * dilation[0] - 1) // strides[0] + 1
    wo = (8 - (kernel[1] - 1) * dilation[1] - 1) // strides[1] + 1
    cols = im2col(x, kernel, strides, dilation, (ho, wo))
    assert cols.shape == (2, 3 * kernel[0] * kernel[1], ho * wo)
    # column (c, u, v) of output pixel (i, j) is the pixel the kernel tap reads
    u, v, i, j = kernel[0] - 1, kernel[1] - 1, ho - 1, wo - 2
    tap = (1 * kernel[0] + u) * kernel[1] + v
    assert cols[1, tap, i * wo + j] == x[1, 1, i * strides[0] + u * dilation[0],
                                        j * strides[1] + v * dilation[1]]
    c = rng.standard_normal(cols.shape)
    back = col2im(c, x.shape, kernel, strides, dilation, (ho, wo))
    assert np.sum(cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)
    # the whole-batch layout holds the same columns, (C·kh·kw, N·Ho·Wo)
    batch_cols = im2col_batch(x, kernel, strides, dilation, (ho, wo))
    np.testing.assert_array_equal(batch_cols, cols.transpose(1, 0, 2).reshape(cols.shape[1], -1))
    c = rng.standard_normal(batch_cols.shape)
    back = col2im_batch(c, x.shape, kernel, strides, dilation, (ho, wo))
    assert np.sum(batch_cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)


@pytest.mark.parametrize("kernel,dilation", [((3, 3), (1, 1)), ((2, 3), (2, 1)), ((3, 1), (1, 3))])
def test_stride1_full_grid_col2im_equals_the_window_adds(kernel, dilation):
    # the layer's stride-1 path: columns placed on the full (Hp·Wp) grid, zero where there is
    # no output pixel, then one contiguous shifted add per kernel offset
    rng = np.random.default_rng(1)
    n, c, hp, wp = 2, 3, 7, 9
    ho, wo = hp - (kernel[0] - 1) * dilation[0], wp - (kernel[1] - 1) * dilation[1]
    dcols = rng.standard_normal((n, c * kernel[0] * kernel[1], ho * wo))
    want = col2im(dcols, (n, c, hp, wp), kernel, (1, 1), dilation, (ho, wo))
    grid = np.zeros((n, c * kernel[0] * kernel[1], hp, wp))
    grid[:, :, :ho, :wo] = dcols.reshape(n, -1, ho, wo)
    got = np.empty((n, c, hp * wp))
    fields = grid.reshape(n, c, kernel[0], kernel[1], hp * wp).transpose(2, 3, 0, 1, 4)
    col2im_full(fields, got, dilation, wp)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("size,kernel,stride,dilation,padding,expected", [
    (28, 3, 1, 1, "valid", (26, 0, 0)),
    (28, 3, 1, 1, "same", (28, 1, 1)),
    (7, 3, 2, 1, "same", (4, 1, 1)),
    (8, 3, 2, 1, "same", (4, 0, 1)),   # the odd pixel of padding goes at the end
    (8, 2, 2, 1, "same", (4, 0, 0)),
    (9, 3, 1, 3, "valid", (3, 0, 0)),
    (6, 3, 1, 2, "same", (6, 2, 2)),
])
def test_window_geometry(size, kernel, stride, dilation, padding, expected):
    assert window_geometry(size, kernel, stride, dilation, padding) == expected


def test_same_padding_matches_pytorch_padding_same():
    torch = pytest.importorskip("torch")
    layer = _built(Conv2D(4, (3, 4), padding="same", dilation_rate=(1, 2)), (2, 7, 9))
    x = np.random.default_rng(1).standard_normal((3, 2, 7, 9))
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.params["kernel"]),
                                     torch.tensor(layer.params["bias"]), padding="same",
                                     dilation=(1, 2))
    np.testing.assert_allclose(layer.forward(x), ref.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("init,expected_std", [
    ("glorot_uniform", np.sqrt(2.0 / ((8 + 16) * 9))),   # var = a²/3, a = √(6/(fan_in+fan_out))
    ("glorot_normal", np.sqrt(2.0 / ((8 + 16) * 9))),
    ("he_uniform", np.sqrt(2.0 / (8 * 9))),
    ("he_normal", np.sqrt(2.0 / (8 * 9))),
])
def test_kernel_initializers_use_conv_fans(init, expected_std):
    # fan_in = in_channels·kh·kw = 72, fan_out = filters·kh·kw = 144
    layer = _built(Conv2D(16, 3, kernel_initializer=init), (8, 10, 10), seed=3)
    kernel = layer.params["kernel"]
    assert kernel.shape == (16, 8, 3, 3)
    assert kernel.std() == pytest.approx(expected_std, rel=0.06)
    if init.endswith("uniform"):
        assert np.abs(kernel).max() <= np.sqrt(3.0) * expected_std
        assert np.abs(kernel).max() > 0.95 * np.sqrt(3.0) * expected_std
    np.testing.assert_array_equal(layer.params["bias"], 0.0)


def test_logits_skips_the_activation():
    layer = _built(Conv2D(3, 2, activation="softmax"), (2, 4, 4))
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    z = layer.forward(x, training=True, logits=True).copy()
    dy = np.random.default_rng(1).standard_normal(z.shape)
    dx_logits = layer.backward(dy).copy()
    linear = _built(Conv2D(3, 2), (2, 4, 4))
    for key in layer.params:
        linear.params[key][...] = layer.params[key]
    np.testing.assert_allclose(z, linear.forward(x, training=True), rtol=1e-14)
    np.testing.assert_allclose(dx_logits, linear.backward(dy), rtol=1e-14)


LAYOUT_CASES = [
    (dict(filters=5, kernel_size=3, activation="relu"), (4, 7, 6)),
    (dict(filters=3, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="tanh"),
     (6, 7, 6)),
    (dict(filters=4, kernel_size=3, dilation_rate=(2, 1), padding="same", use_bias=False,
          activation="gelu"), (4, 8, 7)),
    (dict(filters=3, kernel_size=2, strides=2, activation="softmax"), (9, 6, 5)),
    (dict(filters=2, kernel_size=4, padding="same"), (3, 3, 3)),  # columns smaller than a grid
]


@pytest.mark.parametrize("config,shape", LAYOUT_CASES)
def test_whole_batch_and_per_image_layouts_agree_and_pass_the_gradient_check(config, shape):
    torch_ref = pytest.importorskip("torch_ref")
    x = np.random.default_rng(0).standard_normal((3,) + shape)
    results = []
    for whole in (False, True):
        layer = _built(Conv2D(**config), shape)
        layer._whole_batch = whole
        y = layer.forward(x, training=True).copy()
        dy = np.random.default_rng(1).standard_normal(y.shape)
        dx = layer.backward(dy).copy()
        results.append((y, dx, {k: g.copy() for k, g in layer.grads.items()}))
        # eps 1e-5: at 1e-6 the central differences of this tanh case carry ~5e-6 of rounding
        report = check_layer(layer, x, eps=1e-5)
        assert report.ok, f"whole_batch={whole}: {report}"
    (y0, dx0, g0), (y1, dx1, g1) = results
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx1, dx0, rtol=1e-12, atol=1e-14)
    for key in g0:
        np.testing.assert_allclose(g1[key], g0[key], rtol=1e-12, atol=1e-14)
    if config.get("activation") in (None, "relu", "tanh"):
        pytest.importorskip("torch")
        y_t, dx_t, grads_t = torch_ref.layer_grads(layer, x, dy)
        np.testing.assert_allclose(layer.forward(x), y_t, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(dx1, dx_t, rtol=1e-10, atol=1e-13)
        for key, grad in grads_t.items():
            np.testing.assert_allclose(g1[key], grad, rtol=1e-10, atol=1e-13)


def test_layout_is_chosen_by_the_contraction_length():
    assert not _built(Conv2D(16, 3), (1, 28, 28))._whole_batch     # K = 9
    assert _built(Conv2D(32, 3), (16, 13, 13))._whole_batch        # K = 144
    assert WHOLE_BATCH_MIN_K == 32


def test_softmax_activation_normalises_over_the_channels_of_each_pixel():
    # Keras applies softmax over the last (channels) axis; nnlite's NCHW output keeps the
    # channels on axis 1, so each pixel's filters must sum to 1 and the gradient still check
    layer = _built(Conv2D(3, 2, activation="softmax"), (2, 4, 5))
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 5))
    y = layer.forward(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    assert not np.allclose(y.sum(axis=(2, 3)), 1.0)
    report = check_layer(layer, x)
    assert report.ok, str(report)


def test_backward_consumes_its_forward_cache():
    layer = _built(Conv2D(2, 3, activation="relu"), (1, 5, 5))
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5))
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    with pytest.raises(nnlite.errors.NotBuiltError, match="needs a forward"):
        layer.backward(np.ones_like(y))


def test_input_grad_false_returns_none_and_same_parameter_gradients():
    layer = _built(Conv2D(3, 3, padding="same", activation="tanh"), (2, 5, 5))
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    dy = np.random.default_rng(1).standard_normal((2, 3, 5, 5))
    layer.forward(x, training=True)
    layer.backward(dy)
    expected = {k: g.copy() for k, g in layer.grads.items()}
    layer.forward(x, training=True)
    assert layer.backward(dy, input_grad=False) is None
    for key, grad in expected.items():
        np.testing.assert_array_equal(layer.grads[key], grad)


def test_float32_stays_float32():
    layer = _built(Conv2D(4, 3, activation="relu"), (1, 6, 6), dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["kernel"].dtype == np.float32


@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=0, kernel_size=3), "Conv2D: filters must be a positive int, got 0"),
    (dict(filters=2, kernel_size=(3,)), r"Conv2D: kernel_size must be an int or a pair"),
    (dict(filters=2, kernel_size=3, strides=0), r"Conv2D: strides must be .* got 0"),
    (dict(filters=2, kernel_size=3, padding="full"),
     "Conv2D: padding must be 'valid' or 'same', got 'full'"),
    (dict(filters=2, kernel_size=3, dilation_rate=True), "Conv2D: dilation_rate"),
])
def test_bad_hyper_parameters_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Conv2D(**kwargs)


def test_bad_input_shapes_raise_shape_error_naming_the_layer():
    with pytest.raises(ShapeError, match=r"Conv2D 'c': expects inputs \(batch, channels, "
                                         r"height, width\), got input shape \(batch, 784\)"):
        Conv2D(2, 3, name="c").compute_output_shape((784,))
    with pytest.raises(ShapeError, match="kernel .* does not fit input of height x width 2 x 5"):
        Conv2D(2, 3, name="c").compute_output_shape((1, 2, 5))
    model = nnlite.Sequential([Conv2D(2, 3, input_shape=(1, 2, 5))], seed=0)
    with pytest.raises(ShapeError):
        model.build()
    assert not model.built


def test_config_round_trip_through_the_registry():
    layer = Conv2D(5, (3, 2), strides=2, padding="same", dilation_rate=(1, 2),
                   activation={"name": "elu", "alpha": 0.5}, use_bias=False,
                   kernel_initializer="he_normal", name="conv")
    spec = {"class_name": "Conv2D", "config": layer.get_config()}
    clone = layer_from_spec(spec)
    assert REGISTRY["Conv2D"] is Conv2D
    assert clone.get_config() == layer.get_config()
    assert clone.activation.params == (("alpha", 0.5),)


def _small_cnn(seed, dtype="float64", extra=()):
    return nnlite.Sequential([
        Conv2D(3, 3, padding="same", activation="tanh", input_shape=(1, 6, 6)),
        MaxPool2D(2),
        *extra,
        Conv2D(4, 2, strides=1, activation="gelu"),
        GlobalAveragePooling2D(),
        Dense(3, activation="softmax"),
    ], seed=seed, dtype=dtype)


def test_gradient_check_of_a_whole_cnn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 6, 6))
    y = rng.integers(0, 3, 4)
    model = _small_cnn(0, extra=(BatchNormalization(),))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    report = check_model(model, x, y)
    assert report.ok, str(report)


def test_cnn_in_sequential_trains_and_summarises():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum(axis=(1, 2)) > x[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    model = _small_cnn(1, dtype="float32", extra=(Dropout(0.1),))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=nnlite.optimizers.Adam(0.01),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(x, y)[1] > 0.9
    text = model.summary(print_fn=None)
    assert "conv2d (Conv2D)" in text and "(None, 3, 6, 6)" in text and "(None, 4, 2, 2)" in text
    assert "max_pool2d (MaxPool2D)" in text and "(None, 3, 3, 3)" in text
    assert f"Trainable params: {1 * 3 * 9 + 3 + 3 * 4 * 4 + 4 + 4 * 3 + 3:,}" in text


def test_cnn_in_a_graph_model_matches_sequential():
    if not hasattr(nnlite, "Model"):
        pytest.skip("graph Model not available")
    seq = nnlite.Sequential([Conv2D(3, 3, activation="relu", input_shape=(1, 6, 6)),
                             MaxPool2D(2), Flatten(), Dense(2)], seed=0, dtype="float64")
    seq.build()
    inp = nnlite.Input((1, 6, 6))
    h = Conv2D(3, 3, activation="relu")(inp)
    h = MaxPool2D(2)(h)
    out = Dense(2)(Flatten()(h))
    graph = nnlite.Model(inp, out, seed=0, dtype="float64")
    graph.build()
    graph.set_weights(seq.get_weights())
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6))
    np.testing.assert_allclose(graph.predict(x), seq.predict(x), rtol=1e-12)


def test_trained_cnn_with_every_new_layer_exports_to_torch():
    torch = pytest.importorskip("torch")
    export = pytest.importorskip("nnlite.export")
    from nnlite.layers import (
        ELU,
        AvgPool2D,
        LayerNormalization,
        Reshape,
        SiLU,
        Softsign,
    )
    model = nnlite.Sequential([
        Conv2D(3, 3, padding="same", strides=2, activation="gelu", input_shape=(2, 9, 8)),
        BatchNormalization(), MaxPool2D(2, strides=1, padding="same"),
        AvgPool2D((2, 1), padding="same"), Dropout(0.3),
        Conv2D(4, (1, 2), activation="hard_sigmoid"), LayerNormalization(), SiLU(),
        Flatten(), Reshape((4, -1)), Softsign(), Flatten(),
        Dense(5, activation={"name": "elu", "alpha": 0.7}), ELU(), Dense(3, activation="softmax"),
    ], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 2, 9, 8)), rng.integers(0, 3, 16)
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    net = export.to_torch(model).eval()
    with torch.no_grad():
        out = net(torch.tensor(x)).numpy()
    expected = model.predict(x)
    assert expected.std() > 1e-3                      # not a degenerate constant output
    # hard sigmoid: torch's kernel rounds 1/6 to float32 (see torch_ref.py), hence 1e-7
    np.testing.assert_allclose(out, expected, rtol=1e-7, atol=1e-9)


def test_gradient_norm_probe_of_a_cnn_leaves_state_and_masks_unchanged():
    monitors = pytest.importorskip("nnlite.monitors")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 6, 6)), rng.integers(0, 3, 8)
    model = _small_cnn(0, extra=(BatchNormalization(), Dropout(0.5)))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.build()
    bn, dropout = model.layers[2], model.layers[3]
    state = {k: v.copy() for k, v in bn.state.items()}
    rng_state = dropout._rng.bit_generator.state
    norms = monitors.layer_gradient_norms(model, x, y)
    assert norms["conv2d/kernel"] > 0 and norms["batch_normalization/gamma"] > 0
    assert set(norms) >= {"conv2d/input", "max_pool2d/input", "dropout/input"}
    for key, value in state.items():
        np.testing.assert_array_equal(bn.state[key], value)
    assert dropout._rng.bit_generator.state == rng_state


@pytest.mark.parametrize("channels", [1, 4])          # per-image (K = 9) and whole-batch (K = 36)
@pytest.mark.parametrize("graph", [False, True])
def test_metrics_of_a_relu_conv_output_see_the_outputs_not_the_gradient(channels, graph):
    # backward writes dL/dz over the cached ReLU output; the batch's metrics are read first
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, channels, 5, 5))
    y = rng.standard_normal((6, 2, 3, 3))
    layers = [Conv2D(2, 3, activation="relu", input_shape=(channels, 5, 5))]
    if graph:
        inp = nnlite.Input(shape=(channels, 5, 5))
        model = nnlite.Model(inp, Conv2D(2, 3, activation="relu")(inp), seed=0, dtype="float64")
    else:
        model = nnlite.Sequential(layers, seed=0, dtype="float64")
    model.compile(nnlite.optimizers.SGD(0.1), "mse", metrics=["mae"])
    for step in range(2):   # the batch's loss and metrics are those of the weights before it
        pred = model.predict(x)
        if step == 0:
            loss, mae = model.train_on_batch(x, y)
        else:
            history = model.fit(x, y, batch_size=6, epochs=1, verbose=0, seed=0).history
            loss, mae = history["loss"][0], history["mae"][0]
        assert mae == pytest.approx(float(np.mean(np.abs(pred - y))), rel=1e-12)
        assert loss == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-12)
