"""The losses Keras users bring (mae, huber, hinge, label smoothing) and the conventions nnlite
shares with Keras and PyTorch: the mean over every term, zero gradient where a probability is
clipped, a backward that can be called twice, and a clear hint for one-hot sparse targets."""
import numpy as np
import pytest

from nnlite import losses
from nnlite.errors import ConfigError, ShapeError
from nnlite.gradcheck import check_loss

RNG = np.random.default_rng(7)
SCORES = RNG.normal(size=(6, 3))
PROBS = 1.0 / (1.0 + np.exp(-SCORES))
BINARY = (RNG.random((6, 3)) > 0.5).astype(float)
PM1 = 2.0 * BINARY - 1.0
LOGITS = RNG.normal(size=(6, 4))
LABELS = np.array([0, 3, 1, 1, 2, 0])
ONEHOT = np.eye(4)[LABELS]
TARGET = RNG.normal(size=(6, 3))

# (id, factory, y_pred, y_true, torch reference as a function of (t, torch, F))
CASES = [
    ("mae", losses.MeanAbsoluteError, SCORES, TARGET,
     lambda t, torch, F: F.l1_loss(t, torch.tensor(TARGET))),
    ("huber", losses.Huber, SCORES * 2, TARGET,
     lambda t, torch, F: F.huber_loss(t, torch.tensor(TARGET), delta=1.0)),
    ("huber_0.3", lambda **k: losses.Huber(delta=0.3, **k), SCORES, TARGET,
     lambda t, torch, F: F.huber_loss(t, torch.tensor(TARGET), delta=0.3)),
    ("hinge", losses.Hinge, SCORES, PM1,
     lambda t, torch, F: torch.clamp(1 - torch.tensor(PM1) * t, min=0).mean()),
    ("bce_multi_label_logits", lambda **k: losses.BinaryCrossEntropy(from_logits=True, **k),
     SCORES, BINARY,
     lambda t, torch, F: F.binary_cross_entropy_with_logits(t, torch.tensor(BINARY))),
    ("bce_multi_label", losses.BinaryCrossEntropy, PROBS, BINARY,
     lambda t, torch, F: F.binary_cross_entropy(t, torch.tensor(BINARY))),
    ("logistic_multi_column", losses.LogisticLoss, SCORES, PM1,
     lambda t, torch, F: F.softplus(-torch.tensor(PM1) * t, threshold=1e4).mean()),
    ("bce_smoothed_logits",
     lambda **k: losses.BinaryCrossEntropy(from_logits=True, label_smoothing=0.2, **k),
     SCORES, BINARY, lambda t, torch, F: F.binary_cross_entropy_with_logits(
         t, torch.tensor(BINARY * 0.8 + 0.1))),
    ("cce_smoothed_logits",
     lambda **k: losses.CategoricalCrossEntropy(from_logits=True, label_smoothing=0.1, **k),
     LOGITS, ONEHOT, lambda t, torch, F: F.cross_entropy(t, torch.tensor(ONEHOT),
                                                         label_smoothing=0.1)),
    ("sparse_smoothed_logits",
     lambda **k: losses.SparseCategoricalCrossEntropy(from_logits=True, label_smoothing=0.1,
                                                      **k),
     LOGITS, LABELS, lambda t, torch, F: F.cross_entropy(t, torch.tensor(LABELS),
                                                         label_smoothing=0.1)),
    ("sparse_smoothed_probs",
     lambda **k: losses.SparseCategoricalCrossEntropy(label_smoothing=0.1, **k),
     np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True), LABELS,
     lambda t, torch, F: -(torch.tensor(ONEHOT * 0.9 + 0.025) * torch.log(t)).sum(-1).mean()),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(case, reduction):
    _, factory, y_pred, y_true, _ = case
    report = check_loss(factory(reduction=reduction), y_pred, y_true)
    assert report.ok, str(report)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    _, factory, y_pred, y_true, reference = case
    loss = factory()
    value = loss.forward(y_pred, y_true)
    grad = loss.backward()
    t = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    ref = reference(t, torch, F)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_mean_counts_every_element_of_a_multi_column_output():
    # Keras and PyTorch divide an (n, k) elementwise loss by n·k, not by n
    total = losses.BinaryCrossEntropy(from_logits=True, reduction="sum").forward(SCORES, BINARY)
    mean = losses.BinaryCrossEntropy(from_logits=True).forward(SCORES, BINARY)
    assert mean == pytest.approx(total / SCORES.size, rel=1e-14)
    total = losses.LogisticLoss(reduction="sum").forward(SCORES, PM1)
    assert losses.LogisticLoss().forward(SCORES, PM1) == pytest.approx(total / 18, rel=1e-14)


