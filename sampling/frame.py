"""Reading and checking the sampling frame (住户清册: one row per household)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sampling.tables import read_table, rename_columns
from wuye_common.errors import Problem, WuyeError
from wuye_common.scrub import scrub_text
from wuye_common.sheets import Limits

FRAME_COLUMNS: dict[str, str] = {
    "estate_id": "estate_id",
    "小区编号": "estate_id",
    "编号": "estate_id",
    "building": "building",
    "楼栋": "building",
    "楼栋号": "building",
    "楼号": "building",
    "栋": "building",
    "幢": "building",
    "unit": "unit",
    "单元": "unit",
    "单元号": "unit",
    "floor": "floor",
    "楼层": "floor",
    "层": "floor",
    "room": "room",
    "房号": "room",
    "房间号": "room",
    "门牌号": "room",
    "室": "room",
    "occupied": "occupied",
    "是否入住": "occupied",
    "入住": "occupied",
    "入住情况": "occupied",
    "入住状态": "occupied",
}
FRAME_LABELS = {
    "estate_id": "小区编号",
    "building": "楼栋",
    "unit": "单元",
    "floor": "楼层",
    "room": "房号",
    "occupied": "是否入住",
}
REQUIRED_FRAME = ("estate_id", "building", "room")
OCCUPIED_TRUE = {"是", "已入住", "入住", "有人", "y", "yes", "true", "1", "√", "✓"}
OCCUPIED_FALSE = {"否", "未入住", "空置", "空", "无人", "n", "no", "false", "0", "×"}
MAX_ROW_PROBLEMS = 50


def household_ids(frame: pd.DataFrame) -> pd.Series:
    """``"{estate_id}|{building}|{unit}|{room}"`` for every row."""
    texts = {
        c: _Text(*pd.factorize(frame[c].astype(str).to_numpy(dtype=object), use_na_sentinel=False))
        for c in ("estate_id", "building", "unit", "room")
    }
    return pd.Series(_joined_ids(texts), index=frame.index, name="household_id")


@dataclass
class _Text:
    """A text column as codes into its distinct values."""

    codes: np.ndarray
    values: np.ndarray

    def series(self, index: pd.Index) -> pd.Series:
        return pd.Series(pd.array(self.values[self.codes], dtype="str"), index=index)

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        """Per row: ``wanted`` (one flag per distinct value) of its value."""
        return np.asarray(wanted, dtype=bool)[self.codes]

    def take(self, keep: np.ndarray) -> _Text:
        return _Text(self.codes[keep], self.values)


def _joined_ids(texts: dict[str, _Text]) -> pd.arrays.StringArray:
    """``estate|building|unit|room`` per row: the prefix is joined once per distinct
    (estate, building, unit), then one concatenation per row."""
    group = _group_codes([texts[c] for c in ("estate_id", "building", "unit")])
    first = np.flatnonzero(~pd.Series(group).duplicated().to_numpy())  # code k first at first[k]
    parts = [texts[c].values[texts[c].codes[first]] for c in ("estate_id", "building", "unit")]
    prefix = parts[0] + "|" + parts[1] + "|" + parts[2] + "|"
    room = texts["room"]
    return pd.array(prefix[group] + room.values[room.codes], dtype="str")


def _group_codes(texts: list[_Text]) -> np.ndarray:
    """Codes of the rows' value combinations, numbered in order of first appearance."""
    key = np.zeros(len(texts[0].codes), dtype=np.int64)
    for text in texts:
        key = key * max(len(text.values), 1) + text.codes
        key = pd.factorize(key)[0]  # stays below the number of rows: never overflows
    return key


