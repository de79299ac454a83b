"""``manifest.json``: every file of a round's reports with its sha256, plus the failures."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wuye_common.files import STALE_TEMP, atomic_write_bytes

MANIFEST_NAME = "manifest.json"


@dataclass
class Failure:
    """One output that could not be produced; ``cell`` is set for a failing notebook cell."""

    kind: str
    target: str
    reason: str
    estate_id: str | None = None
    cell: int | None = None


@dataclass
class Manifest:
    """What a report run wrote (``files``) and what failed (``failures``)."""

    output_dir: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def paths(self, kind: str | None = None) -> list[Path]:
        """Absolute paths of the listed files (of one ``kind`` if given)."""
        return [
            self.output_dir / f["path"] for f in self.files if kind is None or f["kind"] == kind
        ]


def file_kind(relative: Path) -> str:
    """``excel``/``pdf``/``notebook``/``html``/``data``/``other`` from name and folder."""
    suffix = relative.suffix.lower()
    if suffix in {".xlsx", ".xls"}:
        return "excel"
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".ipynb":
        return "notebook"
    if suffix in {".html", ".htm"}:
        return "html"
    if suffix in {".csv", ".json", ".sqlite", ".parquet"} or relative.parts[:1] == ("data",):
        return "data"
    return "other"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(
    output_dir: Path, failures: list[Failure] | None = None, extra: dict[str, Any] | None = None
) -> Manifest:
    """List every file under ``output_dir`` (not temporaries, not the manifest itself).

    Writes ``manifest.json`` atomically and returns the :class:`Manifest`.
    """
    output_dir = Path(output_dir)
    files = []
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(output_dir)
        if rel.name == MANIFEST_NAME or STALE_TEMP.match(rel.name) or rel.name.startswith("."):
            continue
        files.append(
            {
                "path": rel.as_posix(),
                "kind": file_kind(rel),
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
            }
        )
    manifest = Manifest(output_dir=output_dir, files=files, failures=list(failures or []))
    body = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
        "files": files,
        "failures": [asdict(f) for f in manifest.failures],
    }
    atomic_write_bytes(
        output_dir / MANIFEST_NAME, json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")
    )
    return manifest
