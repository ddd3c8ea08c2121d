"""Masks in models: created by Embedding(mask_zero=True) / Masking, threaded through Sequential
and graph models (forward and backward), honoured by the loss and metrics (the mean over the
real steps, Keras 3's rule, also with sample weights), and free when no layer makes a mask."""
import numpy as np
import pytest

import nnlite
from nnlite import losses
from nnlite.errors import ConfigError
from nnlite.gradcheck import check_model
from nnlite.layers import (
    GRU,
    LSTM,
    Add,
    Bidirectional,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Masking,
    SimpleRNN,
)
from nnlite.models.sequence_head import SequenceLoss, SequenceMetric

VOCAB, STEPS, CLASSES = 12, 7, 5


def _batch(seed=0, n=6):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, STEPS + 1, n)
    lengths[0] = STEPS
    ids = np.zeros((n, STEPS), dtype=np.int64)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(1, VOCAB, length)
    y = rng.integers(0, CLASSES, (n, STEPS))
    return ids, y, lengths


def _tagger(cell=LSTM, mask_zero=True, dtype="float64", seed=0):
    model = nnlite.Sequential([
        Embedding(VOCAB, 6, mask_zero=mask_zero, embeddings_initializer="glorot_uniform",
                  input_shape=(STEPS,)),
        cell(5, return_sequences=True),
        Dense(CLASSES, activation="softmax")], seed=seed, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    model.build()
    return model


def _step_losses(model, ids, y):
    p = model.predict(ids)
    return -np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])


def test_no_mask_no_cost():
    plain = nnlite.Sequential([Dense(4, input_dim=3), Dense(2, activation="softmax")])
    plain.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    plain.build()
    assert plain._masks is False
    assert isinstance(plain._train_loss, losses.Loss)            # the loss object itself
    assert not any(isinstance(m, SequenceMetric) for m in plain._metrics)
    unmasked = _tagger(mask_zero=False)
    assert unmasked._masks is False and isinstance(unmasked._train_loss, SequenceLoss)
    assert _tagger()._masks is True


def test_loss_is_the_mean_over_real_steps():
    ids, y, lengths = _batch()
    model = _tagger()
    mask = ids != 0
    per_step = _step_losses(model, ids, y)
    loss, accuracy = model.evaluate(ids, y)
    assert loss == pytest.approx(per_step[mask].mean(), rel=1e-12)
    correct = np.argmax(model.predict(ids), axis=-1) == y
    assert accuracy == pytest.approx(correct[mask].mean(), rel=1e-15)
    # without the mask the padding would count: a different number
    assert abs(per_step.mean() - loss) > 1e-3


def test_sum_reduction_and_sample_weights_follow_keras():
    ids, y, _ = _batch(1)
    mask = ids != 0
    model = _tagger()
    model.compile(loss=losses.SparseCategoricalCrossEntropy(reduction="sum"), optimizer="sgd")
    per_step = _step_losses(model, ids, y)
    assert model.test_on_batch(ids, y) == pytest.approx(per_step[mask].sum(), rel=1e-12)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    w = np.linspace(0.5, 2.0, len(ids))
    expected = (w[:, None] * per_step)[mask].sum() / mask.sum()   # ÷ real steps, not Σ w m
    assert model.test_on_batch(ids, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_padded_batch_gradients_equal_per_sequence_gradients(cell):
    ids, y, lengths = _batch(2)
    model = _tagger(cell)
    grads = model.gradients(ids, y)
    summed = {k: np.zeros_like(v) for k, v in grads.items()}
    for i, length in enumerate(lengths):
        alone = _tagger(cell)
        alone.set_weights(model.get_weights())
        # the same row with its padding cut off, in a model without masks (T = its length)
        short = nnlite.Sequential([Embedding(VOCAB, 6, input_shape=(int(length),)),
                                   cell(5, return_sequences=True),
                                   Dense(CLASSES, activation="softmax")], dtype="float64")
        short.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        short.build()
        short.set_weights(model.get_weights())
        g = short.gradients(ids[i:i + 1, :length], y[i:i + 1, :length])
        for k in summed:  # the batch loss is Σ_i Σ_t ℓ / Σ L: weight row i by L_i / Σ L
            summed[k] += g[k] * length / lengths.sum()
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-10, atol=1e-13)


def test_check_model_on_a_masked_model():
    ids, y, _ = _batch(3, n=4)
    report = check_model(_tagger(GRU), ids, y, order=4, eps=1e-3)
    assert report.ok, str(report)
    assert "input" not in report.errors                  # token ids are not differentiable


def test_all_masked_batch_has_zero_loss_and_gradient():
    ids, y, _ = _batch(4)
    model = _tagger()
    empty = np.zeros_like(ids)
    assert model.test_on_batch(empty, y) == [0.0, 0.0]             # loss and accuracy
    grads = model.gradients(empty, y)
    assert all(np.isfinite(g).all() and not g.any() for g in grads.values())


