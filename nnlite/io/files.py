"""Atomic file writing: readers see the old file or the complete new one, never half of one.

``atomic_write(path, mode)`` opens a temporary file next to ``path`` (same directory, hence the
same file system, so ``os.replace`` is an atomic rename), yields it, and on a clean exit renames
it over ``path``; on any exception — including a check the caller raises inside the block, such
as a checksum mismatch — the temporary file is removed and ``path`` is untouched.

    >>> with atomic_write("results.csv", "w") as f:      # doctest: +SKIP
    ...     f.write("a,b\\n")

(``nnlite.archive.write_atomic`` is the model-file writer: it also fsyncs the file and the
directory, which a model checkpoint needs and a results table or a re-downloadable file does not.)
"""
from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="w", suffix=".tmp"):
    """Write ``path`` atomically; yields the open temporary file.

    Args:
        path: the target (str or PathLike); its directory must exist.
        mode: ``"w"`` (text: UTF-8, no newline translation, as ``csv`` wants) or ``"wb"``.
        suffix: the temporary file's suffix (``<name>.<random><suffix>`` beside the target).

    The new file gets the mode of the file it replaces, else 0o644 (``mkstemp`` makes 0o600).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=suffix,
                               dir=directory)
    try:
        text = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
