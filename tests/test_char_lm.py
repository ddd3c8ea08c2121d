"""The character language model (examples/char_lm.py) and its PyTorch twin (benchmarks/rnn.py,
_rnn_peers.py, char_lm_vs_torch.py): a short training run learns, sampling works, and the twin
trains the same model on the same batches (float64: the same weights after six Adam steps)."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import char_lm  # noqa: E402

import nnlite  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return char_lm.load_data(verbose=False)


@pytest.fixture
def torch_one_thread():
    # tiny LSTMs: two torch threads on a busy 2-core machine are 15x slower than one
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_short_training_run_learns_and_samples(data):
    vocab, train, val = data
    model = char_lm.build(len(vocab), seed=0)
    with char_lm.blas_threads(1):
        budget = char_lm.train(model, (train, val), steps=60, every=30, probe_windows=200,
                               verbose=False)
        assert budget.steps == 60 and [s for s, _, _ in budget.curve] == [30, 60]
        first, last = budget.curve[0][2], budget.curve[-1][2]
        unigram = _unigram_bpc(train[1], val[1][:200], len(vocab))
        assert last < first and last < unigram + 0.1    # already about as good as a unigram
        text = char_lm.sample(model, vocab, prompt="def ", length=40, temperature=0.7)
    assert text.startswith("def ") and len(text) == 44
    assert set(text) <= set(vocab.chars) | {vocab.unknown}


def _unigram_bpc(train_targets, val_targets, size):
    counts = np.bincount(train_targets.reshape(-1), minlength=size) + 1.0
    p = counts / counts.sum()
    return float(-np.mean(np.log2(p[val_targets.reshape(-1)])))


def test_pytorch_twin_trains_the_same_model_on_the_same_batches(data, torch_one_thread):
    torch = torch_one_thread
    from rnn import CLIP, LR, fit_order, torch_steps, torch_twin

    vocab, (x, y), _ = data
    x, y = x[:96], y[:96]
    model = nnlite.Sequential([nnlite.layers.Embedding(len(vocab), 8, input_shape=(64,)),
                               nnlite.layers.LSTM(16, return_sequences=True),
                               nnlite.layers.Dense(len(vocab), activation="softmax")],
                              seed=3, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=LR, clipnorm=CLIP))
    model.build()
    modules = torch_twin(torch, model)
    history = model.fit(x, y, epochs=2, batch_size=32, seed=5, verbose=0)   # 6 Adam steps
    opt = torch.optim.Adam([p for m in modules for p in m.parameters() if p.requires_grad],
                           lr=LR)
    order = [torch.from_numpy(i) for i in fit_order(len(x), 6, seed=5)]
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    last = torch_steps(torch, modules, opt, xt, yt, order, len(vocab))
    emb, lstm, linear = modules
    weights = model.get_weights()
    np.testing.assert_allclose(emb.weight.detach().numpy(), weights[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lstm.weight_hh_l0.detach().numpy().T, weights[2], rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(linear.weight.detach().numpy().T, weights[4], rtol=1e-9,
                               atol=1e-12)
    assert history.history["loss"][-1] < math.log(len(vocab))
    assert np.isfinite(last)


def test_rnn_benchmark_workloads_train_alike_in_every_framework(torch_one_thread):
    # W7, W9g, W9s of benchmarks/speed.py (quick: 4 steps): nnlite and its PyTorch twin start
    # from the same weights, see the same batches and report the same mean loss
    torch = torch_one_thread
    import rnn
    from _harness import Context

    ctx = Context(x=None, y=None, quick=True, seed=0, threads=1, torch=torch)
    assert [spec.key for spec in rnn.WORKLOADS] == ["W7", "W9g", "W9s"]
    for spec in rnn.WORKLOADS:
        wl = spec.build(ctx)
        assert set(wl.runners) == {"nnlite", "torch"} and wl.steps == 4 and wl.flops > 0
        values = {}
        for name, runner in wl.runners.items():
            runner.reset()
            values[name] = runner.run()
        assert 3.5 < values["nnlite"] < math.log(97) + 0.1, spec.key
        assert values["torch"] == pytest.approx(values["nnlite"], rel=wl.value_rtol), spec.key
