"""Exceptions raised by nnlite.

Every error names the layer or argument at fault, what was expected and what was given.
They subclass the built-in ``ValueError``/``TypeError`` so existing ``except`` clauses keep
working.  A call that raises changes nothing: weights, optimizer state and history are as before.
"""


class NnliteError(Exception):
    """Base class of every nnlite error (catch this to catch them all)."""


class ShapeError(NnliteError, ValueError):
    """An array has the wrong shape (feature count, rank, batch length)."""


class InputValueError(NnliteError, ValueError):
    """An array holds values the call cannot use (NaN, inf, empty)."""


class LabelError(NnliteError, ValueError):
    """Targets do not match what the loss expects (e.g. {0, 1} given to the ±1 logistic loss)."""


class DTypeError(NnliteError, TypeError):
    """An array has a dtype nnlite cannot compute with (object, str, complex)."""


class UnknownNameError(NnliteError, ValueError):
    """A name (activation, loss, optimizer, initializer, metric) is not registered."""


class NotBuiltError(NnliteError, ValueError):
    """The model or layer has no weights yet."""


class NotCompiledError(NnliteError, ValueError):
    """``fit``/``evaluate`` was called before ``compile``."""


class ConfigError(NnliteError, ValueError):
    """A hyper-parameter or configuration value is invalid."""


class GraphError(NnliteError, ValueError):
    """A computational graph is malformed (cycle, disconnected input, mismatched merge)."""


class FormatError(NnliteError, ValueError):
    """A file is not a valid nnlite (or IDX) file: corrupt, truncated, foreign or too large."""
