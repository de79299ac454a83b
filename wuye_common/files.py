"""Safe file names and atomic writes: a killed run never leaves a half-written file.

Every writer of both packages writes through :func:`atomic_path`: a temporary sibling named
``.<name>.<pid>.tmp<suffix>`` (hidden, unique to the process, keeping the suffix so that a
writer choosing its format by suffix still works), renamed into place only when complete.
:data:`STALE_TEMP` matches exactly those names, so a later run can remove what a killed one
left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UNSAFE = re.compile(r"[^\w\-]+", re.UNICODE)
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(10)),
    *(f"LPT{i}" for i in range(10)),
}

#: the temporary names :func:`temp_path` makes (and nothing else)
STALE_TEMP = re.compile(r"^\..+\.\d+\.tmp(\.[A-Za-z0-9]{1,5})?$")


def safe_filename(key: str, max_len: int = 80) -> str:
    """A file-name stem for ``key`` (an estate id) safe on Windows, macOS and Linux.

    Word characters and ``-`` are kept; anything else (``/``, ``..``, quotes, newlines) is
    replaced, and a short hash of the original keeps changed keys unique.
    """
    text = str(key)
    stem = _UNSAFE.sub("_", text).strip("_")[:max_len]
    if stem != text or not stem or stem.upper() in _RESERVED:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem or 'x'}_{digest}"
    return stem


def temp_path(target: Path) -> Path:
    """A hidden temporary sibling of ``target``, unique to this process, same suffix."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``target`` to; rename it into place when the block
    ends normally, delete it when the block raises (``target`` is then left as it was)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def remove_stale_temporaries(folder: Path, since: float | None = None) -> None:
    """Delete the temporaries a killed or failed run left in ``folder`` (modified at or
    after ``since``, if given); finished files are never touched."""
    if not folder.is_dir():
        return
    for path in folder.rglob(".*.tmp*"):
        if (
            STALE_TEMP.match(path.name)
            and path.is_file()
            and (since is None or path.stat().st_mtime >= since)
        ):
            path.unlink(missing_ok=True)
