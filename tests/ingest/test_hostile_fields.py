"""Every parser of user text in an export has a total contract, checked per field with
Hypothesis: it parses, or gives its documented "unparsed" value (NA, NaN, NaT, the text
unchanged) — never another exception, never a value outside its domain.

Fields: building labels (Chinese and full-width numerals, 栋/号楼/幢/座/#), rooms and units,
durations, submission times, answer codes, question headers; and the issue's example
(``十十栋`` raised ``KeyError``) through a whole ingest.
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from evaluation.ingest.ingest import ingest_round
from evaluation.ingest.linking import (
    building_key,
    chinese_number,
    estate_key,
    room_parts,
    unit_key,
)
from evaluation.ingest.readers import classify_header, normalise_text
from evaluation.ingest.validate import (
    BAD,
    BLANK,
    MAX_DURATION_S,
    NO_ANSWER,
    OK,
    decode_column,
    parse_duration,
    parse_timestamp,
)
from evaluation.questionnaire import load_questionnaire
from evaluation.round import IngestConfig
from tests.hostile import PLANT, budget, tally
from tests.ingest.test_ingest_round import HEADERS, row, write_export

FIELD = settings(max_examples=budget(150), deadline=None, derandomize=True)
CN = "零〇一二两三四五六七八九十"
BUILDING = st.text(
    alphabet=st.sampled_from(list(CN + "0123456789０１２３栋幢号楼座#第 单元-AB")), max_size=12
)
ANY = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
Q = load_questionnaire()


def _cn(n: int) -> str:
    """``n`` (1–99) in Chinese numerals as people write it."""
    digits = "一二三四五六七八九"
    tens, ones = divmod(n, 10)
    return (
        (digits[tens - 1] if tens > 1 else "")
        + ("十" if tens else "")
        + (digits[ones - 1] if ones else "")
    )


@FIELD
@given(st.one_of(BUILDING, ANY, st.text(alphabet=st.sampled_from(list(CN)), max_size=8)))
@example("十十")
@example("十十栋")
@example("零十")
def test_chinese_numerals_are_total(text: str) -> None:
    out = chinese_number(text)
    assert out == text or out.isdigit()
    key = building_key(pd.Series([text], dtype="string")).iloc[0]
    assert key is pd.NA or isinstance(key, str)
    tally("building label", "key" if isinstance(key, str) else "NA")


@FIELD
@given(
    st.integers(1, 99),
    st.sampled_from(["{}栋", "{}号楼", "第{}栋", "{}幢", "{}#", "{} 栋", "{}"]),
    st.sampled_from(["arabic", "full", "chinese", "zero"]),
)
def test_building_labels_of_one_building_share_a_key(n: int, layout: str, form: str) -> None:
    number = {
        "arabic": str(n),
        "full": unicodedata.normalize("NFKC", str(n)).translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        ),
        "chinese": _cn(n),
        "zero": f"0{n}",
    }[form]
    key = building_key(pd.Series([layout.format(number)], dtype="string")).iloc[0]
    assert key == str(n)


@FIELD
@given(
    st.integers(1, 40),
    st.integers(1, 9),
    st.integers(1, 3999),
    st.sampled_from(["{b}-{u}-{r}", "{b}栋{u}单元{r}", "{u}单元{r}室", "{u}-{r}", "{u}单元0{r}"]),
)
def test_rooms_and_units_read_from_every_layout(b: int, u: int, r: int, layout: str) -> None:
    parts = room_parts(pd.Series([layout.format(b=b, u=u, r=r)], dtype="string")).iloc[0]
    assert parts["room_key"] == str(r) and parts["unit_key"] == str(u)


@FIELD
@given(st.one_of(ANY, BUILDING, st.none()))
def test_room_and_unit_parsers_are_total(text: str | None) -> None:
    values = pd.Series([text], dtype="string")
    parts = room_parts(values)
    assert list(parts.columns) == ["room_key", "unit_key"] and len(parts) == 1
    for value in parts.iloc[0]:
        assert value is pd.NA or (value.isdigit() and (value == "0" or value[0] != "0"))
    assert len(unit_key(values)) == 1 and len(estate_key(values)) == 1


DURATIONS = st.one_of(
    st.builds(
        lambda h, m, s, layout: (layout.format(h=h, m=m, s=s), h * 3600 + m * 60 + s),
        st.integers(0, 5),
        st.integers(0, 59),
        st.integers(0, 59),
        st.sampled_from(["{h}小时{m}分{s}秒", "{h}:{m:02d}:{s:02d}"]),
    ),
    st.builds(lambda s: (f"{s}秒", s), st.integers(0, 10**6)),
    st.builds(lambda s: (f"{s}", s), st.integers(0, 10**6)),
)


@FIELD
@given(DURATIONS)
def test_durations_read_back(case: tuple[str, int]) -> None:
    text, seconds = case
    got = parse_duration(pd.Series([text], dtype="string")).iloc[0]
    assert got == seconds if seconds <= MAX_DURATION_S else math.isnan(got)


@FIELD
@given(st.one_of(ANY, st.floats().map(repr), st.integers().map(str), st.none(), PLANT))
@example("1e309")
@example("-5秒")
@example("99999999999999999999")
def test_durations_are_total_and_in_domain(text: str | None) -> None:
    got = parse_duration(pd.Series([text], dtype="string")).iloc[0]
    assert math.isnan(got) or 0 <= got <= MAX_DURATION_S
    tally("duration", "unparsed" if math.isnan(got) else "seconds")


@FIELD
@given(st.one_of(ANY, st.datetimes().map(str), st.integers().map(str), st.none()))
@example("9999-12-31 23:59:59")
@example("0001-01-01")
def test_submission_times_are_total_and_plausible(text: str | None) -> None:
    got = parse_timestamp(pd.Series([text], dtype=object)).iloc[0]
    assert pd.isna(got) or pd.Timestamp("1900-01-01") <= got <= pd.Timestamp("2200-01-01")
    tally("submission time", "unparsed" if pd.isna(got) else "time")


@FIELD
@given(
    st.lists(
        st.one_of(
            ANY,
            st.sampled_from(["满意", "非常满意", "不清楚", "(跳过)", "-3", "3", "3.0", "1_0"]),
            st.integers(-(10**30), 10**30).map(str),
            st.floats().map(repr),
        ),
        max_size=10,
    ),
    st.booleans(),
)
def test_answer_codes_are_total_and_in_range(values: list[str], accept_codes: bool) -> None:
    options = Q.scale_options("five")
    code, status = decode_column(
        pd.Series(values, dtype=object), options, accept_codes=accept_codes
    )
    k = int(options.loc[~options["missing"], "code"].max())
    assert ((code >= 0) & (code <= k)).all()
    assert np.isin(status, [OK, NO_ANSWER, BLANK, BAD]).all()
    assert ((status == OK) == (code > 0)).all()


@FIELD
@given(st.one_of(ANY, st.integers(1, 10**30).map(lambda n: f"{n}、题干")))
def test_headers_are_total(header: str) -> None:
    number, _text, _option, qtype = classify_header(header)
    assert number is None or 0 <= number <= 9999
    assert isinstance(normalise_text(header), str) and qtype in (
        "",
        "single",
        "multi_flag",
        "matrix",
    )


def test_the_issue_building_label_goes_through_a_whole_ingest(tmp_path: Path) -> None:
    """``十十栋`` raised KeyError from chinese_number (the CLI printed a traceback): now the
    row is read like any other label that names no known building."""
    rows = [
        row(1, building="十十栋"),
        row(2, building="二十栋", room="1-102"),
        row(3, building="十栋", room="1-103"),
    ]
    path = write_export(tmp_path / "问卷星导出.xlsx", rows, HEADERS)
    rnd = SimpleNamespace(
        register=pd.DataFrame({"estate_id": ["E001"], "estate_name": ["锦绣花园"]}),
        ingest=IngestConfig(),
        secret_path=tmp_path / "k.key",
        questionnaire="default",
    )
    result = ingest_round(rnd, [path], key=b"k" * 32)
    assert len(result.respondents) + len(result.quarantine) == 3
    assert sorted(result.respondents["building"].dropna()) == ["10", "20", "十十"]
