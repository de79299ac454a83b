"""Back-checks (电话回访): the 回访名单 drawn at ingest, and the call results read back.

**The draw** — ``m = ⌈backcheck_share × accepted forms⌉`` forms (at least one per surveyor):

1. a random part: one form of every surveyor, chosen uniformly (without surveyors: none), so
   that every surveyor is checked whatever his risk;
2. a risk part: the other ``m − part 1`` forms drawn without replacement with probability
   proportional to ``w = 1 + r_form + r_surveyor`` (``r_form``: the form's number of quality
   codes; ``r_surveyor``: its surveyor's fabrication score), by the weighted-sampling keys
   ``u^(1/w)`` of Efraimidis & Spirakis (2006), seeded with the round's seed.

Each listed form carries its inclusion probability, approximated as
``π = p₁ + (1 − p₁) · min(1, r w / Σw)`` (``p₁``: its part-1 probability, ``r``: the part-2
size), so that rates can be weighted back to all the surveyor's forms.

The list holds the phone number (collected "仅用于回访核实"), building and room as the form
gives them: it is written for the agency's call team only, into the round's secrets folder
(never under the reports), by :func:`evaluation.pipeline.ingest_step`.

**The results** — ``wuye-eval backcheck ROUND FILE`` reads the list back with its 回访结果
column: 属实/确认 (``confirmed``), 非本户 (``not_household``), 未入户 (``no_visit``), 答案不符
(``differs``), 未接通/拒访 (``unreached``, not counted). Per surveyor: ``checked`` (reached
calls), ``failed`` (the three failures), ``fail_rate = failed / checked`` with its exact
Clopper–Pearson 95 % interval (``fail_low, fail_high``) — the rate among checked forms, which
lean to the risky ones — and ``fail_rate_weighted``, the Hájek estimate
``Σ y/π / Σ 1/π`` of the share of all his forms. Forms proven fabricated (非本户, 未入户) are
quarantined and the round re-scored; 答案不符 is flagged.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

from wuye_common.errors import Problem, WuyeError

FABRICATED = ("not_household", "no_visit")
DIFFERS = ("differs",)
#: the 回访结果 as written → result code
RESULTS: dict[str, str] = {
    "属实": "confirmed",
    "确认": "confirmed",
    "已核实": "confirmed",
    "confirmed": "confirmed",
    "非本户": "not_household",
    "不是本户": "not_household",
    "not_household": "not_household",
    "未入户": "no_visit",
    "没有入户": "no_visit",
    "无人上门": "no_visit",
    "no_visit": "no_visit",
    "答案不符": "differs",
    "differs": "differs",
    "未接通": "unreached",
    "无人接听": "unreached",
    "拒访": "unreached",
    "空号": "unreached",
    "unreached": "unreached",
}
RESULT_LABELS = {
    "confirmed": "属实",
    "not_household": "非本户",
    "no_visit": "未入户",
    "differs": "答案不符",
    "unreached": "未接通",
}
#: columns of the 回访名单 (Chinese headers of the file)
LIST_HEADERS: dict[str, str] = {
    "response_id": "答卷编号",
    "estate_name": "小区",
    "building": "楼栋",
    "room": "房号",
    "phone": "电话",
    "method": "回访方式",
    "surveyor_name": "调查员",
    "submitted_at": "提交时间",
    "source_file": "来源文件",
    "source_row": "原始行号",
    "inclusion": "入选概率",
    "result": "回访结果",
    "note": "备注",
}
CONFIDENCE = 0.95


def draw_backcheck(
    surveyor: pd.Series,
    risk: np.ndarray,
    surveyor_risk: np.ndarray,
    share: float,
    seed: int,
) -> pd.DataFrame:
    """Positions of the forms on the 回访名单 and their inclusion probabilities (module doc):
    ``position, inclusion, part`` (``random``/``risk``), in position order."""
    n = len(surveyor)
    if n == 0 or share <= 0:
        return pd.DataFrame({"position": [], "inclusion": [], "part": []})
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xBACC])
    code = pd.factorize(surveyor, use_na_sentinel=True)[0]
    m = max(math.ceil(share * n), int(code.max(initial=-1)) + 1)
    m = min(m, n)
    u = rng.random(n)
    # part 1: one form per surveyor, uniformly (the smallest uniform within the surveyor)
    has = code >= 0
    first = np.zeros(n, dtype=bool)
    if has.any():
        at = np.flatnonzero(has)
        order = at[np.lexsort((u[at], code[at]))]
        starts = np.r_[True, code[order][1:] != code[order][:-1]]
        first[order[starts]] = True
    sizes = np.bincount(code[has], minlength=int(code.max(initial=-1)) + 1)
    sizes = np.append(sizes, 1)  # code −1 (no surveyor) looks up the last slot
    p1 = np.where(has, 1.0 / np.maximum(sizes[code], 1), 0.0)
    # part 2: weighted without replacement (Efraimidis–Spirakis keys)
    weight = 1.0 + np.asarray(risk, float) + np.clip(np.nan_to_num(surveyor_risk), 0, None)
    rest = np.flatnonzero(~first)
    r = max(m - int(first.sum()), 0)
    keys = rng.random(len(rest)) ** (1.0 / weight[rest])
    chosen = rest[np.argsort(-keys, kind="stable")[:r]]
    p2 = np.minimum(1.0, r * weight / weight[rest].sum()) if len(rest) else np.zeros(n)
    pick = np.zeros(n, dtype=bool)
    pick[first] = True
    pick[chosen] = True
    where = np.flatnonzero(pick)
    return pd.DataFrame(
        {
            "position": where,
            "inclusion": (p1 + (1 - p1) * p2)[where],
            "part": np.where(first[where], "random", "risk"),
        }
    )


def read_results(path: str | Path) -> pd.DataFrame:
    """The call results of a returned 回访名单: ``response_id, result`` (codes of
    :data:`RESULTS`; rows without a result are left out). Located errors for a file
    without the columns or with a result it does not know."""
    from sampling.tables import read_table

    path = Path(path)
    table = read_table(path, what="回访结果")
    names = {v: k for k, v in LIST_HEADERS.items()}
    table = table.rename(columns={c: names.get(str(c).strip(), c) for c in table.columns})
    missing = [LIST_HEADERS[c] for c in ("response_id", "result") if c not in table.columns]
    if missing:
        raise WuyeError(
            Problem(
                f"回访结果文件缺少列：{'、'.join(missing)}",
                "使用导入时生成的回访名单，在「回访结果」列填写 属实/非本户/未入户/答案不符/未接通",
                file=path.name,
                row=1,
            )
        )
    rows = np.asarray(table.attrs.get("source_rows", np.arange(2, len(table) + 2)))
    text = table["result"].astype("string").str.strip()
    given = text.notna() & (text != "")
    code = text.map(lambda t: RESULTS.get(t) if isinstance(t, str) else None)
    unknown = given & code.isna()
    if unknown.any():
        raise WuyeError(
            [
                Problem(
                    f"无法识别的回访结果「{t}」",
                    "只能填写 属实、非本户、未入户、答案不符、未接通",
                    file=path.name,
                    row=int(r),
                    column="回访结果",
                )
                for t, r in zip(text[unknown], rows[unknown.to_numpy()], strict=True)
            ][:50]
        )
    out = pd.DataFrame(
        {
            "response_id": table["response_id"].astype("string").str.strip(),
            "result": code,
            "inclusion": pd.to_numeric(table.get("inclusion"), errors="coerce")
            if "inclusion" in table.columns
            else np.nan,
        }
    )[given.to_numpy()]
    return out.dropna(subset=["response_id"]).reset_index(drop=True)


def backcheck_rates(
    backchecks: pd.DataFrame | None, response_id: pd.Series, surveyor: pd.Series
) -> pd.DataFrame:
    """Per surveyor: ``checked, failed, fail_rate, fail_low, fail_high,
    fail_rate_weighted`` from the call results (module doc; each result's surveyor through
    its form's ``response_id``); empty without results."""
    columns = [
        "surveyor",
        "checked",
        "failed",
        "fail_rate",
        "fail_low",
        "fail_high",
        "fail_rate_weighted",
    ]
    if backchecks is None or backchecks.empty:
        return pd.DataFrame(columns=columns)
    of = pd.Series(surveyor.to_numpy(dtype=object), index=response_id.to_numpy(dtype=object))
    reached = backchecks[backchecks["result"].isin(["confirmed", *FABRICATED, *DIFFERS])].copy()
    reached["surveyor"] = reached["response_id"].map(of)
    reached["fail"] = reached["result"].isin([*FABRICATED, *DIFFERS]).astype(float)
    inclusion = pd.to_numeric(reached.get("inclusion", np.nan), errors="coerce")
    reached["w"] = (1.0 / inclusion.where(inclusion > 0)).fillna(1.0)
    grouped = reached.groupby("surveyor", dropna=True)
    table = grouped.agg(checked=("fail", "size"), failed=("fail", "sum")).reset_index()
    weighted = (reached["fail"] * reached["w"]).groupby(reached["surveyor"]).sum() / grouped[
        "w"
    ].sum()
    k, n = table["failed"].to_numpy(), table["checked"].to_numpy()
    low, high = clopper_pearson(k, n, CONFIDENCE)
    table["failed"] = table["failed"].astype(np.int64)
    table["fail_rate"] = k / np.where(n > 0, n, np.nan)
    table["fail_low"], table["fail_high"] = low, high
    table["fail_rate_weighted"] = table["surveyor"].map(weighted).to_numpy(dtype=float)
    return table[columns]


def clopper_pearson(
    k: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval (Clopper & Pearson 1934): ``Beta(α/2; k, n−k+1)`` and
    ``Beta(1−α/2; k+1, n−k)``, 0 and 1 at the ends."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)
