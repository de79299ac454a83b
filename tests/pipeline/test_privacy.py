"""Privacy audit: the demo's raw personal data never appears in anything the run writes.

The session's shared demo run (the ``demo_run`` fixture of ``conftest.py``:
``wuye-eval -v demo --estates 16``, both rounds, in a subprocess so its stdout/stderr and
INFO logs are captured) is scanned; the tests only read its workspace. The raw values come from the
demo's own inputs: the simulated 问卷星 exports under ``demo/inputs/<period>/fieldwork/`` (phone numbers, IP
addresses, building and room as typed) and the household frame ``住户清册.csv``.

What is searched for, and why in this form:

- phone numbers: every 11-digit number given in an export, exactly;
- IP addresses: the address part of every 来自IP cell (``58.19.200.80``), with digit/dot
  boundaries so ``58.19.200.8`` does not match inside ``58.19.200.80``;
- rooms: a room number such as ``302`` is too short to search for alone (it is also a
  count, a page number …), so rooms are searched *in context*: every household's
  ``household_id`` (``GD001|3|1|302``), the forms ``<building>-<unit>-<room>``,
  ``<building>栋<unit>单元<room>`` and ``<building>号楼<unit>单元<room>``, estate name +
  building + room, and the building/room text exactly as respondents typed it in the
  export (``3号楼`` + ``1单元302``, joined, unless that is only digits) — and the room
  text alone when it is at least five characters and not just digits (``1单元302``,
  ``3-302``);
- names: the demo questionnaire has no name question; the names planted in comments
  (:data:`evaluation.demo.names.PERSON_NAMES`, 王师傅 forms too) and the surveyors' names of the
  调查员 column are searched for; the name path (a 姓名 column dropped at ingest) is checked
  by ``test_a_name_column_is_not_kept``;
- comments: every phone number (also written with spaces) and dwelling address
  (``3栋1单元502``, ``5-2-301``) planted in the 意见和建议 column.

Files scanned: everything under the workspace except ``demo/inputs/`` (the inputs, which
hold the raw data by design) and ``demo/.secrets/`` (the pseudonym key, the 回访名单 with
phone numbers and the surveyor table: for the agency's call team, by design; that they are
never under the reports is checked by ``test_secrets_stay_out_of_the_reports``): text files as UTF-8, ``.xlsx`` as the XML inside the zip,
PDF as extracted text (pypdfium2) plus the raw bytes, the SQLite database as a dump of every
table, and the run's stdout and stderr.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
from pathlib import Path

import pandas as pd
import pytest

PERIODS = ("2025H2", "2026H1")


def _raw_values(ws: Path) -> dict[str, set[str]]:
    """The personal values the demo generated, read back from its inputs."""
    from evaluation.demo.names import PERSON_NAMES

    phones: set[str] = set()
    ips: set[str] = set()
    rooms: set[str] = set()
    names_found: set[str] = set()
    for period in PERIODS:
        root = ws / "demo" / "inputs" / period
        register = pd.read_excel(root / "台账.xlsx", dtype=str, engine="calamine")
        names = dict(zip(register["小区编号"], register["小区名称"], strict=True))
        frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig")
        for eid, b, u, r in frame[["小区编号", "楼栋", "单元", "房号"]].itertuples(index=False):
            rooms |= {
                f"{eid}|{b}|{u}|{r}",
                f"{b}-{u}-{r}",
                f"{b}栋{u}单元{r}",
                f"{b}号楼{u}单元{r}",
                f"{names[eid]}{b}栋{u}单元{r}",
                f"{names[eid]}{b}号楼{r}",
                f"{names[eid]}{b}-{u}-{r}",
            }
        for export in (root / "fieldwork").glob("*.xlsx"):
            data = pd.read_excel(export, dtype=str, engine="calamine")
            phone_col = next(c for c in data.columns if "电话" in c)
            ip_col = next(c for c in data.columns if "IP" in c)
            building_col = next(c for c in data.columns if "楼栋" in c)
            room_col = next(c for c in data.columns if "房号" in c)
            phones |= {p for p in data[phone_col].dropna() if re.fullmatch(r"1\d{10}", p)}
            comment_col = next(c for c in data.columns if "意见" in c)
            surveyor_col = next(c for c in data.columns if "调查员" in c)
            comments = data[comment_col].dropna()
            for text in comments:
                phones |= {re.sub(r"\D", "", p) for p in re.findall(r"1\d{2} ?\d{4} ?\d{4}", text)}
                phones |= set(re.findall(r"1\d{2} \d{4} \d{4}", text))
                rooms |= set(re.findall(r"\d+栋\d+单元\d+|\d+-\d+-\d{3,4}", text))
                names_found |= {n for n in PERSON_NAMES if n in text}
                names_found |= set(re.findall(r"[\u4e00-\u9fff]师傅", text))
            names_found |= set(data[surveyor_col].dropna()) - {"(空)"}
            ips |= {ip.split("(")[0] for ip in data[ip_col].dropna()}
            typed = data[[building_col, room_col]].dropna()
            joined = {f"{b}{r}" for b, r in typed.itertuples(index=False)}
            rooms |= {j for j in joined if not j.isdigit()}  # "1"+"201" is just a number
            rooms |= {r for r in typed[room_col] if len(r) >= 5 and not r.isdigit()}
    assert len(phones) > 50 and len(ips) > 500 and len(rooms) > 1000  # the demo has them
    assert len(names_found) >= 8  # planted names and the surveyors
    return {"phone": phones, "ip": ips, "room": rooms, "name": names_found}


def _pdf_text(path: Path) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def _sqlite_dump(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        parts = []
        for table in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            parts.append(f"{table}: {cols}")
            parts += ["\t".join(map(str, row)) for row in con.execute(f'SELECT * FROM "{table}"')]
        return "\n".join(parts)
    finally:
        con.close()


def _texts(path: Path) -> list[str]:
    """Every readable form of a file's content."""
    suffix = path.suffix.lower()
    raw = path.read_bytes()
    if suffix in {".xlsx", ".xlsm"}:
        with zipfile.ZipFile(path) as z:
            return [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
    if suffix == ".pdf":
        return [_pdf_text(path), raw.decode("latin-1")]
    if suffix in {".sqlite", ".db"} or raw.startswith(b"SQLite format 3"):
        return [_sqlite_dump(path), raw.decode("utf-8", "replace")]
    return [raw.decode("utf-8", "replace")]


def _written_files(ws: Path) -> list[Path]:
    inputs, secrets = ws / "demo" / "inputs", ws / "demo" / ".secrets"
    return sorted(
        p
        for p in ws.rglob("*")
        if p.is_file() and not p.is_relative_to(inputs) and not p.is_relative_to(secrets)
    )


def _trie_regex(words: set[str]) -> str:
    """One regex matching any of ``words``, built as a trie (fast for many thousands)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


_PATTERNS: dict[tuple[str, int], re.Pattern] = {}


def _find(texts: dict[str, list[str]], values: set[str], kind: str) -> list[str]:
    """``file: value`` for the first value found in each file; numbers need boundaries."""
    if not values:
        return []
    key = (kind, hash(frozenset(values)))
    if key not in _PATTERNS:
        body = _trie_regex(values)
        before, after = {
            "ip": (r"(?<![\d.])", r"(?!\d|\.\d)"),
            "phone": (r"(?<!\d)", r"(?!\d)"),
        }.get(kind, (r"(?<![\dA-Za-z])", r"(?!\d)"))
        _PATTERNS[key] = re.compile(f"{before}(?:{body}){after}")
    pattern = _PATTERNS[key]
    hits = []
    for name, parts in texts.items():
        for text in parts:
            for m in pattern.finditer(text):
                hits.append(f"{name}: {m.group(0)!r}")
                break
    return hits


@pytest.fixture(scope="module")
def scanned(demo_run) -> dict:
    ws = demo_run.workspace
    values = _raw_values(ws)
    sampling = {f"{period}/sampling" for period in PERIODS}
    texts: dict[str, list[str]] = {"(stdout)": [demo_run.stdout], "(stderr)": [demo_run.stderr]}
    field_texts: dict[str, list[str]] = {}
    kinds: set[str] = set()
    for path in _written_files(ws):
        rel = path.relative_to(ws).as_posix()
        kinds.add(path.suffix.lower())
        # by design the surveyors' field sheets and the sampling record list building, unit
        # and room (they are how a surveyor finds the door); they are scanned for phones and
        # IP addresses only, and are deleted with the inputs at the end of the contract
        target = field_texts if any(rel.startswith(s + "/") for s in sampling) else texts
        target[rel] = _texts(path)
    return {"values": values, "texts": texts, "field": field_texts, "kinds": kinds}


def test_the_scan_covers_every_kind_of_output(scanned):
    assert {".xlsx", ".pdf", ".ipynb", ".html", ".csv", ".json", ".sqlite"} <= scanned["kinds"]
    names = set(scanned["texts"])
    assert any(n.endswith("wuye.sqlite") for n in names)
    assert any("/cards/" in n for n in names)
    assert any("/notebooks/estate_" in n for n in names)
    assert any("隔离记录" in n for n in names)


@pytest.mark.parametrize("kind", ["phone", "ip", "room", "name"])
def test_no_personal_data_in_outputs(scanned, kind):
    hits = _find(scanned["texts"], scanned["values"][kind], kind)
    assert not hits, f"{len(hits)} files hold raw {kind} values: {hits[:10]}"


def test_secrets_stay_out_of_the_reports(demo_run):
    """The 回访名单 (phones) and the surveyor table are written beside the pseudonym key."""
    ws = demo_run.workspace
    secrets = sorted((ws / "demo" / ".secrets").iterdir())
    assert any("回访名单" in p.name for p in secrets) and any(
        "调查员对照" in p.name for p in secrets
    )
    for period in PERIODS:
        assert not [p for p in (ws / period).rglob("*") if "回访" in p.name or "对照" in p.name]


@pytest.mark.parametrize("kind", ["phone", "ip"])
def test_field_sheets_hold_no_phones_or_ips(scanned, kind):
    assert scanned["field"], "the sampling folder was not written"
    hits = _find(scanned["field"], scanned["values"][kind], kind)
    assert not hits, hits[:10]


def test_the_scanner_finds_what_it_looks_for(scanned):
    """Guard against a scan that can never hit: the inputs themselves are full of hits."""
    values = scanned["values"]
    sample_phone = sorted(values["phone"])[0]
    sample_ip = sorted(values["ip"])[0]
    sample_room = sorted(v for v in values["room"] if "|" in v)[0]
    text = {"x": [f"电话{sample_phone}，IP {sample_ip}(湖北)，住户 {sample_room}"]}
    assert _find(text, values["phone"], "phone")
    assert _find(text, values["ip"], "ip")
    assert _find(text, values["room"], "room")
    assert not _find({"x": [sample_phone + "0"]}, values["phone"], "phone")


def test_sampling_folder_lists_rooms_as_designed(scanned):
    """The exception is real (field sheets must list rooms), so it is excluded on purpose."""
    hits = _find(scanned["field"], scanned["values"]["room"], "room")
    assert hits


def test_a_name_column_is_not_kept(demo_run, tmp_path):
    """An export with a 姓名 column (not in the demo questionnaire): the names reach neither
    the accepted rows, the answers, the quarantine nor its workbook."""
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round
    from sampling.record import read_sampling_record

    ws = demo_run.workspace
    root = ws / "demo" / "inputs" / PERIODS[0]
    rnd = load_round(root)
    export = next((root / "fieldwork").glob("*.xlsx"))
    data = pd.read_excel(export, dtype=str, engine="calamine")
    cjk = 0x9FFF - 0x4E00  # stay among the CJK ideographs however many rows there are
    names = [
        f"欧阳{chr(0x4E00 + 7 * i % cjk)}{chr(0x4E00 + (11 * i + 3) % cjk)}"
        for i in range(len(data))
    ]
    data.insert(6, "姓名", names)
    data.insert(7, "99、您的姓名", names[::-1])
    path = tmp_path / "问卷星导出_带姓名.xlsx"
    data.to_excel(path, index=False)
    sample = read_sampling_record(ws / PERIODS[0] / "sampling").sample
    result = ingest_round(rnd, [path], sample=sample)
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    texts = {
        "respondents": [result.respondents.to_csv()],
        "answers": [result.answers.to_csv()],
        "quarantine": [result.quarantine.to_csv()],
        "隔离记录.xlsx": _texts(tmp_path / "隔离记录.xlsx"),
    }
    assert len(result.respondents) > 100
    # one trie regex over the texts, not ``name in text`` for each of ~5,000 names (~25 s):
    # a search finds a match wherever any name occurs
    any_name = re.compile(_trie_regex(set(names)))
    assert all(any_name.fullmatch(n) for n in names)
    found = [
        f"{k}: {m.group(0)}"
        for k, parts in texts.items()
        for t in parts
        for m in any_name.finditer(t)
    ]
    assert not found, found[:10]


def test_the_pseudonym_key_cannot_live_in_the_report_folder(tmp_path):
    """Reports are sent out; a key inside them would undo the pseudonyms."""
    from evaluation.round import load_round
    from wuye_common.errors import WuyeError

    (tmp_path / "台账.csv").write_text(
        "小区编号,小区名称,所属社区,物业企业,服务等级,户数\nE1,甲小区,东社区,甲物业,一级,100\n",
        encoding="utf-8",
    )
    base = (
        '[round]\ndistrict = "区"\nperiod = "2025H1"\n[inputs]\nregister = "台账.csv"\n'
        '[output]\ndir = "out"\n'
    )
    (tmp_path / "round.toml").write_text(base + 'secrets = "out/keys"\n', encoding="utf-8")
    with pytest.raises(WuyeError) as caught:
        load_round(tmp_path)
    assert caught.value.problems[0].column == "output.secrets"
    (tmp_path / "round.toml").write_text(base + 'secrets = "keys"\n', encoding="utf-8")
    assert load_round(tmp_path).secret_path.parent == tmp_path / "keys"


@pytest.mark.parametrize("option", ["--estate", "--firm"])
def test_history_filters_are_parameters_not_sql(demo_run, capsys, option):
    """``wuye-eval history`` filters cannot inject SQL (checked on the demo's database)."""
    from evaluation.cli import main

    db = demo_run.workspace / "demo" / "wuye.sqlite"
    before = _sqlite_dump(db)
    for payload in ("x' OR '1'='1", '"; DROP TABLE rounds; --', "GD001' --"):
        assert main(["history", str(db), "--kind", "estates", option, payload]) == 0
        out = capsys.readouterr().out
        assert "（无记录）" in out
    assert _sqlite_dump(db) == before
