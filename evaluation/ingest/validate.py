"""Validation rules: answer decoding, durations, and the quarantine reason codes.

Every input row ends either accepted or quarantined with exactly one reason (the first
rule it breaks, in the order given in :mod:`evaluation.ingest.ingest`). Codes are stable English
identifiers; messages are Chinese for the quarantine workbook.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from evaluation.ingest.readers import SKIP_MARKERS
from evaluation.ingest.uniques import on_uniques
from wuye_common.domains import number_values, to_number

#: reason code → Chinese message
REASONS: dict[str, str] = {
    "blank_row": "空行：没有任何题目作答",
    "missing_required": "必答信息缺失",
    "unknown_estate": "小区名称无法与台账匹配",
    "ambiguous_estate": "小区名称可对应多个台账小区，无法确定",
    "bad_answer": "答案无法识别或超出选项范围",
    "speeder": "答题用时过短（疑似乱答）",
    "not_in_sample": "该户不在本轮抽样名单中",
    "duplicate": "同一户重复提交（保留最后一份完整答卷）",
}

TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
)

# answer status codes returned by decode_column
OK, NO_ANSWER, BLANK, BAD = 0, 1, 2, 3


OTHER_TEXT = re.compile(r"〖[^〗]*〗")


def _clean(value: str) -> str:
    """NFKC, no spaces, without the text typed into an "other" option (问卷星 writes
    ``其他【请注明】〖…〗``: the option is ``其他【请注明】``)."""
    return OTHER_TEXT.sub("", "".join(unicodedata.normalize("NFKC", value).split()))


def decode_column(
    values: pd.Series, options: pd.DataFrame, *, accept_codes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one answer column against a scale's option table.

    Returns ``(code, status)`` arrays: ``code`` is the option code 1..k or 0 when there is
    no scored answer; ``status`` is OK, NO_ANSWER (a missing option such as 不清楚,
    ``(跳过)``, −3), BLANK (empty cell) or BAD (unreadable or out of range). Option text
    is compared after NFKC and removing spaces; when ``accept_codes`` (code exports, the
    paper template) integers 1..k are codes, k+1.. the missing options, negatives skips.
    Work is done once per distinct value.
    """
    labels = {
        _clean(str(lbl)): (int(c), bool(m))
        for lbl, c, m in options[["label", "code", "missing"]].itertuples(index=False)
    }
    max_code = int(options["code"].max()) if len(options) else 0
    missing_codes = set(options.loc[options["missing"], "code"].astype(int))
    skip = {_clean(s) for s in SKIP_MARKERS} - {"(空)"}
    idx, uniques = pd.factorize(values, use_na_sentinel=True)
    u_code = np.zeros(len(uniques) + 1, dtype=np.int64)
    u_status = np.full(len(uniques) + 1, BAD, dtype=np.int8)
    u_status[-1] = BLANK  # index -1 (NA sentinel) maps to the last slot
    for j, raw in enumerate(uniques):
        v = _clean(str(raw))
        if v in ("", "(空)"):
            u_status[j] = BLANK
        elif v in labels:
            code, missing = labels[v]
            u_code[j], u_status[j] = (0, NO_ANSWER) if missing else (code, OK)
        elif v in skip:
            u_status[j] = NO_ANSWER
        elif accept_codes and _is_int(v):
            n = int(to_number(v))
            if n < 0 or n in missing_codes:
                u_status[j] = NO_ANSWER
            elif 1 <= n <= max_code:
                u_code[j], u_status[j] = n, OK
    return u_code[idx], u_status[idx]


def _is_int(v: str) -> bool:
    """``v`` is written as a whole number (``3``, ``-3``, ``3.0``; not ``1_0`` or ``inf``)."""
    f = to_number(v)
    return f == f and f.is_integer()


MAX_DURATION_S = 30 * 86_400
"""Longest answering time read (30 days); longer, negative or non-finite: unparsed."""


def parse_duration(values: pd.Series) -> pd.Series:
    """Seconds from 问卷星's ``125秒``, ``2分5秒``, ``1小时2分3秒``, ``0:02:05`` or a
    plain number of seconds; NaN (the documented "unparsed" value: such a row is never
    a speeder) when unreadable, blank, negative, not finite or over :data:`MAX_DURATION_S`."""
    seconds = on_uniques(values, _parse_duration).astype(float)
    return seconds.where((seconds >= 0) & (seconds <= MAX_DURATION_S))


