"""The graph Model: forward vs hand-written NumPy, gradients (random DAGs, fan-out, several
inputs/outputs), equivalence with Sequential, construction errors, config round trip."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlite
from nnlite.errors import ConfigError, GraphError, ShapeError
from nnlite.gradcheck import check_model
from nnlite.layers import Activation, Add, Concatenate, Dense, Multiply, Subtract

# The five-point stencil (order 4, ε = 1e-3) is accurate to ~1e-12 on these smooth graphs, so
# even gradient entries of ~1e-6 (cancellation at fan-in) meet the relative tolerance; plain
# central differences lose them to round-off.
EPS, ORDER = 1e-3, 4


def _data(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


# ---------------------------------------------------------------------- forward values
def test_forward_matches_numpy_composition_with_fan_out():
    x = nnlite.Input(shape=(3,))
    h = Dense(4, activation="tanh")(x)
    a = Dense(4)(h)
    s = Add()([h, a])                       # h has two consumers
    c = Concatenate()([s, h])               # and a third
    model = nnlite.Model(x, Dense(2)(c), seed=0, dtype="float64")
    X = _data(5, 3)
    (k1, b1), (k2, b2), (k3, b3) = [(l.params["kernel"], l.params["bias"])
                                    for l in model.layers if isinstance(l, Dense)]
    hh = np.tanh(X @ k1 + b1)
    ss = hh + (hh @ k2 + b2)
    expected = np.concatenate([ss, hh], axis=1) @ k3 + b3
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-13)


def test_same_node_twice_in_a_merge_gets_the_gradient_twice():
    x = nnlite.Input(shape=(3,))
    h = Dense(3)(x)
    model = nnlite.Model(x, Add()([h, h]), seed=1, dtype="float64")
    X = _data(4, 3)
    np.testing.assert_allclose(model.predict(X), 2 * (X @ model.layers[0].params["kernel"]
                                                      + model.layers[0].params["bias"]))
    grad = model.input_gradient(X)
    np.testing.assert_allclose(grad, np.tile(2 * model.layers[0].params["kernel"].sum(1),
                                             (4, 1)), rtol=1e-13)


# ---------------------------------------------------------------------- random DAGs
@st.composite
def random_dags(draw):
    """A random DAG of Dense/activation/Add/Concatenate where each node picks any earlier
    node(s) as parents (so nodes fan out); adds of unequal widths become concatenations."""
    spec, widths = [], [3]
    for _ in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(["dense", "act", "add", "concat"]))
        a = draw(st.integers(0, len(widths) - 1))
        b = draw(st.integers(0, len(widths) - 1))
        if kind == "dense":
            units = draw(st.integers(1, 4))
            spec.append(("dense", a, units,
                         draw(st.sampled_from(["tanh", "sigmoid", "linear", "softplus"]))))
            widths.append(units)
        elif kind == "act":
            spec.append(("act", a, draw(st.sampled_from(["tanh", "sigmoid"]))))
            widths.append(widths[a])
        elif kind == "add" and widths[a] == widths[b]:
            spec.append(("add", a, b))
            widths.append(widths[a])
        else:
            spec.append(("concat", a, b))
            widths.append(widths[a] + widths[b])
    return spec, draw(st.integers(0, 2**31 - 1))


def _build_dag(spec):
    x = nnlite.Input(shape=(3,))
    nodes = [Dense(3, activation="tanh")(x)]  # node 0, width 3
    for entry in spec:
        kind = entry[0]
        if kind == "dense":
            nodes.append(Dense(entry[2], activation=entry[3])(nodes[entry[1]]))
        elif kind == "act":
            nodes.append(Activation(entry[2])(nodes[entry[1]]))
        elif kind == "add":
            nodes.append(Add()([nodes[entry[1]], nodes[entry[2]]]))
        else:
            nodes.append(Concatenate()([nodes[entry[1]], nodes[entry[2]]]))
    # every node feeds the output, so nothing is dead and many nodes fan out
    merged = Concatenate()(nodes) if len(nodes) > 1 else nodes[0]
    return x, Dense(2)(merged)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_random_dag_gradients_match_finite_differences(dag):
    spec, seed = dag
    x, out = _build_dag(spec)
    model = nnlite.Model(x, out, seed=seed % 1000, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(seed)
    report = check_model(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)),
                         eps=EPS, order=ORDER)
    assert report.max_error < 1e-6, str(report)
    assert any(key.startswith("dense") for key in report.errors)


# ---------------------------------------------------------------------- several inputs/outputs
def _two_in_two_out(seed=0):
    a = nnlite.Input(shape=(3,), name="a")
    b = nnlite.Input(shape=(2,), name="b")
    ha = Dense(4, activation="tanh")(a)
    hb = Dense(4, activation="sigmoid")(b)
    m = Multiply()([ha, hb])
    d = Subtract()([ha, m])
    reg = Dense(1, name="reg")(d)
    cls = Dense(3, activation="softmax", name="cls")(Concatenate()([d, hb]))
    return nnlite.Model([a, b], [reg, cls], seed=seed, dtype="float64")


def test_multi_input_multi_output_gradients_match_finite_differences():
    model = _two_in_two_out()
    model.compile(loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 2.0],
                  optimizer="sgd")
    rng = np.random.default_rng(3)
    xa, xb = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    y_reg, y_cls = rng.standard_normal((6, 1)), np.arange(6) % 3
    report = check_model(model, [xa, xb], [y_reg, y_cls])
    assert report.max_error < 1e-6, str(report)
    assert {"input:0", "input:1", "reg/kernel", "cls/kernel"} <= set(report.errors)


def test_multi_output_loss_is_the_weighted_sum_and_fit_reduces_it():
    model = _two_in_two_out(seed=2)
    model.compile(loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 2.0},
                  optimizer=nnlite.optimizers.Adam(learning_rate=0.02),
                  metrics={"reg": [], "cls": ["accuracy"]})
    rng = np.random.default_rng(4)
    xa, xb = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    y_reg, y_cls = xa[:, :1] - xb[:, :1], (xa[:, 0] > 0).astype(int) + (xb[:, 0] > 0)
    reg_out, cls_out = model.predict([xa, xb])
    mse = np.mean((reg_out - y_reg) ** 2)
    cce = -np.mean(np.log(cls_out[np.arange(40), y_cls]))
    logs = model.evaluate([xa, xb], [y_reg, y_cls], return_dict=True)
    assert logs["loss"] == pytest.approx(0.5 * mse + 2.0 * cce, rel=1e-10)
    assert logs["cls_accuracy"] == pytest.approx(np.mean(cls_out.argmax(1) == y_cls))
    history = model.fit([xa, xb], {"reg": y_reg, "cls": y_cls}, epochs=40, batch_size=8,
                        verbose=0, seed=0, validation_data=([xa, xb], [y_reg, y_cls]))
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert "cls_accuracy" in history.history
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate([xa, xb], [y_reg, y_cls], return_dict=True)["loss"], rel=1e-12)


def test_multi_input_rejects_wrong_input_count_and_changes_nothing():
    model = _two_in_two_out()
    model.compile(loss=["mse", "sparse_categorical_crossentropy"], optimizer="sgd")
    before = model.get_weights()
    with pytest.raises(ShapeError, match=r"2 inputs \['a', 'b'\].*got ndarray"):
        model.fit(np.zeros((4, 3)), [np.zeros((4, 1)), np.zeros(4)], verbose=0)
    with pytest.raises(ShapeError, match=r"input 'b'.*\(batch, 2\), got \(4, 5\)"):
        model.predict([np.zeros((4, 3)), np.zeros((4, 5))])
    for w, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w, v)


# ---------------------------------------------------------------------- same as Sequential
def test_chain_model_trains_exactly_like_sequential():
    def layers():
        return [Dense(8, activation="relu"), Dense(8, activation="tanh"),
                Dense(3, activation="softmax")]
    seq = nnlite.Sequential([Dense(8, activation="relu", input_dim=4)] + layers()[1:], seed=0,
                            dtype="float64")
    x = nnlite.Input(shape=(4,))
    h = x
    for layer in layers():
        h = layer(h)
    graph = nnlite.Model(x, h, seed=0, dtype="float64")
    seq.build()
    graph.build()
    graph.set_weights(seq.get_weights())
    X, y = _data(64, 4, 1), np.arange(64) % 3
    for m in (seq, graph):
        m.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    h1 = seq.fit(X, y, epochs=5, batch_size=16, seed=3, verbose=0).history["loss"]
    h2 = graph.fit(X, y, epochs=5, batch_size=16, seed=3, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-12)
    assert graph._fused  # the softmax head is fused into the loss as in Sequential
    np.testing.assert_allclose(seq.predict(X), graph.predict(X), rtol=1e-12)


def test_head_that_also_feeds_another_layer_is_not_fused():
    x2 = nnlite.Input(shape=(2,))
    p2 = Dense(2, activation="sigmoid")(x2)
    model = nnlite.Model(x2, [p2, Dense(1)(p2)], seed=0, dtype="float64")
    model.compile(loss=["binary_crossentropy", "mse"], optimizer="sgd")
    assert model._fused == (False, False)
    rng = np.random.default_rng(0)
    report = check_model(model, rng.standard_normal((5, 2)),
                         [rng.integers(0, 2, (5, 2)), rng.standard_normal((5, 1))])
    assert report.ok, str(report)


# ---------------------------------------------------------------------- construction errors
def test_cycle_is_detected_with_the_layers_named():
    x = nnlite.Input(shape=(2,))
    a = Dense(2, name="first")(x)
    b = Dense(2, name="second")(a)
    a.parents = (b,)  # only possible by editing nodes by hand
    with pytest.raises(GraphError, match="cycle: .*first -> second -> first|"
                                         "cycle: .*second -> first -> second"):
        nnlite.Model(x, b)


def test_unknown_input_is_named():
    a = nnlite.Input(shape=(2,), name="a")
    b = nnlite.Input(shape=(2,), name="b")
    out = Dense(1, name="out")(Add()([a, b]))
    with pytest.raises(GraphError, match=r"output 'out' depends on input 'b' of shape \(2,\), "
                                         r"which is not among the model's inputs \['a'\]"):
        nnlite.Model(a, out)


def test_disconnected_input_is_named():
    a = nnlite.Input(shape=(2,), name="a")
    b = nnlite.Input(shape=(3,), name="b")
    out = Dense(1, name="out")(a)
    with pytest.raises(GraphError, match=r"input 'b' of shape \(3,\) is disconnected: no "
                                         r"output \['out'\] depends on it"):
        nnlite.Model([a, b], out)


@pytest.mark.parametrize("merge", [Add, Subtract, Multiply])
def test_merge_shape_mismatch_names_both_layers_and_shapes(merge):
    x = nnlite.Input(shape=(4,))
    left = Dense(3, name="left")(x)
    right = Dense(5, name="right")(x)
    with pytest.raises(GraphError, match=rf"{merge.__name__} .* cannot take 'left' \(3,\), "
                                         r"'right' \(5,\): .*\(batch, 3\) and \(batch, 5\)"):
        merge()([left, right])


def test_concatenate_mismatch_outside_axis_is_named():
    a = nnlite.Input(shape=(2, 3), name="a")
    b = nnlite.Input(shape=(4, 3), name="b")
    with pytest.raises(GraphError, match=r"'a' \(2, 3\), 'b' \(4, 3\).*equal except along "
                                         r"axis -1"):
        Concatenate()([a, b])
    assert Concatenate(axis=1)([a, b]).shape == (6, 3)


def test_shared_layer_is_rejected():
    x = nnlite.Input(shape=(3,))
    shared = Dense(3, name="shared")
    out = shared(shared(x))
    with pytest.raises(GraphError, match="'shared' .*called at two places.*not supported"):
        nnlite.Model(x, out)


def test_other_construction_errors():
    x = nnlite.Input(shape=(3,))
    h = Dense(2)(x)
    with pytest.raises(GraphError, match="must be nnlite.Input nodes; 'dense' is the output"):
        nnlite.Model(h, Dense(1)(h))
    with pytest.raises(GraphError, match="must be called on a graph node.*got ndarray"):
        Dense(2)(np.zeros((1, 3)))
    with pytest.raises(GraphError, match="Add 'add' takes a list of graph nodes"):
        Add()(x)
    with pytest.raises(GraphError, match=r"declared with input_shape \(4,\).*shape \(3,\)"):
        Dense(2, input_dim=4)(x)
    with pytest.raises(GraphError, match="Subtract .* needs 2 inputs, got 3"):
        Subtract()([x, x, x])
    with pytest.raises(GraphError, match="layer name 'same' is used twice"):
        nnlite.Model(x, Dense(1, name="same")(Dense(2, name="same")(x)))
    with pytest.raises(GraphError, match="output 'input' is an Input node"):
        nnlite.Model(x, x)
    with pytest.raises(ConfigError, match="Input: shape must be a tuple of positive ints"):
        nnlite.Input(shape=(0,))


# ---------------------------------------------------------------------- config
def test_get_config_round_trip_rebuilds_the_same_function():
    model = _two_in_two_out(seed=5)
    config = model.get_config()
    assert config["class_name"] == "Model"
    assert all(set(spec) == {"class_name", "config", "inbound"}
               for spec in config["config"]["layers"])
    clone = nnlite.Model.from_config(config, seed=9)
    assert clone.get_config() == config
    clone.build()
    model.build()
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 3)), rng.standard_normal((3, 2))]
    for a, b in zip(model.predict(xs), clone.predict(xs)):
        np.testing.assert_array_equal(a, b)


def test_summary_lists_every_layer():
    model = _two_in_two_out()
    text = model.summary(print_fn=None)
    for name in ("reg (Dense)", "cls (Dense)", "multiply (Multiply)", "concatenate"):
        assert name in text
    assert f"Total params: {model.count_params():,}" in text
