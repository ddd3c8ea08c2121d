"""The causal Transformer character model (examples/transformer_char_lm.py): a short training run
learns and samples, and no position can see the future — perturbing later characters leaves
every earlier output unchanged bit for bit (the 5-minute run is the example itself)."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import char_lm  # noqa: E402
import transformer_char_lm as tlm  # noqa: E402
from test_char_lm import _unigram_bpc  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return char_lm.load_data(verbose=False)


def test_short_training_run_learns_and_samples(data):
    vocab, train, val = data
    model = tlm.build(len(vocab), seed=0)
    with char_lm.blas_threads(1):
        budget = tlm.train(model, (train, val), steps=100, every=50, probe_windows=200,
                           verbose=False)
        assert budget.steps == 100 and [s for s, _, _ in budget.curve] == [50, 100]
        first, last = budget.curve[0][2], budget.curve[-1][2]
        unigram = _unigram_bpc(train[1], val[1][:200], len(vocab))     # 4.5 bits
        assert last < first - 0.2 and last < unigram - 0.3
        text = tlm.sample(model, vocab, prompt="def ", length=30, temperature=0.7)
    assert text.startswith("def ") and len(text) == 34
    assert set(text) <= set(vocab.chars) | {vocab.unknown}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_position_never_sees_the_future(data, dtype):
    vocab, (x, y), _ = data
    model = tlm.build(len(vocab), seed=1, dtype=dtype)
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0, seed=0)   # not the init
    rng = np.random.default_rng(0)
    windows = x[64:72]
    before = model.predict(windows)
    for t in (0, 1, 17, 40, 62):
        later = windows.copy()
        later[:, t + 1:] = rng.integers(0, len(vocab), later[:, t + 1:].shape)
        assert (later[:, t + 1:] != windows[:, t + 1:]).any()
        after = model.predict(later)
        np.testing.assert_array_equal(after[:, :t + 1], before[:, :t + 1])
        assert not np.array_equal(after[:, t + 1:], before[:, t + 1:])    # later ones do change
    # so the next-character distribution reads the prefix only, wherever it sits in the window
    p = tlm.next_char_probabilities(model, windows[0, :10])
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    assert np.argmax(p) == np.argmax(before[0, 9])
