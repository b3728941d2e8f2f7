"""What the report-picture tests share: names no diagram may choke on, and a check that a page draws.

`assert_draws` renders Markdown with Mermaid in headless Chromium (`diagrams.browser`) and fails when
Mermaid reports an error, when a diagram is not drawn as an <svg> holding the expected texts, or when the
screenshot is blank — so a picture test cannot pass on a page that drew nothing.
"""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from diagrams import browser

NASTY = 'db "main" [x] {y} (z) <b>bold</b> `code` #1; a|b ünïcødé end --> :x'


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of an 8-bit RGB(A) PNG (Chromium's screenshots)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def assert_draws(markdown: str, out: Path, *, texts: list[list[str]]) -> str:
    """Draw ``markdown`` in headless Chromium; each diagram must be an <svg> holding its ``texts``."""
    drawn = browser.render(markdown, out, height=3000)
    dom = drawn.dom
    assert 'data-mermaid="done"' in dom, re.findall(r'data-error="[^"]*"', dom)
    assert "Syntax error" not in dom
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", dom, re.S)
    assert len(svgs) == len(browser.mermaid_blocks(markdown)) == len(texts)
    for svg, wanted in zip(svgs, texts, strict=True):
        shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", svg)).replace("&amp;", "&").replace("&lt;", "<")\
            .replace("&gt;", ">").replace("&quot;", '"')
        for w in wanted:
            assert w in shown, (w, shown[:2000])
    _, _, raw = png_pixels(drawn.png)
    assert sum(1 for b in raw[::97] if b < 200) > len(raw[::97]) * 0.002, "the screenshot is blank"
    return dom