def _parse_duration(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.normalize("NFKC").str.replace(r"\s+", "", regex=True)
    text = text.where(text.str.len() <= 40)  # no duration is written longer
    plain = pd.Series(number_values(text), index=text.index)
    parts = text.str.extract(
        r"^(?:(\d+(?:\.\d+)?)(?:小时|时|h))?(?:(\d+(?:\.\d+)?)(?:分钟|分|m|min))?"
        r"(?:(\d+(?:\.\d+)?)(?:秒|s|sec))?$"
    )
    hms = parts.apply(pd.to_numeric, errors="coerce")
    units = hms.fillna(0).to_numpy() @ np.array([3600.0, 60.0, 1.0])
    has_unit = hms.notna().any(axis=1).to_numpy()
    clock = text.str.extract(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$").apply(
        pd.to_numeric, errors="coerce"
    )
    clock_s = clock.fillna(0).to_numpy() @ np.array([3600.0, 60.0, 1.0])
    has_clock = clock[[1, 2]].notna().all(axis=1).to_numpy()
    out = np.where(
        plain.notna().to_numpy(),
        plain.to_numpy(dtype=float, na_value=np.nan),
        np.where(has_unit, units, np.where(has_clock, clock_s, np.nan)),
    )
    return pd.Series(out, index=values.index, dtype=float)


EARLIEST = pd.Timestamp("1900-01-01")
LATEST = pd.Timestamp("2200-01-01")


def parse_timestamp(values: pd.Series) -> pd.Series:
    """Submission times as ``datetime64``; NaT when blank or unreadable (also Excel
    serial day numbers). Parsed once per distinct value."""
    out = on_uniques(values, _parse_timestamp)
    return pd.Series(
        out.to_numpy(dtype="datetime64[ns]"), index=values.index, dtype="datetime64[ns]"
    )


MAX_TIMESTAMP_TEXT = 64
"""Longest text read as a time (longer: unparsed, NaT; the general parser is not linear)."""


def _parse_timestamp(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.normalize("NFKC").str.strip()
    text = text.where(text.str.len() <= MAX_TIMESTAMP_TEXT)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for layout in _layouts(text):  # vectorised, the layouts of the first values first
        rest = (out.isna() & text.notna()).to_numpy()
        if not rest.any():
            break
        try:
            parsed = pd.to_datetime(text[rest], errors="coerce", format=layout)
        except (ValueError, OverflowError):
            continue
        parsed = pd.Series(parsed)
        plausible = (parsed >= EARLIEST) & (parsed <= LATEST)  # outside: unreadable, NaT
        out[rest] = parsed.where(plausible).astype("datetime64[ns]").to_numpy()
    rest = (out.isna() & text.notna()).to_numpy()
    if rest.any():  # other layouts and Excel serial numbers, one distinct value at a time
        out[rest] = on_uniques(text[rest], _parse_other).to_numpy()
    return out


def _layouts(text: pd.Series, probe: int = 200) -> list[str]:
    """:data:`TIMESTAMP_FORMATS` ordered by how many of the first ``probe`` values each
    reads (ties: the given order). The layouts never read one text two ways, so the order
    changes only the speed: one pass for an export in a single layout."""
    head = text.dropna().iloc[:probe]
    if not len(head):
        return list(TIMESTAMP_FORMATS)
    hits = []
    for layout in TIMESTAMP_FORMATS:
        try:
            hits.append(int(pd.to_datetime(head, errors="coerce", format=layout).notna().sum()))
        except (ValueError, OverflowError):
            hits.append(0)
    order = sorted(range(len(TIMESTAMP_FORMATS)), key=lambda i: -hits[i])
    return [TIMESTAMP_FORMATS[i] for i in order]


def _parse_other(values: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for i, v in enumerate(values.to_numpy(dtype=object, na_value=None)):
        if v is None:
            continue
        try:
            number = float(v)
        except ValueError:
            number = None
        try:
            if number is not None:
                if 20000 <= number <= 80000:  # Excel serial day number
                    out.iat[i] = pd.Timestamp("1899-12-30") + pd.to_timedelta(number, unit="D")
                continue
            stamp = pd.Timestamp(pd.to_datetime(v, format="mixed"))
        except (ValueError, OverflowError, TypeError, pd.errors.OutOfBoundsDatetime):
            continue
        stamp = stamp.tz_localize(None) if stamp.tzinfo else stamp
        if EARLIEST <= stamp <= LATEST:
            out.iat[i] = stamp
    return out
