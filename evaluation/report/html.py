"""HTML reports that render anywhere: the packaged Chinese font embedded, the reports' style.

The notebooks' HTML (nbconvert) names no Chinese font, so on a machine without system CJK
fonts every character is a box. :func:`embed_font` subsets the packaged Noto Sans SC
(``fonts.matplotlib_font_file``, OFL) to the characters the page uses (fontTools), embeds
it as a base64 ``@font-face`` and adds the reports' table style: text left-aligned, verdict
and list colours (classes set by :func:`evaluation.report.tables.show`).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

from evaluation.report import fonts

FAMILY = "WuyeNotoSansSC"
MARKER = "wuye-embedded-font"
STYLE = """
body, .jp-Notebook, .jp-RenderedHTMLCommon, table, th, td, h1, h2, h3, p, li {
  font-family: "%(family)s", sans-serif !important;
}
.jp-RenderedHTMLCommon table td, .jp-RenderedHTMLCommon table th,
table.dataframe td, table.dataframe th { text-align: left !important; }
.wuye-达标 { color: #006100; background: #C6EFCE; font-weight: bold; }
.wuye-临界 { color: #9C5700; background: #FFEB9C; font-weight: bold; }
.wuye-未达标 { color: #9C0006; background: #FFC7CE; font-weight: bold; }
.wuye-红榜 { color: #ffffff; background: #c53030; font-weight: bold; }
.wuye-黑榜 { color: #ffffff; background: #1a1a1a; font-weight: bold; }
"""


@lru_cache(maxsize=8)
def subset_font(characters: str) -> bytes:
    """The packaged Noto Sans SC cut down to ``characters`` (OpenType/CFF bytes)."""
    from fontTools import subset

    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(fonts.matplotlib_font_file()), options)
    sub = subset.Subsetter(options)
    sub.populate(text=characters)
    sub.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def font_face(characters: str) -> str:
    """A ``<style>`` with the subset font as a base64 ``@font-face`` and the report style."""
    data = base64.b64encode(subset_font(characters)).decode("ascii")
    face = (
        f'@font-face {{ font-family: "{FAMILY}"; '
        f'src: url(data:font/otf;base64,{data}) format("opentype"); }}'
    )
    return f'<style id="{MARKER}">{face}{STYLE % {"family": FAMILY}}</style>'


def embed_font(html: str) -> str:
    """``html`` with the packaged font embedded (a subset of the characters it holds) and
    the report style, before ``</head>`` (idempotent)."""
    if MARKER in html:
        return html
    characters = "".join(sorted({ch for ch in html if ord(ch) >= 0x20} | {" ", "\u00a0"}))
    style = font_face(characters)
    head = html.find("</head>")
    return html[:head] + style + html[head:] if head >= 0 else style + html
