"""Security of the notebook step: papermill parameters cannot inject code, and notebooks run
only from the package's ``evaluation/report/notebooks/`` folder or a folder the caller named explicitly."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from evaluation.report.notebooks import (
    NotebookJob,
    _prepare,
    notebook_dir,
    report_jobs,
    run_notebook_batch,
)

MARKER = Path("/tmp/wuye_pwned_marker")
PAYLOADS = [
    f'"); import os; os.system("touch {MARKER}"); ("',
    f"'); import os; os.system('touch {MARKER}'); ('",
    f'x"\nimport os\nos.system("touch {MARKER}")\ny = "',
    f"x\\\"; __import__('os').system('touch {MARKER}') #",
    f'"""\n__import__("os").system("touch {MARKER}")\n"""',
    "\\",
    "a\\nb\r\n\t\x0b\x0c",
    "../../../etc/passwd",
    "/abs/path",
    "名字\u202e\u200f😀e\u0301ＡＢ",
    "{estate_id}%s{0}",
]


def _probe_notebook(folder: Path) -> Path:
    """A notebook with a papermill parameters cell that writes what it received as JSON."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('estate_id = ""\nround_path = ""\nresults_dir = None')
    params.metadata["tags"] = ["parameters"]
    echo = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "pathlib.Path(results_dir, 'received.json').write_text(json.dumps("
        "{'estate_id': estate_id, 'round_path': round_path}), encoding='utf-8')"
    )
    nb.cells = [params, echo]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "estate_report.ipynb"
    nbformat.write(nb, path)
    return path


def test_parameters_are_literals_in_the_injected_cell(tmp_path):
    """Every payload parses back to exactly the string given (pure source check, no kernel)."""
    import ast

    src = tmp_path / "src"
    src.mkdir()
    _probe_notebook(src)
    for payload in PAYLOADS:
        job = NotebookJob(
            str(src / "estate_report.ipynb"),
            str(tmp_path / "o.ipynb"),
            {"estate_id": payload, "round_path": payload},
        )
        nb = _prepare(job)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        tree = ast.parse(injected[0].source)
        values = {}
        for node in tree.body:  # nothing but simple assignments of constants
            assert isinstance(node, ast.Assign), ast.dump(node)
            assert isinstance(node.value, ast.Constant), ast.dump(node)
            values[node.targets[0].id] = node.value.value
        assert values["estate_id"] == payload
        assert values["round_path"] == payload


def test_hostile_parameters_do_not_execute_in_a_kernel(tmp_path):
    """Run the payloads through a real kernel: each arrives as the exact string and the
    marker file the payloads try to create never appears."""
    MARKER.unlink(missing_ok=True)
    src = tmp_path / "src"
    src.mkdir()
    _probe_notebook(src)
    jobs = [
        NotebookJob(
            str(src / "estate_report.ipynb"),
            str(tmp_path / f"out{i}" / "probe.ipynb"),
            {
                "estate_id": payload,
                "round_path": payload[::-1],
                "results_dir": str(tmp_path / f"out{i}"),
            },
            html=False,
        )
        for i, payload in enumerate(PAYLOADS)
    ]
    outcomes = run_notebook_batch(jobs, timeout=60)
    assert not MARKER.exists()
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert outcome.error is None, outcome.error
        received = json.loads((Path(job.target).parent / "received.json").read_text("utf-8"))
        assert received == {
            "estate_id": job.parameters["estate_id"],
            "round_path": job.parameters["round_path"],
        }


def test_notebooks_come_from_the_package_by_default(tmp_path):
    import evaluation.report

    assert notebook_dir() == Path(evaluation.report.__file__).parent / "notebooks"
    assert (notebook_dir() / "district_report.ipynb").is_file()
    assert (notebook_dir() / "estate_report.ipynb").is_file()
    out = tmp_path / "out"
    jobs = report_jobs(tmp_path / "round", out, estates=PAYLOADS)
    assert len(jobs) == 1 + len(PAYLOADS)
    for job in jobs:
        # the source never depends on an estate id or name
        assert Path(job.source).parent == notebook_dir()
        assert Path(job.source).name in {"district_report.ipynb", "estate_report.ipynb"}
        # the output stays in <output>/notebooks whatever the id
        target = Path(job.target)
        assert target.parent == out / "notebooks"
        assert target.resolve().is_relative_to((out / "notebooks").resolve())
        assert "\n" not in target.name and "/" not in target.name and "\\" not in target.name
    names = [Path(j.target).name for j in jobs]
    assert len(set(names)) == len(names)  # distinct ids never share a file


def test_a_named_folder_is_used_only_when_given(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    jobs = report_jobs(tmp_path / "round", tmp_path / "out", estates=["E1"], source_dir=mine)
    assert {Path(j.source).parent for j in jobs} == {mine}


def test_a_missing_notebook_is_a_located_error_not_a_search(tmp_path):
    """A missing source is reported by its path; nothing else is looked up instead."""
    job = NotebookJob(
        str(tmp_path / "nowhere" / "district_report.ipynb"), str(tmp_path / "out" / "x.ipynb")
    )
    outcome = run_notebook_batch([job])[0]
    assert outcome.error and "找不到报告笔记本" in outcome.error
    assert not (tmp_path / "out" / "x.ipynb").exists()


@pytest.mark.parametrize("estate_id", ["../../x", "/etc/x", "a/b", "a\\b", "a\x00b", "..", ""])
def test_estate_notebook_names_cannot_escape(tmp_path, estate_id):
    jobs = report_jobs(tmp_path / "r", tmp_path / "out", estates=[estate_id])
    target = Path(jobs[1].target)
    assert target.parent == tmp_path / "out" / "notebooks"
    assert target.name.startswith("estate_") and "\x00" not in target.name


HTML_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "<b onmouseover=alert(3)>企业</b>",
    "[点我](javascript:alert(4))",
    '"><svg onload=alert(5)>',
]


def test_tables_escape_html_in_cells():
    """Names from other people's spreadsheets are shown as text in the HTML reports."""
    import pandas as pd

    from evaluation.report import tables

    frame = pd.DataFrame({"小区名称": HTML_PAYLOADS, "物业企业": HTML_PAYLOADS[::-1]})
    html = tables.show(frame).to_html()
    for payload in HTML_PAYLOADS:
        if "<" in payload:
            assert payload not in html
    assert "<script>" not in html and "<img" not in html and "<svg" not in html
    assert "&lt;script&gt;" in html


def test_headings_escape_html_and_markdown():
    from evaluation.report import tables

    for payload in HTML_PAYLOADS:
        html = tables.heading(f"葛店经开区 2025年上半年：{payload}")._repr_html_()
        assert html.startswith("<h2>") and html.endswith("</h2>")
        inner = html[4:-5]
        assert "<" not in inner and ">" not in inner  # no tag can open inside
        assert not hasattr(tables.heading(payload), "_repr_markdown_")  # never Markdown


def test_notebooks_never_render_data_as_markdown_or_raw_html():
    """Static check of the shipped notebooks: no Markdown/HTML display built from data."""
    for name in ("district_report.ipynb", "estate_report.ipynb"):
        nb = nbformat.read(notebook_dir() / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for bad in ("Markdown(f", "HTML(f", "escape=False", "to_html(escape"):
                assert bad not in cell.source, (name, bad)
