"""Reading user tables (CSV or Excel) with clear errors; the I/O edge of both packages."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd

from wuye_common.errors import Problem, WuyeError

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


def normalise_header(text: object) -> str:
    """Header text as users mean it: NFKC, no surrounding or inner spaces."""
    return "".join(unicodedata.normalize("NFKC", str(text)).split())


def read_table(path: str | Path, *, sheet: str | int = 0, what: str = "表格") -> pd.DataFrame:
    """Read a CSV (UTF-8 or GBK/GB18030) or Excel sheet as strings.

    Every cell is read as text (``dtype=str``) so nothing is silently converted; headers
    are normalised with :func:`normalise_header`. The returned frame carries
    ``attrs["source_rows"]`` (spreadsheet row numbers, header = 1) and
    ``attrs["file"]``. Raises :class:`WuyeError` naming the file and a fix.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise WuyeError(
            Problem(f"找不到{what}文件", "检查 round.toml 中的路径是否正确", file=str(path))
        )
    if path.stat().st_size == 0:
        raise WuyeError(Problem(f"{what}文件是空的", "重新导出该文件", file=name))
    suffix = path.suffix.lower()
    try:
        if suffix in EXCEL_SUFFIXES:
            frame = pd.read_excel(path, sheet_name=sheet, dtype=str, engine="calamine")
        elif suffix in {".csv", ".txt"}:
            frame = _read_csv(path)
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
    frame = frame.dropna(how="all")
    frame.attrs["source_rows"] = frame.index.to_numpy() + 2
    frame.attrs["file"] = name
    return frame.reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
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
            file=path.name,
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
