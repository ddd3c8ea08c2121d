"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium's ``--remote-debugging-pipe`` reads protocol commands from file descriptor 3 and writes
replies and events to descriptor 4, one JSON message per NUL-terminated chunk; a shell
redirection puts two pipes there, so no websocket client (or playwright) is needed.  Used by
tests/test_docs_site.py.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time

#: the flags the brief asks for: nothing in the background, no first-run work, no network
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--mute-audio", "--window-size=1280,900",
         # every host name but the local server fails at once: no request leaves the machine
         # (the notebooks' MathJax comes from a CDN) and none can hang the page load
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_LAUNCHER = """\
import fcntl, os, sys
commands, replies = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
os.dup2(commands, 3)
os.dup2(replies, 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$NNLITE_CHROMIUM``, else the first of ``CANDIDATES`` on
    PATH (Debian's ``chromium`` package installs /usr/bin/chromium)."""
    explicit = os.environ.get("NNLITE_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """The browser failed, timed out or answered a command with an error."""


class Browser:
    """One headless Chromium with a fresh profile in ``user_data_dir``, one page.

    >>> with Browser(find_chromium(), tmp) as page:        # doctest: +SKIP
    ...     page.goto("http://127.0.0.1:8000/")
    ...     page.evaluate("document.title")
    """

    def __init__(self, binary: str, user_data_dir: str, timeout: float = 60.0):
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [binary, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe",
                "about:blank"]
        # exec Chromium with the two pipe ends as descriptors 3 (commands in) and 4 (replies
        # out); a small Python launcher does the dup2 (dash cannot redirect fds above 9)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._session = None

    # ------------------------------------------------------------------ protocol
    def _send(self, method, params=None, session=True):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from Chromium within the time limit")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise BrowserError("Chromium closed the pipe: " + self._stderr())
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def command(self, method, params=None, session=True, timeout=None):
        """Send one command and return its ``result`` (events met on the way are dropped)."""
        sent = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._receive(deadline)
            if message.get("id") == sent:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def _stderr(self):
        if self.process.poll() is None:
            return "(still running)"
        return (self.process.stderr.read() or b"").decode(errors="replace")[-2000:]

    # ------------------------------------------------------------------ the page
    def __enter__(self):
        target = self.command("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.command("Target.attachToTarget",
                                {"targetId": target["targetId"], "flatten": True}, session=False)
        self._session = attached["sessionId"]
        self.command("Page.enable")
        self.command("Runtime.enable")
        return self

    def __exit__(self, *exc):
        try:
            self.command("Browser.close", session=False, timeout=10)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self.process.stderr.close()

    def evaluate(self, expression, timeout=None):
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.command("Runtime.evaluate", {"expression": expression,
                                                   "awaitPromise": True, "returnByValue": True},
                              timeout=timeout)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url):
        """Open ``url`` and wait until the page has loaded (``document.readyState``)."""
        self.command("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def wait_for(self, condition, timeout=None):
        """Poll a JavaScript condition every 100 ms until it is true; return its value."""
        limit = (timeout or self.timeout) * 1000
        script = f"""new Promise((resolve, reject) => {{
            const start = Date.now();
            const poll = () => {{
                let value; try {{ value = ({condition}); }} catch (e) {{ value = false; }}
                if (value) resolve(value);
                else if (Date.now() - start > {limit}) reject(new Error("timed out"));
                else setTimeout(poll, 100);
            }};
            poll();
        }})"""
        return self.evaluate(script, timeout=(timeout or self.timeout) + 10)

    def screenshot(self, path):
        """Write a PNG of the visible page to ``path``; returns its size in bytes."""
        data = base64.b64decode(self.command("Page.captureScreenshot", {"format": "png"})["data"])
        with open(path, "wb") as fh:
            fh.write(data)
        return len(data)
