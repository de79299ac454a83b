"""Faults: a run killed (SIGKILL) inside ingest, scoring, ranking and reporting, then re-run,
ends with the same outputs and database as an uninterrupted run; a full disk or an
unwritable output folder gives a clear error (exit 2) and leaves earlier outputs intact.

The kills use the pipeline's test hook ``WUYE_TEST_PAUSE_AT`` (see ``evaluation/pipeline.py``):
the run writes a marker file and sleeps at the named point (inside the step's database
transaction, or between the workbook and the PDF), and the test kills it there. To stay
fast, the chained scenario kills one run at each point in turn in the same workspace, then
completes it, and compares with an uninterrupted run of the same round at the same path.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from evaluation.store import DATA_TABLES

PERIOD = "2025H2"
POINTS = ("ingest", "score", "rank", "report")


def _cli(args: list[str], env: dict[str, str] | None = None, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "evaluation.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        **kwargs,
    )


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = _cli(args, **kwargs)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _run_here(args: list[str]) -> tuple[int, str]:
    """Run the CLI in this process (no interpreter start-up); returns (code, stderr)."""
    import contextlib
    import io

    from evaluation.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(args)
    return code, err.getvalue()


def _kill_at(point: str, root: Path, tmp: Path) -> None:
    """Start ``wuye-eval run``, wait until it pauses at ``point``, SIGKILL it."""
    marker = tmp / f"paused_{point}"
    marker.unlink(missing_ok=True)
    proc = _cli(
        ["run", str(root)], env={"WUYE_TEST_PAUSE_AT": point, "WUYE_TEST_PAUSE_FILE": str(marker)}
    )
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run ended before pausing at {point}: {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"run never reached {point}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _db_tables(path: Path) -> dict[str, list[tuple]]:
    """Every data table's rows (sorted) and the rounds table without its timestamp."""
    con = sqlite3.connect(path)
    try:
        out = {}
        for table in DATA_TABLES:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = (cols, sorted(map(repr, rows)))
        cols = [r[1] for r in con.execute('PRAGMA table_info("rounds")') if r[1] != "updated_at"]
        out["rounds"] = sorted(
            map(
                repr,
                con.execute(
                    "SELECT " + ",".join(f'"{c}"' for c in cols) + " FROM rounds"
                ).fetchall(),
            )
        )
        out["steps"] = sorted(con.execute("SELECT round_id, step, row_counts FROM steps"))
        return out
    finally:
        con.close()


def _content_digest(path: Path) -> str:
    """sha256 of what a file says, without its creation time: workbooks without
    ``docProps/core.xml``, PDFs as their text; other files byte for byte."""
    h = hashlib.sha256()
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            for name in sorted(n for n in z.namelist() if n != "docProps/core.xml"):
                h.update(name.encode())
                h.update(z.read(name))
    elif path.suffix == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            for page in pdf:
                h.update(page.get_textpage().get_text_range().encode())
        finally:
            pdf.close()
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def _outputs(ws: Path) -> dict[str, object]:
    """Manifest file list, every file's content digest (timestamps left out), and the
    files on disk (no temporaries)."""
    out = ws / "out"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = sorted((f["path"], f["kind"]) for f in manifest["files"])
    for f in manifest["files"]:  # the manifest tells the truth about the files
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    contents = {rel: _content_digest(out / rel) for rel in on_disk if rel != "manifest.json"}
    return {
        "listed": listed,
        "contents": contents,
        "on_disk": on_disk,
        "failures": manifest["failures"],
    }


