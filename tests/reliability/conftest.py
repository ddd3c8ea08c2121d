"""Shared fixtures of the reliability suite.

* ``scale``: how hard to push.  CI runs the default counts; ``--slow`` (when this directory is on
  the command line) or ``NNLITE_SLOW=1`` multiplies them for a long local run.
* ``record(promise, **figures)``: the numbers a test measured (counts, maxima, times).  When
  ``NNLITE_RELIABILITY_RESULTS`` names a directory, each promise's figures are written there as
  ``<promise>.json``; ``python tests/reliability/report.py`` turns them into RELIABILITY.md's
  table.  Figures are never typed by hand.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pytest

RESULTS_ENV = "NNLITE_RELIABILITY_RESULTS"
SLOW_ENV = "NNLITE_SLOW"


def pytest_addoption(parser):
    # only registered when tests/reliability is given on the command line (an initial conftest);
    # the environment variable works everywhere
    parser.addoption("--slow", action="store_true", default=False,
                     help="reliability suite: raise the counts (same as NNLITE_SLOW=1)")


def is_slow(config=None) -> bool:
    if os.environ.get(SLOW_ENV, "") not in ("", "0"):
        return True
    if config is not None:
        try:
            return bool(config.getoption("--slow"))
        except ValueError:
            return False
    return False


class Scale:
    """``scale(ci, slow)``: a count for the CI run and one for the long run."""

    def __init__(self, slow: bool):
        self.slow = slow

    def __call__(self, ci: int, slow: int) -> int:
        return slow if self.slow else ci


@pytest.fixture(scope="session")
def scale(pytestconfig):
    return Scale(is_slow(pytestconfig))


class Recorder:
    def __init__(self, directory, slow):
        self.directory = Path(directory) if directory else None
        self.slow = slow
        self.figures: dict[str, dict] = {}

    def add(self, promise: str, **increments):
        """Add to counters (figures summed over many tests)."""
        entry = self.figures.setdefault(promise, {})
        self(promise, **{k: entry.get(k, 0) + v for k, v in increments.items()})

    def __call__(self, promise: str, **figures):
        entry = self.figures.setdefault(promise, {})
        entry.update(figures)
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {"promise": promise, "slow": self.slow, "figures": entry,
                   "python": platform.python_version(), "numpy": np.__version__,
                   "platform": sys.platform,
                   "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = self.directory / f"{promise}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=float))
        os.replace(tmp, path)


@pytest.fixture(scope="session")
def record(pytestconfig):
    return Recorder(os.environ.get(RESULTS_ENV), is_slow(pytestconfig))


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    """A path that malicious payloads try to create; a test asserts it never appears."""
    path = tmp_path / "SENTINEL_code_was_executed"
    monkeypatch.setenv("NNLITE_SENTINEL", str(path))
    return path
