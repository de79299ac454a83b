"""The whole demo, end to end: two rounds, every stage, every output listed and verifiable.

The tests read the session's shared demo run (``demo_run`` in ``conftest.py``); only the
determinism test makes a second run of its own, in-process, to compare with it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pypdfium2
import pytest
from openpyxl import load_workbook

from evaluation.cli import main
from evaluation.demo import DEMO_PERIODS


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    """The workspace of the session's shared demo run (conftest ``demo_run``, 16 estates,
    both rounds with cards); read-only."""
    return demo_run.workspace


def _pdf_text(path: Path) -> str:
    doc = pypdfium2.PdfDocument(path)
    return "".join(page.get_textpage().get_text_range() for page in doc)


@pytest.mark.parametrize("period", DEMO_PERIODS)
def test_manifest_lists_every_file_with_its_hash(demo: Path, period: str) -> None:
    out = demo / period
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    kinds = {entry["kind"] for entry in manifest["files"]}
    assert {"excel", "pdf", "notebook", "data"} <= kinds
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


@pytest.mark.parametrize("period", DEMO_PERIODS)
def test_outputs_carry_chinese_names_and_numeric_percentages(demo: Path, period: str) -> None:
    out = demo / period
    estates = pd.read_csv(out / "data" / "estates.csv", encoding="utf-8-sig")
    assert estates["verdict"].isin(["达标", "临界", "未达标"]).all()
    assert (
        (estates["rate_low"] <= estates["rate"]) & (estates["rate"] <= estates["rate_high"])
    ).all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    pdfs = [e["path"] for e in manifest["files"] if e["kind"] == "pdf"]
    district_pdf = next(p for p in pdfs if "cards" not in p)
    text = _pdf_text(out / district_pdf)
    for name in estates["estate_name"]:
        assert name in text
    assert "%" in text and "\ufffd" not in text
    workbook = next(
        e["path"]
        for e in manifest["files"]
        if e["kind"] == "excel" and "sampling" not in e["path"] and "ingest" not in e["path"]
    )
    book = load_workbook(out / workbook)
    assert "红黑榜" in book.sheetnames


@pytest.mark.parametrize("period", DEMO_PERIODS)
def test_data_files_carry_the_lists_evidence(demo: Path, period: str) -> None:
    """The column contract of #18: estates.csv and firms.csv carry each unit's tests,
    rank interval and rank chances, estates.csv its non-response sensitivity; a listed
    estate's evidence holds (q ≤ 5%, inside its rank interval)."""
    evidence = ["p_value", "q_value", "rank_low", "rank_high", "p_bottom", "p_top"]
    estates = pd.read_csv(demo / period / "data" / "estates.csv", encoding="utf-8-sig")
    firms = pd.read_csv(demo / period / "data" / "firms.csv", encoding="utf-8-sig")
    assert set(evidence) | {"nr_delta"} <= set(estates.columns)
    assert set(evidence) <= set(firms.columns)
    ranked = estates[estates["rank"].notna()]
    assert ((ranked["rank_low"] <= ranked["rank"]) & (ranked["rank"] <= ranked["rank_high"])).all()
    on_verdict = estates["criteria"].fillna("").str.split(",").apply(lambda c: "verdict" in c)
    black = estates[(estates["list"] == "黑榜") & on_verdict]
    assert (black["q_value"] <= 0.05).all()
    assert estates["response_rate"].between(0, 1).all()
    assert (estates["response_rate"] <= estates["completion_rate"] + 1e-12).all()


def test_history_exists_after_two_rounds(demo: Path) -> None:
    from evaluation.history import history

    lists = history(demo / "demo" / "wuye.sqlite", kind="estates")
    assert set(lists["round_id"]) == set(DEMO_PERIODS)


def test_demo_is_deterministic(demo_run, tmp_path: Path, monkeypatch) -> None:
    """A second run of its own (in-process, without cards and notebooks: they come after the
    results and are the run's slowest part) gives the shared run's results."""
    import evaluation.report

    render_reports = evaluation.report.render_reports

    def without_notebooks(*args, **kwargs):
        return render_reports(*args, **{**kwargs, "notebooks": False})

    monkeypatch.setattr(evaluation.report, "render_reports", without_notebooks)
    demo = demo_run.workspace
    assert (
        main(
            ["demo", "--workspace", str(tmp_path), "--estates", str(demo_run.estates), "--no-cards"]
        )
        == 0
    )
    for period in DEMO_PERIODS:
        first = pd.read_csv(demo / period / "data" / "estates.csv", encoding="utf-8-sig")
        again = pd.read_csv(tmp_path / period / "data" / "estates.csv", encoding="utf-8-sig")
        pd.testing.assert_frame_equal(first, again)