def test_categorical_mean_is_over_rows_including_sequence_rows():
    seq_logits = RNG.normal(size=(3, 5, 4))
    seq_labels = RNG.integers(0, 4, size=(3, 5))
    loss = losses.SparseCategoricalCrossEntropy(from_logits=True)
    flat = loss.forward(seq_logits.reshape(15, 4), seq_labels.reshape(15))
    assert loss.forward(seq_logits, seq_labels) == pytest.approx(flat, rel=1e-14)
    assert check_loss(losses.SparseCategoricalCrossEntropy(from_logits=True), seq_logits,
                      seq_labels).ok


@pytest.mark.parametrize("loss,y_pred,y_true", [
    (losses.BinaryCrossEntropy(), np.array([[0.0], [1.0], [1.5], [-0.2]]),
     np.array([1.0, 0.0, 0.0, 1.0])),
    (losses.CategoricalCrossEntropy(), np.array([[0.0, 1.0], [1.0, 0.0]]),
     np.array([[1.0, 0.0], [1.0, 0.0]])),
    (losses.SparseCategoricalCrossEntropy(), np.array([[0.0, 1.0], [1.0, 0.0]]),
     np.array([0, 0])),
])
def test_probability_form_is_flat_where_it_clips(loss, y_pred, y_true):
    # outside [1e-7, 1 - 1e-7] the clipped loss does not change: its gradient is 0 (Keras),
    # not -y / 1e-7 = -1e7
    loss.forward(y_pred, y_true)
    np.testing.assert_array_equal(loss.backward(), np.zeros_like(y_pred))


@pytest.mark.parametrize("loss,y_pred,y_true", [
    (losses.SparseCategoricalCrossEntropy(from_logits=True), LOGITS, LABELS),
    (losses.SparseCategoricalCrossEntropy(from_logits=True, label_smoothing=0.1), LOGITS,
     LABELS),
    (losses.CategoricalCrossEntropy(from_logits=True), LOGITS, ONEHOT),
    (losses.BinaryCrossEntropy(from_logits=True), SCORES, BINARY),
    (losses.MeanSquaredError(), SCORES, TARGET),
])
def test_backward_can_be_called_twice(loss, y_pred, y_true):
    loss.forward(y_pred, y_true)
    first = loss.backward()
    second = loss.backward()
    np.testing.assert_array_equal(first, second)
    assert first is not second


def test_one_hot_targets_to_the_sparse_loss_suggest_categorical():
    with pytest.raises(ShapeError, match="the shape of one-hot targets; for one-hot targets "
                                         "use loss=.categorical_crossentropy."):
        losses.SparseCategoricalCrossEntropy(from_logits=True).forward(LOGITS, ONEHOT)


def test_hinge_maps_zero_one_labels_to_pm1():
    assert losses.Hinge().forward(SCORES, BINARY) == losses.Hinge().forward(SCORES, PM1)


@pytest.mark.parametrize("name,cls", [("mae", losses.MeanAbsoluteError),
                                      ("mean_absolute_error", losses.MeanAbsoluteError),
                                      ("huber", losses.Huber), ("hinge", losses.Hinge),
                                      ("BinaryCrossentropy", losses.BinaryCrossEntropy),
                                      ("SparseCategoricalCrossentropy",
                                       losses.SparseCategoricalCrossEntropy)])
def test_keras_names(name, cls):
    assert type(losses.get(name)) is cls


@pytest.mark.parametrize("make,message", [
    (lambda: losses.Huber(delta=0), "Huber: delta must be a positive number, got 0"),
    (lambda: losses.BinaryCrossEntropy(label_smoothing=1.0),
     r"BinaryCrossEntropy: label_smoothing must be a number in \[0, 1\), got 1.0"),
    (lambda: losses.CategoricalCrossEntropy(label_smoothing="a"),
     "label_smoothing must be a number in"),
])
def test_bad_options(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_config_round_trip():
    for loss in (losses.Huber(delta=0.5), losses.SparseCategoricalCrossEntropy(
            from_logits=True, label_smoothing=0.2), losses.Hinge(reduction="sum")):
        again = losses.from_config(type(loss).__name__, loss.get_config())
        assert again.get_config() == loss.get_config()
