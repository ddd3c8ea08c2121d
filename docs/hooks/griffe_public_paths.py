"""A griffe extension: nnlite's public module names in the API reference.

``nnlite.gradcheck`` is ``nnlite.diagnostics.gradcheck`` at run time (``PUBLIC_MODULES`` in
``nnlite/__init__.py`` maps each public name to the module that implements it, through an
import hook).  Griffe reads the source statically and cannot follow an import hook, so this
extension reads the same table and adds each public name to the ``nnlite`` package as an alias
of its module: ``::: nnlite.gradcheck`` then documents the real module under the public name.
"""
from __future__ import annotations

import ast
from pathlib import Path

import griffe


def public_modules(init_file) -> dict:
    """The ``PUBLIC_MODULES`` dict literal of ``nnlite/__init__.py``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "PUBLIC_MODULES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{init_file} defines no PUBLIC_MODULES")


class PublicPaths(griffe.Extension):
    """Add ``nnlite.<public name>`` aliases once the package is loaded."""

    def on_package(self, *, pkg, loader, **kwargs):
        if pkg.path != "nnlite":
            return
        for name, target in public_modules(pkg.filepath).items():
            pkg.set_member(name, griffe.Alias(name, target, parent=pkg))
