"""Bad-input catalogue for the scikit-learn estimators (``nnlite.sklearn``).

The estimators follow scikit-learn's contract, so bad data raises what scikit-learn raises
(``ValueError`` with scikit-learn's messages, ``NotFittedError`` before fit) and bad
hyper-parameters raise at ``fit``.  On top of that contract, as everywhere in nnlite: a failed
call changes nothing — the fitted attributes and the network's full fingerprint (weights,
optimizer state, RNGs, history) are identical afterwards.  Lists, strided and read-only arrays
simply work and give the same numbers.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import NotFittedError

from nnlite.sklearn import NNClassifier, NNRegressor

from .helpers import blobs, fingerprint

N, F = 30, 4
TALLY = {"failing_calls": 0, "state_unchanged": 0}


@pytest.fixture(scope="module", autouse=True)
def _record_tally(record):
    yield
    record.add("sklearn_bad_input", **TALLY)


def state(est) -> str:
    """sha256 over the estimator's parameters, fitted attributes and network fingerprint."""
    h = hashlib.sha256()
    h.update(json.dumps(est.get_params(), sort_keys=True, default=repr).encode())
    for key, value in sorted(vars(est).items()):
        if key == "model_":
            h.update(fingerprint(value).encode())
        elif isinstance(value, np.ndarray):
            h.update(f"{key}{value.dtype}{value.shape}".encode() + value.tobytes())
        else:
            h.update(f"{key}={value!r}".encode())
    return h.hexdigest()


def check_fails(est, call, exc_type, *fragments):
    before = state(est)
    with pytest.raises(exc_type) as info:
        call()
    message = str(info.value)
    missing = [f for f in fragments if f.lower() not in message.lower()]
    assert not missing, f"message {message!r} lacks {missing}"
    TALLY["failing_calls"] += 1
    assert state(est) == before, f"estimator changed by a failed call: {message}"
    TALLY["state_unchanged"] += 1


def fitted(kind="classifier"):
    x, y = blobs(N, F, 3, seed=4)
    if kind == "classifier":
        est = NNClassifier(hidden_layer_sizes=(6,), epochs=2, batch_size=8, random_state=0)
    else:
        est = NNRegressor(hidden_layer_sizes=(6,), epochs=2, batch_size=8, random_state=0)
        y = x @ np.arange(1.0, F + 1)
    return est.fit(x, y), x, y


def _nan(x):
    x = x.copy()
    x[1, 1] = np.nan
    return x


X_CASES = [
    ("nan", _nan, ValueError, ["NaN"]),
    ("inf", lambda x: x * np.where(np.arange(x.shape[1]) == 0, np.inf, 1.0), ValueError,
     ["infinity"]),
    ("wrong_features", lambda x: x[:, :2], ValueError, ["2 features", f"expecting {F}"]),
    ("one_d", lambda x: x[:, 0], ValueError, ["2D array"]),
    ("empty", lambda x: x[:0], ValueError, ["0 sample"]),
    ("str", lambda x: x.astype(str).astype(object) + "a", ValueError, ["string"]),
    ("complex", lambda x: x.astype(complex) + 1j, ValueError, ["complex"]),
]


X_COMBOS = [(kind, method, *case) for kind in ("classifier", "regressor")
            for method in ("predict", "predict_proba", "score", "fit", "partial_fit")
            for case in X_CASES
            if not (kind == "regressor" and method == "predict_proba")  # no such method
            and not (method == "fit" and case[0] == "wrong_features")]  # fit starts over


@pytest.mark.parametrize("kind,method,case,make,exc,fragments", X_COMBOS,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in X_COMBOS])
def test_bad_x(kind, method, case, make, exc, fragments):
    est, x, y = fitted(kind)
    bad = make(x)
    calls = {"predict": lambda: est.predict(bad), "predict_proba": lambda: est.predict_proba(bad),
             "score": lambda: est.score(bad, y), "fit": lambda: est.fit(bad, y),
             "partial_fit": lambda: est.partial_fit(bad, y)}
    if case == "empty" and method in ("score", "fit", "partial_fit"):
        calls[method] = {"score": lambda: est.score(bad, y[:0]),
                         "fit": lambda: est.fit(bad, y[:0]),
                         "partial_fit": lambda: est.partial_fit(bad, y[:0])}[method]
    check_fails(est, calls[method], exc, *fragments)


