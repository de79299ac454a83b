"""The error type of both packages: every expected failure names where and how to fix it.

A :class:`Problem` is what reaches the user (the CLI prints it, the API raises it), so it
is also one edge where free text is cleaned: every field is passed through
:func:`wuye_common.scrub.scrub_text` (a phone number in a file name or a cell never reaches
an error message), control characters become ``�`` (a cell's ``ESC[2J`` does not clear
the terminal) and each field is cut to :data:`MAX_FIELD` characters (a 1 MB cell is not
echoed back). Messages quote input values through :func:`shown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from wuye_common.scrub import scrub_text

MAX_FIELD = 2000
"""Longest text kept in one field of a :class:`Problem` (longer: cut, with ``…``)."""
SHOWN = 40
"""Longest input value quoted by :func:`shown`."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str, limit: int = MAX_FIELD) -> str:
    """``text`` safe to print and store: personal data scrubbed, control and bidi
    characters as ``�``, at most ``limit`` characters (cut with ``…``)."""
    if len(text) > 4 * limit:  # scrub only what is kept (a value cut here is not readable)
        text = text[: 4 * limit]
    text = _CONTROL.sub("\ufffd", scrub_text(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: object, limit: int = SHOWN) -> str:
    """An input value as quoted in a message: its text (``repr`` for non-text), cleaned
    (:func:`clean_text`) and cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    return clean_text(text[: 4 * limit], limit)


@dataclass(frozen=True)
class Problem:
    """One problem found in an input, located as precisely as the input allows.

    ``row`` is the 1-based row number as a spreadsheet program shows it (header = 1)
    when the input is a table; ``None`` when the problem is not about one row. Text
    fields are cleaned on creation (:func:`clean_text`).
    """

    message: str
    fix: str = ""
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "row":
                continue
            if value is not None and not isinstance(value, str):
                value = str(value)
            if value:
                object.__setattr__(self, f.name, clean_text(value))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"文件 {self.file}")
        if self.sheet:
            where.append(f"工作表 {self.sheet}")
        if self.row is not None:
            where.append(f"第 {self.row} 行")
        if self.column:
            where.append(f"列「{self.column}」")
        text = ("，".join(where) + "：" if where else "") + self.message
        if self.fix:
            text += f"（处理办法：{self.fix}）"
        return text


class WuyeError(Exception):
    """An input or argument problem that the user can fix; carries ``problems``."""

    def __init__(self, problems: list[Problem] | Problem | str, fix: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(problems, fix)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
