"""``nnlite.export.to_onnx``: every layer family, Sequential and graph models (several inputs and
outputs keep their names), a symbolic batch, float32 and float64.

Each exported graph passes ``onnx.checker`` (with shape inference) and is run by the ONNX
ReferenceEvaluator (pure NumPy) and by onnxruntime; both must match ``model.predict`` to 1e-5 on
100 random inputs (float32), and the ReferenceEvaluator to 1e-10 in float64.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from onnx_check import check as _check_runs
from onnx_check import onnx, ort, run_ort, run_reference, x_like

import nnlite
from nnlite.errors import ConfigError
from nnlite.export import to_onnx
from nnlite.integrations.onnx.export import ACTIVATIONS, EXPORTERS
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
    Layer,
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

_run_reference, _run_ort, _x = run_reference, run_ort, x_like


def _check(model, xs, names=None):
    """Export, check, run with both evaluators and compare with predict; returns the proto."""
    return _check_runs(model, xs, names)[0]


VECTOR_LAYERS = [
    lambda: Dense(5),
    lambda: Dense(5, use_bias=False),
    *[(lambda a=a: Dense(5, activation=a)) for a in sorted(ACTIVATIONS)],
    lambda: Dense(5, activation=nnlite.activations.leaky_relu(0.3)),
    lambda: Dense(5, activation=nnlite.activations.elu(0.7)),
    Sigmoid, Tanh, ReLU, Softplus, Softmax, Identity, GELU, ELU, SiLU, Softsign, HardSigmoid,
    lambda: LeakyReLU(alpha=0.2), lambda: ELU(alpha=0.5), lambda: Activation("tanh"),
    lambda: Residual([Dense(4, activation="relu"), Dense(4)]),
    lambda: Residual(Dense(6, activation="tanh"), projection="dense"),
    lambda: Dropout(0.5),
    BatchNormalization,
    LayerNormalization,
    lambda: Reshape((2, 2)),
]


def _vector_model(layer, dtype):
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=3), layer], seed=0,
                              dtype=dtype)
    model.build()
    if isinstance(layer, BatchNormalization):  # non-trivial inference statistics
        layer.state["moving_mean"][...] = [0.1, -0.2, 0.3, 0.0]
        layer.state["moving_variance"][...] = [0.5, 2.0, 1.5, 1.0]
    if isinstance(layer, LayerNormalization):
        layer.params["gamma"][...] = [1.5, 0.5, -1.0, 2.0]
        layer.params["beta"][...] = [0.1, 0.0, -0.3, 0.2]
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("factory", VECTOR_LAYERS)
def test_every_vector_layer_matches_predict(factory, dtype):
    model = _vector_model(factory(), dtype)
    _check(model, _x((100, 3), dtype=dtype))


IMAGE_LAYERS = [
    lambda: Conv2D(3, 3),
    lambda: Conv2D(2, (3, 2), strides=2, padding="same", activation="relu"),  # extra pixel last
    lambda: Conv2D(2, (2, 3), strides=(1, 2), padding="same", activation="tanh"),
    lambda: Conv2D(2, 3, dilation_rate=2, use_bias=False, activation="gelu"),
    lambda: Conv2D(2, 2, dilation_rate=(2, 1), padding="same"),
    MaxPool2D, lambda: MaxPool2D(3, strides=2, padding="same"),
    lambda: MaxPool2D((2, 3), strides=(2, 1), padding="same"),
    AvgPool2D, lambda: AvgPool2D((3, 2), strides=(2, 1), padding="same"),
    lambda: AvgPool2D(3, strides=2, padding="same"),
    GlobalAveragePooling2D, lambda: GlobalAveragePooling2D(keepdims=True),
    Flatten, BatchNormalization, lambda: Reshape((3, 42)), lambda: Activation("softmax"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("factory", IMAGE_LAYERS)
def test_every_image_layer_matches_predict(factory, dtype):
    layer = factory()
    # odd sizes (7 x 6) so "same" padding puts its extra row/column at the end
    model = nnlite.Sequential([Conv2D(3, 3, padding="same", input_shape=(2, 7, 6)), layer],
                              seed=1, dtype=dtype)
    model.build()
    if isinstance(layer, BatchNormalization):
        layer.state["moving_mean"][...] = [0.2, -0.1, 0.05]
        layer.state["moving_variance"][...] = [0.3, 1.7, 2.5]
        layer.params["gamma"][...] = [1.2, -0.7, 0.9]
    _check(model, _x((100, 2, 7, 6), seed=2, dtype=dtype))


def test_same_padding_puts_the_extra_pixel_at_the_end():
    # a 2x2 max pool with stride 2 on a 3x3 image pads one row and column, after the image:
    # the last window sees only x[2, 2]; padding first would mix in x[1, 1]
    model = nnlite.Sequential([MaxPool2D(2, padding="same", input_shape=(1, 3, 3))])
    x = -np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    (out,) = _run_reference(to_onnx(model), {"input": x})
    np.testing.assert_array_equal(out[0, 0], [[0, -2], [-6, -8]])
    np.testing.assert_array_equal(out, model.predict(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_graph_model_keeps_input_and_output_names(dtype):
    a = nnlite.Input(shape=(4,), name="pixels")
    b = nnlite.Input(shape=(4,), name="meta")
    h = Dense(4, activation="relu", name="shared")(a)
    s = Add(name="plus")([h, Dense(4, name="side")(b)])
    d = Subtract(name="minus")([s, b])
    m = Multiply(name="times")([d, h, s])
    c = Concatenate(name="cat")([m, s])
    out1 = Dense(3, activation="softmax", name="probs")(c)
    out2 = Dense(1, name="score")(Residual([Dense(8, activation="relu"), Dense(8)])(c))
    model = nnlite.Model([a, b], [out1, out2], seed=3, dtype=dtype)
    # unit scale: the product of three tensors keeps the outputs of order 1, where 1e-5 is
    # well above float32 rounding
    xs = [_x((100, 4), seed=4, scale=1.0, dtype=dtype), _x((100, 4), seed=5, scale=1.0,
                                                         dtype=dtype)]
    assert max(float(np.abs(o).max()) for o in model.predict(xs)) < 20
    proto = _check(model, xs, names=["pixels", "meta"])
    assert [i.name for i in proto.graph.input] == ["pixels", "meta"]
    assert [o.name for o in proto.graph.output] == ["probs", "score"]
    if ort is not None:
        session = ort.InferenceSession(proto.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["pixels", "meta"]
        outs = session.run(["score"], {"pixels": xs[0], "meta": xs[1]})
        np.testing.assert_allclose(outs[0], model.predict(xs)[1], atol=1e-5)


def test_concatenate_on_a_positive_and_a_channel_axis():
    a = nnlite.Input(shape=(2, 5, 5), name="a")
    b = nnlite.Input(shape=(3, 5, 5), name="b")
    c = Concatenate(axis=1)([Conv2D(2, 3, padding="same")(a), b])
    model = nnlite.Model([a, b], Flatten()(c), seed=0)
    _check(model, [_x((100, 2, 5, 5)), _x((100, 3, 5, 5), seed=1)])


def test_the_batch_dimension_is_symbolic():
    model = _vector_model(Dense(2, activation="sigmoid"), "float32")
    proto = to_onnx(model)
    for value in (*proto.graph.input, *proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and not dims[0].HasField("dim_value")
        assert [d.dim_value for d in dims[1:]] == [3] if value.name == "input" else [2]
    for n in (1, 7, 100):  # one graph, any batch size
        _check(model, _x((n, 3), seed=n))


def test_weights_are_initializers_named_after_their_layers():
    model = nnlite.Sequential([Dense(4, input_dim=3, name="hidden"),
                               BatchNormalization(name="bn"), Dense(2, name="head")], seed=0)
    proto = to_onnx(model)
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    np.testing.assert_array_equal(arrays["hidden/kernel"], model.layers[0].params["kernel"])
    np.testing.assert_array_equal(arrays["bn/moving_variance"],
                                  model.layers[1].state["moving_variance"])
    assert proto.opset_import[0].version == 17 and proto.producer_name == "nnlite"


def test_the_cnn_of_examples_gives_the_same_class_on_all_2000_test_images():
    spec = importlib.util.spec_from_file_location(
        "cnn_mnist", Path(__file__).resolve().parents[1] / "examples" / "cnn_mnist.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist(flatten=False)
    model = example.build_model(seed=0)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(2e-3), metrics=["accuracy"])
    model.fit(x_train[:3000], y_train[:3000], epochs=1, batch_size=64, seed=0, verbose=0)
    expected = model.predict(x_test)
    assert np.mean(expected.argmax(1) == y_test) > 0.85  # a trained model, not a random one
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    # the NumPy reference needs ~8 ms per image here: all 2,000 only without onnxruntime
    n_ref = len(x_test) if ort is None else 250
    (ref,) = _run_reference(proto, {"input": x_test[:n_ref]})
    np.testing.assert_array_equal(ref.argmax(1), expected[:n_ref].argmax(1))
    assert np.max(np.abs(ref - expected[:n_ref])) <= 1e-5
    if ort is not None:
        (out,) = _run_ort(proto, {"input": x_test})
        assert out.shape == (2000, 10)
        np.testing.assert_array_equal(out.argmax(1), expected.argmax(1))
        assert np.max(np.abs(out - expected)) <= 1e-5


def test_path_writes_the_same_model(tmp_path):
    model = _vector_model(Dense(2), "float32")
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path)
    assert onnx.load(str(path)).SerializeToString() == proto.SerializeToString()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary left


class Doubler(Layer):
    """y = 2x (a user's layer with no ONNX entry)."""

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dy, input_grad=True):
        return 2 * dy


