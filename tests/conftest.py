"""Shared test fixtures: where the read-only ../shared fixtures live (skip when absent), and
one demo run shared by the whole session (read-only)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


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
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """ONE demo run shared by the test session (test_demo_end_to_end, test_privacy).

    ``python -m evaluation.cli -v demo --estates 16``, both rounds with cards, in a
    subprocess so that its stdout and stderr (INFO logs included) are captured for the
    privacy scan. The workspace is read-only for the tests using it: write to
    ``tmp_path`` instead. At the end of the session the workspace is compared with its
    state right after the run, and a test that changed it fails the teardown.
    """
    ws = tmp_path_factory.mktemp("demo_run") / "ws"
    done = subprocess.run([sys.executable, "-m", "evaluation.cli", "-v", "demo", "--workspace",
                           str(ws), "--estates", str(DEMO_ESTATES)], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    before = _fingerprint(ws)
    yield DemoRun(ws, DEMO_ESTATES, done.stdout, done.stderr)
    after = _fingerprint(ws)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the shared demo workspace was changed by a test: {changed[:10]}"
