"""Datasets that ship with nnlite or every Python has, all offline, and small synthetic sets.

    load_builtin_mnist, load_mnist, load_builtin_mnist_sequences   ``mnist``
    xor, make_moons, make_circles, make_spirals, to_pm1, one_hot   ``synthetic``
    load_stdlib_corpus, CharVocabulary, char_windows               ``text`` (the stdlib's source)
    load_karate_club, load_planetoid, adjacency_from_edges         ``graphs``

Every random function takes ``seed`` and never touches global random state.
"""
from .graphs import GraphData, adjacency_from_edges, load_karate_club, load_planetoid
from .mnist import (
                    MNIST_MD5,
                    MNIST_URL,
                    load_builtin_mnist,
                    load_builtin_mnist_sequences,
                    load_mnist,
                    read_idx,
)
from .synthetic import make_circles, make_moons, make_spirals, one_hot, to_pm1, xor
from .text import CharVocabulary, TextCorpus, char_windows, load_stdlib_corpus

__all__ = ["read_idx", "load_builtin_mnist", "load_mnist", "MNIST_URL", "MNIST_MD5", "xor",
           "make_moons", "make_circles", "make_spirals", "to_pm1", "one_hot", "GraphData",
           "load_karate_club", "load_planetoid", "adjacency_from_edges", "TextCorpus",
           "load_stdlib_corpus", "CharVocabulary", "char_windows", "load_builtin_mnist_sequences"]
