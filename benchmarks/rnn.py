"""W7 and W9 of ``benchmarks/speed.py``: a character-level RNN language model, nnlite against
PyTorch eager and JAX.

    python benchmarks/speed.py --only W7,W9g,W9s

    W7   char-LSTM: Embedding(97, 32) → LSTM(128, return_sequences=True) → Dense(97, softmax)
    W9g  the same with GRU(128) (reset_after, PyTorch's nn.GRU form)
    W9s  the same with SimpleRNN(128) (tanh)

The network, optimizer and data are those of ``examples/char_lm.py``: sparse categorical
cross-entropy over every step, Adam (lr 2e-3, clipnorm 5 over all gradients), batches of 32
windows of T = 64 characters of the stdlib corpus (``nnlite.datasets.load_stdlib_corpus``, the
vocabulary of the characters seen ≥ 20 times, 97 on Python 3.11).  One run is one epoch of
``fit`` over the first 40 batches' windows (1,280; ``--quick``: 4 batches).  PyTorch gets the
same initial weights (``nnlite.export.to_torch``: ``nn.Embedding``, ``nn.LSTM``/``nn.GRU``/
``nn.RNN``, ``nn.Linear`` on logits) and JAX the same weights as a pure function (the
recurrence a ``lax.scan`` over time); both see the same batches in the same order as
``fit(seed=0)`` (see ``_rnn_peers.py``).  The A/A control times nnlite against itself.

W7 has a memory case: a fit of 1 and of 20 epochs over the same 1,280 windows, in fresh
processes (``speed.py`` measures the peak RSS).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
from _harness import MemoryCase, Workload, WorkloadSpec
from _rnn_peers import fit_order, jax_rnn_loss, jax_train_clipped, torch_steps, torch_twin

import nnlite
from nnlite.layers import GRU, LSTM, Dense, Embedding, SimpleRNN

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import char_lm  # noqa: E402

__all__ = ["CLIP", "LR", "WORKLOADS", "fit_order", "nnlite_char_rnn", "torch_steps",
           "torch_twin"]

BATCH, LR, CLIP = char_lm.BATCH, 2e-3, 5.0
EMBED, UNITS, T = char_lm.EMBED, char_lm.UNITS, char_lm.STEPS
STEPS, QUICK_STEPS = 40, 4
CELLS = {"LSTM": (LSTM, 4), "GRU": (GRU, 3), "SimpleRNN": (SimpleRNN, 1)}


@functools.lru_cache(maxsize=1)
def corpus_windows():
    """(vocabulary size, x, y): the training windows of ``examples/char_lm.py`` (int64)."""
    vocab, (x, y), _ = char_lm.load_data(verbose=False)
    return len(vocab), x, y


def nnlite_char_rnn(kind, vocab_size, seed=0):
    """``examples/char_lm.py``'s model with the recurrent layer ``kind``, compiled and built."""
    cell = CELLS[kind][0]
    model = nnlite.Sequential([Embedding(vocab_size, EMBED, input_shape=(T,)),
                               cell(UNITS, return_sequences=True),
                               Dense(vocab_size, activation="softmax")], seed=seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=LR, clipnorm=CLIP))
    model.build()
    return model


def char_rnn_workload(key, kind):
    def build(ctx):
        size, x, y = corpus_windows()
        n = (QUICK_STEPS if ctx.quick else STEPS) * BATCH
        x, y = x[:n].copy(), y[:n].copy()     # the corpus windows are read-only views
        model = nnlite_char_rnn(kind, size, ctx.seed)
        init = model.get_weights()
        gates = CELLS[kind][1]
        # multiply-adds per character: input and recurrent products of the gates, the output
        # layer; 2 per multiply-add forward, 4 backward
        macs = EMBED * gates * UNITS + UNITS * gates * UNITS + UNITS * size
        # float32, 40 Adam steps from the same start: the frameworks' summation orders differ
        wl = Workload(key, n, n // BATCH, 6 * macs * n * T, value_rtol=2e-3)

        def nn_reset():
            model.set_weights(init)
            model.optimizer = nnlite.optimizers.Adam(learning_rate=LR, clipnorm=CLIP)

        wl.add("nnlite", lambda: model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True,
                                           verbose=0, seed=ctx.seed).history["loss"][-1],
               nn_reset)
        torch = ctx.torch
        if torch is not None:
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            order = [torch.from_numpy(i) for i in fit_order(n, n // BATCH, ctx.seed, BATCH)]
            state = {}

            def t_reset():
                model.set_weights(init)
                state["modules"] = torch_twin(torch, model)
                params = [p for m in state["modules"] for p in m.parameters()
                          if p.requires_grad]
                state["opt"] = torch.optim.Adam(params, lr=LR)

            wl.add("torch", lambda: torch_steps(torch, state["modules"], state["opt"], xt, yt,
                                                order, size, CLIP), t_reset)
        if ctx.jax is not None:
            jax_train_clipped(ctx.jax, wl, jax_rnn_loss(ctx.jax, kind, UNITS), init, LR, CLIP,
                              x.astype(np.int32), y.astype(np.int32), BATCH, ctx.seed)
        return wl
    return build


def w7_memory(quick):
    """The W7 fit for the memory check: the 1,280 windows of the timed run (1,000 when quick;
    ``make(300)`` is the harness's warm-up, with a short last batch)."""
    def make(count):
        size, x, y = corpus_windows()
        count = STEPS * BATCH if count is None else count
        return (nnlite_char_rnn("LSTM", size, 0), x[:count].copy(), y[:count].copy(),
                {"batch_size": BATCH, "seed": 0})
    return MemoryCase(make)


def _description(kind):
    return (f"char-{kind} Embedding(97, {EMBED})-{kind}({UNITS})-Dense(97) softmax CE over "
            f"every step, Adam lr 2e-3 clipnorm 5, batch {BATCH} windows of {T} characters, "
            f"{STEPS} steps")


WORKLOADS = [WorkloadSpec("W7", _description("LSTM"), char_rnn_workload("W7", "LSTM"),
                          memory=w7_memory),
             WorkloadSpec("W9g", _description("GRU"), char_rnn_workload("W9g", "GRU")),
             WorkloadSpec("W9s", _description("SimpleRNN"),
                          char_rnn_workload("W9s", "SimpleRNN"))]
