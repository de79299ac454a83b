"""Safe file names and atomic writes: a killed run never leaves a half-written file."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^\w\-]+", re.UNICODE)
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10))}


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
    """A temporary sibling of ``target`` unique to this process."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def atomic_write_bytes(target: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary name next to ``target`` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
