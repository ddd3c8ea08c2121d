"""A character-level language model of Python source: an LSTM trained on the standard library.

    python examples/char_lm.py [--minutes 5] [--steps N] [--seed 0] [--temperature 0.7]

The corpus is the running Python's own standard library (``nnlite.datasets.load_stdlib_corpus``:
the top-level ``*.py`` files, every 10th file held out for validation), so it needs no network.
The model reads windows of 64 characters and predicts each next character:

    Embedding(vocabulary, 32) → LSTM(128, return_sequences=True) → Dense(vocabulary, softmax)

trained with Adam (learning rate 2e-3, clipnorm 5) on batches of 32 windows.  Every
``--eval-every`` steps it prints the validation **bits per character** — the mean cross-entropy
in bits, log2(e) × the loss in nats, over windows of 64 characters each read from a zero
state — and at the end it samples text with a temperature from a stateful copy of the model.
For scale: a unigram model of the same text gets 4.54 bits, a 4-gram model 2.33.  See
benchmarks/README.md ("Character language model") for a measured run and its PyTorch twin.
"""
import argparse
import contextlib
import math
import time

import numpy as np

import nnlite
from nnlite.callbacks import Callback
from nnlite.layers import LSTM, Dense, Embedding

STEPS, BATCH, EMBED, UNITS = 64, 32, 32, 128


def load_data(steps=STEPS, verbose=True):
    """(vocabulary, (x_train, y_train), (x_val, y_val)): non-overlapping windows of ``steps``
    character ids and their next-character targets."""
    corpus = nnlite.datasets.load_stdlib_corpus(verbose=verbose)
    vocab = nnlite.datasets.CharVocabulary.from_text(corpus.train, min_count=20)
    train = nnlite.datasets.char_windows(vocab.encode(corpus.train), steps)
    val = nnlite.datasets.char_windows(vocab.encode(corpus.validation), steps)
    return vocab, train, val


def build(vocab_size, seed=0, steps=STEPS, stateful=False):
    layers = [Embedding(vocab_size, EMBED, input_shape=(steps,)),
              LSTM(UNITS, return_sequences=True, stateful=stateful),
              Dense(vocab_size, activation="softmax")]
    model = nnlite.Sequential(layers, seed=seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=2e-3, clipnorm=5.0))
    return model


def bits_per_char(model, x, y, batch_size=512):
    """Mean next-character cross-entropy in bits over the windows (x, y)."""
    return model.evaluate(x, y, batch_size=batch_size) / math.log(2)


class Budget(Callback):
    """Stops training after ``steps`` optimizer steps or ``seconds``; every ``every`` steps
    records (step, seconds, validation bpc) on ``probe`` = (x, y) into ``self.curve``."""

    def __init__(self, steps=None, seconds=None, every=500, probe=None, verbose=True):
        self.max_steps, self.seconds, self.every = steps, seconds, every
        self.probe, self.verbose = probe, verbose
        self.curve, self.steps = [], 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = time.perf_counter() - self.start
        if self.probe is not None and self.steps % self.every == 0:
            bpc = bits_per_char(self.model, *self.probe)
            self.curve.append((self.steps, elapsed, bpc))
            if self.verbose:
                print(f"step {self.steps:6d}  {elapsed:6.1f} s  training (epoch so far) "
                      f"{logs['loss'] / math.log(2):.3f} bpc  validation {bpc:.3f} bpc",
                      flush=True)
        if (self.max_steps is not None and self.steps >= self.max_steps) or \
                (self.seconds is not None and elapsed >= self.seconds):
            self.model.stop_training = True


def train(model, data, steps=None, seconds=None, seed=0, every=500, probe_windows=1000,
          verbose=True):
    """Train until ``steps`` or ``seconds``; returns the Budget callback (its ``curve``)."""
    (x, y), (xv, yv) = data
    budget = Budget(steps, seconds, every, (xv[:probe_windows], yv[:probe_windows]), verbose)
    epochs = 10_000 if steps is None else -(-steps * BATCH // len(x))
    model.fit(x, y, epochs=epochs, batch_size=BATCH, seed=seed, verbose=0, callbacks=[budget])
    return budget


def sample(model, vocab, prompt="def ", length=400, temperature=0.7, seed=0):
    """``prompt`` continued by ``length`` characters drawn from p^(1/temperature), one at a
    time from a stateful copy of ``model`` (so the whole text so far is the context)."""
    step = build(len(vocab), steps=1, stateful=True)
    step.build()
    step.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    ids = list(vocab.encode(prompt))
    for i in ids[:-1]:
        step.predict(np.array([[i]]))
    for _ in range(length):
        p = step.predict(np.array([[ids[-1]]]))[0, -1].astype(np.float64)
        logits = np.log(np.maximum(p, 1e-30)) / temperature
        q = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(q), p=q / q.sum())))
    return vocab.decode(ids)


def blas_threads(count):
    """Limit BLAS to ``count`` threads (threadpoolctl, when installed): the per-step products
    are small, and two BLAS threads on a busy 2-core machine spin against other processes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(count)


def main(argv=None, build_model=build, sample_text=sample, description=None):
    """The command line; ``build_model``/``sample_text`` let another character model
    (examples/transformer_char_lm.py) reuse it.  Returns the final validation bits/char."""
    parser = argparse.ArgumentParser(description=description or __doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    parser.add_argument("--steps", type=int, default=None, help="or a step budget")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = parser.parse_args(argv)
    with blas_threads(args.threads):
        return run(args, build_model, sample_text)


def run(args, build_model=build, sample_text=sample):
    vocab, train_windows, val_windows = load_data()
    print(f"vocabulary {len(vocab)} ids; {len(train_windows[0]):,} training windows and "
          f"{len(val_windows[0]):,} validation windows of {STEPS} characters")
    model = build_model(len(vocab), args.seed)
    model.summary()
    budget = train(model, (train_windows, val_windows), args.steps,
                   None if args.steps else args.minutes * 60, args.seed, args.eval_every)
    elapsed = time.perf_counter() - budget.start
    bpc = bits_per_char(model, *val_windows)
    print(f"after {budget.steps} steps ({elapsed:.0f} s): validation {bpc:.3f} bits per "
          "character (all validation windows)")
    print(f"--- sample, temperature {args.temperature} ---")
    print(sample_text(model, vocab, temperature=args.temperature, seed=args.seed))
    return bpc


if __name__ == "__main__":
    main()
