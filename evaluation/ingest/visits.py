"""The filled field sheets read back: each sampled household's recorded visit outcome.

The field sheets (``sampling.fieldsheets``) have one sheet per estate: the households by
序号 with the surveyor's 访问日期, 上门次数, 调查员, 问卷编号 and 访问结果, and below the
table the cell right of ``小区编号`` holding the estate id. :func:`read_visits` returns the
``contacts`` that :func:`evaluation.ingest.dispositions.dispositions` takes: a household
recorded 拒访 is ``refused``, 无人 ``not_reached`` (unless a response links to it), so
RR1's refusals come from the field and not only from the order of the reserves.
``空置``/``非本户`` are kept as ``vacant``/``not_household``: not eligible (AAPOR 4.x), out of
the response rates' denominators (:mod:`evaluation.ingest.dispositions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from wuye_common.errors import Problem, WuyeError, shown
from wuye_common.sheets import Limits, calamine_rows

OUTCOME_STATUS = {
    "完成": "completed",
    "拒访": "refused",
    "无人": "not_reached",
    "空置": "vacant",
    "非本户": "not_household",
}
COLUMNS = {
    "序号": "seq",
    "访问日期": "visit_date",
    "上门次数": "visits",
    "调查员": "surveyor",
    "问卷编号": "form_id",
    "访问结果": "outcome",
}
CONTACT_COLUMNS = ["household_id", "estate_id", "status", "visit_date", "visits", "form_id"]
ESTATE_LABEL = "小区编号"


def _sheet_visits(rows: list[list[object]], numbers: np.ndarray) -> tuple[str, pd.DataFrame]:
    """One estate sheet: its estate id and the household rows with a 访问结果."""
    header = [str(v).strip() for v in rows[0]]
    labels = [str(r[0]).strip() if r else "" for r in rows]
    if ESTATE_LABEL not in labels or "序号" not in header or "访问结果" not in header:
        return "", pd.DataFrame()
    at = labels.index(ESTATE_LABEL)
    estate = str(rows[at][2]).strip() if len(rows[at]) > 2 else ""
    body = rows[1:at]
    frame = pd.DataFrame(
        {
            name: [r[header.index(h)] if len(r) > header.index(h) else "" for r in body]
            for h, name in COLUMNS.items()
            if h in header
        }
    )
    frame["row"] = numbers[1:at]
    frame["outcome"] = frame["outcome"].astype(str).str.strip()
    return estate, frame[frame["outcome"] != ""]


def read_visits(paths: Iterable[str | Path], sample: pd.DataFrame) -> pd.DataFrame:
    """The recorded outcome per sampled household (:data:`CONTACT_COLUMNS`) from the filled
    field-sheet workbooks; an unknown estate, 序号 or 访问结果 is a located error."""
    s = sample.assign(estate_id=sample["estate_id"].astype(str))
    by_seq = s.set_index(["estate_id", pd.to_numeric(s["seq"]).astype(int)])["household_id"]
    estates = set(s["estate_id"])
    found, problems = [], []
    for path in paths:
        path = Path(path)
        names = calamine_rows(path, lambda n: n[0], Limits(), file=path.name)[3]
        for name in names:
            if name == "说明":
                continue
            rows, numbers, *_ = calamine_rows(path, lambda _n, s=name: s, Limits(), file=path.name)
            if not rows:
                continue
            estate, frame = _sheet_visits(rows, numbers)
            where = {"file": path.name, "sheet": name}
            if not estate:
                continue
            if estate not in estates:
                problems.append(Problem(f"小区编号 {shown(estate)} 不在本轮样本中",
                                        "核对入户表下方的小区编号", **where))  # fmt: skip
                continue
            found.append(_checked(frame.assign(estate_id=estate), by_seq, problems, where))
    if problems:
        raise WuyeError(problems)
    if not found:
        return pd.DataFrame(columns=CONTACT_COLUMNS)
    return pd.concat(found, ignore_index=True)[CONTACT_COLUMNS]


def _checked(
    frame: pd.DataFrame, by_seq: pd.Series, problems: list[Problem], where: dict
) -> pd.DataFrame:
    """Rows whose 序号 and 访问结果 are known, with household id and status."""
    seq = pd.to_numeric(frame["seq"], errors="coerce")
    status = frame["outcome"].map(OUTCOME_STATUS)
    keys = pd.MultiIndex.from_arrays([frame["estate_id"], seq.fillna(-1).astype(int)])
    household = pd.Series(by_seq.reindex(keys).to_numpy(), index=frame.index)
    for i in frame.index[status.isna()]:
        problems.append(Problem(f"访问结果 {shown(frame.at[i, 'outcome'])} 无法识别",
                                f"从下拉列表选择：{'/'.join(OUTCOME_STATUS)}",
                                row=int(frame.at[i, "row"]), column="访问结果", **where))  # fmt: skip
    for i in frame.index[household.isna() & status.notna()]:
        problems.append(Problem(f"序号 {shown(frame.at[i, 'seq'])} 不在该小区的样本中",
                                "不要增删入户表的行，序号须与抽样表一致",
                                row=int(frame.at[i, "row"]), column="序号", **where))  # fmt: skip
    keep = status.notna() & household.notna()
    out = frame[keep].assign(household_id=household[keep], status=status[keep])
    for col in ("visit_date", "visits", "form_id"):
        if col not in out:
            out[col] = None
    out["visits"] = pd.to_numeric(out["visits"], errors="coerce")
    out["form_id"] = out["form_id"].astype(str).replace({"": None, "nan": None})
    return out