def _clean(values: pd.Series) -> _Text:
    """Text as users mean it: NFKC, stripped; missing → ``""``. Work on distinct values."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    cleaned = np.array(
        [unicodedata.normalize("NFKC", str(u)).strip() for u in uniques] + [""], dtype=object
    )
    distinct, values_ = pd.factorize(cleaned)  # a missing value's code -1 takes the last, ""
    return _Text(distinct[codes], np.asarray(values_, dtype=object))


def load_frame(
    path: str | Path,
    register: pd.DataFrame,
    *,
    known_estates: Iterable[str] = (),
    sheet: str | int = 0,
    limits: Limits | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Read the household frame (Excel or CSV) and check it against the 台账.

    Returns ``(frame, warnings)``; ``frame`` has ``estate_id, building, unit, floor, room,
    occupied`` (bool; all ``True`` when the file has no 是否入住 column; blank cells count
    as occupied) and ``household_id``, all text stripped and NFKC-normalised. Raises
    :class:`WuyeError` listing, with row numbers, missing estate/building/room cells,
    duplicate rooms (same estate, building, unit, room), unreadable 是否入住 values and
    estates absent from ``register``. Estates listed in ``known_estates`` (e.g. the full
    台账 of a quarterly round, which covers only 还建社区) are removed with a warning
    instead. Warnings also report estates whose number of rows differs from the 台账
    ``households`` (the frame's count is used, since it is what is drawn from) and 台账
    estates without any frame rows (they cannot be sampled). ``limits``: the row and cell
    ceilings of the read (default :class:`~wuye_common.sheets.Limits`; a round's
    ``[ingest] max_rows`` / ``max_cells``, see :func:`sampling.design.run_sampling`).
    The checks work on each column's distinct values and codes.
    """
    name = scrub_text(Path(path).name)
    frame, rows = _read_frame(path, sheet, name, limits)
    empty = _Text(np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object))
    texts = {
        col: _clean(frame[col]) if col in frame.columns else empty
        for col in ("estate_id", "building", "unit", "floor", "room")
    }
    out = pd.DataFrame({col: text.series(frame.index) for col, text in texts.items()})
    problems = _RowProblems(name, rows)
    for col in REQUIRED_FRAME:
        problems.report(
            texts[col].rows(texts[col].values == ""),
            col,
            "不能为空",
            f"补上{FRAME_LABELS[col]}，或删除该行",
        )
    known = set(register["estate_id"].astype(str)) if "estate_id" in register else set()
    elsewhere = set(map(str, known_estates)) - known
    _check_estates(out, texts["estate_id"], known | elsewhere, problems)
    _check_duplicates(out, texts, problems)
    out["occupied"] = _occupied(frame, problems)
    if problems.items:
        raise WuyeError(problems.items)

    warnings: list[Problem] = []
    dropped = texts["estate_id"].rows(pd.Index(texts["estate_id"].values).isin(elsewhere))
    if dropped.any():
        counts = out.loc[dropped, "estate_id"].value_counts().sort_index()
        warnings.append(
            Problem(
                f"住户清册中有 {len(counts)} 个小区（{'、'.join(counts.index[:10])}"
                f"{'等' if len(counts) > 10 else ''}，共 {int(counts.sum())} 户）不在本轮评估范围内，已不参与抽样",
                "无需处理；如需评估这些小区，请检查评估期与服务等级",
                file=name,
            )
        )
        out = out.loc[~dropped]
        texts = {col: text.take(~dropped) for col, text in texts.items()}
    out = out.reset_index(drop=True)
    out["household_id"] = pd.Series(_joined_ids(texts), index=out.index, name="household_id")
    warnings += _count_warnings(out, register, name)
    out.attrs = {"file": name}
    return out, warnings