@pytest.fixture(scope="module")
def baseline(small_round: Path, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted run of the template round, at the path the faulty runs use."""
    ws = tmp_path_factory.mktemp("fault_run") / "ws"
    shutil.copytree(small_round, ws)
    code, err = _run_here(["run", str(_root(ws))])
    assert code == 0, err
    result = (_outputs(ws), _db_tables(ws / "wuye.sqlite"))
    done_copy = ws.parent / "done"
    shutil.move(ws, done_copy)
    return ws, result, done_copy


def _root(ws: Path) -> Path:
    return ws / "demo" / "inputs" / PERIOD


def test_killed_at_each_step_then_rerun_equals_uninterrupted(small_round, baseline, tmp_path):
    ws, (want_outputs, want_db), _ = baseline
    shutil.copytree(small_round, ws)
    root = _root(ws)
    try:
        _kill_at("ingest", root, tmp_path)
        # killed inside the ingest transaction: nothing of it was committed
        con = sqlite3.connect(ws / "wuye.sqlite")
        assert con.execute("SELECT count(*) FROM respondents").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM steps WHERE step = 'ingest'").fetchone()[0] == 0
        con.close()
        # each re-run gets one step further; the killed step committed nothing, the one
        # before it everything
        done_table = {"score": "respondents", "rank": "estates", "report": "ranking"}
        killed_table = {"score": "estates", "rank": "ranking"}
        for point in POINTS[1:]:
            _kill_at(point, root, tmp_path)
            con = sqlite3.connect(ws / "wuye.sqlite")
            assert con.execute(f"SELECT count(*) FROM {done_table[point]}").fetchone()[0] > 0
            if point in killed_table:
                table = killed_table[point]
                assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
            con.close()
        # killed inside the report: the data bundle was written, the manifest never was
        assert (ws / "out" / "data" / "estates.csv").exists()
        assert not (ws / "out" / "manifest.json").exists()
        code, err = _run_here(["run", str(root)])
        assert code == 0, err
        assert "Traceback" not in err
        got = _outputs(ws)
        assert got == want_outputs
        assert _db_tables(ws / "wuye.sqlite") == want_db
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def _no_file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed


def test_disk_full_during_report_is_a_clear_error_and_keeps_earlier_outputs(small_round, baseline):
    """A write that hits the file-size limit (RLIMIT_FSIZE, the way a full disk fails a
    write) ends with exit 2 and a message naming the folder; earlier outputs stay intact."""
    ws, _, done_copy = baseline
    shutil.copytree(done_copy, ws)
    root = _root(ws)
    try:
        out = ws / "out"
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

        def limited() -> None:
            _no_file_size_limit()
            resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

        full = _run(["report", str(root)], preexec_fn=limited)
        assert full.returncode == 2, full.stdout + full.stderr
        assert "Traceback" not in full.stderr
        assert str(out) in full.stderr or out.name in full.stderr
        assert "磁盘" in full.stderr
        after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert after == before  # every earlier output byte-for-byte, no leftovers
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def test_output_folder_not_writable_is_a_clear_error(small_round, tmp_path):
    """The output folder is unusable (root ignores chmod, so a *file* sits where the
    folder should be): exit 2, a message naming it, no traceback, the file untouched."""
    ws = tmp_path / "ws"
    shutil.copytree(small_round, ws)
    shutil.rmtree(ws / "out", ignore_errors=True)
    (ws / "out").write_bytes(b"not a folder")
    done = _run(["run", str(_root(ws))])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "out" in done.stderr
    assert (ws / "out").read_bytes() == b"not a folder"


def _lock(folders: list[Path], locked: bool) -> bool:
    """Make ``folders`` read-only: chmod for users; for root (whom chmod does not stop) the
    immutable attribute (``chattr +i``). False when neither is possible here."""
    if os.geteuid() != 0:
        for folder in folders:
            folder.chmod(0o555 if locked else 0o755)
        return True
    if shutil.which("chattr") is None:
        return False
    flag = "+i" if locked else "-i"
    done = subprocess.run(["chattr", flag, *map(str, folders)], capture_output=True)
    return done.returncode == 0


def test_read_only_output_folder_is_a_clear_error(small_round, baseline):
    """Every folder of an earlier round's outputs read-only: ``report`` ends with exit 2,
    a message naming the folder and what to do, and every earlier output unchanged."""
    ws, _, done_copy = baseline
    shutil.copytree(done_copy, ws)
    out = ws / "out"
    folders = [out, *sorted(p for p in out.rglob("*") if p.is_dir())]
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if not _lock(folders, True):
        shutil.rmtree(ws, ignore_errors=True)
        pytest.skip("cannot make a folder read-only here (root without chattr +i)")
    try:
        again = _run(["report", str(_root(ws))])
        assert again.returncode == 2, again.stdout + again.stderr
        assert "Traceback" not in again.stderr
        assert str(out) in again.stderr
        assert "权限" in again.stderr or "只读" in again.stderr
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    finally:
        _lock(folders, False)
        shutil.rmtree(ws, ignore_errors=True)


def test_disk_full_during_the_database_write_keeps_the_database(small_round, baseline):
    """Ingest again with no room to grow the database: exit 2 naming wuye.sqlite, the
    database passes its integrity check and holds exactly what it held before."""
    ws, _, done_copy = baseline
    shutil.copytree(done_copy, ws)
    try:
        before = _db_tables(ws / "wuye.sqlite")

        # room for the quarantine workbook the ingest writes first (tens of kB), none for
        # the database (hundreds of kB already): the write that fails is the database's
        limit = 120_000
        assert (ws / "wuye.sqlite").stat().st_size > limit

        def limited() -> None:
            _no_file_size_limit()
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        full = _run(["ingest", str(_root(ws))], preexec_fn=limited)
        assert full.returncode == 2, full.stdout + full.stderr
        assert "Traceback" not in full.stderr
        assert "wuye.sqlite" in full.stderr
        con = sqlite3.connect(ws / "wuye.sqlite")
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
        assert _db_tables(ws / "wuye.sqlite") == before
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def test_a_rerun_report_removes_temporaries_a_killed_run_left(small_round, baseline):
    """A run killed in the middle of writing leaves ``.<name>.<pid>.tmp<suffix>`` files (the
    one temporary scheme of ``wuye_common.files.atomic_path``); the next report removes them
    and never lists them."""
    from evaluation import pipeline
    from evaluation.round import load_round

    ws, _, done_copy = baseline
    shutil.copytree(done_copy, ws)
    out = ws / "out"
    stale = [
        out / ".district_report.pdf.99999.tmp.pdf",
        out / "cards" / ".GD001.pdf.4242.tmp.pdf",
        out / "data" / ".estates.csv.77.tmp.csv",
        out / ".x.xlsx.5.tmp",
    ]
    try:
        for path in stale:
            path.write_bytes(b"half a file")
        keep = out / "notes.tmp"  # not one of ours: left alone
        keep.write_bytes(b"user file")
        manifest = pipeline.report_step(load_round(_root(ws)), cards=False)
        assert not any(p.exists() for p in stale)
        assert keep.exists()
        assert not any(".tmp" in f["path"] and "/." in "/" + f["path"] for f in manifest.files)
    finally:
        shutil.rmtree(ws, ignore_errors=True)


@pytest.mark.parametrize("command", ["sample", "ingest"])
def test_disk_full_while_writing_a_workbook(small_round, baseline, command):
    """The field sheets (sample) or the quarantine workbook (ingest) hit a full disk: exit 2
    naming the output folder, no traceback (not even from a half-closed zip file), no
    temporary left, every earlier output and the database unchanged."""
    ws, _, done_copy = baseline
    shutil.copytree(done_copy, ws)
    out = ws / "out"
    try:
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        db = _db_tables(ws / "wuye.sqlite")

        def limited() -> None:
            _no_file_size_limit()
            resource.setrlimit(resource.RLIMIT_FSIZE, (3_000, 3_000))

        full = _run([command, str(_root(ws))], preexec_fn=limited)
        assert full.returncode == 2, full.stdout + full.stderr
        assert "Traceback" not in full.stderr and "Exception ignored" not in full.stderr
        assert str(out) in full.stderr and "磁盘" in full.stderr
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
        assert _db_tables(ws / "wuye.sqlite") == db
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def test_disk_full_writing_the_template_elsewhere_leaves_nothing(small_round, tmp_path):
    """``template -o`` outside the round's folders on a full disk: exit 2, no temporary."""
    ws = tmp_path / "ws"
    shutil.copytree(small_round, ws)
    target = tmp_path / "elsewhere" / "模板.xlsx"
    target.parent.mkdir()

    def limited() -> None:
        _no_file_size_limit()
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, 2_000))

    full = _run(["template", str(_root(ws)), "-o", str(target)], preexec_fn=limited)
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr and "Exception ignored" not in full.stderr
    assert list(target.parent.iterdir()) == []
