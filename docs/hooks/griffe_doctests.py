"""A griffe extension: doctest examples in nnlite's docstrings rendered as code.

nnlite's docstrings are plain text with ``>>>`` examples (and indented formula blocks) where
they help, not Google/NumPy sections everywhere.  Markdown would read a bare ``>>> x`` line as
a nested block quote, so every run of doctest lines — a ``>>>`` line, its ``...``
continuations and the expected output up to the next blank line — is wrapped in a ```` ```pycon ````
fence before the docstring is parsed.  Runs already inside a fence or a Google ``Example:``
section (which griffe formats itself) are left alone.  The source files are not changed.
"""
from __future__ import annotations

import re

import griffe

_SECTION = re.compile(r"^\s*(Examples?|Example usage):\s*$")


def fence_doctests(text: str) -> str:
    """``text`` with each bare run of doctest lines wrapped in a pycon fence."""
    lines = text.split("\n")
    out: list[str] = []
    fenced = in_section = False
    section_indent = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped.startswith("```"):
            fenced = not fenced
        if _SECTION.match(line):
            in_section, section_indent = True, indent
        elif in_section and stripped and indent <= section_indent:
            in_section = False
        if fenced or in_section or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        # at column 0: an indented fence would be read as an indented code block
        if out and out[-1].strip():
            out.append("")
        out.append("```pycon")
        out.extend(block)
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the bare doctest runs of every docstring (see the module docstring)."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
