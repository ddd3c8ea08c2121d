"""The two pieces of build tooling in docs/hooks/, on small inputs: the doctest fences of the API
reference and the include/notebook directives of the pages (the whole build is
tests/test_docs_site.py)."""
import importlib.util
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "docs" / "hooks"


def _load(name, needs):
    pytest.importorskip(needs)
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_doctest_runs_are_fenced_and_nothing_else_moves():
    fence = _load("griffe_doctests", "griffe").fence_doctests
    text = ("Dense layer.\n\n    z = x W + b\n\n>>> layer = Dense(3)\n>>> layer.units\n3\n\n"
            "Text after.\n\n```python\n>>> inside_a_fence\n```\n\nExample:\n    >>> kept(1)\n")
    out = fence(text)
    assert "```pycon\n>>> layer = Dense(3)\n>>> layer.units\n3\n```" in out
    assert "    z = x W + b" in out                  # an indented formula stays a code block
    assert "```python\n>>> inside_a_fence\n```" in out
    assert "Example:\n    >>> kept(1)" in out       # griffe formats its own Example sections
    assert fence("no examples here") == "no examples here"


def test_indented_doctests_are_fenced_at_column_zero():
    fence = _load("griffe_doctests", "griffe").fence_doctests
    out = fence("Intro:\n\n    >>> a = 1\n    ...   + 1\n    >>> a\n    2\n")
    assert "```pycon\n>>> a = 1\n...   + 1\n>>> a\n2\n```" in out


def test_include_takes_a_section_and_its_first_code_block():
    hooks = _load("mkdocs_hooks", "mkdocs")
    text = ("# Title\n\nintro\n\n## Speed\n\nbody\n```bash\n# not a heading\n```\n\n"
            "### Detail\n\nmore\n\n## Next\n\nother\n")
    section = hooks._section(text, "speed", "test")
    assert section == "body\n```bash\n# not a heading\n```\n\n### Detail\n\nmore\n"
    assert hooks._code_block(section, "bash", "test") == "```bash\n# not a heading\n```\n"
    with pytest.raises(ValueError, match="no section #missing"):
        hooks._section(text, "missing", "test")


class _Files:
    def __init__(self, published):
        self.published = set(published)

    def get_file_from_path(self, path):
        return path if path in self.published else None


def test_included_links_are_rewritten_from_the_page():
    hooks = _load("mkdocs_hooks", "mkdocs")
    files = _Files({"benchmarks/results/depth.png"})
    text = ("![figure](results/depth.png) see [the test](../tests/test_depth_study.py) and "
            "[PyTorch](https://pytorch.org) or [a section](#speed)")
    out = hooks._rewrite_links(text, "benchmarks/README.md", "guide/depth-study.md", files)
    assert "![figure](../benchmarks/results/depth.png)" in out
    assert "the test (`tests/test_depth_study.py`)" in out   # not published: a code span
    assert "[PyTorch](https://pytorch.org)" in out and "[a section](#speed)" in out
    with pytest.raises(ValueError, match="not published"):
        hooks._rewrite_links("![x](missing.png)", "README.md", "index.md", files)
