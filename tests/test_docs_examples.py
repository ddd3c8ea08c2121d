"""The documentation's examples run: every ```python block of a page, in order, in one namespace
per page (as a reader would paste them), with the suite's numerics rules.

A block fenced as ```py is shown, not run (an MPI script, a feature of another install); a
page's examples are skipped, naming the package, when they import one that is not installed.
The site build itself is checked by tests/test_docs_site.py.
"""
import importlib.util
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)|import\s+([\w., ]+))", re.MULTILINE)

PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
               if _BLOCK.search(p.read_text(encoding="utf-8")))


def _packages(source):
    found = set()
    for package, names in _IMPORT.findall(source):
        found.update([package] if package else
                     (n.split(" as ")[0].strip().split(".")[0] for n in names.split(",")))
    return sorted(found)


def test_the_guide_has_examples():
    assert len(PAGES) >= 15, PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = _BLOCK.findall(text)
    for package in _packages("\n".join(blocks)):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{page} imports {package}, which is not installed")
    monkeypatch.chdir(tmp_path)                       # pages that write files write them here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs/{page}"}
    for i, block in enumerate(blocks):
        code = compile(block, f"docs/{page} (python block {i + 1})", "exec")
        exec(code, namespace)  # noqa: S102 (our own documentation)
    assert os.getcwd() == str(tmp_path)


def test_readme_links_to_files_that_exist():
    readme = DOCS.parent / "README.md"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"^[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in local)
    missing = [link for link in local if not (DOCS.parent / link).exists()]
    assert missing == []


def _reference_targets():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)", text, re.MULTILINE))


def test_every_registered_layer_has_an_api_entry():
    from nnlite.layers import REGISTRY

    targets = _reference_targets()
    missing = sorted(name for name in REGISTRY if f"nnlite.layers.{name}" not in targets)
    assert missing == [], f"add '::: nnlite.layers.<name>' to docs/reference/layers.md: {missing}"


def test_every_public_module_is_in_the_api_reference():
    import nnlite

    targets = _reference_targets()
    modules = [name for name in nnlite.__all__ if not name[0].isupper() and name not in
               ("load_model", "__version__", "models", "layers", "graphview")]
    covered = {t for t in targets if t.count(".") == 1}
    missing = sorted(m for m in modules if f"nnlite.{m}" not in covered)
    assert missing == [], f"no '::: nnlite.<module>' page entry for {missing}"
