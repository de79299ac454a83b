"""Property tests: malformed rows and odd Unicode never raise and never lose a row."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evaluation.ingest.ingest import ingest_round
from evaluation.ingest.linking import building_key, match_estates, room_parts
from evaluation.ingest.validate import decode_column, parse_duration, parse_timestamp
from evaluation.questionnaire import load_questionnaire
from evaluation.round import IngestConfig

Q = load_questionnaire()
HEADERS = [
    "序号",
    "提交答卷时间",
    "所用时间",
    "来源",
    "来源详情",
    "来自IP",
    "1、您居住的小区名称",
    "2、您居住的楼栋号",
    "3、您的房号",
    *[f"{i.number}、{i.text}" for i in Q.items.itertuples()],
    "17、您的联系电话（选填，仅用于回访核实）",
]
REGISTER = pd.DataFrame({"estate_id": ["E001", "E002"], "estate_name": ["锦绣花园", "阳光家园"]})
KEY = b"k" * 32

odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
plausible = st.sampled_from(
    [
        "锦绣花园",
        "ｅ００１",
        " 阳光 家园小区 ",
        "满意",
        "非常满意",
        "(跳过)",
        "(空)",
        "不清楚",
        "-3",
        "3",
        "9",
        "3栋",
        "1-101",
        "125秒",
        "2分",
        "=SUM(A1)",
        "２０２５-０６-０１",
        "58.19.3.4(湖北)",
        "",
    ]
)
cell = st.one_of(
    st.none(),
    plausible,
    odd_text,
    st.integers(-10, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)
rows_strategy = st.lists(
    st.lists(cell, min_size=len(HEADERS), max_size=len(HEADERS)), min_size=1, max_size=12
)


def _write(path: Path, rows: list[list[object]]) -> None:
    frame = pd.DataFrame(rows, columns=HEADERS, dtype=object)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_excel(path, index=False, engine="xlsxwriter")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows_strategy, suffix=st.sampled_from([".xlsx", ".csv"]))
def test_malformed_rows_never_raise_never_lost(
    tmp_path: Path, rows: list[list[object]], suffix: str
) -> None:
    path = tmp_path / f"export{suffix}"
    _write(path, rows)
    rnd = SimpleNamespace(
        register=REGISTER,
        ingest=IngestConfig(),
        secret_path=tmp_path / "k",
        questionnaire="default",
    )
    from evaluation.ingest.readers import read_survey_export

    frame, _ = read_survey_export(path)
    result = ingest_round(rnd, [path], questionnaire=Q, key=KEY)
    n = len(frame)
    assert len(result.respondents) + len(result.quarantine) == n
    assert result.respondents["source_row"].is_unique
    seen = set(result.respondents["source_row"]) | set(result.quarantine["source_row"])
    assert len(seen) == n
    counts = result.counts
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    assert counts.query("level == 'total'")["read"].iat[0] == n
    assert len(result.answers) == 13 * len(result.respondents)
    assert result.quarantine["reason_code"].notna().all()


@settings(max_examples=80, deadline=None)
@given(names=st.lists(st.one_of(st.none(), odd_text, plausible), max_size=20))
def test_estate_matching_total(names: list[str | None]) -> None:
    out = match_estates(pd.Series(names, dtype="string"), REGISTER)
    assert len(out) == len(names)
    assert (
        out["match"]
        .isin(["id", "exact", "prefix", "fuzzy", "ambiguous", "unknown", "missing"])
        .all()
    )
    accepted = out["match"].isin(["id", "exact", "prefix", "fuzzy"])
    assert (out["estate_id"].notna() == accepted).all()


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.one_of(st.none(), odd_text, plausible), max_size=20))
@example(values=["1;", "0001/1/1 00:00:00", "9999-12-31"])  # dates out of datetime64[ns] range
def test_field_parsers_total(values: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    assert len(building_key(s)) == len(s)
    assert len(room_parts(s)) == len(s)
    assert len(parse_duration(s)) == len(s)
    assert len(parse_timestamp(s)) == len(s)
    code, status = decode_column(s, Q.scale_options("five"), accept_codes=True)
    assert len(code) == len(status) == len(s)
    assert ((code >= 0) & (code <= 5)).all()


STAMPS = st.sampled_from(
    [
        "2025-06-01 10:00:00",
        "2025/6/1 10:00",
        "2025-06-01T10:00:00",
        "2025-06-01T10:00:00.5",
        "2025/06/01 10:00:00",
        "2025-06-01 10:00",
        " 2025-06-01 10:00:00 ",
        "２０２５-06-01 10:00:00",
        "45000",
        "1899-01-01 00:00:00",
        "2025-13-01 10:00:00",
        "x",
        "",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), STAMPS), min_size=1, max_size=40))
def test_timestamps_read_alone_as_in_any_mix(values: list[str | None]) -> None:
    """Layouts are tried in the order the first values suggest: a value's time never
    depends on the values around it."""
    together = parse_timestamp(pd.Series(values, dtype=object))
    alone = [parse_timestamp(pd.Series([v], dtype=object)).iloc[0] for v in values]
    assert together.isna().tolist() == [pd.isna(v) for v in alone]
    assert [t for t in together if pd.notna(t)] == [t for t in alone if pd.notna(t)]