def test_a_layer_without_an_exporter_is_a_config_error_naming_it():
    model = nnlite.Sequential([Dense(3, input_dim=2), Doubler(name="twice")], seed=0)
    with pytest.raises(ConfigError, match=r"layer 'twice' of type Doubler has no ONNX export"):
        to_onnx(model)


def test_an_exporter_is_one_table_entry(monkeypatch):
    monkeypatch.setitem(EXPORTERS, "Doubler", lambda layer, g, x: g.op(
        "Mul", [x, g.scalar(2.0, f"{layer.name}/two")], f"{layer.name}/Mul"))
    model = nnlite.Sequential([Dense(3, input_dim=2), Doubler()], seed=0)
    _check(model, _x((100, 2)))


def test_an_activation_without_an_exporter_is_a_config_error_naming_it(monkeypatch):
    from nnlite.activations import ActivationFn
    cube = ActivationFn("cube", lambda x, out=None: np.power(x, 3, out=out),
                        lambda dy, x, out=None: np.multiply(dy, 3 * x * x, out=out), "input")
    model = nnlite.Sequential([Dense(3, activation=cube, input_dim=2, name="cubic")], seed=0)
    with pytest.raises(ConfigError, match=r"layer 'cubic' uses activation 'cube'"):
        to_onnx(model)