def test_masking_layer_padding_changes_no_prediction():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 2))
    x[0, 4:] = 0.0
    x[1, 2:] = 0.0
    model = nnlite.Sequential([Masking(input_shape=(6, 2)), LSTM(4), Dense(1)], seed=0,
                              dtype="float64")
    out = model.predict(x)
    short = nnlite.Sequential([LSTM(4, input_shape=(4, 2)), Dense(1)], dtype="float64")
    short.build()
    short.set_weights(model.get_weights())
    np.testing.assert_allclose(out[0], short.predict(x[:1, :4])[0], rtol=1e-12)


def test_graph_model_threads_masks_through_merges_and_wrappers(tmp_path):
    ids, y, _ = _batch(6)
    inputs = nnlite.Input(shape=(STEPS,))
    emb = Embedding(VOCAB, 6, mask_zero=True, embeddings_initializer="glorot_uniform")(inputs)
    a = Bidirectional(GRU(3, return_sequences=True))(emb)
    b = Dense(6, activation="tanh")(emb)                     # keeps the time axis: mask kept
    merged = Add()([a, b])
    out = Dense(CLASSES, activation="softmax")(merged)
    model = nnlite.Model(inputs, out, seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    assert model._masks
    mask = ids != 0
    loss, _ = model.evaluate(ids, y)
    assert loss == pytest.approx(_step_losses(model, ids, y)[mask].mean(), rel=1e-12)
    np.testing.assert_array_equal(model._output_masks[0], mask)
    report = check_model(model, ids[:3], y[:3], order=4, eps=1e-3)
    assert report.ok, str(report)
    model.fit(ids, y, epochs=2, verbose=0)
    path = tmp_path / "tagger.nnlite"
    model.save(path)
    again = nnlite.load_model(path)
    np.testing.assert_array_equal(again.predict(ids), model.predict(ids))
    assert again.evaluate(ids, y) == model.evaluate(ids, y)


def test_pooling_over_a_masked_sequence_learns_a_task():
    # label: does token 3 occur in the (unpadded part of the) sequence?  Padding is id 0.
    rng = np.random.default_rng(7)
    n = 600
    ids = rng.integers(4, VOCAB, (n, STEPS))
    lengths = rng.integers(2, STEPS + 1, n)
    y = rng.integers(0, 2, n)
    for i in range(n):
        ids[i, lengths[i]:] = 0
        if y[i]:
            ids[i, rng.integers(0, lengths[i])] = 3
    model = nnlite.Sequential([Embedding(VOCAB, 8, mask_zero=True, input_shape=(STEPS,)),
                               GRU(8, return_sequences=True), GlobalAveragePooling1D(),
                               Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(0.02), metrics=["accuracy"])
    model.fit(ids[:500], y[:500], epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(ids[500:], y[500:])
    assert accuracy > 0.9


def test_class_weight_on_sequence_outputs_is_refused():
    ids, y, _ = _batch()
    model = _tagger()
    with pytest.raises(ConfigError, match="time step"):
        model.fit(ids, y, class_weight={c: 1.0 for c in range(CLASSES)}, verbose=0)


def test_sequence_targets_are_checked_against_the_output_shape():
    ids, y, _ = _batch()
    model = _tagger()
    with pytest.raises(nnlite.errors.ShapeError, match=r"labels of shape \(6, 7\)"):
        model.evaluate(ids, y[:, :3])
    with pytest.raises(nnlite.errors.LabelError, match=r"0\.\.4"):
        model.evaluate(ids, y + CLASSES)


def test_default_compute_mask_rule():
    dense = Dense(3)
    dense.build((STEPS, 4), np.random.default_rng(0), np.float64)
    mask = np.ones((2, STEPS), bool)
    assert dense.compute_mask(None, mask) is mask                 # keeps the time axis
    pool = GlobalAveragePooling1D()
    pool.build((STEPS, 4), np.random.default_rng(0), np.float64)
    assert pool.compute_mask(None, mask) is None
    assert LSTM(3).compute_mask(None, mask) is None
    assert LSTM(3, return_sequences=True).compute_mask(None, mask) is mask
    add = Add()
    add.build([(STEPS, 4), (STEPS, 4)], np.random.default_rng(0), np.float64)
    other = mask.copy()
    other[0, 3] = False
    np.testing.assert_array_equal(add.compute_mask([None, None], [mask, other]), other)
    assert add.compute_mask([None, None], [None, None]) is None


def test_masks_reach_attention_layers_and_recurrent_layers_alike():
    # Embedding(mask_zero) → TransformerEncoder (its padding mask) → LSTM (carried state): the
    # padded row gives exactly the result of the row without its padding
    from nnlite.layers import TransformerEncoder

    ids = np.array([[5, 3, 8, 2, 9, 4], [7, 1, 4, 0, 0, 0]])

    def build(steps):
        model = nnlite.Sequential([Embedding(10, 8, mask_zero=True, input_shape=(steps,)),
                                   TransformerEncoder(16, 2), LSTM(4)], seed=0,
                                  dtype="float64")
        model.build()
        return model

    padded = build(6)
    short = build(3)
    short.set_weights(padded.get_weights())
    assert padded._masks
    np.testing.assert_allclose(padded.predict(ids)[1], short.predict(ids[1:2, :3])[0],
                               rtol=1e-12, atol=1e-14)
