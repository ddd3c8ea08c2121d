"""Every public class and function has a docstring; layers and losses state their shapes.

"Public" is what a user can import: the names in ``__all__`` of every nnlite module whose path
has no ``_``-prefixed part.  The API reference of the documentation site is generated from
these docstrings (``mkdocs build --strict``), so a missing one is a hole in the site.
"""
import importlib
import inspect
import pkgutil

import pytest

import nnlite
from nnlite import layers, losses

OPTIONAL = {"nnlite.sklearn": "sklearn", "nnlite.plotting": "matplotlib",
            "nnlite.graphview": "matplotlib"}


def _public_modules():
    names = ["nnlite"]
    for info in pkgutil.walk_packages(nnlite.__path__, "nnlite."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def _public_objects():
    seen = {}
    for module_name in _public_modules():
        if module_name in OPTIONAL:
            pytest.importorskip(OPTIONAL[module_name])
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) \
                    and obj.__module__.startswith("nnlite"):
                seen.setdefault(id(obj), (f"{module_name}.{name}", obj))
    return list(seen.values())


def test_every_public_class_and_function_has_a_docstring():
    objects = _public_objects()
    assert len(objects) > 150  # the walk found the package, not an empty list
    missing = [name for name, obj in objects if not (obj.__doc__ or "").strip()]
    assert missing == []


def _shape_words(doc):
    return any(word in doc for word in ("(batch", "(n,", "(n_samples", "(..., ", "shape"))


@pytest.mark.parametrize("name", sorted(layers.REGISTRY))
def test_every_registered_layer_states_its_formula_and_shapes(name):
    doc = inspect.getdoc(layers.REGISTRY[name]) or ""
    assert _shape_words(doc), f"{name}: the docstring gives no input/output shapes"
    assert any(sign in doc for sign in ("=", "→")), f"{name}: the docstring gives no formula"


LOSSES = {getattr(losses, n).__name__: getattr(losses, n) for n in losses.__all__
          if inspect.isclass(getattr(losses, n)) and getattr(losses, n) is not losses.Loss}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_states_its_formula_and_shapes(name):
    doc = inspect.getdoc(LOSSES[name]) or ""
    assert "ℓ" in doc or "=" in doc, f"{name}: the docstring gives no formula"
    assert _shape_words(doc), f"{name}: the docstring gives no shapes"