@pytest.mark.parametrize("opset", [16, 0, "17", 17.0, True, 10_000])
def test_bad_opsets_are_config_errors(opset):
    model = _vector_model(Dense(2), "float32")
    with pytest.raises(ConfigError, match="opset must be an int from 17"):
        to_onnx(model, opset=opset)


def test_a_newer_opset_is_accepted():
    model = _vector_model(LayerNormalization(), "float32")
    proto = to_onnx(model, opset=18)
    assert proto.opset_import[0].version == 18
    (out,) = _run_reference(proto, {"input": _x((10, 3))})
    np.testing.assert_allclose(out, model.predict(_x((10, 3))), atol=1e-5)


def test_export_changes_nothing():
    model = _vector_model(BatchNormalization(), "float32")
    before = [w.copy() for w in model.get_weights()]
    to_onnx(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_every_registered_layer_has_an_exporter():
    assert sorted(set(REGISTRY) - set(EXPORTERS)) == []


def test_masks_pass_through_layers_that_keep_the_time_axis():
    # the seam for masked sequence layers: a mask rides beside its tensor in g.masks
    from nnlite.integrations.onnx.export import OnnxGraph, export_layer
    rng = np.random.default_rng(0)
    g = OnnxGraph(onnx, np.float32, 17)
    tanh, flatten = Tanh(name="tanh"), Flatten(name="flatten")
    tanh.build((5, 3), rng, np.float32)
    flatten.build((5, 3), rng, np.float32)
    g.masks["x"] = "x_mask"
    h = export_layer(tanh, g, "x")                # (batch, 5, 3) -> (batch, 5, 3): kept
    assert g.masks[h] == "x_mask"
    y = export_layer(flatten, g, h)               # (batch, 5, 3) -> (batch, 15): dropped
    assert y not in g.masks
