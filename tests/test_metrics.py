"""Metrics accumulated over batches equal scikit-learn's on the whole set."""
import numpy as np
import pytest
from sklearn import metrics as skm

import nnlite
from nnlite.errors import ConfigError, UnknownNameError
from nnlite.layers import Dense
from nnlite.metrics import AUC, F1, R2, MeanAbsoluteError, MeanSquaredError, Precision, Recall, get


def _batches(n, rng):
    cuts = np.sort(rng.choice(np.arange(1, n), size=4, replace=False))
    return np.split(np.arange(n), cuts)


def _accumulate(metric, y_pred, y_true, rng):
    metric.reset()
    for idx in _batches(len(y_true), rng):
        metric.update(y_pred[idx], y_true[idx])
    return metric.result()


@pytest.mark.parametrize("task", ["binary", "pm1"])
def test_binary_metrics_match_sklearn(task):
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 1))
    labels = (scores[:, 0] + rng.standard_normal(200) > 0).astype(int)
    scores[:20] = np.round(scores[:20], 1)  # ties for AUC
    y_true = (labels if task == "binary" else 2 * labels - 1).astype(float).reshape(-1, 1)
    predicted = (scores[:, 0] > 0).astype(int)
    expected = {Precision: skm.precision_score(labels, predicted),
                Recall: skm.recall_score(labels, predicted),
                F1: skm.f1_score(labels, predicted),
                AUC: skm.roc_auc_score(labels, scores[:, 0])}
    for cls, value in expected.items():
        got = _accumulate(cls(task, threshold=0.0), scores, y_true, rng)
        assert got == pytest.approx(value, rel=1e-12), cls.__name__


def test_binary_metrics_edge_cases():
    p = Precision("binary", 0.5)
    p.update(np.array([[0.1], [0.2]]), np.array([[1.0], [0.0]]))
    assert p.result() == 0.0  # nothing predicted positive (sklearn's zero_division=0)
    auc = AUC("binary", 0.5)
    auc.update(np.array([[0.1], [0.2]]), np.array([[1.0], [1.0]]))
    assert np.isnan(auc.result())  # one class only
    with pytest.raises(ConfigError, match="precision"):
        Precision("sparse")


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((150, 2)) * [1.0, 5.0] + [3.0, -100.0]
    pred = y + rng.standard_normal((150, 2))
    assert _accumulate(MeanSquaredError(), pred, y, rng) == pytest.approx(
        skm.mean_squared_error(y, pred), rel=1e-12)
    assert _accumulate(MeanAbsoluteError(), pred, y, rng) == pytest.approx(
        skm.mean_absolute_error(y, pred), rel=1e-12)
    assert _accumulate(R2(), pred, y, rng) == pytest.approx(skm.r2_score(y, pred), rel=1e-10)
    with pytest.raises(ConfigError, match="regression"):
        R2("binary")


def test_metrics_through_a_model():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    y = (x[:, 0] + 0.3 * rng.standard_normal(300) > 0).astype(int)
    model = nnlite.Sequential([Dense(1, activation="sigmoid", input_dim=2)], seed=0,
                              dtype="float64")
    model.compile(nnlite.optimizers.Adam(0.05), "binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "f1", "auc"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    logs = model.evaluate(x, y, batch_size=64, return_dict=True)
    p = model.predict(x)[:, 0]
    pred = (p > 0.5).astype(int)
    assert logs["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert logs["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert logs["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert logs["auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert logs["auc"] > 0.9
    reg = nnlite.Sequential([Dense(1, input_dim=2)], seed=0, dtype="float64")
    reg.compile("adam", "mse", metrics=["mse", "mae", "r2"])
    target = x @ [1.0, 2.0]
    logs = reg.evaluate(x, target, return_dict=True)
    out = reg.predict(x)[:, 0]
    assert logs["mse"] == pytest.approx(logs["loss"], rel=1e-12)
    assert logs["mae"] == pytest.approx(skm.mean_absolute_error(target, out), rel=1e-12)
    assert logs["r2"] == pytest.approx(skm.r2_score(target, out), rel=1e-10)


def test_unknown_metric_lists_names():
    with pytest.raises(UnknownNameError, match="precision"):
        get("precisio", "binary", 0.5)
    assert isinstance(get("f1_score", "binary", 0.5), F1)
