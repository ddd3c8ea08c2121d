"""The documentation site, tested the way a reader meets it.

The site is built with ``mkdocs build --strict`` into ``site/`` (or taken from
``$NNLITE_DOCS_SITE`` when CI has built it already), served by ``http.server`` on 127.0.0.1 at a
free port, and opened in headless Chromium (tests/browser.py): the home page, an API reference
page, a notebook rendered from its committed outputs, and the site's own search (it runs in the
browser, in a web worker) finding ``Dense``.  A screenshot of the home page is written into the
build output (``site/screenshot-home.png``, ignored by git) for review.

Skipped, saying why, when MkDocs (``pip install -e ".[docs]"``) or Chromium (Debian's
``chromium`` package, or ``$NNLITE_CHROMIUM``) is not installed.
"""
import functools
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def site():
    """The built site's folder."""
    prebuilt = os.environ.get("NNLITE_DOCS_SITE")
    if prebuilt:
        folder = Path(prebuilt).resolve()
        assert (folder / "index.html").is_file(), f"NNLITE_DOCS_SITE={prebuilt} has no index.html"
        return folder
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{module} is not installed (pip install -e \".[docs]\")")
    folder = ROOT / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(folder)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600, check=False)
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    return folder


@pytest.fixture(scope="module")
def server(site):
    """The site's base URL, served from a local static server on a free port."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    """One headless Chromium page with a fresh profile."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set NNLITE_CHROMIUM)")
    with Browser(binary, str(tmp_path_factory.mktemp("chromium-profile"))) as browser:
        yield browser


def test_home_page_renders_and_is_screenshotted(page, server, site):
    page.goto(server)
    assert page.evaluate("document.title").startswith("nnlite")
    headings = page.evaluate("[...document.querySelectorAll('article h2')].map(h => h.id)")
    assert "where-to-go" in headings
    nav = page.evaluate("[...document.querySelectorAll('.md-nav__link')].map(a => a.textContent"
                        ".trim())")
    for entry in ("Getting started", "Lecture guide", "Layers", "API reference", "Contributing"):
        assert entry in nav
    # the theme's JavaScript ran (the search box is wired up) and nothing came from the network
    assert page.evaluate("!!document.querySelector('[data-md-component=search-query]')")
    shot = site / "screenshot-home.png"
    assert page.screenshot(shot) > 10_000
    assert shot.read_bytes()[:8] == PNG


def test_api_page_shows_dense_from_its_docstring(page, server):
    page.goto(server + "reference/layers/")
    heading = page.evaluate("document.getElementById('nnlite.layers.Dense')?.textContent")
    assert heading is not None and "Dense" in heading
    text = page.evaluate("document.querySelector('article').innerText")
    assert "y = f(x W + b)" in text                  # the formula of Dense's docstring
    assert "Source code in nnlite/layers/dense.py" in text
    # the doctest was rendered as code, not as a block quote
    assert page.evaluate("[...document.querySelectorAll('article code')].some(c => "
                         "c.textContent.includes('>>> layer = Dense(3'))")


def test_notebook_page_is_rendered_from_committed_outputs(page, server):
    page.goto(server + "notebooks/01_logistic_regression/")
    title = page.evaluate("document.querySelector('article h1, .jp-RenderedHTMLCommon h1')"
                          "?.textContent")
    assert title and "Logistic regression" in title
    outputs = page.evaluate("document.querySelectorAll('.jp-OutputArea-output').length")
    figures = page.evaluate("document.querySelectorAll('.jp-OutputArea-output img').length")
    assert outputs >= 5 and figures >= 1             # printed numbers and matplotlib figures
    assert page.evaluate("[...document.querySelectorAll('a')].some(a => "
                         "a.href.endsWith('01_logistic_regression.ipynb'))")   # download


def test_search_finds_dense(page, server):
    page.goto(server + "?q=Dense")
    # Material opens the search with the query of the URL; lunr runs in a web worker
    count = page.wait_for("document.querySelectorAll('.md-search-result__item').length", 60)
    assert count >= 1
    links = page.evaluate("[...document.querySelectorAll('.md-search-result__item a')]"
                          ".map(a => a.href)")
    hits = [urlsplit(link) for link in links]
    # the API entry of Dense is among the results shown first (Material renders the best ten)
    assert any(hit.path.endswith("/reference/layers/") and hit.fragment == "nnlite.layers.Dense"
               for hit in hits), links
