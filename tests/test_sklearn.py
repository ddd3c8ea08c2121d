"""The scikit-learn estimators: scikit-learn's own estimator checks, Pipeline, GridSearchCV,
cross_val_score, partial_fit, predict_proba, pickling."""
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import nnlite
from nnlite.sklearn import NNClassifier, NNRegressor

FAST = dict(hidden_layer_sizes=(16,), epochs=20, learning_rate=0.02, random_state=0)


# Every check scikit-learn runs for a classifier / a multi-output regressor.  None is skipped
# (pandas and array-API checks skip themselves when those libraries are not installed).
@parametrize_with_checks([NNClassifier(**FAST), NNRegressor(**FAST)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _blobs(n=240, classes=3, seed=0):
    x, y = make_blobs(n_samples=n, centers=classes, cluster_std=1.0, random_state=seed)
    return x, y


def test_classifier_learns_and_reports():
    x, y = _blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = NNClassifier(hidden_layer_sizes=(16, 8), epochs=40, random_state=1).fit(x, labels)
    assert clf.classes_.tolist() == ["cat", "dog", "emu"]
    proba = clf.predict_proba(x)
    assert proba.shape == (240, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(x), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(x, labels) > 0.9
    assert len(clf.loss_curve_) == 40 == clf.n_iter_
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 2
    assert clf.n_features_in_ == 2 and isinstance(clf.model_, nnlite.Sequential)


def test_binary_classifier_uses_one_sigmoid_unit():
    x, y = _blobs(classes=2)
    clf = NNClassifier(**FAST).fit(x, y)
    assert clf.model_.layers[-1].units == 1 and clf.model_.layers[-1].activation.name == "sigmoid"
    p1 = clf.model_.predict(x)[:, 0]
    np.testing.assert_allclose(clf.predict_proba(x), np.column_stack([1 - p1, p1]))


def test_partial_fit_continues_training():
    x, y = _blobs()
    a = NNClassifier(**FAST)
    for _ in range(3):
        a.partial_fit(x, y, classes=[0, 1, 2])
    assert a.n_iter_ == 3 and len(a.loss_curve_) == 3
    b = NNClassifier(**{**FAST, "epochs": 3}).fit(x, y)  # the same three epochs
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    with pytest.raises(ValueError, match="classes"):
        NNClassifier().partial_fit(x, y)
    with pytest.raises(ValueError, match="not in classes_"):
        a.partial_fit(x, y + 5)
    r = NNRegressor(**FAST)
    xr, yr = make_regression(n_samples=100, n_features=3, random_state=0)
    r.partial_fit(xr, yr)
    r.partial_fit(xr, yr)
    assert r.n_iter_ == 2 and r.predict(xr).shape == (100,)


def test_regressor_multi_output_and_score():
    x, y = make_regression(n_samples=200, n_features=4, n_targets=2, noise=1.0, random_state=0)
    y = y / y.std(axis=0)
    reg = NNRegressor(hidden_layer_sizes=(32,), epochs=80, random_state=0).fit(x, y)
    assert reg.predict(x).shape == (200, 2)
    assert reg.score(x, y) > 0.95


def test_pipeline_grid_search_and_cross_validation():
    x, y = _blobs(180)
    pipe = make_pipeline(StandardScaler(), NNClassifier(epochs=15, random_state=0))
    grid = GridSearchCV(pipe, {"nnclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "nnclassifier__learning_rate": [0.001, 0.05]}, cv=3)
    grid.fit(x, y)
    assert len(grid.cv_results_["params"]) == 4
    assert set(grid.best_params_) == {"nnclassifier__hidden_layer_sizes",
                                      "nnclassifier__learning_rate"}
    # 15 epochs at lr 0.001 barely move; lr 0.05 learns: the search must prefer it
    assert grid.best_params_["nnclassifier__learning_rate"] == 0.05
    assert grid.best_score_ > 0.85
    xr, yr = make_regression(n_samples=120, n_features=3, noise=0.5, random_state=1)
    reg = make_pipeline(StandardScaler(), NNRegressor(epochs=60, learning_rate=0.05,
                                                      random_state=0))
    scores = cross_val_score(reg, xr, yr / yr.std(), cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_pickle_uses_nnlite_format_and_resumes_identically():
    x, y = _blobs()
    clf = NNClassifier(**FAST).fit(x, y)
    state = clf.__getstate__()
    assert isinstance(state["model_"], bytes) and state["model_"][:2] == b"PK"
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(x), clf.predict_proba(x))
    again.partial_fit(x, y)
    clf.partial_fit(x, y)
    np.testing.assert_array_equal(again.predict_proba(x), clf.predict_proba(x))


def test_bad_parameters_raise_at_fit():
    x, y = _blobs(30)
    for params in ({"hidden_layer_sizes": (0,)}, {"epochs": 0}, {"batch_size": -1},
                   {"alpha": -1.0}, {"activation": "nope"}, {"optimizer": "nope"}):
        with pytest.raises(ValueError):
            NNClassifier(**params).fit(x, y)