Y_CASES = [
    ("classifier", "length_mismatch", lambda y: y[:-1], ValueError, [str(N), str(N - 1)]),
    ("classifier", "single_class", lambda y: np.zeros_like(y), ValueError, ["class"]),
    ("classifier", "continuous", lambda y: y + 0.5, ValueError, ["continuous"]),
    ("classifier", "nan", lambda y: np.where(np.arange(N) == 2, np.nan, y), ValueError,
     ["NaN"]),
    ("regressor", "nan", lambda y: np.where(np.arange(N) == 2, np.nan, y), ValueError, ["NaN"]),
    ("regressor", "inf", lambda y: np.where(np.arange(N) == 2, np.inf, y), ValueError,
     ["infinity"]),
    ("regressor", "length_mismatch", lambda y: y[:-1], ValueError, [str(N), str(N - 1)]),
    ("regressor", "str", lambda y: y.astype(str).astype(object) + "a", ValueError, []),
]


@pytest.mark.parametrize("method", ["fit", "partial_fit", "score"])
@pytest.mark.parametrize("kind,case,make,exc,fragments", Y_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in Y_CASES])
def test_bad_y(method, kind, case, make, exc, fragments):
    est, x, y = fitted(kind)
    if method == "score" and case in ("single_class", "continuous"):
        pytest.skip("score compares predictions with any labels")
    if method == "partial_fit" and case == "single_class":
        pytest.skip("one known class in a later batch is valid")
    if method == "score" and kind == "classifier" and case == "nan":
        pytest.skip("scikit-learn's accuracy_score casts NaN to int (FloatingPointError under "
                    "this suite's errstate); not nnlite code")
    call = {"fit": lambda: est.fit(x, make(y)), "partial_fit": lambda: est.partial_fit(x, make(y)),
            "score": lambda: est.score(x, make(y))}[method]
    check_fails(est, call, exc, *fragments)


def test_partial_fit_class_checks():
    est, x, y = fitted()
    check_fails(est, lambda: est.partial_fit(x, np.where(y == 0, 7, y)), ValueError,
                "not in classes_", "7")
    check_fails(est, lambda: est.partial_fit(x, y, classes=[0, 1, 2, 3]), ValueError,
                "classes", "[0, 1, 2, 3]", "[0, 1, 2]")
    fresh = NNClassifier(epochs=1)
    check_fails(fresh, lambda: fresh.partial_fit(x, y), ValueError, "classes", "first call")


HYPER = [
    ("hidden_zero", dict(hidden_layer_sizes=(0,)), ["hidden_layer_sizes", "(0,)"]),
    ("hidden_float", dict(hidden_layer_sizes=(2.5,)), ["hidden_layer_sizes", "2.5"]),
    ("epochs_zero", dict(epochs=0), ["epochs", "0"]),
    ("batch_negative", dict(batch_size=-1), ["batch_size", "-1"]),
    ("alpha_negative", dict(alpha=-1.0), ["alpha", "-1.0"]),
    ("alpha_nan", dict(alpha=float("nan")), ["alpha", "nan"]),
    ("learning_rate_negative", dict(learning_rate=-0.1), ["learning_rate", "-0.1"]),
    ("activation_unknown", dict(activation="relux"), ["activation", "relux", "relu"]),
    ("optimizer_unknown", dict(optimizer="adamw2"), ["optimizer", "adamw2", "adam"]),
    ("random_state_bad", dict(random_state="seed"), ["seed"]),
]


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("case,params,fragments", HYPER, ids=[c[0] for c in HYPER])
def test_bad_hyper_parameters_fail_at_fit_and_keep_the_fitted_state(kind, case, params,
                                                                    fragments):
    est, x, y = fitted(kind)
    est.set_params(**params)
    params_state = state(est)
    check_fails(est, lambda: est.fit(x, y), ValueError, *fragments)
    assert state(est) == params_state


def test_unfitted_estimators():
    x, y = blobs(N, F, 3, seed=4)
    for est in (NNClassifier(), NNRegressor()):
        check_fails(est, lambda e=est: e.predict(x), NotFittedError, "not fitted")


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_unusual_but_valid_inputs_work(kind):
    est, x, y = fitted(kind)
    want = est.predict(x)
    readonly = x.copy()
    readonly.setflags(write=False)
    for name, variant in {"list": x.tolist(), "strided": np.repeat(x, 2, axis=1)[:, ::2],
                          "fortran": np.asfortranarray(x), "readonly": readonly,
                          "float32": x.astype(np.float32).astype(np.float64)}.items():
        if name == "float32":
            continue  # the estimators compute in float64: float32 input has other values
        np.testing.assert_array_equal(est.predict(variant), want, err_msg=name)
    again, _, _ = fitted(kind)
    refit = type(again)(**again.get_params()).fit(x.tolist(), y.tolist())
    np.testing.assert_array_equal(refit.predict(x), want)
