"""End to end: render_reports writes every output and a manifest; notebooks run with papermill."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from evaluation.demo.synthetic import ODD_NAME, synthetic_results
from evaluation.report.manifest import write_manifest
from evaluation.report.render import render_reports, workbook_name


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    """One run: 6 estates, the district notebook, one estate notebook and one that fails."""
    results = synthetic_results(tmp_path_factory.mktemp("render") / "round", n_estates=6)
    manifest = render_reports(results, progress=False, notebook_estates=["E002", ODD_NAME])
    return results, manifest


def test_every_output_is_listed_with_sha256(rendered) -> None:
    results, _manifest = rendered
    out = results.round.output_dir
    body = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    paths = {f["path"]: f for f in body["files"]}
    assert workbook_name(results) in paths
    assert paths[workbook_name(results)]["kind"] == "excel"
    assert paths["district_report.pdf"]["kind"] == "pdf"
    assert {f"cards/E00{i}.pdf" for i in range(1, 7)} <= set(paths)
    assert paths["notebooks/district_report.ipynb"]["kind"] == "notebook"
    assert paths["notebooks/district_report.html"]["kind"] == "html"
    assert paths["notebooks/estate_E002.html"]["kind"] == "html"
    assert paths["data/estates.csv"]["kind"] == "data"
    for rel, entry in paths.items():
        data = (out / rel).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_failing_notebook_is_recorded_and_others_complete(rendered) -> None:
    results, manifest = rendered
    body = json.loads((results.round.output_dir / "manifest.json").read_text(encoding="utf-8"))
    assert len(body["failures"]) == 1
    failure = body["failures"][0]
    assert failure["kind"] == "notebook" and failure["estate_id"] == ODD_NAME
    assert failure["cell"] == 6  # the cell that looks the estate up (after the analyst note)
    # the odd id reached the kernel intact (no injection, no SyntaxError)
    assert failure["reason"].startswith("ValueError")
    assert "/" not in failure["target"] and "\n" not in failure["target"]
    assert manifest.paths("pdf") and manifest.paths("excel")


def test_parameters_are_injected_as_literals(rendered) -> None:
    results, _ = rendered
    nb_dir = results.round.output_dir / "notebooks"
    failed = [p for p in nb_dir.glob("estate_*.ipynb") if "E002" not in p.name]
    nb = nbformat.read(failed[0], as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    values = {t.targets[0].id: ast.literal_eval(t.value) for t in ast.parse(injected.source).body}
    assert values["estate_id"] == ODD_NAME
    assert nb.cells[0].cell_type == "markdown" and "执行失败" in nb.cells[0].source


def test_html_has_no_code_and_shows_results(rendered) -> None:
    results, _ = rendered
    html = (results.round.output_dir / "notebooks" / "district_report.html").read_text(
        encoding="utf-8"
    )
    assert "load_results(" not in html
    assert "测评概况" in html and "红榜" in html
    assert "%" in html
    assert "<img" in html  # the interval chart is embedded
    assert "@font-face" in html and "data:font/otf;base64," in html  # no system font needed
    assert "round_path" not in html and "分析人员" not in html  # no developer text
    assert 'class="data row0 col' in html and "wuye-" in html  # verdict / list colours


def test_write_manifest_skips_temporaries(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"x")
    (tmp_path / ".a.pdf.1.tmp").write_bytes(b"half")
    manifest = write_manifest(tmp_path)
    assert [f["path"] for f in manifest.files] == ["a.pdf"]


def test_render_without_notebooks_removes_stale_cards(tmp_path: Path) -> None:
    results = synthetic_results(tmp_path / "round", n_estates=3)
    stale = results.round.output_dir / "cards" / "GONE.pdf"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"%PDF old")
    manifest = render_reports(results, progress=False, notebooks=False)
    assert manifest.ok and not stale.exists()
    assert sorted(p.name for p in manifest.paths("pdf")) == [
        "E001.pdf",
        "E002.pdf",
        "E003.pdf",
        "district_report.pdf",
    ]


def test_render_round_needs_saved_results(tmp_path: Path) -> None:
    from evaluation.report.render import render_round
    from wuye_common.errors import WuyeError

    results = synthetic_results(tmp_path / "round", n_estates=3)
    with pytest.raises(WuyeError, match="结果数据"):
        render_round(results.round.root)


def test_failed_workbook_is_reported_and_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    import xlsxwriter

    results = synthetic_results(tmp_path / "round", n_estates=3)

    def broken_close(self) -> None:  # simulates a crash while the workbook is written
        raise PermissionError(13, "denied", str(results.round.output_dir / "x.xlsx"))

    monkeypatch.setattr(xlsxwriter.Workbook, "close", broken_close)
    manifest = render_reports(results, progress=False, notebooks=False)
    assert [f.kind for f in manifest.failures] == ["excel"]
    assert "关闭" in manifest.failures[0].reason
    out = results.round.output_dir
    assert not list(out.glob("*.xlsx")) and not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert (out / "district_report.pdf").exists() and len(manifest.paths("pdf")) == 4


def test_register_only_round_renders(tmp_path: Path) -> None:
    """Before scoring (only the 台账): every output renders, sections say 本轮无数据."""
    from evaluation.results import RoundResults

    results = synthetic_results(tmp_path / "round", n_estates=3)
    bare = RoundResults(round=results.round, estates=results.round.register.copy())
    manifest = render_reports(bare, progress=False, notebooks=False)
    assert manifest.ok and len(manifest.paths("pdf")) == 4 and manifest.paths("excel")


@pytest.mark.parametrize("stage", ["payload", "compile"])
def test_failed_district_pdf_is_reported_after_the_workbook(
    tmp_path: Path, monkeypatch, stage: str
) -> None:
    """The district PDF's failure (building the payload, or compiling it) is reported per
    output, after the workbook's, and the other outputs complete."""
    import xlsxwriter

    from evaluation.report import pdf

    results = synthetic_results(tmp_path / "round", n_estates=3)

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"{stage} broke")

    def broken_close(self) -> None:
        raise PermissionError(13, "denied", str(results.round.output_dir / "x.xlsx"))

    monkeypatch.setattr(pdf, "district_payload" if stage == "payload" else "compile_pdf", broken)
    monkeypatch.setattr(xlsxwriter.Workbook, "close", broken_close)
    manifest = render_reports(results, progress=False, notebooks=False)
    assert [(f.kind, f.target) for f in manifest.failures] == [
        ("excel", workbook_name(results)),
        ("pdf", "district_report.pdf"),
    ]
    assert manifest.failures[1].reason == f"RuntimeError: {stage} broke"
    out = results.round.output_dir
    assert not (out / "district_report.pdf").exists() and len(manifest.paths("pdf")) == 3
    body = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"excel", "district_pdf", "cards"} <= set(body["timings_s"])


def test_fatal_workbook_error_stops_before_the_pdf(tmp_path: Path, monkeypatch) -> None:
    """A full disk while the workbook is written stops the round there: the district PDF
    is not compiled and no manifest is written."""
    import errno

    import xlsxwriter

    from evaluation.report import pdf

    results = synthetic_results(tmp_path / "round", n_estates=3)
    compiled: list[str] = []

    def full_disk(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pdf, "compile_pdf", lambda template, *a, **k: compiled.append(template))
    monkeypatch.setattr(xlsxwriter.Workbook, "close", full_disk)
    with pytest.raises(OSError, match="No space"):
        render_reports(results, progress=False, notebooks=False)
    assert compiled == []
    assert not (results.round.output_dir / "manifest.json").exists()
