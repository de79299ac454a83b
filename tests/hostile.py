"""Helpers of the hostile-input tests (``tests/*/test_hostile_*.py``): odd values, the CLI
runner that asserts no traceback, and checks that errors are located and nothing is written
outside the round's folders. The 5-estate round they break is ``small_round`` in
``tests/conftest.py``."""

from __future__ import annotations

import os
import re
import tomllib
import zipfile
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from evaluation.cli import main

PERIOD = "2025H2"


SEED = 5


FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
"""``make fuzz`` (``HYPOTHESIS_PROFILE=fuzz``): every hostile property test runs
:data:`FUZZ_FACTOR` times as many examples, on fresh random draws."""
FUZZ_FACTOR = int(os.environ.get("WUYE_FUZZ_FACTOR", "25"))


def budget(examples: int) -> int:
    """A property test's example count: as written under ``make test`` (the bounded
    profile), :data:`FUZZ_FACTOR` times more under ``make fuzz``."""
    return examples * FUZZ_FACTOR if FUZZ else examples


HSET = settings(
    max_examples=budget(12),
    deadline=None,
    derandomize=not FUZZ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TALLY: Counter[str] = Counter()
"""What the hostile property tests saw (printed at the end of the run, see conftest)."""


def tally(stage: str, outcome: str) -> None:
    """Count one generated case of ``stage`` ending in ``outcome`` (``accepted``,
    ``located error``, ``quarantined``, …)."""
    TALLY[f"{stage}: {outcome}"] += 1


PLANTED: dict[str, list[str]] = {
    "phone": ["13812345678", "+86 139-8765-4321", "８６１５０１２３４５６７８", "027-87654321"],
    "id_number": ["420102199003071234", "11010519491231002X"],
    "email": ["zhang.san@qq.com"],
    "ip": ["58.19.3.4", "2001:db8::1"],
}
"""Personal values planted in every text position; none may reach an output."""


def planted_needles(value: str) -> list[str]:
    """The forms of a planted value an output must not contain: as written, NFKC, and
    its digits alone (a phone number re-spaced is still that phone number)."""
    import unicodedata

    normal = unicodedata.normalize("NFKC", value)
    digits = "".join(c for c in normal if c.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    forms = {value, normal}
    if len(digits) >= 7:
        forms.add(digits)
    return sorted(forms)


PLANT = st.sampled_from([v for values in PLANTED.values() for v in values])


ODD_TEXT = [
    "\x00",
    "a\x00b",
    "\u202e右到左\u200f",
    "😀🏠",
    "e\u0301\u0301\u0301",
    "ＧＤ００１",
    "\ufeff",
    "\u200b",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\udcff"[:0] + "𠀀𪚥",
    " ",
    "",
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    '=HYPERLINK("http://x","y")',
    "../../x",
    "/etc/passwd",
    "a\\b",
    "NaN",
    "None",
    "null",
    "TRUE",
    "1e309",
    "-0",
    "9" * 40,
    "1,000",
    "３０秒",
]


WRONG_VALUES = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)


def round_folder(ws: Path) -> Path:
    return ws / "demo" / "inputs" / PERIOD


def file_tree(base: Path) -> dict[str, int]:
    return {
        p.relative_to(base).as_posix(): p.stat().st_mtime_ns for p in base.rglob("*") if p.is_file()
    }


ALLOWED = ("ws/out/", "ws/wuye.sqlite", "ws/.secrets/")


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """Run the CLI, return (exit code, stderr); the tree around ``ws`` is checked after."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def changed_outside(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(
        p
        for p in set(after) - set(before)
        | {p for p in before if p in after and before[p] != after[p]}
        if not p.startswith(ALLOWED)
    )


def assert_located(err: str, *needles: str) -> None:
    assert err.startswith("错误：共发现"), err[:500]
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err[:800]!r}"


def broken_files(good: Path, folder: Path) -> dict[str, Path]:
    data = good.read_bytes()
    rng = np.random.default_rng(1)
    files = {
        "half": data[: len(data) // 2],
        "random": rng.bytes(5000),
        "ole2": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + rng.bytes(4096),
        "empty": b"",
        "html": b"<html><body><table><tr><td>1</td></tr></table></body></html>",
        "zip_no_xml": zip_bytes(folder),
    }
    out = {}
    for name, content in files.items():
        path = folder / f"坏文件_{name}.xlsx"
        path.write_bytes(content)
        out[name] = path
    return out


def zip_bytes(folder: Path) -> bytes:
    path = folder / "z.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    data = path.read_bytes()
    path.unlink()
    return data


def set_toml(root: Path, key: tuple[str, ...], value) -> None:
    path = root / "round.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    node = config
    for part in key[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[key[-1]] = value
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


TOML_CASES = [
    (("thresholds",), "x"),
    (("inputs",), "x"),
    (("inputs", "responses"), 5),
    (("inputs", "register"), 5),
    (("inputs", "frame"), ["a"]),
    (("output", "dir"), 5),
    (("output", "database"), {"a": 1}),
    (("output", "secrets"), True),
    (("questionnaire",), "x"),
    (("questionnaire", "path"), 5),
    (("report",), 5),
    (("rules",), "x"),
    (("report", "notebook_estates"), "GD001"),
    (("round",), 5),
    (("round", "id"), "../../x"),
    (("round", "id"), "/abs/x"),
    (("round", "id"), "a/b"),
    (("round", "id"), "a\\b"),
    (("round", "id"), "a\x00b"),
    (("round", "id"), ".."),
    (("round", "seed"), "x"),
    (("round", "seed"), 1.5),
    (("round", "confidence"), "0.95"),
    (("round", "confidence"), 95),
    (("round", "period"), 2025),
    (("round", "district"), 3),
    (("round", "interval_method"), "nonsense"),
    (("thresholds", "一级"), "90%"),
    (("thresholds", "五级"), 0.5),
    (("thresholds", "一级"), True),
    (("sampling", "margin"), "x"),
    (("sampling", "minimum"), -5),
    (("sampling", "maximum"), "x"),
    (("sampling", "deff"), 0),
    (("sampling", "method"), 1),
    (("sampling", "reserve_ratio"), -1),
    (("sampling", "planning_p"), 2),
    (("sampling", "unknown_key"), 1),
    (("ingest", "min_duration_s"), "x"),
    (("ingest", "match_cutoff"), 500),
    (("ingest", "estate_question"), [1]),
]


REGISTER_HEADERS = [
    "小区编号",
    "小区名称",
    "所属社区",
    "物业企业",
    "服务等级",
    "户数",
    "投诉件数",
    "信用积分",
    "红色物业",
    "专业物业",
    "业委会",
    "业委会党员比例",
]


FRAME_HEADERS = ["小区编号", "楼栋", "单元", "楼层", "房号", "是否入住"]


def demo_export(template: Path) -> pd.DataFrame:
    """The template round's 问卷星 export as text cells (a fresh copy to break)."""
    return _demo_export(template).copy()


@cache
def _demo_export(template: Path) -> pd.DataFrame:
    """Read once per session: the template round is read-only (``small_round``)."""
    from evaluation.ingest.readers import read_survey_export

    path = next((round_folder(template) / "fieldwork").glob("*.xlsx"))
    frame, _ = read_survey_export(path)
    return pd.read_excel(
        path, dtype=str, engine="calamine", keep_default_na=False, na_values=[""]
    ).iloc[: len(frame)]


def ingest_export(template: Path, data: pd.DataFrame, path: Path, *, csv: bool = False):
    from evaluation.demo import write_export
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round

    if csv:
        data.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        write_export(data, path)
    rnd = load_round(round_folder(template))
    return ingest_round(rnd, [path], sample=_template_sample(template).copy())


@cache
def _template_sample(template: Path) -> pd.DataFrame:
    from sampling.record import read_sampling_record

    return read_sampling_record(template / "out" / "sampling").sample


def assert_accounted(result, n_rows: int) -> None:
    """read = accepted + quarantined for the file and in total, and read + skipped blank
    rows = rows written."""
    counts = result.counts
    files = counts[counts["level"] == "file"]
    read = int(files["read"].sum())
    assert read + int(files["blank_rows"].sum()) == n_rows
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    assert len(result.respondents) + len(result.quarantine) == read
    assert result.quarantine["reason"].notna().all()
    assert (result.quarantine["reason"].astype(str).str.len() > 0).all()
    ids = pd.concat([result.respondents["source_row"], result.quarantine["source_row"]])
    assert ids.is_unique


def formula_count(path: Path) -> int:
    """Formula cells in a workbook; also checks every XML part parses (a control character
    that slipped into the XML makes Excel refuse the whole file)."""
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith((".xml", ".rels")):
                ET.fromstring(z.read(name))
        return sum(
            len(re.findall(r"<f[ >]", z.read(n).decode("utf-8", "replace")))
            for n in z.namelist()
            if n.startswith("xl/worksheets/")
        )


ESCAPE_IDS = ["../../esc", "/tmp/wuye_escape_abs", "a/b", "a\\b", "CON"]


TYPED = [
    pd.Timestamp("2025-01-01 08:00"),
    True,
    False,
    3.5,
    -1,
    1e300,
    0,
    "=1/0",
    "#DIV/0!",
    12345678901234567890,
]


def typed_workbook(data: pd.DataFrame, path: Path, cells: dict[tuple[int, str], object]) -> None:
    """Write ``data`` as xlsx with some cells replaced by real Excel types (dates,
    booleans, numbers, a formula) rather than text."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(data.columns))
    for row in data.astype(object).where(data.notna(), None).itertuples(index=False):
        sheet.append(list(row))
    columns = list(data.columns)
    for (row, column), value in cells.items():
        if isinstance(value, int) and abs(value) > 2**53:
            value = float(value)
        sheet.cell(row + 2, columns.index(column) + 1).value = (
            value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        )
    book.save(path)


def assert_register_in_domains(frame: pd.DataFrame) -> None:
    """A loaded 台账 holds no value outside its column's domain (wuye_common.domains)."""
    from wuye_common import domains

    assert frame["households"].dtype == np.int64
    assert domains.HOUSEHOLDS.mask(frame["households"].to_numpy(dtype=float)).all()
    for column, domain in (
        ("complaints", domains.COUNT),
        ("credit_score", domains.SCORE),
        ("firm_revenue", domains.MONEY),
        ("committee_party_share", domains.SHARE),
    ):
        if column in frame.columns:
            values = frame[column].to_numpy(dtype=float)
            assert domain.mask(values[~np.isnan(values)]).all(), column


def assert_round_in_domains(rnd) -> None:
    """A loaded round's numbers are finite and in their documented ranges."""
    import math

    from wuye_common import domains

    assert domains.SEED.contains(rnd.seed) and 0 < rnd.confidence < 1
    assert all(0 < t < 1 for t in rnd.thresholds.values())
    s, i = rnd.sampling, rnd.ingest
    assert 0 < s.margin < 1 and 0 < s.response_rate <= 1 and 0 < s.deff <= 100
    assert domains.HOUSEHOLDS.contains(s.minimum) and 0 <= s.reserve_ratio <= 10
    assert s.maximum is None or domains.HOUSEHOLDS.contains(s.maximum)
    assert math.isfinite(i.min_duration_s) and 0 <= i.min_duration_s <= 86_400
    assert 0 <= i.match_cutoff <= 100 and i.max_rows >= 1 and i.max_cells >= 1
    assert_register_in_domains(rnd.register)
    from wuye_common.scrub import personal_data_kinds

    assert not personal_data_kinds(rnd.district) and not personal_data_kinds(rnd.round_id)


def raw_workbook(
    path: Path, cells: dict[str, object], *, formula: str = "", prefix: str = "", dimension=""
) -> Path:
    """An .xlsx written part by part with exactly ``cells`` (``"A1" → value``: ``str`` as an
    inline string, numbers as numbers; with ``formula``, number cells carry that formula
    and their value as the cached result, so the streaming reader declines the file),
    optionally with a namespace ``prefix`` (``"x:"``) and a declared ``dimension``."""
    p = prefix
    rows: dict[int, list[str]] = {}
    for ref, value in cells.items():
        number = int(re.sub(r"\D", "", ref))
        if isinstance(value, str):
            body = f'<{p}c r="{ref}" t="inlineStr"><{p}is><{p}t>{value}</{p}t></{p}is></{p}c>'
        else:
            f = f"<{p}f>{formula}</{p}f>" if formula else ""
            body = f'<{p}c r="{ref}">{f}<{p}v>{value}</{p}v></{p}c>'
        rows.setdefault(number, []).append(body)
    data = "".join(f'<{p}row r="{r}">{"".join(rows[r])}</{p}row>' for r in sorted(rows))
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    xmlns = f'xmlns:{p[:-1]}="{ns}"' if p else f'xmlns="{ns}"'
    dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    parts = {
        "[Content_Types].xml": f'<?xml version="1.0"?><Types xmlns="{pkg}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{ns}" xmlns:r="{rel}">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="{pkg}/'
        f'relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet '
        f"{xmlns}>{dim}<{p}sheetData>{data}</{p}sheetData></{p}worksheet>",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path


EXPORT_HEADER = {
    "A1": "序号",
    "B1": "提交答卷时间",
    "C1": "所用时间",
    "D1": "1、您居住的小区名称",
    "E1": "2、您居住的楼栋号",
    "F1": "3、您的房号",
    "G1": "16、您对本小区物业服务的总体评价",
}
"""A minimal 问卷星 header (the default questionnaire's overall item) for raw workbooks."""


def raw_ods(path: Path, body: str) -> Path:
    """An .ods whose first sheet's XML body (``<table:table-row>…``) is ``body``."""
    ns = "urn:oasis:names:tc:opendocument:xmlns"
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="{ns}:'
        f'office:1.0" xmlns:table="{ns}:table:1.0" xmlns:text="{ns}:text:1.0" '
        'office:version="1.2"><office:body><office:spreadsheet><table:table '
        f'table:name="Sheet1">{body}</table:table></office:spreadsheet></office:body>'
        "</office:document-content>"
    )
    manifest = (
        f'<?xml version="1.0"?><manifest:manifest xmlns:manifest="{ns}:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/'
        'vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path='
        '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest)
    return path


ODS_CELL = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'
