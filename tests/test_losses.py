"""Every loss: float64 finite-difference gradients, values against independent NumPy formulas,
stability at extreme logits, clear label errors, fusion with the head, PyTorch parity."""
import numpy as np
import pytest

from nnlite import losses
from nnlite.errors import LabelError, ShapeError, UnknownNameError
from nnlite.gradcheck import check_loss

rng = np.random.default_rng(7)
N, K = 6, 4
SCORES = rng.standard_normal((N, 1))
PROBS = 1 / (1 + np.exp(-SCORES))
LOGITS = rng.standard_normal((N, K))
SOFT = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
PM1 = np.array([1, -1, -1, 1, 1, -1])
BIN = (PM1 > 0).astype(float)
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONEHOT = np.eye(K)[LABELS]
TARGET = rng.standard_normal((N, K))

# (id, factory, y_pred, y_true, reference value with reduction="sum")
CASES = [
    ("logistic", losses.LogisticLoss, SCORES, PM1,
     np.sum(np.log(1 + np.exp(-PM1[:, None] * SCORES)))),
    ("bce_probs", losses.BinaryCrossEntropy, PROBS, BIN,
     -np.sum(BIN[:, None] * np.log(PROBS) + (1 - BIN[:, None]) * np.log(1 - PROBS))),
    ("bce_logits", lambda **kw: losses.BinaryCrossEntropy(from_logits=True, **kw), SCORES, BIN,
     -np.sum(BIN[:, None] * np.log(PROBS) + (1 - BIN[:, None]) * np.log(1 - PROBS))),
    ("cce_probs", losses.CategoricalCrossEntropy, SOFT, ONEHOT, -np.sum(ONEHOT * np.log(SOFT))),
    ("cce_logits", lambda **kw: losses.CategoricalCrossEntropy(from_logits=True, **kw), LOGITS,
     ONEHOT, -np.sum(ONEHOT * np.log(SOFT))),
    ("sparse_probs", losses.SparseCategoricalCrossEntropy, SOFT, LABELS,
     -np.sum(np.log(SOFT[np.arange(N), LABELS]))),
    ("sparse_logits", lambda **kw: losses.SparseCategoricalCrossEntropy(from_logits=True, **kw),
     LOGITS, LABELS, -np.sum(np.log(SOFT[np.arange(N), LABELS]))),
    ("mse", losses.MeanSquaredError, LOGITS, TARGET, np.sum((LOGITS - TARGET) ** 2)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(case, reduction):
    _, factory, y_pred, y_true, _ = case
    report = check_loss(factory(reduction=reduction), y_pred, y_true)
    assert report.ok, str(report)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_matches_reference(case):
    _, factory, y_pred, y_true, reference = case
    assert factory(reduction="sum").forward(y_pred, y_true) == pytest.approx(reference, rel=1e-12)
    divisor = y_pred.size if case[0] == "mse" else N
    assert factory().forward(y_pred, y_true) == pytest.approx(reference / divisor, rel=1e-12)


def test_logistic_gradient_has_the_correct_sign():
    # The slide's gradient lost its minus sign: dL/ds = -y σ(-y s); with y = +1 and s = 0 the
    # loss decreases as s grows, so the gradient is negative.
    loss = losses.LogisticLoss(reduction="sum")
    loss.forward(np.array([[0.0], [0.0]]), np.array([1, -1]))
    np.testing.assert_allclose(loss.backward(), [[-0.5], [0.5]])


def test_logistic_equals_cross_entropy_on_sigmoid():
    # The lecture: cross-entropy with f = σ(s) equals Σ log(1 + exp(-y s)).
    assert losses.LogisticLoss().forward(SCORES, PM1) == pytest.approx(
        losses.BinaryCrossEntropy().forward(PROBS, BIN), rel=1e-12)


@pytest.mark.parametrize("bad", [[0, 1, 1, 0, 1, 0], [2, -1, 1, 1, -1, 1]])
def test_logistic_rejects_labels_outside_pm1(bad):
    with pytest.raises(LabelError, match=r"expects labels in \{-1, \+1\}.*use BinaryCrossEntropy"):
        losses.LogisticLoss().forward(SCORES, np.array(bad))


def test_sparse_rejects_labels_out_of_range():
    with pytest.raises(LabelError, match=r"labels must be in 0..3 for 4 outputs, got values in "
                                         r"\[0, 4\]"):
        losses.SparseCategoricalCrossEntropy().forward(LOGITS, np.array([0, 1, 2, 3, 4, 0]))


def test_cce_rejects_integer_labels_with_hint():
    with pytest.raises(ShapeError, match="SparseCategoricalCrossEntropy"):
        losses.CategoricalCrossEntropy().forward(LOGITS, LABELS)


def test_targets_that_would_broadcast_are_rejected():
    with pytest.raises(ShapeError, match=r"targets of shape \(3,\) do not match predictions of "
                                         r"shape \(6, 1\)"):
        losses.MeanSquaredError().forward(SCORES, np.zeros(3))
    # (n,) against (n, 1) is aligned, not broadcast to (n, n)
    value = losses.MeanSquaredError(reduction="sum").forward(SCORES, np.zeros(N))
    assert value == pytest.approx(np.sum(SCORES ** 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("magnitude", [1e4, 709.0, 88.7, 37.0])
def test_extreme_logits_are_finite(dtype, magnitude):
    s = np.array([[magnitude], [-magnitude], [magnitude], [-magnitude]], dtype=dtype)
    z = np.array([[magnitude, -magnitude, 0.0]] * 4, dtype=dtype)
    pairs = [
        (losses.LogisticLoss(), s, np.array([1, 1, -1, -1])),
        (losses.BinaryCrossEntropy(from_logits=True), s, np.array([1, 1, 0, 0])),
        (losses.CategoricalCrossEntropy(from_logits=True), z, np.eye(3)[[0, 1, 2, 0]]),
        (losses.SparseCategoricalCrossEntropy(from_logits=True), z, np.array([0, 1, 2, 0])),
    ]
    for loss, y_pred, y_true in pairs:
        value = loss.forward(y_pred, y_true)
        grad = loss.backward()
        assert np.isfinite(value) and np.isfinite(grad).all(), type(loss).__name__
        # the wrongly classified examples cost about the magnitude of the logit
        assert value > 0


def test_logistic_loss_at_1e4_equals_margin():
    loss = losses.LogisticLoss(reduction="sum")
    assert loss.forward(np.array([[1e4]]), np.array([-1])) == pytest.approx(1e4)
    np.testing.assert_allclose(loss.backward(), [[1.0]])
    assert loss.forward(np.array([[1e4]]), np.array([1])) == 0.0


def test_probabilities_of_exactly_zero_and_one_are_finite():
    value = losses.BinaryCrossEntropy().forward(np.array([[0.0], [1.0]]), np.array([1, 0]))
    assert np.isfinite(value)
    value = losses.CategoricalCrossEntropy().forward(np.array([[1.0, 0.0]]), np.array([[0, 1]]))
    assert np.isfinite(value)


def test_get_by_name_and_unknown_name():
    assert isinstance(losses.get("logistic"), losses.LogisticLoss)
    assert isinstance(losses.get("sparse_categorical_crossentropy"),
                      losses.SparseCategoricalCrossEntropy)
    instance = losses.MeanSquaredError()
    assert losses.get(instance) is instance
    with pytest.raises(UnknownNameError,
                       match="unknown loss 'hinge_squared'; valid names: .*logistic"):
        losses.get("hinge_squared")


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'avg'"):
        losses.LogisticLoss(reduction="avg")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pytorch_parity(case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    name, factory, y_pred, y_true, _ = case
    loss = factory()
    value = loss.forward(y_pred, y_true)
    grad = loss.backward()
    t = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    if name == "logistic":
        ref = F.softplus(-torch.tensor(PM1[:, None], dtype=torch.float64) * t,
                         threshold=1e4).mean()
    elif name.startswith("bce"):
        target = torch.tensor(BIN[:, None])
        ref = (F.binary_cross_entropy_with_logits(t, target) if name.endswith("logits")
               else F.binary_cross_entropy(t, target))
    elif name.startswith("cce"):
        target = torch.tensor(ONEHOT)
        logp = torch.log_softmax(t, -1) if name.endswith("logits") else torch.log(t)
        ref = -(target * logp).sum(-1).mean()
    elif name.startswith("sparse"):
        logp = torch.log_softmax(t, -1) if name.endswith("logits") else torch.log(t)
        ref = F.nll_loss(logp, torch.tensor(LABELS))
    else:
        ref = F.mse_loss(t, torch.tensor(TARGET))
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-10)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("cls", [losses.BinaryCrossEntropy, losses.CategoricalCrossEntropy,
                                 losses.SparseCategoricalCrossEntropy])
def test_from_logits_must_be_a_bool(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: from_logits must be True or False, "
                                         "got 'yes'"):
        cls(from_logits="yes")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_from_logits_fast_path_keeps_confident_gradients(dtype):
    # the label is the arg-max by 40 nats: p_y - 1 = -2e^-40 / (1 + 2e^-40), which 1/(1+r) - 1
    # would round to 0; the other rows compare with the dense one-hot formula
    s = np.array([[40.0, 0.0, 0.0], [0.0, 3.0, -2.0], [1.0, 1.0, 1.0]], dtype=dtype)
    y = np.array([0, 0, 2])
    loss = losses.SparseCategoricalCrossEntropy(from_logits=True, reduction="sum")
    value = loss(s, y)
    grad = loss.backward()
    s64 = s.astype(np.float64)
    p = np.exp(s64 - s64.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = p - np.eye(3)[y]
    want[0, 0] = -2 * np.exp(-40.0) / (1 + 2 * np.exp(-40.0))
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, want, rtol=1e-6 if dtype == np.float32 else 1e-12,
                               atol=0)
    assert value == pytest.approx(float(-np.log(p[np.arange(3), y]).sum()), rel=1e-6)


def test_sparse_from_logits_on_sequences_equals_the_rows():
    s = rng.standard_normal((3, 5, K))
    y = rng.integers(0, K, (3, 5))
    seq = losses.SparseCategoricalCrossEntropy(from_logits=True)
    flat = losses.SparseCategoricalCrossEntropy(from_logits=True)
    assert seq(s, y) == pytest.approx(flat(s.reshape(-1, K), y.reshape(-1)), rel=1e-14)
    np.testing.assert_allclose(seq.backward().reshape(-1, K), flat.backward(), rtol=1e-14)
