"""Reading user tables (CSV or Excel) with clear errors; the I/O edge of both packages."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from wuye_common.cells import text_frame
from wuye_common.errors import Problem, WuyeError
from wuye_common.scrub import scrub_text
from wuye_common.sheets import Limits, calamine_rows, require_file, unique_headers

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


def normalise_header(text: object) -> str:
    """Header text as users mean it: NFKC, no surrounding or inner spaces."""
    return "".join(unicodedata.normalize("NFKC", str(text)).split())


def read_table(
    path: str | Path,
    *,
    sheet: str | int = 0,
    what: str = "表格",
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Read a CSV (UTF-8 or GBK/GB18030) or Excel sheet as strings.

    Every cell is read as text (``dtype=str``) so nothing is silently converted; headers
    are normalised with :func:`normalise_header`. The header is the first row holding a
    value; rows without a value are skipped. Reads are bounded by the data
    (:mod:`wuye_common.sheets`: a sparse sheet never makes calamine allocate its whole
    range; files over ``limits`` are refused). The returned frame carries
    ``attrs["source_rows"]`` (spreadsheet row numbers) and ``attrs["file"]`` (the file's
    name, scrubbed of personal data). Raises :class:`WuyeError` naming the file and a fix.
    """
    path = Path(path)
    name = scrub_text(path.name)
    limits = limits or Limits()
    require_file(path, what, "检查 round.toml 中的路径是否正确")
    if path.stat().st_size == 0:
        raise WuyeError(Problem(f"{what}文件是空的", "重新导出该文件", file=name))
    suffix = path.suffix.lower()
    try:
        if suffix in EXCEL_SUFFIXES:
            frame, rows = _read_excel(path, sheet, limits, name)
        elif suffix in {".csv", ".txt"}:
            frame = _read_csv(path, limits, name).dropna(how="all")
            rows = frame.index.to_numpy() + 2
        else:
            raise WuyeError(
                Problem(f"不支持的{what}格式 {suffix}", "请另存为 .xlsx 或 .csv", file=name)
            )
    except WuyeError:
        raise
    except Exception as exc:  # the reader libraries raise many kinds; name the file
        raise WuyeError(
            Problem(
                f"无法读取{what}：{type(exc).__name__}: {exc}",
                "确认文件未损坏、未加密，并用 Excel 另存为 .xlsx 后重试",
                file=name,
            )
        ) from exc
    frame.columns = [normalise_header(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.attrs["source_rows"] = np.asarray(rows, dtype=np.int64)
    frame.attrs["file"] = name
    return frame


def _read_excel(
    path: Path, sheet: str | int, limits: Limits, name: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """A sheet's rows under its header (the first row holding a value) as text, and their
    row numbers; headers made unique as pandas does (``户数``, ``户数.1``)."""

    def pick(names: list[str]) -> str:
        if isinstance(sheet, int):
            if not -len(names) <= sheet < len(names):
                raise WuyeError(Problem(f"没有第 {sheet + 1} 个工作表", "检查工作表", file=name))
            return names[sheet]
        if sheet not in names:
            raise WuyeError(
                Problem(f"没有名为「{sheet}」的工作表", f"现有：{'、'.join(names)}", file=name)
            )
        return sheet

    rows, numbers, *_ = calamine_rows(path, pick, limits, file=name)
    cells = text_frame(rows, numbers - 1)
    if cells.empty:
        return pd.DataFrame(), np.zeros(0, dtype=np.int64)
    width = int(cells.columns.max()) + 1
    cells = cells.reindex(columns=range(width))
    header = ["" if pd.isna(v) else str(v) for v in cells.iloc[0].tolist()]
    headers = unique_headers([h if h.strip() else f"Unnamed: {i}" for i, h in enumerate(header)])
    body = cells.iloc[1:]
    body.columns = headers
    return body, body.index.to_numpy() + 1


def _read_csv(path: Path, limits: Limits, name: str) -> pd.DataFrame:
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    limits.check(lines, 1, file=name)
    last: Exception | None = None
    for encoding in CSV_ENCODINGS:
        try:
            return pd.read_csv(
                path, dtype=str, encoding=encoding, keep_default_na=False, na_values=[""]
            )
        except UnicodeDecodeError as exc:
            last = exc
    raise WuyeError(
        Problem(
            f"无法识别文件编码（已尝试 {', '.join(CSV_ENCODINGS)}）：{last}",
            "用 Excel 打开后另存为「CSV UTF-8」",
            file=name,
        )
    )


def rename_columns(
    frame: pd.DataFrame, aliases: dict[str, str], labels: dict[str, str] | None = None
) -> pd.DataFrame:
    """Rename columns found under any alias (Chinese or English) to canonical names.

    Two columns that map to one name (``编号`` beside ``小区编号``; a header written twice,
    which pandas reads as ``户数`` and ``户数.1``) are refused with both column names: which
    one holds the data cannot be guessed (``labels``: how the canonical names are shown)."""
    labels = labels or {}
    lookup = {normalise_header(k).lower(): v for k, v in aliases.items()}
    columns = [str(c) for c in frame.columns]
    present = set(columns)
    found: dict[str, list[str]] = {}
    for c in columns:
        base, dot, suffix = c.rpartition(".")
        written = base if dot and suffix.isdigit() and base in present else c
        if written.lower() in lookup:
            found.setdefault(lookup[written.lower()], []).append(c)
    clashes = {target: cols for target, cols in found.items() if len(cols) > 1}
    if clashes:
        raise WuyeError(
            [
                Problem(
                    f"有 {len(cols)} 列都对应「{labels.get(target, target)}」：{'、'.join(f'「{c}」' for c in cols)}，"
                    "无法确定用哪一列",
                    "只保留其中一列（删除或改名其余的列）后重试",
                    file=frame.attrs.get("file"),
                    row=1,
                    column=cols[1],
                )
                for target, cols in clashes.items()
            ]
        )
    mapping = {c: lookup[c.lower()] for c in frame.columns if str(c).lower() in lookup}
    out = frame.rename(columns=mapping)
    out.attrs = frame.attrs
    return out
