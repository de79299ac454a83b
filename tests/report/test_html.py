"""HTML reports render anywhere: a headless browser's screenshot of a page with the embedded
(subset) font equals the same page with the whole font file, glyph for glyph.

Needs Chromium (Debian package ``chromium``; the test skips without it). On a machine
without system CJK fonts the page without the embedded font must look different (boxes):
that shows the comparison would catch a missing glyph.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import fonts, html, summary, tables

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)


def _screenshot(page: Path) -> np.ndarray:
    from PIL import Image

    shot = page.with_suffix(".png")
    subprocess.run(
        [
            str(BROWSER),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=900,1400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return np.asarray(Image.open(shot).convert("L")).astype(int)


def _system_has_cjk_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30)
    return bool(out.stdout.strip())


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    r = synthetic_results(tmp_path_factory.mktemp("html") / "round", n_estates=12)
    body = (
        "".join(f"<p>{line}</p>" for line in summary.summary_lines(r))
        + tables.show(tables.estates_table(r)).to_html()
    )
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"


def test_embedded_font_is_a_subset_holding_every_character(page) -> None:
    from io import BytesIO

    from fontTools.ttLib import TTFont

    out = html.embed_font(page)
    assert html.embed_font(out) == out  # idempotent
    font = TTFont(BytesIO(html.subset_font("".join(sorted(set(page))))))
    cmap = font.getBestCmap()
    missing = {ch for ch in page if ord(ch) >= 0x20 and ord(ch) not in cmap}
    assert not missing
    assert len(out) - len(page) < 600_000  # a subset, not the 8 MB font


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium (apt-get install chromium)")
def test_screenshot_shows_no_missing_glyphs(page, tmp_path: Path) -> None:
    embedded = tmp_path / "embedded.html"
    embedded.write_text(html.embed_font(page), encoding="utf-8")
    # the reference: the same page with the whole font file (8 MB), as if installed
    whole = base64.b64encode(fonts.matplotlib_font_file().read_bytes()).decode("ascii")
    face = f'@font-face {{ font-family: "{html.FAMILY}"; src: url(data:font/otf;base64,{whole}); }}'
    style = f"<style>{face}{html.STYLE % {'family': html.FAMILY}}</style>"
    reference = tmp_path / "reference.html"
    reference.write_text(page.replace("</head>", style + "</head>"), encoding="utf-8")
    got, want = _screenshot(embedded), _screenshot(reference)
    assert got.shape == want.shape
    differ = np.abs(got - want) > 40
    assert differ.mean() < 0.001, f"{differ.sum()} pixels differ from the render with the font"
    if not _system_has_cjk_font():  # without the font every character would be a box
        bare = tmp_path / "bare.html"
        bare.write_text(
            page.replace("</head>", f"<style>{html.STYLE % {'family': 'x'}}</style></head>")
        )
        assert (np.abs(_screenshot(bare) - want) > 40).mean() > 0.002
