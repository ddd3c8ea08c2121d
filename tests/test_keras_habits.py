"""Habits a Keras or scikit-learn user brings, each of which failed (or behaved differently)
before issue 12: freezing, Keras-order compile, model(x), get_layer/pop/weights, JSON, lazy
submodules, per-output losses, one seed for everything, Residual(Sequential), plot_graph after
fit, channels-first hints, and the depth CLI's output folder."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import nnlite
from nnlite import optimizers
from nnlite.errors import ConfigError, GraphError, ShapeError
from nnlite.layers import BatchNormalization, Conv2D, Dense, Dropout, Residual

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 5))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def _mlp(seed=0, **kw):
    return nnlite.Sequential([Dense(8, activation="relu", input_dim=5, name="hidden"),
                              Dense(6, activation="tanh", name="middle"),
                              Dense(2, activation="softmax", name="head")], seed=seed, **kw)


# ---------------------------------------------------------------- freezing
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad",
                                       "gd", "minibatch"])
def test_frozen_layer_keeps_weights_and_optimizer_state(optimizer):
    model = _mlp()
    model.compile(optimizers.get(optimizer), "sparse_categorical_crossentropy")
    model.build()
    frozen = model.get_layer("middle")
    frozen.trainable = False
    before = {l.name: [w.copy() for w in l.get_weights()] for l in model.layers}
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0, seed=0)
    for a, b in zip(frozen.get_weights(), before["middle"]):
        np.testing.assert_array_equal(a, b)
    for name in ("hidden", "head"):
        assert not np.array_equal(model.get_layer(name).get_weights()[0], before[name][0])
    lo = model.get_layer("hidden").count_params()
    hi = lo + frozen.count_params()
    for key, slot in model.optimizer.get_state().items():
        if slot.ndim and key != "sum_squares":  # AdaGrad's G starts at its initial value
            assert not slot[lo:hi].any(), key


def test_train_on_batch_respects_freezing_and_unfreezing_takes_effect():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.trainable = False
    weights = model.get_weights()
    model.train_on_batch(X, Y)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    model.trainable = True  # no recompile needed (Keras needs one)
    model.train_on_batch(X, Y)
    assert not np.array_equal(model.get_weights()[0], weights[0])


def test_summary_and_weight_lists_count_frozen_weights_as_non_trainable():
    model = nnlite.Sequential([Dense(4, input_dim=3), BatchNormalization(), Dense(2)], seed=0)
    model.build()
    model.layers[0].trainable = False
    text = model.summary(print_fn=None)
    assert "Trainable params: 18" in text          # BN γ, β (8) + head (10)
    assert "Non-trainable params: 24" in text      # frozen Dense (16) + BN moving stats (8)
    assert "Total params: 42" in text
    assert sum(w.size for w in model.trainable_weights) == 18
    assert sum(w.size for w in model.non_trainable_weights) == 24
    assert len(model.weights) == len(model.get_weights()) == 8
    model.weights[0][...] = 0.0   # live views: writing changes the model
    assert not model.get_weights()[0].any()


def test_freezing_survives_save_and_load(tmp_path):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.get_layer("hidden").trainable = False
    model.fit(X, Y, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "m.nnlite")
    again = nnlite.load_model(tmp_path / "m.nnlite")
    assert [l.trainable for l in again.layers] == [False, True, True]
    before = again.get_layer("hidden").get_weights()
    again.fit(X, Y, epochs=1, verbose=0, seed=1)
    np.testing.assert_array_equal(again.get_layer("hidden").get_weights()[0], before[0])


def test_gradients_leave_out_frozen_layers():
    model = _mlp(dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.get_layer("middle").trainable = False
    assert sorted(model.gradients(X, Y)) == ["head/bias", "head/kernel", "hidden/bias",
                                             "hidden/kernel"]


def test_frozen_batch_norm_runs_in_inference_mode():
    model = nnlite.Sequential([Dense(4, input_dim=5), BatchNormalization(), Dense(2)], seed=0,
                              dtype="float64")
    model.compile("sgd", "mse")
    bn = model.layers[1]
    model.fit(X, RNG.standard_normal((64, 2)), epochs=1, verbose=0, seed=0)
    bn.trainable = False
    stats = [a.copy() for a in bn.state.values()]
    out = model(X[:7], training=True)
    np.testing.assert_allclose(out, model.predict(X[:7]), rtol=1e-12)
    model.fit(X, RNG.standard_normal((64, 2)), epochs=1, verbose=0, seed=0)
    for a, b in zip(bn.state.values(), stats):
        np.testing.assert_array_equal(a, b)
    # its input gradient is that of the inference form, checked by finite differences
    assert nnlite.gradcheck.check_model(model, X[:6], RNG.standard_normal((6, 2))).ok


def test_freezing_a_container_freezes_its_layers():
    block = Residual([Dense(5, activation="tanh"), Dense(5)])
    model = nnlite.Sequential([Dense(5, input_dim=5), block, Dense(2)], seed=0)
    model.compile("sgd", "mse")
    block.trainable = False
    assert all(not l.trainable for l in block.sublayers)
    weights = block.get_weights() if block.params else [w.copy() for w in block.params.values()]
    model.fit(X, RNG.standard_normal((64, 2)), epochs=1, verbose=0)
    for a, b in zip(block.params.values(), weights):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- Keras's API
def test_compile_takes_keras_positional_order_and_explains_the_old_one():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    assert isinstance(model.optimizer, optimizers.Adam)
    assert list(model.evaluate(X, Y, verbose=0)) == list(model.evaluate(X, Y))
    with pytest.raises(ConfigError, match=r"the optimizer argument got the loss "
                                          r"'sparse_categorical_crossentropy' and the loss "
                                          r"argument the optimizer 'adam'; nnlite follows "
                                          r"Keras's order compile\(optimizer, loss"):
        model.compile("sparse_categorical_crossentropy", "adam")
    with pytest.raises(ConfigError, match="compile: loss is required"):
        model.compile("adam")


def test_evaluate_and_predict_take_verbose(capsys):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(X, Y, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(X, Y, verbose=1)
    assert capsys.readouterr().out.startswith(f"loss: {loss:.4f} - accuracy: {acc:.4f}")
    np.testing.assert_array_equal(model.predict(X, verbose=0), model.predict(X))
    with pytest.raises(ConfigError, match="predict: verbose must be 0, 1, 2 or 'auto', got 3"):
        model.predict(X, verbose=3)


def test_calling_a_model_on_arrays_runs_inference():
    model = nnlite.Sequential([Dense(8, input_dim=5), Dropout(0.5), Dense(2)], seed=0)
    np.testing.assert_array_equal(model(X), model.predict(X))
    assert not np.array_equal(model(X, training=True), model.predict(X))  # dropout active
    with pytest.raises(GraphError, match="does not nest models"):
        model(nnlite.Input(shape=(5,)))


def test_get_layer_pop_and_layer_weights():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    assert model.get_layer("middle") is model.layers[1] is model.get_layer(index=1)
    assert model.get_layer(index=-1).name == "head"
    with pytest.raises(ConfigError, match=r"has no layer 'nope'; its layers: \['hidden', "):
        model.get_layer("nope")
    kept = [w.copy() for w in model.get_weights()[:4]]
    head = model.pop()
    assert head.name == "head" and len(model.layers) == 2
    model.add(Dense(3, activation="softmax", name="new_head"))
    model.fit(X, Y % 3, epochs=1, verbose=0)  # the popped model trains with its new head
    assert model.predict(X).shape == (64, 3)
    layer = model.get_layer("hidden")
    layer.set_weights(kept[:2])
    np.testing.assert_array_equal(layer.get_weights()[0], kept[0])
    with pytest.raises(ShapeError, match=r"layer 'hidden': set_weights: expected 2 arrays "
                                         r"\(kernel, bias\), got 1"):
        layer.set_weights(kept[:1])


def test_pop_keeps_the_remaining_weights():
    model = _mlp()
    model.build()
    weights = model.get_weights()
    model.pop()
    for a, b in zip(model.get_weights(), weights[:4]):
        np.testing.assert_array_equal(a, b)


def test_to_json_and_model_from_json():
    model = _mlp()
    model.layers[0].trainable = False
    text = model.to_json(indent=1)
    again = nnlite.models.model_from_json(text, seed=0)
    assert json.loads(again.to_json()) == json.loads(text)
    assert not again.layers[0].trainable
    inputs = nnlite.Input(shape=(5,))
    graph = nnlite.Model(inputs, Dense(2)(Dense(4, activation="relu")(inputs)), seed=0)
    assert nnlite.models.model_from_json(graph.to_json()).get_config() == graph.get_config()
    with pytest.raises(nnlite.errors.FormatError, match="not a JSON model config"):
        nnlite.models.model_from_json("{oops")


def test_utils_to_categorical_and_keras_import_paths():
    np.testing.assert_array_equal(nnlite.utils.to_categorical([[2], [0]], num_classes=3),
                                  [[0, 0, 1], [1, 0, 0]])
    assert nnlite.utils.to_categorical([1]).dtype == np.float32
    from nnlite.layers import Input
    assert Input is nnlite.Input
    # a bare `import nnlite` reaches the submodules the README writes out (PEP 562)
    code = ("import nnlite, sys; assert 'nnlite.export' not in sys.modules; "
            "print(nnlite.export.to_torch.__name__, nnlite.plotting.plot_history.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["to_torch", "plot_history"], result.stderr


@pytest.mark.parametrize("loss,metric,y", [
    ("binary_crossentropy", "binary_accuracy", Y),
    ("categorical_crossentropy", "categorical_accuracy", np.eye(2)[Y]),
    ("sparse_categorical_crossentropy", "sparse_categorical_accuracy", Y),
])
def test_keras_accuracy_names(loss, metric, y):
    head = Dense(1 if loss.startswith("binary") else 2,
                 activation="sigmoid" if loss.startswith("binary") else "softmax")
    model = nnlite.Sequential([Dense(8, activation="relu", input_dim=5), head], seed=0)
    model.compile("adam", loss, metrics=[metric, "accuracy"])
    history = model.fit(X, y, epochs=2, verbose=0, seed=0)
    assert history.history[metric] == history.history["accuracy"]


def test_keras_accuracy_name_that_contradicts_the_loss_is_refused():
    model = _mlp()
    with pytest.raises(ConfigError, match="'categorical_accuracy' compares predictions with "
                                          "one-hot targets, but the loss's targets are integer"):
        model.compile("adam", "sparse_categorical_crossentropy",
                      metrics=["categorical_accuracy"])


def test_multi_output_history_has_each_outputs_loss():
    inputs = nnlite.Input(shape=(5,))
    h = Dense(8, activation="relu")(inputs)
    out1 = Dense(1, name="out1")(h)
    out2 = Dense(2, activation="softmax", name="out2")(h)
    model = nnlite.Model(inputs, [out1, out2], seed=0)
    model.compile("adam", ["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 2.0])
    y1 = X[:, :1]
    history = model.fit(X, [y1, Y], epochs=2, batch_size=64, verbose=0,
                        validation_data=(X, [y1, Y]))
    h = history.history
    for prefix in ("", "val_"):
        np.testing.assert_allclose(h[f"{prefix}loss"], 0.5 * np.array(h[f"{prefix}out1_loss"])
                                   + 2.0 * np.array(h[f"{prefix}out2_loss"]), rtol=1e-6)
    logs = model.evaluate(X, [y1, Y], return_dict=True)
    assert list(logs)[:3] == ["loss", "out1_loss", "out2_loss"]


# ---------------------------------------------------------------- one seed
def _graph_model():
    inputs = nnlite.Input(shape=(5,))
    return nnlite.Model(inputs, Dense(2, activation="softmax")(Dense(8, activation="relu")(
        inputs)))


@pytest.mark.parametrize("make", [
    lambda: nnlite.Sequential([Dense(8, activation="relu"), Dense(2, activation="softmax")]),
    lambda: nnlite.Sequential([Dense(8, activation="relu", input_dim=5),
                               Dense(2, activation="softmax")]),
    _graph_model,
], ids=["sequential_unbuilt", "sequential_with_shape", "graph"])
def test_two_unseeded_models_trained_with_one_fit_seed_are_bit_identical(make):
    runs = []
    for _ in range(2):
        model = make()
        model.compile("adam", "sparse_categorical_crossentropy")
        history = model.fit(X, Y, epochs=2, batch_size=16, verbose=0, seed=0)
        runs.append((model.get_weights(), history.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]


# ---------------------------------------------------------------- more habits
def test_check_model_checks_a_float64_copy_of_a_float32_model():
    model = _mlp()  # float32
    model.compile("adam", "sparse_categorical_crossentropy")
    weights = model.get_weights()
    report = nnlite.gradcheck.check_model(model, X[:8], Y[:8])
    assert report.ok, str(report)
    assert "float64 copy" in report.note and "float64 copy" in str(report)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_residual_takes_a_sequential_block_and_keeps_its_weights():
    block = nnlite.Sequential([Dense(5, activation="tanh", input_dim=5), Dense(5)], seed=3,
                              dtype="float64")
    block.build()
    weights = block.get_weights()
    model = nnlite.Sequential([Residual(block, input_shape=(5,)), Dense(2)], seed=0,
                              dtype="float64")
    model.build()
    inner = model.layers[0]
    np.testing.assert_array_equal(inner.sublayers[0].params["kernel"], weights[0])
    h = np.tanh(X @ weights[0] + weights[1]) @ weights[2] + weights[3] + X
    np.testing.assert_allclose(model.predict(X), h @ model.layers[1].params["kernel"]
                               + model.layers[1].params["bias"], rtol=1e-12)
    with pytest.raises(ConfigError, match="is a functional Model; nnlite does not nest graphs"):
        Residual(_graph_model())


def test_plot_graph_with_values_right_after_fit():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    model = _graph_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0, seed=0)
    fig = nnlite.plotting.plot_graph(model, values=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("‖v‖") for t in texts)
    plt.close(fig)


def test_channels_last_images_get_a_channels_first_hint():
    with pytest.raises(ShapeError, match=r"\(28, 28, 1\) looks channels-last, but nnlite images "
                                         r"are channels-first .* did you mean "
                                         r"input_shape=\(1, 28, 28\)"):
        nnlite.Sequential([Conv2D(4, 3, input_shape=(28, 28, 1))]).build()
    model = nnlite.Sequential([Conv2D(4, 3, input_shape=(1, 28, 28))], seed=0)
    with pytest.raises(ShapeError, match="look channels-last .* x.transpose"):
        model.predict(np.zeros((2, 28, 28, 1)))


def test_one_hot_targets_to_a_sparse_model_suggest_categorical():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match="use loss='categorical_crossentropy'"):
        model.fit(X, np.eye(2)[Y], verbose=0)


def test_depth_cli_writes_to_its_own_folder_and_reads_plainly(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "nnlite", "--help"], capture_output=True,
                               text=True, timeout=60).stdout
    assert "``" not in help_text and "nnlite-depth" in help_text
    depth_help = " ".join(subprocess.run([sys.executable, "-m", "nnlite", "depth", "--help"],
                                         capture_output=True, text=True, timeout=60).stdout.split())
    assert "default: ./nnlite-depth" in depth_help and "benchmarks/results" not in depth_help
    result = subprocess.run([sys.executable, "-m", "nnlite", "depth", "--quick", "--quiet",
                             "--depths", "1", "--activations", "relu", "--epochs", "1",
                             "--n-train", "200"], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    assert "1 network in" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["nnlite-depth"]
    assert "depth_quick_results.json" in os.listdir(tmp_path / "nnlite-depth")
    demo = subprocess.run([sys.executable, "-m", "nnlite", "--epochs", "1", "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "after 1 epoch in" in demo.stdout


# ---------------------------------------------------------------- issue 12 §4
def test_class_weight_on_multi_label_targets_is_refused_clearly():
    model = nnlite.Sequential([Dense(3, activation="sigmoid", input_dim=5)], seed=0)
    model.compile("sgd", "binary_crossentropy")
    y = (X[:, :3] > 0).astype(int)
    weights = model.get_weights()
    for call in (lambda: model.fit(X, y, class_weight={0: 1.0, 1: 2.0}, verbose=0),
                 lambda: model.train_on_batch(X, y, class_weight={0: 1.0, 1: 2.0})):
        with pytest.raises(ConfigError, match=r"class_weight needs one label per example, but "
                                              r"the targets have shape \(64, 3\)"):
            call()
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_class_weight_of_one_hot_rows_uses_the_argmax():
    def trained(**kw):
        model = _mlp(dtype="float64")
        model.compile("sgd", "categorical_crossentropy")
        model.train_on_batch(X, np.eye(2)[Y], **kw)
        return model.get_weights()
    by_class = trained(class_weight={0: 1.0, 1: 3.0})
    by_sample = trained(sample_weight=np.where(Y == 1, 3.0, 1.0))
    for a, b in zip(by_class, by_sample):
        np.testing.assert_array_equal(a, b)


def test_gradients_include_the_regularizers_as_training_does():
    reg = nnlite.regularizers.L2(0.3)
    model = nnlite.Sequential([Dense(4, activation="tanh", input_dim=5, kernel_regularizer=reg),
                               Dense(2, activation="softmax")], seed=0, dtype="float64")
    model.compile(optimizers.SGD(learning_rate=1.0), "sparse_categorical_crossentropy")
    grads = model.gradients(X, Y)
    before = model.get_weights()
    model.train_on_batch(X, Y)   # one plain SGD step with η = 1: w - g
    np.testing.assert_allclose(before[0] - model.get_weights()[0], grads["dense/kernel"],
                               rtol=1e-12)
    assert nnlite.gradcheck.check_model(model, X[:8], Y[:8]).ok


def test_check_model_exercises_the_regularizer_gradient():
    class Broken(nnlite.regularizers.L2):
        def add_gradient(self, w, grad):  # forgets the factor 2 of ∂(l2 Σ w²)/∂w
            grad += self.l2 * w
    model = nnlite.Sequential([Dense(3, activation="tanh", input_dim=5,
                                     kernel_regularizer=Broken(0.5))], seed=0, dtype="float64")
    model.compile("sgd", "mse")
    report = nnlite.gradcheck.check_model(model, X[:6], RNG.standard_normal((6, 3)))
    assert not report.ok and report.errors["dense/kernel"] > 1e-3


def test_from_logits_on_a_fused_head_warns():
    model = _mlp()
    with pytest.warns(UserWarning, match=r"from_logits=True\): the model's last layer 'head' "
                                         r"applies softmax"):
        model.compile("adam", nnlite.losses.SparseCategoricalCrossEntropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile("adam", "sparse_categorical_crossentropy")


def test_conventions_leaky_relu_and_normal_initializers():
    assert nnlite.layers.LeakyReLU().alpha == 0.01                   # PyTorch's (Keras 3: 0.3)
    assert nnlite.layers.LeakyReLU(negative_slope=0.3).alpha == 0.3  # Keras 3's keyword
    init = nnlite.initializers.get("he_normal")
    w = init((400, 250), 400, 250, np.random.default_rng(0), np.float64)
    std = np.sqrt(2.0 / 400)
    assert w.std() == pytest.approx(std, rel=0.01)
    assert np.abs(w).max() > 3 * std   # a plain normal (PyTorch); Keras truncates at 2σ
