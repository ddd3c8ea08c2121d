"""Bad-input catalogue: every public entry point, every kind of bad input.

Each case asserts three things:

1. the documented exception type from ``nnlite.errors`` (exactly that class, which subclasses
   ValueError/TypeError);
2. a message naming the argument or layer, what was expected and what was given (each case lists
   the fragments that must appear);
3. nothing changed: a sha256 over weights, layer states, optimizer state, every RNG state and the
   history is identical before and after (``helpers.fingerprint``).

Inputs that are unusual but valid (Python lists, non-contiguous, Fortran-ordered and read-only
arrays, integer and bool dtypes) must simply work and give the same numbers as a clean array.
"""
from __future__ import annotations

import numpy as np
import pytest

import nnlite
from nnlite import errors, losses, optimizers
from nnlite.layers import ELU, Conv2D, Dense, Dropout, LeakyReLU

from .helpers import blobs, fingerprint

N, F, C = 12, 4, 3


KINDS = ["sequential", "graph"]


def trained(loss="sparse_categorical_crossentropy", classes=C, activation="softmax",
            kind="sequential"):
    """A model that has weights, optimizer state, history and a used RNG; ``kind`` "graph" is
    the same network built with the functional API (``nnlite.Input`` / ``nnlite.Model``)."""
    if kind == "graph":
        inputs = nnlite.Input(shape=(F,))
        hidden = Dropout(0.2)(Dense(8, activation="relu")(inputs))
        model = nnlite.Model(inputs, Dense(classes, activation=activation)(hidden), seed=3)
    else:
        model = nnlite.Sequential([Dense(8, activation="relu", input_dim=F), Dropout(0.2),
                                   Dense(classes, activation=activation)], seed=3)
    model.compile(loss=loss, optimizer="adam", metrics=[] if loss == "mse" else ["accuracy"])
    x, y = blobs(N, F, C, seed=1)
    if loss == "mse":
        y = np.random.default_rng(0).normal(size=(N, classes))
    elif loss == "logistic":
        y = np.where(y > 0, 1, -1)
    elif loss == "binary_crossentropy":
        y = (y > 0).astype(float)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return model, x, y


TALLY = {"failing_calls": 0, "state_unchanged": 0, "valid_variants": 0}


@pytest.fixture(scope="module", autouse=True)
def _record_tally(record):
    yield
    record.add("bad_input", **TALLY)
    for key in TALLY:
        TALLY[key] = 0


def _check_raises(call, exc_type, fragments):
    with pytest.raises(errors.NnliteError) as info:
        call()
    assert type(info.value) is exc_type, f"expected {exc_type.__name__}, got {info.value!r}"
    message = str(info.value)
    missing = [f for f in fragments if f.lower() not in message.lower()]
    assert not missing, f"message {message!r} lacks {missing}"
    TALLY["failing_calls"] += 1
    return message


def check_fails(model, call, exc_type, *fragments):
    """``call()`` raises exactly ``exc_type`` with every fragment in its message, and the model's
    fingerprint is unchanged."""
    before = fingerprint(model)
    message = _check_raises(call, exc_type, fragments)
    assert fingerprint(model) == before, f"state changed by a failed call: {message}"
    TALLY["state_unchanged"] += 1
    return message


# ------------------------------------------------------------------ the catalogue
def _nan(x):
    x = x.copy()
    x[2, 1] = np.nan
    return x


def _inf(x):
    x = x.copy()
    x[0, 0] = -np.inf
    return x


