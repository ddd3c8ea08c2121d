"""MkDocs hooks of the nnlite site (``hooks:`` in mkdocs.yml).

The site shows files that live outside ``docs/`` without copying them by hand:

* ``notebooks/NN_*.ipynb`` become pages (rendered by mkdocs-jupyter from their committed
  outputs).  The nav entry ``notebooks/*.ipynb`` expands to every notebook that exists, so a new
  notebook (07, 08, ...) appears in the nav when it lands in ``notebooks/``.
* ``<!-- include: PATH -->`` in a page is replaced by the markdown file ``PATH`` (relative to
  the repository root); ``<!-- include: PATH#slug -->`` by the body of its section whose
  heading slugifies to ``slug`` (with its subsections), and ``PATH#slug/LANG``
  by the first ```` ```LANG ```` code block of that section (the README's set-up commands).
  Relative links and images of the included text are rewritten to work from the page: images
  and files the site publishes (``ASSETS``) become site links, other repository paths become
  code spans.
* ``<!-- notebook: 07 -->`` becomes a link to ``notebooks/07_*.ipynb`` titled by the notebook's
  first heading, or, while that notebook does not exist yet, a plain note saying so — so a
  page can name a notebook of a branch that is not merged and still build with ``--strict``.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import posixpath
import re

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.nnlite")

NOTEBOOKS = "notebooks/*.ipynb"
#: repository files the site publishes as they are (figures of the included pages)
ASSETS = ("benchmarks/results/*.png", "tests/reliability/figures/*.png")

_INCLUDE = re.compile(r"^<!--\s*include:\s*(?P<path>[^#\s]+)"
                      r"(?:#(?P<slug>[\w-]+)(?:/(?P<lang>\w+))?)?\s*-->\s*$", re.MULTILINE)
_NOTEBOOK = re.compile(r"<!--\s*notebook:\s*(?P<number>\d\d)\s*-->")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")


def _root(config) -> str:
    return os.path.dirname(os.path.abspath(config.config_file_path))


def _notebooks(config) -> list[str]:
    """Repository-relative paths of the notebooks, sorted (01, 02, ...)."""
    root = _root(config)
    return sorted(os.path.relpath(p, root).replace(os.sep, "/")
                  for p in glob.glob(os.path.join(root, NOTEBOOKS)))


def on_config(config):
    """Expand the nav entry ``notebooks/*.ipynb`` into the notebooks that exist."""
    found = _notebooks(config)

    def expand(items):
        out = []
        for item in items:
            if item == NOTEBOOKS:
                out.extend(found)
            elif isinstance(item, dict):
                out.append({k: expand(v) if isinstance(v, list) else v for k, v in item.items()})
            else:
                out.append(item)
        return out

    if config.nav:
        config.nav = expand(config.nav)
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns notebooks into pages
def on_files(files, config):
    """Publish the notebooks and the figures of the included pages from the repository."""
    root = _root(config)
    paths = list(_notebooks(config))
    for pattern in ASSETS:
        paths += sorted(os.path.relpath(p, root).replace(os.sep, "/")
                        for p in glob.glob(os.path.join(root, pattern)))
    for rel in paths:
        if files.get_file_from_path(rel) is None:
            files.append(File(rel, root, config.site_dir, config.use_directory_urls))
    return files


def _slug(text: str) -> str:
    # Python-Markdown's toc slugify: drop what is not a word character, space or hyphen
    text = re.sub(r"[^\w\s-]", "", text.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _section(text: str, slug: str, where: str) -> str:
    """The lines after the heading whose slug is ``slug``, up to the next heading of the same
    or a higher level (its subsections included)."""
    out, level, fenced = [], None, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if level is not None:
            if heading and len(heading.group(1)) <= level:
                break
            out.append(line)
        elif heading and _slug(heading.group(2)) == slug:
            level = len(heading.group(1))
    if level is None:
        raise ValueError(f"{where}: no section #{slug}")
    return "\n".join(out).strip("\n") + "\n"


def _code_block(text: str, lang: str, where: str) -> str:
    """The first ```` ```lang ```` fenced block of ``text``, fences included."""
    block = re.search(rf"^```{lang}\n.*?^```$", text, re.DOTALL | re.MULTILINE)
    if block is None:
        raise ValueError(f"{where}: no ```{lang} block")
    return block.group(0) + "\n"


def _rewrite_links(text: str, source: str, page_uri: str, files) -> str:
    """Links of ``text`` (written relative to the repository file ``source``) made relative to
    the page ``page_uri``: published files become links, other repository files code spans."""
    page_dir = posixpath.dirname(page_uri)

    def fix(match):
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if files.get_file_from_path(rel) is not None:
            new = posixpath.relpath(rel, page_dir or ".")
            return f"{label}({new}{'#' + anchor if anchor else ''})"
        if label.startswith("!"):
            raise ValueError(f"{source}: image {rel} is not published (add it to ASSETS)")
        return f"{label[1:-1]} (`{rel}`)"

    return _LINK.sub(fix, text)


def _notebook_link(number: str, page_uri: str, config) -> str:
    matches = [p for p in _notebooks(config) if posixpath.basename(p).startswith(number + "_")]
    if not matches:
        return f"notebook {number} (not in this build yet)"
    path = matches[0]
    title = f"notebook {number}"
    with open(os.path.join(_root(config), path), encoding="utf-8") as fh:
        for cell in json.load(fh)["cells"]:
            if cell["cell_type"] == "markdown":
                heading = _HEADING.match("".join(cell["source"]).lstrip().splitlines()[0])
                if heading:
                    title = heading.group(2)
                break
    rel = posixpath.relpath(path, posixpath.dirname(page_uri) or ".")
    return f"[{title}]({rel})"


def on_page_markdown(markdown, page, config, files):
    """Replace the ``include`` and ``notebook`` comments (see the module docstring)."""
    root = _root(config)

    def include(match):
        path, slug = match.group("path"), match.group("slug")
        with open(os.path.join(root, path), encoding="utf-8") as fh:
            text = fh.read()
        where = f"{page.file.src_uri}: include {path}"
        if slug:
            text = _section(text, slug, where)
        if match.group("lang"):
            text = _code_block(text, match.group("lang"), where)
        return _rewrite_links(text, path, page.file.src_uri, files)

    markdown = _INCLUDE.sub(include, markdown)
    return _NOTEBOOK.sub(lambda m: _notebook_link(m.group("number"), page.file.src_uri, config),
                         markdown)
