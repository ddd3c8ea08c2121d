"""The examples in nnlite's docstrings run: every ``>>>`` of every nnlite module is a doctest.

This is ``pytest --doctest-modules nnlite`` inside the suite: one test per docstring that has
examples, run with the suite's numerics rules (floating-point errors raise, RuntimeWarnings are
errors; see conftest.py) and pytest's default doctest flag (ELLIPSIS).  An example that imports
an optional package (``import torch``, ``from sklearn ... import``) is skipped, with the package
named, when that package is not installed; so is a module that imports one at its top.
"""
import doctest
import importlib
import importlib.util
import io
import pkgutil
import re

import pytest

import nnlite

#: modules that import an optional package at their top
MODULE_NEEDS = {"nnlite.sklearn": "sklearn"}
_IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)|import\s+([\w., ]+))", re.MULTILINE)


def _imported_packages(source):
    """Top-level packages an example imports (``import a.b, c`` and ``from d.e import f``)."""
    found = set()
    for package, names in _IMPORT.findall(source):
        found.update([package] if package else
                     (n.split(" as ")[0].strip().split(".")[0] for n in names.split(",")))
    return sorted(found)


def _modules():
    names = ["nnlite"] + [info.name for info in pkgutil.walk_packages(nnlite.__path__, "nnlite.")]
    return sorted(names)


def _collect():
    cases = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in _modules():
        need = MODULE_NEEDS.get(name)
        if need and importlib.util.find_spec(need) is None:
            cases.append(pytest.param(name, None, id=name, marks=pytest.mark.skip(
                reason=f"{name} needs {need}, which is not installed")))
            continue
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                cases.append(pytest.param(name, test.name, id=test.name))
    return cases


CASES = _collect()


def test_the_package_has_doctests():
    # the walk found the modules and their examples (not an empty, vacuous parametrization)
    assert len(CASES) >= 25


@pytest.mark.parametrize(("module_name", "test_name"), CASES)
def test_docstring_examples_run(module_name, test_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    [test] = [t for t in finder.find(module, module_name) if t.name == test_name]
    source = "\n".join(example.source for example in test.examples)
    for package in _imported_packages(source):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{test_name} imports {package}, which is not installed")
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=out.write)
    assert result.attempted > 0 or all(
        ex.options.get(doctest.SKIP) for ex in test.examples), test_name
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} examples failed:\n{out.getvalue()}",
                    pytrace=False)