# (id, make bad x from a good one, exception, message fragments)
X_CASES = [
    ("nan", _nan, errors.InputValueError, ["x", "NaN"]),
    ("inf", _inf, errors.InputValueError, ["x", "inf"]),
    ("wrong_features", lambda x: np.hstack([x, x[:, :1]]), errors.ShapeError,
     ["x", f"(batch, {F})", f"({N}, {F + 1})"]),
    ("too_few_features", lambda x: x[:, :2], errors.ShapeError,
     ["x", f"(batch, {F})", f"({N}, 2)"]),
    ("one_d", lambda x: x[:, 0], errors.ShapeError, ["x", "(batch, features", f"({N},)"]),
    ("three_d", lambda x: x[:, :, None], errors.ShapeError, ["x", f"(batch, {F})",
                                                             f"({N}, {F}, 1)"]),
    ("scalar", lambda x: np.float64(1.0), errors.ShapeError, ["x", "()"]),
    ("empty", lambda x: x[:0], errors.InputValueError, ["x", "empty", f"(0, {F})"]),
    ("object", lambda x: x.astype(object), errors.DTypeError, ["x", "numeric", "object"]),
    ("str", lambda x: x.astype(str), errors.DTypeError, ["x", "numeric", "<U"]),
    ("complex", lambda x: x.astype(complex), errors.DTypeError, ["x", "numeric", "complex"]),
    ("beyond_float32", lambda x: np.where(np.arange(F) == 1, 1e39, x), errors.InputValueError,
     ["x", "1e+39", "float32"]),
    ("ragged_list", lambda x: [list(r) for r in x[:-1]] + [[1.0]], errors.ShapeError,
     ["x", "rectangular", "list"]),
]

