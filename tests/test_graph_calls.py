"""The graph model's extensions for attention and graph layers: every layer's backward runs
(a parameterised multi-input layer on raw inputs trains — the latent bug), keyword node
arguments and their config record, calls with several outputs, values that reach a layer only
through an argument without gradient, multi-input containers, sparse inputs."""
import numpy as np
import pytest
import scipy.sparse as sp

import nnlite
from nnlite.errors import ConfigError, GraphError
from nnlite.gradcheck import check_model
from nnlite.layers import Dense, Flatten, Layer, MultiHeadAttention, Reshape


class Bilinear(Layer):
    """y = (x₀ W) ⊙ x₁: a multi-input layer with a parameter (no merge has one)."""

    multi_input = True

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def build(self, input_shape, rng, dtype):
        self.input_shape, self.dtype, self.built = list(input_shape), np.dtype(dtype), True
        self.output_shape = (self.units,)
        self.add_weight("kernel", (input_shape[0][0], self.units), "glorot_uniform",
                        input_shape[0][0], self.units, rng)

    def forward(self, xs, training=False):
        a = xs[0] @ self.params["kernel"]
        if training:
            self._saved = (xs, a)
        return a * xs[1]

    def backward(self, dy, input_grad=True):
        (x0, x1), a = self._saved
        np.matmul(x0.T, dy * x1, out=self.grads["kernel"])
        if not input_grad:
            return None
        return [(dy * x1) @ self.params["kernel"].T, dy * a]


def _bilinear_model():
    a, b = nnlite.Input(shape=(3,)), nnlite.Input(shape=(4,))
    return nnlite.Model([a, b], Bilinear(4, name="bilinear")([a, b]), seed=0, dtype="float64")


def test_multi_input_layer_on_raw_inputs_gets_parameter_gradients_in_training():
    model = _bilinear_model()
    model.compile(loss="mse", optimizer=nnlite.optimizers.SGD(learning_rate=0.1))
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((16, 3)), rng.standard_normal((16, 4))]
    y = rng.standard_normal((16, 4))
    before = model.get_weights()[0].copy()
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    # fit's step runs backward with input_grad=False: the bug skipped this layer entirely
    assert not np.array_equal(model.get_weights()[0], before)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    report = check_model(model, [v[:5] for v in x], y[:5])
    assert report.max_error < 1e-6, str(report)
    xb = [v[:5] for v in x]
    expected = model.gradients(xb, y[:5])["bilinear/kernel"]
    model._train_loss._forward(model._forward(xb, True, False), y[:5])
    model._backward(model._train_loss._backward(), input_grad=False)  # what fit does
    np.testing.assert_allclose(model.layers[0].grads["kernel"], expected, rtol=1e-12)


def test_only_the_second_output_of_a_call_is_used():
    x_in = nnlite.Input(shape=(4, 3))
    _, scores = MultiHeadAttention(2, 2, name="mha")(x_in, return_attention_scores=True)
    model = nnlite.Model(x_in, Dense(1)(Flatten()(scores)), seed=1, dtype="float64")
    plan = {layer.name: i for i, layer, _ in model._plan}
    assert plan["mha"][0] is None                      # the attention output is unused
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 4, 3)), rng.standard_normal((5, 1))
    report = check_model(model, x, y)
    errors = {k: v for k, v in report.errors.items()
              if not k.startswith("mha/value") and not k.startswith("mha/output")
              and k != "mha/key_bias"}
    assert max(errors.values()) < 1e-6, str(report)
    grads = model.gradients(x, y)
    for key in ("mha/value_kernel", "mha/output_kernel", "mha/output_bias"):
        np.testing.assert_array_equal(grads[key], 0.0)  # the scores do not depend on them


def test_a_value_used_only_as_an_attention_mask_gets_no_gradient():
    q_in, flat = nnlite.Input(shape=(3, 4)), nnlite.Input(shape=(9,))
    mask = Reshape((3, 3))(flat)
    out = MultiHeadAttention(1, 2)(q_in, attention_mask=mask)
    model = nnlite.Model([q_in, flat], Dense(2)(Flatten()(out)), seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(2)
    x = [rng.standard_normal((4, 3, 4)), (rng.random((4, 9)) > 0.3).astype(float)]
    y = rng.standard_normal((4, 2))
    model._forward(x, True, False)
    dx = model._backward(np.ones((4, 2)), True)
    assert dx[1] is None                               # nothing flows into the mask input
    report = check_model(model, x, y)
    assert "input:1" not in report.errors
    assert max(v for k, v in report.errors.items() if not k.endswith("key_bias")) < 1e-6


def test_call_records_rebuild_keyword_calls_and_are_checked():
    q, v = nnlite.Input(shape=(3, 4), name="q"), nnlite.Input(shape=(5, 2), name="v")
    out = MultiHeadAttention(2, 2, name="mha")(q, value=v, key=v, use_causal_mask=True)
    model = nnlite.Model([q, v], out, seed=0)
    spec = model.get_config()
    layer = spec["config"]["layers"][0]
    assert layer["inbound"] == ["q", "v", "v"]
    assert layer["call"] == {"inputs": ["query", "value", "key"], "use_causal_mask": True,
                             "return_attention_scores": False}
    clone = nnlite.Model.from_config(spec, seed=0)
    assert clone.get_config() == spec
    layer["call"] = {"inputs": ["query"], "use_causal_mask": True}
    with pytest.raises(GraphError, match="does not name its 3 inputs"):
        nnlite.Model.from_config(spec)


def test_sparse_inputs_are_declared_and_checked():
    with pytest.raises(ConfigError, match="declared with shape=\\(N,\\)"):
        nnlite.Input(shape=(3, 3), sparse=True)
    with pytest.raises(ConfigError, match="sparse must be True or False"):
        nnlite.Input(shape=(3,), sparse=1)
    x = nnlite.Input(shape=(2,))
    with pytest.raises(nnlite.errors.DTypeError, match="sparse=True"):
        nnlite.models.checks.check_array(sp.eye(3), "x", (3,), np.float32)
    assert x.sparse is False
