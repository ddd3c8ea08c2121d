"""The version of nnlite (one place: the package, the files it writes and the docs read it)."""

__version__ = "0.1.0"
