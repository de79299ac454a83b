"""Shared test fixtures: where the read-only ../shared fixtures live (skip when absent), one
demo run shared by the whole session (read-only), and one small sampled round that tests
copy and break (``small_round``, ``ws``)."""

from __future__ import annotations

import hashlib
import locale
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


settings.register_profile("default", deadline=None)
settings.register_profile("fuzz", deadline=None, max_examples=1000, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The hostile-input tests (``test_hostile_*.py``) carry the ``hostile`` mark
    (``make fuzz`` runs them alone, with the long Hypothesis profile)."""
    for item in items:
        if item.path.name.startswith("test_hostile_"):
            item.add_marker(pytest.mark.hostile)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its hostile tally to the controller (``workeroutput``)."""
    from tests.hostile import TALLY

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["hostile_tally"] = dict(TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller adds up the workers' hostile tallies (printed at the end)."""
    from tests.hostile import TALLY

    TALLY.update(getattr(node, "workeroutput", {}).get("hostile_tally", {}))


#: Test files that use the shared demo run (``demo_run``): one work unit under pytest-xdist,
#: so that one worker runs the demo for all of them.
DEMO_FILES = ("tests/pipeline/test_demo_end_to_end.py", "tests/pipeline/test_privacy.py")
DEMO_UNIT = "shared demo run"
#: Work units handed out first under pytest-xdist, longest first (the two that wait for
#: background work, then the longest files): no long file left to run alone at the end.
FIRST_UNITS = (
    DEMO_UNIT,
    "tests/pipeline/test_wheel.py",
    "tests/pipeline/test_faults.py",
    "tests/ranking/test_operating.py",
    "tests/pipeline/test_dask_round.py",
    "tests/report/test_render.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``make test`` runs two pytest-xdist workers (``-n 2``): each test file goes whole to
    one worker (its module fixtures built once), the files that use the shared demo run
    together, and the long files first."""
    if config.getvalue("dist") not in ("load", "loadfile"):
        return None  # an explicit other --dist: xdist's own
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return DEMO_UNIT if scope in DEMO_FILES else scope

        def _assign_work_unit(self, node) -> None:
            for unit in reversed(FIRST_UNITS):
                if unit in self.workqueue:
                    self.workqueue.move_to_end(unit, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)


def pytest_terminal_summary(terminalreporter) -> None:
    """Totals of the hostile property tests' generated cases, by stage and outcome."""
    from tests.hostile import FUZZ, TALLY

    if not TALLY:
        return
    profile = "fuzz (make fuzz)" if FUZZ else "bounded (make test)"
    terminalreporter.write_sep("-", f"hostile cases, {profile} profile")
    for key in sorted(TALLY):
        terminalreporter.write_line(f"{TALLY[key]:7d}  {key}")
    terminalreporter.write_line(f"{sum(TALLY.values()):7d}  in total")


@pytest.fixture
def shared_fixtures() -> Path:
    """Path of ``../shared/fixtures``; the test is skipped when it is not there."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present")
    return SHARED_FIXTURES


@dataclass(frozen=True)
class DemoRun:
    """The shared demo run: its workspace, size, and what it printed (stderr has the logs)."""

    workspace: Path
    estates: int
    stdout: str
    stderr: str


DEMO_ESTATES = 16


def _fingerprint(root: Path) -> dict[str, str]:
    """``relative path → sha256`` of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class _DemoJob:
    """The shared demo run as a background subprocess: started once, waited for once. Its
    stdout and stderr go to files beside the workspace (a pipe nobody reads while the tests
    run would fill up and stall the run)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.factory = tmp_path_factory
        self.proc: subprocess.Popen | None = None
        self.ws = self.logs = Path()

    def start(self) -> None:
        if self.proc is not None:
            return
        self.ws = self.factory.mktemp("demo_run") / "ws"
        self.logs = self.ws.parent
        argv = [sys.executable, "-m", "evaluation.cli", "-v", "demo", "--workspace", str(self.ws)]
        with (
            open(self.logs / "stdout.txt", "wb") as out,
            open(self.logs / "stderr.txt", "wb") as err,
        ):
            self.proc = subprocess.Popen(
                [*argv, "--estates", str(DEMO_ESTATES)], stdout=out, stderr=err
            )

    def wait(self) -> DemoRun:
        self.start()
        assert self.proc is not None
        code = self.proc.wait(timeout=900)
        encoding = locale.getpreferredencoding(False)  # what subprocess.run(text=True) reads
        stdout = (self.logs / "stdout.txt").read_text(encoding=encoding)
        stderr = (self.logs / "stderr.txt").read_text(encoding=encoding)
        assert code == 0, stderr
        return DemoRun(self.ws, DEMO_ESTATES, stdout, stderr)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:  # the session was cut short
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session", autouse=True)
def _demo_job(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_DemoJob]:
    """Starts the shared demo run at the start of the session when a selected test uses it,
    so that it runs beside the tests before them (on the second core of a 2-core machine,
    which the serial test run leaves idle) instead of in front of its first test. Under
    pytest-xdist (``make test``) a worker starts it when its first user asks: the scheduler
    hands those files out first, as one unit (``pytest_xdist_make_scheduler``)."""
    job = _DemoJob(tmp_path_factory)
    if _selected(request, "demo_run") and not _xdist_worker(request):
        job.start()
    yield job
    job.stop()


def _selected(request: pytest.FixtureRequest, fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in request.session.items)


def _xdist_worker(request: pytest.FixtureRequest) -> bool:
    """A pytest-xdist worker collects every test but runs only some: it starts background
    work when its first user asks (the scheduler hands those files out first)."""
    return hasattr(request.config, "workerinput")


class _WheelJob:
    """``tests/pipeline/test_wheel.py``'s build, install and demo in a background thread,
    after the shared demo run (two demos at once would crowd the tests off both cores)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, after: _DemoJob) -> None:
        self.factory, self.after = tmp_path_factory, after
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        if self.thread is not None:
            return
        tmp = self.factory.mktemp("wheel")
        self.thread = threading.Thread(target=self._run, args=(tmp,), daemon=True)
        self.thread.start()

    def _run(self, tmp: Path) -> None:
        from tests.pipeline.test_wheel import wheel_and_demo

        try:
            if self.after.proc is not None:
                self.after.proc.wait()
            wheel_and_demo(tmp)
        except BaseException as exc:  # re-raised in the test by wait()
            self.error = exc

    def wait(self) -> None:
        self.start()
        assert self.thread is not None
        self.thread.join(timeout=1800)
        assert not self.thread.is_alive(), "the wheel build and demo did not finish"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        from tests.pipeline.test_wheel import RUNNING

        if self.thread is not None and self.thread.is_alive():  # the session was cut short
            for proc in RUNNING:
                proc.kill()


@pytest.fixture(scope="session", autouse=True)
def wheel_job(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _demo_job: _DemoJob,
) -> Iterator[_WheelJob]:
    """The wheel test's work, started in the background when the session begins if that test
    is selected (see ``_demo_job``; under pytest-xdist, when the test starts); the test
    waits for it."""
    job = _WheelJob(tmp_path_factory, _demo_job)
    selected = any(item.path.name == "test_wheel.py" for item in request.session.items)
    if selected and not _xdist_worker(request):
        job.start()
    yield job
    job.stop()


@pytest.fixture(scope="session")
def demo_run(_demo_job: _DemoJob) -> Iterator[DemoRun]:
    """ONE demo run shared by the test session (test_demo_end_to_end, test_privacy).

    ``python -m evaluation.cli -v demo --estates 16``, both rounds with cards, in a
    subprocess so that its stdout and stderr (INFO logs included) are captured for the
    privacy scan; it is started in the background at the start of the session
    (``_demo_job``). The workspace is read-only for the tests using it: write to
    ``tmp_path`` instead. At the end of the session the workspace is compared with its
    state right after the run, and a test that changed it fails the teardown.
    """
    run = _demo_job.wait()
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    ws = run.workspace
    before = _fingerprint(ws)
    yield run
    after = _fingerprint(ws)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the shared demo workspace was changed by a test: {changed[:10]}"


SMALL_ROUND_PERIOD = "2025H2"
SMALL_ROUND_SEED = 5


@pytest.fixture(scope="session")
def small_round(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sampled 5-estate demo round with its simulated 问卷星 export and pseudonym key, no
    outputs (built once per session; read-only: copy it, e.g. with ``ws``). The 台账 is a CSV
    so tests can rewrite it; notebooks are off (kernels are slow, and not what is tested).

    Layout: ``<ws>/demo/inputs/2025H2/`` (the round folder), ``<ws>/out/`` (outputs),
    ``<ws>/wuye.sqlite``, ``<ws>/.secrets/``."""
    from evaluation import pipeline
    from evaluation.demo import build_district, write_demo_round, write_fieldwork
    from evaluation.ingest.pseudonym import load_or_create_key
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("small_round") / "ws"
    period, seed = SMALL_ROUND_PERIOD, SMALL_ROUND_SEED
    district = build_district(seed, estates=5)
    root = write_demo_round(
        ws / "demo",
        period,
        seed=seed,
        estates=5,
        output_dir=ws / "out",
        database=ws / "wuye.sqlite",
        secrets=ws / ".secrets",
        district=district,
    )
    register = pd.read_excel(root / "台账.xlsx", dtype=str, engine="calamine")
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    (root / "台账.xlsx").unlink()
    config = tomllib.loads((root / "round.toml").read_text(encoding="utf-8"))
    config["inputs"]["register"] = "台账.csv"
    config["report"] = {"notebooks": False}
    (root / "round.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    rnd = load_round(root)
    drawn = pipeline.sample_step(rnd)
    write_fieldwork(root, district, drawn.sample, period=period, seed=seed)
    load_or_create_key(rnd.secret_path)  # same key for every copy: same pseudonyms
    return ws


@pytest.fixture
def ws(small_round: Path, tmp_path: Path) -> Path:
    """A private copy of ``small_round`` at ``tmp_path / "ws"``."""
    target = tmp_path / "ws"
    shutil.copytree(small_round, target)
    return target