ENTRY_X = {
    "fit": lambda m, x, y: m.fit(x, y, epochs=1, batch_size=4, verbose=0),
    "evaluate": lambda m, x, y: m.evaluate(x, y),
    "train_on_batch": lambda m, x, y: m.train_on_batch(x, y),
    "test_on_batch": lambda m, x, y: m.test_on_batch(x, y),
    "predict": lambda m, x, y: m.predict(x),
    "predict_proba": lambda m, x, y: m.predict_proba(x),
    "predict_classes": lambda m, x, y: m.predict_classes(x),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", sorted(ENTRY_X))
@pytest.mark.parametrize("case,make,exc,fragments", X_CASES, ids=[c[0] for c in X_CASES])
def test_bad_x(entry, case, make, exc, fragments, kind):
    model, x, y = trained(kind=kind)
    check_fails(model, lambda: ENTRY_X[entry](model, make(x), y), exc, *fragments)


ENTRY_XY = {k: ENTRY_X[k] for k in ("fit", "evaluate", "train_on_batch", "test_on_batch")}

# (id, loss of the model, make bad y from (x, good y), exception, fragments)
Y_CASES = [
    ("length_mismatch", "sparse_categorical_crossentropy", lambda y: y[:-1], errors.ShapeError,
     ["x", "y", "length", str(N), str(N - 1)]),
    ("sparse_label_too_big", "sparse_categorical_crossentropy",
     lambda y: np.where(np.arange(N) == 3, C, y), errors.LabelError,
     ["SparseCategoricalCrossEntropy", f"0..{C - 1}", str(C)]),
    ("sparse_label_negative", "sparse_categorical_crossentropy",
     lambda y: np.where(np.arange(N) == 3, -1, y), errors.LabelError,
     ["SparseCategoricalCrossEntropy", f"0..{C - 1}", "-1"]),
    ("sparse_label_fraction", "sparse_categorical_crossentropy", lambda y: y + 0.5,
     errors.LabelError, ["SparseCategoricalCrossEntropy", "integer", "0.5"]),
    ("sparse_label_nan", "sparse_categorical_crossentropy",
     lambda y: np.where(np.arange(N) == 3, np.nan, y), errors.LabelError,
     ["SparseCategoricalCrossEntropy", "integer", "nan"]),
    ("sparse_label_str", "sparse_categorical_crossentropy", lambda y: y.astype(str),
     errors.LabelError, ["SparseCategoricalCrossEntropy", "integer", "<U"]),
    ("sparse_one_hot_given", "sparse_categorical_crossentropy", lambda y: np.eye(C)[y],
     errors.ShapeError, ["SparseCategoricalCrossEntropy", f"({N},)", f"({N}, {C})"]),
    ("zero_one_to_logistic", "logistic", lambda y: (y > 0).astype(int), errors.LabelError,
     ["LogisticLoss", "{-1, +1}", "0"]),
    ("bce_label_out_of_range", "binary_crossentropy", lambda y: np.where(y > 0, 1, -1),
     errors.LabelError, ["BinaryCrossEntropy", "[0, 1]", "-1"]),
    ("mse_nan", "mse", lambda y: _nan(y), errors.LabelError, ["MeanSquaredError", "NaN"]),
    ("mse_inf", "mse", lambda y: _inf(y), errors.LabelError, ["MeanSquaredError", "inf"]),
    # (n, 1) targets for (n, C) outputs would broadcast silently to (n, C)
    ("mse_column_broadcast", "mse", lambda y: y[:, :1], errors.ShapeError,
     ["MeanSquaredError", f"({N}, 1)", f"({N}, {C})"]),
    ("mse_flat_broadcast", "mse", lambda y: y[:, 0], errors.ShapeError,
     ["MeanSquaredError", f"({N},)", f"({N}, {C})"]),
    ("mse_transposed", "mse", lambda y: y.T.copy(), errors.ShapeError, ["x", "y", "length"]),
    ("mse_beyond_float32", "mse", lambda y: np.where(np.arange(C) == 0, -1e300, y),
     errors.LabelError, ["MeanSquaredError", "1e+300", "float32"]),
    ("mse_complex", "mse", lambda y: y.astype(complex), errors.LabelError,
     ["MeanSquaredError", "numeric", "complex"]),
    ("mse_object", "mse", lambda y: y.astype(object), errors.LabelError,
     ["MeanSquaredError", "numeric", "object"]),
    ("ragged_list", "sparse_categorical_crossentropy",
     lambda y: [[v] for v in y[:-1]] + [[0, 1]], errors.ShapeError, ["y", "rectangular"]),
    ("cce_labels_given", "categorical_crossentropy", lambda y: y, errors.ShapeError,
     ["CategoricalCrossEntropy", f"({N}, {C})", f"({N},)"]),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", sorted(ENTRY_XY))
@pytest.mark.parametrize("case,loss,make,exc,fragments", Y_CASES, ids=[c[0] for c in Y_CASES])
def test_bad_y(entry, case, loss, make, exc, fragments, kind):
    if loss == "binary_crossentropy" or loss == "logistic":
        model, x, y = trained(loss, classes=1, activation="sigmoid", kind=kind)
    elif loss == "categorical_crossentropy":
        model, x, y = trained("sparse_categorical_crossentropy", kind=kind)
        model.compile(loss=loss, optimizer=model.optimizer)  # same optimizer state
    else:
        model, x, y = trained(loss, kind=kind)
    check_fails(model, lambda: ENTRY_XY[entry](model, x, make(y)), exc, *fragments)


def test_y_column_for_single_output_is_accepted():
    """(n, 1) and (n,) targets for a (n, 1) output are the same targets (no broadcasting)."""
    model, x, y = trained("mse", classes=1, activation="linear")
    y = y.reshape(-1)
    assert model.evaluate(x, y) == model.evaluate(x, y[:, None])


# ------------------------------------------------------------------ fit options
FIT_CASES = [
    ("epochs_negative", dict(epochs=-1), errors.ConfigError, ["epochs", "-1"]),
    ("epochs_float", dict(epochs=1.5), errors.ConfigError, ["epochs", "1.5"]),
    ("batch_size_zero", dict(batch_size=0), errors.ConfigError, ["batch_size", "0"]),
    ("batch_size_str", dict(batch_size="big"), errors.ConfigError, ["batch_size", "big"]),
    ("verbose", dict(verbose=5), errors.ConfigError, ["verbose", "5"]),
    ("seed_negative", dict(seed=-4), errors.ConfigError, ["seed", "-4"]),
    ("initial_epoch", dict(initial_epoch=-1), errors.ConfigError, ["initial_epoch", "-1"]),
    ("validation_data_shape", dict(validation_data=(np.zeros((3, F + 1)), np.zeros(3, int))),
     errors.ShapeError, ["x", f"(batch, {F})", f"(3, {F + 1})"]),
    ("validation_data_nan", dict(validation_data=(np.full((3, F), np.nan), np.zeros(3, int))),
     errors.InputValueError, ["x", "NaN"]),
    ("validation_data_not_pair", dict(validation_data=np.zeros((3, F))), errors.ConfigError,
     ["validation_data", "(x_val, y_val)"]),
    ("validation_split_big", dict(validation_split=1.5), errors.ConfigError,
     ["validation_split", "1.5"]),
    ("sample_weight_nan", dict(sample_weight=np.full(N, np.nan)), errors.InputValueError,
     ["sample_weight", "finite"]),
    ("sample_weight_negative", dict(sample_weight=-np.ones(N)), errors.InputValueError,
     ["sample_weight", "≥ 0"]),
    ("sample_weight_length", dict(sample_weight=np.ones(N - 2)), errors.ShapeError,
     ["sample_weight", f"({N},)", f"({N - 2},)"]),
    ("callbacks_not_callbacks", dict(callbacks=[1]), errors.ConfigError,
     ["callbacks", "Callback", "int"]),
    ("callbacks_single", dict(callbacks=nnlite.callbacks.History()), errors.ConfigError,
     ["callbacks", "list", "History"]),
    ("callbacks_class_not_instance", dict(callbacks=[nnlite.callbacks.History]),
     errors.ConfigError, ["callbacks", "Callback", "type"]),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case,kwargs,exc,fragments", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_bad_fit_arguments(case, kwargs, exc, fragments, kind):
    model, x, y = trained(kind=kind)
    args = dict(epochs=1, batch_size=4, verbose=0)
    args.update(kwargs)
    check_fails(model, lambda: model.fit(x, y, **args), exc, *fragments)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_size", [-1, 0, 2.5, "4", True])
@pytest.mark.parametrize("entry", ["predict", "predict_proba", "predict_classes", "evaluate"])
def test_bad_inference_batch_size(entry, batch_size, kind):
    """A negative batch_size used to return None (predict) or a loss of 0 (evaluate)."""
    model, x, y = trained(kind=kind)
    calls = {"predict": lambda: model.predict(x, batch_size=batch_size),
             "predict_proba": lambda: model.predict_proba(x, batch_size=batch_size),
             "predict_classes": lambda: model.predict_classes(x, batch_size=batch_size),
             "evaluate": lambda: model.evaluate(x, y, batch_size=batch_size)}
    check_fails(model, calls[entry], errors.ConfigError, "batch_size", "positive int",
                repr(batch_size))


def test_compile_with_bad_names_keeps_the_old_setup():
    model, x, y = trained()
    check_fails(model, lambda: model.compile(loss="nope"), errors.UnknownNameError,
                "loss", "nope", "sparse_categorical_crossentropy")
    check_fails(model, lambda: model.compile(loss="mse", optimizer="nope"),
                errors.UnknownNameError, "optimizer", "nope", "adam")
    check_fails(model, lambda: model.compile(loss="mse", metrics=["nope"]),
                errors.UnknownNameError, "metric", "nope", "accuracy")


def test_failed_first_fit_leaves_the_model_unbuilt():
    """The checks run before the model is built: a bad first fit builds nothing and draws no
    random numbers (so a corrected call gives the same weights as a first call)."""
    for kwargs in (dict(callbacks=[1]), dict(batch_size=0), dict(epochs=-1),
                   dict(validation_split=2.0), dict(sample_weight=np.ones(3))):
        model = nnlite.Sequential([Dense(3), Dense(C, activation="softmax")], seed=0)
        model.compile(loss="sparse_categorical_crossentropy")
        x, y = blobs(N, F, C, seed=1)
        check_fails(model, lambda m=model, k=kwargs, a=x, b=y: m.fit(a, b, verbose=0, **k),
                    errors.ConfigError if "sample_weight" not in kwargs else errors.ShapeError)
        assert not model.built


def test_unbuilt_and_uncompiled_models():
    model = nnlite.Sequential([Dense(2), Dense(1)], seed=0)
    check_fails(model, lambda: model.predict(np.zeros((2, 3))), errors.NotBuiltError,
                "predict", "not built", "input_shape")
    model = nnlite.Sequential([Dense(2, input_dim=3)], seed=0)
    check_fails(model, lambda: model.fit(np.zeros((2, 3)), np.zeros(2)),
                errors.NotCompiledError, "fit", "compile")
    check_fails(model, lambda: model.evaluate(np.zeros((2, 3)), np.zeros(2)),
                errors.NotCompiledError, "evaluate", "compile")


def test_set_weights_mismatch_changes_nothing():
    model, x, y = trained()
    weights = model.get_weights()
    bad_shape = [w.copy() for w in weights]
    bad_shape[-1] = np.zeros(bad_shape[-1].size + 1)
    check_fails(model, lambda: model.set_weights(bad_shape), errors.ShapeError,
                "set_weights", str(weights[-1].shape), str(bad_shape[-1].shape))
    bad_value = [w.copy() for w in weights]
    bad_value[-1][0] = np.nan  # the last array: the earlier ones would be copied first if
    check_fails(model, lambda: model.set_weights(bad_value), errors.InputValueError,  # unchecked
                "set_weights", "finite")
    check_fails(model, lambda: model.set_weights(weights[:-1]), errors.ShapeError,
                "set_weights", str(len(weights)), str(len(weights) - 1))


# ------------------------------------------------------------------ hyper-parameters
HYPER_CASES = [
    ("dense_zero_units", lambda: Dense(0), errors.ConfigError, ["Dense", "units", "0"]),
    ("dense_negative_units", lambda: Dense(-3), errors.ConfigError, ["Dense", "units", "-3"]),
    ("dense_float_units", lambda: Dense(2.5), errors.ConfigError, ["Dense", "units", "2.5"]),
    ("dense_bool_units", lambda: Dense(True), errors.ConfigError, ["Dense", "units", "True"]),
    ("dense_unknown_activation", lambda: Dense(3, activation="relux"),
     errors.UnknownNameError, ["activation", "relux", "relu"]),
    ("dense_unknown_initializer", lambda: Dense(3, kernel_initializer="nope"),
     errors.UnknownNameError, ["initializer", "nope", "glorot_uniform"]),
    ("dense_bad_input_shape", lambda: Dense(3, input_shape=(0,)), errors.ConfigError,
     ["input_shape", "(0,)"]),
    ("dropout_rate", lambda: Dropout(1.5), errors.ConfigError, ["Dropout", "rate", "1.5"]),
    ("leaky_alpha", lambda: LeakyReLU(alpha=-1), errors.ConfigError, ["LeakyReLU", "alpha", "-1"]),
    ("elu_alpha", lambda: ELU(alpha=0), errors.ConfigError, ["ELU", "alpha", "0"]),
    ("adam_negative_lr", lambda: optimizers.Adam(learning_rate=-0.1), errors.ConfigError,
     ["Adam", "learning_rate", "-0.1"]),
    ("sgd_zero_lr", lambda: optimizers.SGD(learning_rate=0), errors.ConfigError,
     ["SGD", "learning_rate", "0"]),
    ("sgd_nan_lr", lambda: optimizers.SGD(learning_rate=float("nan")), errors.ConfigError,
     ["SGD", "learning_rate", "nan"]),
    ("sgd_momentum", lambda: optimizers.SGD(momentum=1.0), errors.ConfigError,
     ["SGD", "momentum", "1.0"]),
    ("adam_beta", lambda: optimizers.Adam(beta_1=1.0), errors.ConfigError,
     ["Adam", "beta_1", "1.0"]),
    ("minibatch_size", lambda: optimizers.MiniBatchSGD(batch_size=0), errors.ConfigError,
     ["MiniBatchSGD", "batch_size", "0"]),
    ("unknown_optimizer", lambda: optimizers.get("adamw2"), errors.UnknownNameError,
     ["optimizer", "adamw2", "adam"]),
    ("unknown_loss", lambda: losses.get("hinge2"), errors.UnknownNameError,
     ["loss", "hinge2", "mse"]),
    ("loss_reduction", lambda: losses.MeanSquaredError(reduction="avg"), errors.ConfigError,
     ["MeanSquaredError", "reduction", "avg"]),
    ("model_dtype", lambda: nnlite.Sequential([Dense(1)], dtype="float16"), errors.ConfigError,
     ["dtype", "float16"]),
    ("model_seed", lambda: nnlite.Sequential([Dense(1)], seed=-1), errors.ConfigError,
     ["seed", "-1"]),
    ("sequential_not_a_layer", lambda: nnlite.Sequential(["dense"]), errors.ConfigError,
     ["Sequential", "Layer", "str"]),
]


@pytest.mark.parametrize("case,make,exc,fragments", HYPER_CASES, ids=[c[0] for c in HYPER_CASES])
def test_bad_hyper_parameters(case, make, exc, fragments):
    _check_raises(make, exc, fragments)


def test_layer_build_with_incompatible_shape_is_undone():
    """A Conv2D after a vector output needs a Reshape: the build fails naming the layer, and the
    model stays unbuilt with its RNG untouched (so a corrected build gives the same weights).
    (Dense itself accepts inputs of any rank, mapping the last axis, as Keras.)"""
    model = nnlite.Sequential([Dense(3, input_shape=(4,)), Conv2D(2, 3)], seed=0)
    before = fingerprint(model)
    with pytest.raises(errors.ShapeError, match="Reshape"):
        model.build()
    assert fingerprint(model) == before and not model.built


# ------------------------------------------------------------------ losses called directly
LOSS_CASES = [
    ("pred_nan", lambda: losses.MeanSquaredError().forward(np.array([[np.nan]]), np.array([1.0])),
     errors.InputValueError, ["MeanSquaredError", "y_pred", "NaN"]),
    ("pred_inf", lambda: losses.LogisticLoss().forward(np.array([[np.inf]]), np.array([1])),
     errors.InputValueError, ["LogisticLoss", "y_pred", "inf"]),
    ("pred_str", lambda: losses.MeanSquaredError().forward(np.array([["a"]]), np.array([1.0])),
     errors.DTypeError, ["MeanSquaredError", "y_pred", "<U"]),
    ("pred_complex", lambda: losses.MeanSquaredError().forward(np.array([[1j]]), np.array([1.0])),
     errors.DTypeError, ["MeanSquaredError", "y_pred", "complex"]),
    ("pred_empty", lambda: losses.MeanSquaredError().forward(np.zeros((0, 1)), np.zeros(0)),
     errors.ShapeError, ["MeanSquaredError", "y_pred", "(0, 1)"]),
    ("true_shape", lambda: losses.MeanSquaredError().forward(np.zeros((4, 2)), np.zeros((4, 1))),
     errors.ShapeError, ["MeanSquaredError", "(4, 1)", "(4, 2)"]),
    ("true_transposed", lambda: losses.MeanSquaredError().forward(np.zeros((4, 1)),
                                                                  np.zeros((1, 4))),
     errors.ShapeError, ["MeanSquaredError", "(1, 4)", "(4, 1)"]),
    ("true_nan", lambda: losses.BinaryCrossEntropy().forward(np.full((2, 1), 0.5),
                                                             np.array([0.0, np.nan])),
     errors.LabelError, ["BinaryCrossEntropy", "NaN"]),
    ("logistic_zero_one", lambda: losses.LogisticLoss().forward(np.zeros((2, 1)), np.array([0, 1])),
     errors.LabelError, ["LogisticLoss", "{-1, +1}", "0"]),
    ("sparse_range", lambda: losses.SparseCategoricalCrossEntropy().forward(
        np.full((2, 3), 1 / 3), np.array([0, 3])), errors.LabelError,
     ["SparseCategoricalCrossEntropy", "0..2", "3"]),
]


@pytest.mark.parametrize("case,call,exc,fragments", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_bad_loss_input(case, call, exc, fragments):
    _check_raises(call, exc, fragments)


def test_failed_loss_forward_keeps_the_previous_backward():
    loss = losses.MeanSquaredError()
    loss.forward(np.array([[2.0]]), np.array([1.0]))
    with pytest.raises(errors.ShapeError):
        loss.forward(np.zeros((3, 2)), np.zeros((3, 5)))
    assert loss.backward().tolist() == [[2.0]]


# ------------------------------------------------------------------ unusual but valid
def _variants(x):
    wide = np.repeat(x, 2, axis=1)
    readonly = x.copy()
    readonly.setflags(write=False)
    return {
        "list": x.tolist(),
        "strided": wide[:, ::2],
        "fortran": np.asfortranarray(x),
        "reversed_rows": x[::-1][::-1],
        "readonly": readonly,
        "float32": x.astype(np.float32),  # the model computes in float32: same bits
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "predict_proba",
                                   "train_on_batch", "test_on_batch"])
def test_unusual_but_valid_inputs_work(entry, kind):
    """Lists, strided, Fortran-ordered, read-only and float32 arrays give exactly the numbers of
    the clean contiguous array (each on a fresh, identically seeded model)."""
    model, x, y = trained(kind=kind)
    clean = ENTRY_X[entry](model, np.ascontiguousarray(x), y)
    variants = _variants(x)
    for name, variant in variants.items():
        model, _, _ = trained(kind=kind)
        got = ENTRY_X[entry](model, variant, y.tolist() if name == "list" else y)
        if entry == "fit":
            got, want = got.history["loss"], clean.history["loss"]
        else:
            want = clean
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
        TALLY["valid_variants"] += 1
    assert variants["readonly"].flags.writeable is False
    x_int = np.rint(x).astype(np.int32)
    assert np.isfinite(model.predict(x_int)).all() and np.isfinite(model.predict(x > 0)).all()


def test_readonly_labels_and_weights_work():
    model, x, y = trained()
    x.setflags(write=False)
    y = y.copy()
    y.setflags(write=False)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, sample_weight=np.ones(N))
    assert np.isfinite(history.history["loss"]).all()


# ------------------------------------------------------------------ files
def test_load_model_and_load_weights_bad_calls(tmp_path):
    """Missing files and directories are OSErrors (not format problems); a weights file of
    another architecture is a ShapeError naming the layer, with the model unchanged; a
    weights-only file given to load_model is a FormatError that says what to do."""
    model, x, y = trained()
    with pytest.raises(FileNotFoundError):
        nnlite.load_model(tmp_path / "missing.nnlite")
    with pytest.raises(IsADirectoryError):
        nnlite.load_model(tmp_path)
    other = nnlite.Sequential([Dense(5, activation="relu", input_dim=F), Dropout(0.2),
                               Dense(C, activation="softmax")], seed=0)
    other.build()
    other.save_weights(tmp_path / "other.weights")
    check_fails(model, lambda: model.load_weights(tmp_path / "other.weights"), errors.ShapeError,
                "dense", "(4, 5)", "(4, 8)")
    model.save_weights(tmp_path / "own.weights")
    check_fails(model, lambda: nnlite.load_model(tmp_path / "own.weights"), errors.FormatError,
                "own.weights", "load_weights")
    unbuilt = nnlite.Sequential([Dense(2), Dense(1)], seed=0)
    check_fails(unbuilt, lambda: unbuilt.load_weights(tmp_path / "own.weights"),
                errors.NotBuiltError, "load_weights", "not built")
