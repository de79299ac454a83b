"""Fonts and notebook charts: Chinese glyphs render without tofu."""

from __future__ import annotations

import os
import warnings

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import charts, fonts


def test_typst_font_choice() -> None:
    assert fonts.typst_families({}) == ["Noto Sans CJK SC"]
    assert fonts.typst_families({"font": "Microsoft YaHei"}) == [
        "Microsoft YaHei",
        "Noto Sans CJK SC",
    ]
    assert fonts.uses_system_font({"font": "Microsoft YaHei"})
    assert all(os.path.isdir(d) for d in fonts.typst_font_dirs())


def test_charts_have_no_missing_glyphs(tmp_path) -> None:
    results = synthetic_results(tmp_path / "round", n_estates=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig = charts.interval_chart(results)
        fig.savefig(tmp_path / "a.png")
        fig2 = charts.dimension_chart(results, "E003")
        fig2.savefig(tmp_path / "b.png")
    assert charts.dimension_chart(results, "nope") is None


def test_system_font_round_still_renders(tmp_path) -> None:
    """A font the machine lacks falls back to the bundled Noto Sans CJK."""
    from evaluation.report import pdf

    results = synthetic_results(
        tmp_path / "round", n_estates=3, report='\n[report]\nfont = "Font That Does Not Exist"\n'
    )
    out = pdf.render_district_pdf(results, tmp_path / "d.pdf")
    assert out.stat().st_size > 1000
