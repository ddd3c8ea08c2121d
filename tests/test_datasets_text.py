"""The stdlib character corpus, the character vocabulary, windowing, and MNIST as sequences."""
import hashlib
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from nnlite import datasets
from nnlite.errors import ConfigError, InputValueError


@pytest.fixture(scope="module")
def corpus():
    return datasets.load_stdlib_corpus(verbose=False)


def test_corpus_is_the_running_pythons_stdlib_split_by_file(corpus):
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    names = [f.name for f in files]
    assert corpus.root == sysconfig.get_paths()["stdlib"]
    assert list(corpus.validation_files) == names[9::10]
    assert sorted(corpus.train_files + corpus.validation_files) == names
    assert not set(corpus.train_files) & set(corpus.validation_files)
    first = files[0].read_bytes().decode("utf-8", errors="replace")
    assert corpus.train.startswith(first)
    assert len(corpus.train) > 10 * len(corpus.validation) > 100_000
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes().decode(
            "utf-8", errors="replace").encode() + b"\0")
    assert corpus.sha256 == digest.hexdigest()


def test_loader_prints_size_files_and_checksum(capsys, corpus):
    again = datasets.load_stdlib_corpus()
    out = capsys.readouterr().out
    assert again == corpus                                  # the same on every call
    assert corpus.sha256 in out and f"{len(corpus.train):,}" in out
    assert corpus.validation_files[0] in out and corpus.train_files[-1] in out


def test_vocabulary_round_trip_and_unknown_characters(corpus):
    vocab = datasets.CharVocabulary.from_text(corpus.train[:200_000], min_count=5)
    ids = vocab.encode(corpus.validation[:5000])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < len(vocab)
    known = ids != 0
    assert known.mean() > 0.99
    text = corpus.validation[:5000]
    decoded = vocab.decode(ids)
    assert all(a == b for a, b, k in zip(text, decoded, known) if k)
    assert all(b == vocab.unknown for b, k in zip(decoded, known) if not k)
    small = datasets.CharVocabulary("ab")
    assert small.encode("abcé\n").tolist() == [1, 2, 0, 0, 0] and len(small) == 3
    with pytest.raises(InputValueError):
        small.decode([3])
    with pytest.raises(ConfigError):
        datasets.CharVocabulary("")


def test_char_windows_are_next_character_targets():
    ids = np.arange(20)
    x, y = datasets.char_windows(ids, 4)
    assert x.shape == y.shape == (4, 4)
    np.testing.assert_array_equal(x[1], [4, 5, 6, 7])
    np.testing.assert_array_equal(y[1], [5, 6, 7, 8])
    x, y = datasets.char_windows(ids, 5, stride=2, start=1)
    np.testing.assert_array_equal(x[:, 0], [1, 3, 5, 7, 9, 11, 13])
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(InputValueError):
        datasets.char_windows(np.arange(3), 4)
    with pytest.raises(ConfigError):
        datasets.char_windows(ids, 0)


def test_mnist_sequences_are_the_rows_of_the_builtin_split():
    (x, y), (xt, yt) = datasets.load_builtin_mnist_sequences()
    (fx, fy), (fxt, fyt) = datasets.load_builtin_mnist(flatten=False)
    assert x.shape == (8000, 28, 28) and xt.shape == (2000, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x, fx[:, 0])
    np.testing.assert_array_equal(yt, fyt)
