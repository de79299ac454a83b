"""Personal data typed outside the declared columns never reaches an output (issue 21):
phone numbers, ID numbers, e-mail and IP addresses planted in an export's file name, sheet
name, estate, building, room and comment cells, in the 台账's names and the district are
scrubbed before any table, workbook, PDF, the store, a log line or a message sees them.

The whole round runs in a subprocess (``wuye-eval -v run``: every INFO log line captured);
everything it wrote is scanned as test_privacy.py scans the demo (xlsx as XML, PDF text and
bytes, SQLite dumped). A Hypothesis test plants one value in one text position per example
and checks the ingest's tables, quarantine workbook and report through the Python API.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from evaluation.demo import write_export
from evaluation.ingest import ingest_round
from evaluation.round import IngestConfig
from tests.hostile import (
    HSET,
    PLANT,
    demo_export,
    planted_needles,
    round_folder,
    set_toml,
    tally,
)
from tests.ingest.test_ingest_round import HEADERS, row
from tests.pipeline.test_privacy import _texts

PHONE, PHONE2 = "13800001111", "+86 139-0000-2222"
ID_NUMBER, EMAIL = "110101199003074578", "zhang.san@qq.com"
LANDLINE, IP = "027-87654321", "203.0.113.77"


def _rename_sheet(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b'name="Sheet1"', f'name="{name}"'.encode()
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def _plant_everywhere(ws: Path) -> list[str]:
    """Plant personal values in every free-text position of the small round; returns
    them."""
    root = round_folder(ws)
    export = demo_export(ws)
    columns = list(export.columns)
    estate = next(c for c in columns if "小区" in c)
    building = next(c for c in columns if "楼栋" in c)
    room = next(c for c in columns if "房号" in c)
    export.loc[0:2, estate] = f"锦绣 {PHONE}"
    export.loc[3:4, building] = f"3栋 {ID_NUMBER}"
    export.loc[5:6, room] = f"{EMAIL} 101"
    export.loc[7:9, columns[-1]] = f"请回电 {PHONE2}，邮箱 {EMAIL}"
    for old in (root / "fieldwork").glob("*.xlsx"):
        old.unlink()
    path = root / "fieldwork" / f"问卷_张三_{PHONE}.xlsx"
    write_export(export, path)
    _rename_sheet(path, IP)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register["物业企业"] = register["物业企业"] + f"（{LANDLINE}）"
    register["所属社区"] = register["所属社区"] + f" {EMAIL}"
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    set_toml(root, ("round", "district"), f"葛店 {PHONE2}")
    return [PHONE, PHONE2, ID_NUMBER, EMAIL, LANDLINE, IP]


def test_planted_personal_data_reaches_no_output_store_or_log(ws):
    planted = _plant_everywhere(ws)
    done = subprocess.run(
        [sys.executable, "-m", "evaluation.cli", "-v", "run", str(round_folder(ws))],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    texts = {"stdout": [done.stdout], "stderr": [done.stderr]}
    written = [ws / "wuye.sqlite", *(p for p in (ws / "out").rglob("*") if p.is_file())]
    assert any(p.suffix == ".pdf" for p in written) and len(written) > 10
    for path in written:
        texts[str(path.relative_to(ws))] = _texts(path)
    hits = [
        f"{name}: {needle}"
        for value in planted
        for needle in planted_needles(value)
        for name, parts in texts.items()
        if any(needle in part for part in parts)
    ]
    assert not hits, hits[:10]
    # the scrubbed copies are there: the agency finds the rows by file and row number
    quarantine = pd.read_excel(
        ws / "out" / "ingest" / "隔离记录.xlsx", dtype=str, engine="calamine"
    )
    assert (quarantine["文件"] == "问卷_张三_〔电话〕.xlsx").all()
    assert (quarantine["工作表"] == "〔IP〕").all()
    assert quarantine["填写的小区名称"].str.contains("〔电话〕").any()


def test_a_phone_number_in_the_file_name_is_no_error_message_either(ws, capsys):
    from evaluation.cli import main

    root = round_folder(ws)
    bad = root / f"坏文件_{PHONE}.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    code = main(["ingest", str(root), str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "坏文件_〔电话〕.xlsx" in err and PHONE not in err


POSITIONS = ("file", "estate", "building", "room", "comment", "phone", "header", "sheet")


@HSET
@given(position=st.sampled_from(POSITIONS), value=PLANT, rows=st.integers(1, 3))
def test_one_value_in_any_text_position_is_scrubbed(tmp_path_factory, position, value, rows):
    """Without a sample (the building as typed reaches ``respondents.building``)."""
    folder = tmp_path_factory.mktemp("plant")
    cells = [row(i + 1, room=f"1-{101 + i}") for i in range(4)]
    headers = list(HEADERS)
    column = {"estate": 6, "building": 7, "room": 8, "comment": len(headers) - 1}
    for i in range(rows):
        if position in column:
            cells[i][column[position]] = f"{value}" if position != "building" else f"3栋{value}"
        elif position == "phone":
            cells[i][len(headers) - 2] = value
    if position == "header":
        headers[-1] = f"18、意见 {value}"
    name = f"问卷_{value}.xlsx" if position == "file" and "/" not in value else "问卷.xlsx"
    path = folder / name
    write_export(pd.DataFrame(cells, columns=headers), path)
    if position == "sheet" and not set(value) & set("[]:*?/\\"):
        _rename_sheet(path, value)
    rnd = SimpleNamespace(
        register=pd.DataFrame({"estate_id": ["E001"], "estate_name": ["锦绣花园"]}),
        ingest=IngestConfig(),
        secret_path=folder / "k.key",
        questionnaire="default",
    )
    result = ingest_round(rnd, [path], key=b"k" * 32)
    result.write_quarantine(folder / "隔离记录.xlsx")
    texts = [
        result.respondents.to_csv(),
        result.quarantine.to_csv(),
        result.counts.to_csv(),
        result.dispositions.to_csv(),
        result.report(),
        *_texts(folder / "隔离记录.xlsx"),
    ]
    for needle in planted_needles(value):
        assert not any(needle in text for text in texts), (position, needle)
    tally("planted personal value", f"scrubbed ({position})")
