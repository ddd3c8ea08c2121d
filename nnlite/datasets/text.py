"""Sequence data every machine has offline: a character corpus and MNIST read row by row.

* ``load_stdlib_corpus()`` reads the **running Python's standard library** source — the
  top-level ``*.py`` files of ``sysconfig.get_paths()["stdlib"]``, sorted by name — and splits it
  by file (every 10th file, by position in that sorted list, is validation).  Its size, file
  list and SHA-256 are printed (``verbose``) and kept on the result: another Python version has
  other files, so the printed checksum identifies the text a result was measured on.
* ``CharVocabulary`` maps characters to ids (``encode``/``decode``); characters outside it map
  to one "unknown" id (0).
* ``char_windows(ids, steps)`` cuts inputs ``x[i] = ids[s_i : s_i + T]`` and next-character
  targets ``y[i] = ids[s_i + 1 : s_i + T + 1]``.
* ``load_builtin_mnist_sequences()``: the built-in MNIST split as (n, 28, 28) sequences of 28
  rows of 28 pixels (time = the row index).
"""
from __future__ import annotations

import hashlib
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputValueError

__all__ = ["TextCorpus", "load_stdlib_corpus", "CharVocabulary", "char_windows"]


@dataclass(frozen=True)
class TextCorpus:
    """A text split by file: ``train``/``validation`` strings, the file names of each part,
    the folder read and the SHA-256 of all files (names and contents, in order)."""

    train: str
    validation: str
    train_files: tuple
    validation_files: tuple
    root: str
    sha256: str

    def summary(self) -> str:
        return (f"stdlib corpus: {self.root}\n"
                f"  {len(self.train_files) + len(self.validation_files)} files, "
                f"{len(self.train) + len(self.validation):,} characters "
                f"(train {len(self.train_files)} files / {len(self.train):,} chars, "
                f"validation {len(self.validation_files)} files / {len(self.validation):,})\n"
                f"  sha256 {self.sha256}\n"
                f"  validation files: {', '.join(self.validation_files)}\n"
                f"  train files: {', '.join(self.train_files)}")


def load_stdlib_corpus(validation_every=10, verbose=True, root=None) -> TextCorpus:
    """The standard library's top-level ``*.py`` sources as a character corpus.

    Files are sorted by name; the file at position i is validation when
    ``i % validation_every == validation_every - 1``, training otherwise (a fixed split by file,
    so validation text is never seen in training).  ``root`` defaults to
    ``sysconfig.get_paths()["stdlib"]`` — the running Python's own library, so the corpus
    differs between Python versions (compare the printed SHA-256).  Files are read as UTF-8
    (undecodable bytes replaced) and joined with their text unchanged.

    Returns:
        TextCorpus; on Python 3.11.7: 168 files, about 4.7 million characters.
    """
    if isinstance(validation_every, bool) or not isinstance(validation_every, int) \
            or validation_every < 2:
        raise ConfigError(f"load_stdlib_corpus: validation_every must be an int ≥ 2, got "
                          f"{validation_every!r}")
    folder = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    files = sorted(folder.glob("*.py"))
    if len(files) < validation_every:
        raise InputValueError(f"load_stdlib_corpus: found {len(files)} *.py files in "
                              f"{folder}, need at least {validation_every}")
    digest = hashlib.sha256()
    parts = {"train": [], "validation": []}
    names = {"train": [], "validation": []}
    for i, path in enumerate(files):
        text = path.read_bytes().decode("utf-8", errors="replace")
        digest.update(path.name.encode() + b"\0" + text.encode("utf-8") + b"\0")
        part = "validation" if i % validation_every == validation_every - 1 else "train"
        parts[part].append(text)
        names[part].append(path.name)
    corpus = TextCorpus("".join(parts["train"]), "".join(parts["validation"]),
                        tuple(names["train"]), tuple(names["validation"]), str(folder),
                        digest.hexdigest())
    if verbose:
        print(corpus.summary())
    return corpus


class CharVocabulary:
    """Characters ↔ ids.  Id 0 is "unknown" (every character not in the vocabulary);
    ids 1.. are the known characters in sorted order.

    ``CharVocabulary.from_text(text, min_count=1)`` keeps the characters seen at least
    ``min_count`` times.  ``encode(text)`` → int64 array, ``decode(ids)`` → str (unknown ids
    become ``unknown``, default "\\ufffd").

    >>> vocab = CharVocabulary("abc")
    >>> vocab.encode("abz").tolist(), vocab.decode([1, 3, 0])
    ([1, 2, 0], 'ac\\ufffd')
    """

    def __init__(self, chars, unknown="\ufffd"):
        chars = sorted(set(chars))
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ConfigError("CharVocabulary: chars must be a non-empty collection of "
                              "single characters")
        if not isinstance(unknown, str) or len(unknown) != 1:
            raise ConfigError(f"CharVocabulary: unknown must be one character, got "
                              f"{unknown!r}")
        self.chars = "".join(chars)
        self.unknown = unknown
        self._codes = np.array([ord(c) for c in chars], dtype=np.int64)  # sorted

    @classmethod
    def from_text(cls, text, min_count=1, unknown="\ufffd"):
        counts = Counter(text)
        return cls([c for c, k in counts.items() if k >= min_count], unknown)

    def __len__(self):
        """The number of ids: the known characters plus the unknown id."""
        return len(self.chars) + 1

    size = property(__len__)

    def encode(self, text) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        pos = np.searchsorted(self._codes, codes)
        pos = np.minimum(pos, len(self._codes) - 1)
        return np.where(self._codes[pos] == codes, pos + 1, 0)

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise InputValueError(f"CharVocabulary.decode: ids must be in 0..{len(self) - 1}, "
                                  f"got values in [{ids.min()}, {ids.max()}]")
        table = np.array([self.unknown] + list(self.chars))
        return "".join(table[ids].tolist())

    def get_config(self) -> dict:
        return {"chars": self.chars, "unknown": self.unknown}


def char_windows(ids, steps, stride=None, start=0):
    """``(x, y)`` windows of ``steps`` ids and their next ids: ``x[i] = ids[a : a + steps]``,
    ``y[i] = ids[a + 1 : a + steps + 1]`` with ``a = start + i·stride`` (``stride`` defaults
    to ``steps``: non-overlapping windows).  Both int64 arrays of shape (n, steps)."""
    ids = np.asarray(ids)
    for name, value in (("steps", steps), ("stride", steps if stride is None else stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"char_windows: {name} must be a positive int, got {value!r}")
    stride = steps if stride is None else int(stride)
    if ids.ndim != 1 or ids.size < start + steps + 1:
        raise InputValueError(f"char_windows: need a 1-D array of at least {start + steps + 1} "
                              f"ids, got shape {ids.shape}")
    count = (ids.size - start - steps - 1) // stride + 1
    view = np.lib.stride_tricks.sliding_window_view(ids[start:], steps + 1)[::stride][:count]
    return np.ascontiguousarray(view[:, :-1]), np.ascontiguousarray(view[:, 1:])