def _read_frame(
    path: str | Path, sheet: str | int, name: str, limits: Limits | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame's rows with canonical column names, and their row numbers in the file
    (read within ``limits``: default :class:`~wuye_common.sheets.Limits`); refuses a frame
    without estate, building or room column."""
    raw = read_table(path, sheet=sheet, what="住户清册", limits=limits)
    rows = np.asarray(raw.attrs["source_rows"], dtype=np.int64)
    # pandas deep-copies ``attrs`` on every operation: drop the per-row list at once.
    raw.attrs = {"file": name}
    frame = rename_columns(raw, FRAME_COLUMNS, FRAME_LABELS)
    missing = [c for c in REQUIRED_FRAME if c not in frame.columns]
    if missing:
        labels = "、".join(f"{FRAME_LABELS[c]}（{c}）" for c in missing)
        raise WuyeError(
            Problem(
                f"住户清册缺少列：{labels}",
                f"在第一行加上这些列名；现有列：{'、'.join(map(str, raw.columns))}",
                file=name,
                row=1,
            )
        )
    return frame, rows


class _RowProblems:
    """Problems found in the frame's rows (file ``name``, row numbers ``rows``)."""

    def __init__(self, name: str, rows: np.ndarray) -> None:
        self.name = name
        self.rows = rows
        self.items: list[Problem] = []

    def report(
        self,
        mask: np.ndarray,
        column: str,
        message: str,
        fix: str,
        details: list[str] | None = None,
    ) -> None:
        """One problem per row of ``mask`` (the first :data:`MAX_ROW_PROBLEMS`, then one
        counting the rest)."""
        hits = np.flatnonzero(mask)
        for k, i in enumerate(hits[:MAX_ROW_PROBLEMS]):
            extra = details[k] if details else ""
            self.items.append(
                Problem(
                    f"{message}{extra}",
                    fix,
                    file=self.name,
                    row=int(self.rows[i]),
                    column=FRAME_LABELS[column],
                )
            )
        if len(hits) > MAX_ROW_PROBLEMS:
            self.items.append(
                Problem(
                    f"另有 {len(hits) - MAX_ROW_PROBLEMS} 行同样{message}",
                    fix,
                    file=self.name,
                    column=FRAME_LABELS[column],
                )
            )


def _check_estates(
    out: pd.DataFrame, estates: _Text, allowed: set[str], problems: _RowProblems
) -> None:
    """One problem per estate id that is neither in the 台账 nor known elsewhere."""
    values = estates.values
    unknown = estates.rows((values != "") & ~pd.Index(values).isin(allowed))
    if not unknown.any():
        return
    bad = pd.DataFrame({"estate_id": out.loc[unknown, "estate_id"], "row": problems.rows[unknown]})
    for estate, group in bad.groupby("estate_id", sort=True):
        shown = "、".join(str(r) for r in group["row"].head(5))
        more = f" 等 {len(group)} 行" if len(group) > 5 else ""
        problems.items.append(
            Problem(
                f"小区编号「{estate}」不在台账中（第 {shown} 行{more}）",
                "核对小区编号是否与台账一致，或在台账中补上该小区",
                file=problems.name,
                row=int(group["row"].iloc[0]),
                column=FRAME_LABELS["estate_id"],
            )
        )


def _check_duplicates(out: pd.DataFrame, texts: dict[str, _Text], problems: _RowProblems) -> None:
    """Rooms listed twice (same estate, building, unit, room)."""
    key = ["estate_id", "building", "unit", "room"]
    complete = np.ones(len(out), dtype=bool)
    for col in ("estate_id", "building", "room"):
        complete &= texts[col].rows(texts[col].values != "")
    group = _group_codes([texts[c] for c in key])
    dup = pd.Series(group, index=out.index).duplicated(keep="first") & complete
    if not dup.any():
        return
    first_row = (
        pd.Series(problems.rows, index=out.index)
        .groupby([out[k] for k in key], sort=False)
        .transform("first")
    )
    # Row numbers only: room numbers are personal data and stay out of messages.
    details = [
        f"（与第 {int(f)} 行为同一楼栋、单元、房号）" for f in first_row[dup].head(MAX_ROW_PROBLEMS)
    ]
    problems.report(
        dup.to_numpy(),
        "room",
        "房号重复",
        "同一小区同一楼栋单元内每个房号只能出现一次，删除重复行",
        details[:MAX_ROW_PROBLEMS],
    )


def _occupied(frame: pd.DataFrame, problems: _RowProblems) -> pd.Series | bool:
    """是否入住 as booleans (blank: occupied; no column: all occupied); reports values
    that are neither yes nor no."""
    if "occupied" not in frame.columns:
        return True
    text = _clean(frame["occupied"])
    lower = pd.Index([v.lower() for v in text.values], dtype=object)
    bad = (lower != "") & ~lower.isin(OCCUPIED_TRUE | OCCUPIED_FALSE)
    problems.report(
        text.rows(bad), "occupied", "是否入住的值无法识别", "填写 是 或 否（空白视为已入住）"
    )
    return pd.Series(text.rows(~lower.isin(OCCUPIED_FALSE)), index=frame.index)


def _count_warnings(out: pd.DataFrame, register: pd.DataFrame, name: str) -> list[Problem]:
    """Estates whose number of frame rows differs from the 台账 ``households``, and 台账
    estates without frame rows."""
    if "households" not in register or not len(register):
        return []
    warnings: list[Problem] = []
    reg = register.set_index(register["estate_id"].astype(str))["households"]
    units = out.groupby("estate_id", sort=False).size()
    occupied_n = out.groupby("estate_id", sort=False)["occupied"].sum()
    both = units.index.intersection(reg.index)
    differ = both[(units[both] != reg[both]).to_numpy()]
    for estate in sorted(differ):
        vacant = int(units[estate] - occupied_n[estate])
        note = f"（另有空置 {vacant} 户不参与抽样）" if vacant else ""
        warnings.append(
            Problem(
                f"小区「{estate}」住户清册有 {int(units[estate])} 户，台账登记 {int(reg[estate])} 户；"
                f"样本量按住户清册的 {int(occupied_n[estate])} 户已入住住户计算并从中抽取{note}",
                "核对台账户数或补全住户清册",
                file=name,
                column=FRAME_LABELS["estate_id"],
            )
        )
    absent = sorted(set(reg.index) - set(units.index))
    if absent:
        warnings.append(
            Problem(
                f"台账中 {len(absent)} 个小区在住户清册中没有任何住户：{'、'.join(absent[:20])}"
                f"{'等' if len(absent) > 20 else ''}；这些小区无法抽样",
                "在住户清册中补上这些小区的住户",
                file=name,
            )
        )
    return warnings
