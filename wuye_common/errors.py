"""The error type of both packages: every expected failure names where and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input, located as precisely as the input allows.

    ``row`` is the 1-based row number as a spreadsheet program shows it (header = 1)
    when the input is a table; ``None`` when the problem is not about one row.
    """

    message: str
    fix: str = ""
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

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
