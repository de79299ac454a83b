"""Shared test fixtures: where the read-only ../shared fixtures live (skip when absent)."""

from __future__ import annotations

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
