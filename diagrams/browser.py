"""Render a Markdown report's Mermaid blocks in headless Chromium: an HTML page, its DOM after drawing, a screenshot.

Why a real browser: Mermaid's grammar is strict and changes between
versions (``xychart-beta``, gantt date formats); a report whose diagram
text is wrong shows a red "Syntax error" box where the chart should be.
Only drawing it proves it draws. Chromium comes from Debian's packages and
mermaid.js from the npm registry (``npm pack mermaid@MERMAID_VERSION``), both
installed by ``scripts/setup-browser`` — mermaid's JavaScript lives in the
cache (``~/.cache/akshift/mermaid-<version>/mermaid.min.js``), never in the
repository. Nothing here reaches the network: the page loads only the local
script, and Chromium runs with background networking, sync and component
updates off, in a fresh profile directory.

The page sets ``data-mermaid="done"`` (or ``"error"`` with the message) on
``<body>`` once every block is drawn; ``--virtual-time-budget`` lets the
asynchronous drawing finish before Chromium dumps the DOM or takes the
screenshot.
"""
from __future__ import annotations

import dataclasses
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from errors import AkshiftError, ErrorKind

MERMAID_VERSION = "12.3.0"  # exact: scripts/setup-browser fetches this one (npm pack), tests draw with it
CACHE_ROOT = Path(os.environ.get("AKSHIFT_CACHE", Path.home() / ".cache" / "akshift"))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--disable-default-apps", "--disable-extensions")
_BLOCK = re.compile(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


class BrowserError(AkshiftError):
    """Chromium or mermaid.js is missing, or Chromium failed (the environment, exit 3)."""

    kind = ErrorKind.ENVIRONMENT


def mermaid_js(cache_root: Path = CACHE_ROOT) -> Path:
    """The cached ``mermaid.min.js`` of :data:`MERMAID_VERSION`.

    Raises:
        BrowserError: it was not fetched yet.
    """
    path = cache_root / f"mermaid-{MERMAID_VERSION}" / "mermaid.min.js"
    if not path.is_file():
        raise BrowserError(f"mermaid.js {MERMAID_VERSION} is not in {path.parent}", fix="run scripts/setup-browser")
    return path


def chromium() -> str:
    """The path of Debian's ``chromium`` (or a ``chromium-browser``/``google-chrome`` on PATH).

    Raises:
        BrowserError: none is installed.
    """
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("no headless browser: chromium is not installed", fix="run scripts/setup-browser")


def mermaid_blocks(markdown: str) -> list[str]:
    """The text of every fenced ``mermaid`` block, in order."""
    return [m.group(1) for m in _BLOCK.finditer(markdown)]


def html_page(markdown: str, script: str = "mermaid.min.js", title: str = "report") -> str:
    """An HTML page drawing every Mermaid block of ``markdown`` with the local ``script``.

    Each block becomes ``<pre class="mermaid" id="diagram-N">`` (its text HTML-escaped); the page marks
    ``<body data-mermaid="done">`` when all are drawn, or ``"error"`` with ``data-error``.
    """
    blocks = "\n".join(f'<h2>diagram {i + 1}</h2>\n<pre class="mermaid" id="diagram-{i}">{html.escape(b)}</pre>'
                       for i, b in enumerate(mermaid_blocks(markdown)))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; background: #fff; margin: 16px; width: 1100px; }}
pre.mermaid {{ width: 1060px; }}</style>
<script src="{html.escape(script)}"></script></head>
<body data-mermaid="pending">
{blocks}
<script>
mermaid.initialize({{ startOnLoad: false, securityLevel: "strict", theme: "default" }});
mermaid.run({{ querySelector: "pre.mermaid" }}).then(
  () => {{ document.body.dataset.mermaid = "done"; }},
  (e) => {{ document.body.dataset.mermaid = "error"; document.body.dataset.error = String(e && e.message || e); }});
</script>
</body></html>
"""


@dataclasses.dataclass(frozen=True)
class Rendered:
    """What :func:`render` produced: the page, the DOM after drawing, and a PNG screenshot."""

    page: Path
    dom: str
    png: Path


def _run(browser: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="akshift-chromium-") as profile:
        cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise BrowserError(f"chromium did not finish within {timeout:.0f}s ({' '.join(args[:1])})") from e


def render(markdown: str, out_dir: Path, *, width: int = 1200, height: int = 2400, timeout: float = 120.0,
           cache_root: Path = CACHE_ROOT) -> Rendered:
    """Draw ``markdown``'s Mermaid blocks in headless Chromium.

    Args:
        markdown: the report text.
        out_dir: where ``report.html``, ``mermaid.min.js`` (a copy) and ``report.png`` are written.
        width, height: the screenshot's size in pixels.
        timeout: seconds per Chromium run.
        cache_root: where scripts/setup-browser put mermaid.js.

    Returns:
        The page, the DOM Chromium serialized after drawing, and the screenshot.

    Raises:
        BrowserError: Chromium or mermaid.js is missing, or Chromium failed.
    """
    browser = chromium()
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mermaid_js(cache_root), out_dir / "mermaid.min.js")
    page = out_dir / "report.html"
    page.write_text(html_page(markdown), encoding="utf-8")
    budget = "--virtual-time-budget=15000"  # let mermaid's asynchronous drawing finish first
    dom = _run(browser, [budget, "--dump-dom", page.as_uri()], timeout)
    if dom.returncode != 0 or "<body" not in dom.stdout:
        raise BrowserError(f"chromium --dump-dom failed (exit {dom.returncode}): {dom.stderr.strip()[-300:]}")
    png = out_dir / "report.png"
    shot = _run(browser, [budget, f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()], timeout)
    if shot.returncode != 0 or not png.is_file():
        raise BrowserError(f"chromium --screenshot failed (exit {shot.returncode}): {shot.stderr.strip()[-300:]}")
    return Rendered(page, dom.stdout, png)
