"""Fonts: the OFL Noto CJK fonts shipped on PyPI, so no system font is needed.

* Typst: the Noto Sans CJK variable font from ``manimgx-fonts-cjk`` (bold works).
* matplotlib: ``NotoSansSC-Regular.otf`` from ``pylopdf-fonts-zh-cn`` (the variable font's
  default instance is hairline-thin in matplotlib), used through a concrete family list so
  that Latin glyphs come from DejaVu Sans and Chinese ones fall back glyph by glyph.

A round may name a system font in ``round.toml``: ``[report] font = "Microsoft YaHei"``
(Typst then also searches the system fonts; the bundled font stays as the fallback).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from wuye_common.resources import package_dir

TYPST_FAMILY = "Noto Sans CJK SC"
MPL_FAMILY = "Noto Sans SC"


@cache
def typst_font_dirs() -> tuple[str, ...]:
    """Folders holding the Typst CJK font (Typst's ``font_paths`` takes folders, not files)."""
    return (str(package_dir("manimgx_fonts_cjk")),)


def typst_families(report: dict | None = None) -> list[str]:
    """Font families for Typst, the round's chosen system font first when given."""
    chosen = str((report or {}).get("font") or "").strip()
    return [chosen, TYPST_FAMILY] if chosen else [TYPST_FAMILY]


def uses_system_font(report: dict | None = None) -> bool:
    """Whether ``round.toml`` asks for a system font (Typst must then search system fonts)."""
    return bool(str((report or {}).get("font") or "").strip())


@cache
def matplotlib_font_file() -> Path:
    """Path of the regular-weight Noto Sans SC used for charts."""
    return package_dir("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf"


@cache
def setup_matplotlib() -> list[str]:
    """Register the CJK font with matplotlib and set the family list; returns the families."""
    from matplotlib import font_manager, rcParams

    font_manager.fontManager.addfont(str(matplotlib_font_file()))
    families = ["DejaVu Sans", MPL_FAMILY]
    rcParams["font.family"] = families
    rcParams["axes.unicode_minus"] = False
    return families
