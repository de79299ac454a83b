"""The sampling record kept with a round: ``RoundSample`` and its CSV/JSON files.

Files written into one folder (each to a temporary name, then renamed):
``sample.csv`` (selected households), ``strata.csv`` (estate × building: ``N_h, n_h,
reserve_h, pi_h``, from which weights are derived), ``plan.csv`` (per estate) and
``meta.json`` (seed, frame SHA-256, design, parameters, versions).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_path

SAMPLE_FILE = "sample.csv"
STRATA_FILE = "strata.csv"
PLAN_FILE = "plan.csv"
META_FILE = "meta.json"
TEXT_COLUMNS = (
    "estate_id",
    "building",
    "unit",
    "floor",
    "room",
    "household_id",
    "role",
    "design",
    "estate_name",
)


@dataclass
class RoundSample:
    """Result of :func:`sampling.design.draw_round`; see ``docs/architecture.md``.

    ``sample``: one row per selected household (``estate_id, building, unit, floor, room,
    household_id, role, order, seq``); ``strata``: one row per estate × building
    (``estate_id, building, N_h, n_h, reserve_h, pi_h, design``); ``plan``: one row per
    estate (``estate_id, N, n, reserves, buildings, planning_p, margin_at_threshold,
    design``); ``meta``: seed, frame SHA-256, design and parameters. ``written`` lists
    files written by :func:`sampling.design.run_sampling` and ``warnings`` the frame
    warnings (:class:`~wuye_common.errors.Problem`, also in ``meta["warnings"]`` as text).
    """

    sample: pd.DataFrame
    strata: pd.DataFrame
    plan: pd.DataFrame
    meta: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def package_version() -> str:
    """Installed version of wuye-eval (``"unknown"`` when not installed)."""
    try:
        return metadata.version("wuye-eval")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed in dev
        return "unknown"


def frame_sha256(frame: pd.DataFrame, *, canonical: tuple | None = None) -> str:
    """SHA-256 of a canonical serialisation of the frame, independent of its row order.

    Serialisation (UTF-8): ``rows=<count>``, then for each of ``estate_id, building, unit,
    floor, room``: ``column=<name>``, its distinct values in natural order
    (:func:`sampling.selection.natural_codes`) joined by ``\\n``, and the little-endian
    int32 index of every row's value in that list; finally ``column=occupied`` and one byte
    (1/0) per row. Rows are taken in the canonical order of
    :func:`sampling.selection.canonical_order`. ``canonical`` passes that function's
    result when the caller has it already.
    """
    from sampling.selection import ORDER_COLUMNS, canonical_order

    order, codes, labels = canonical if canonical is not None else canonical_order(frame)
    digest = hashlib.sha256()
    digest.update(f"rows={len(frame)}\n".encode())
    for col in ORDER_COLUMNS:
        digest.update(f"column={col}\n".encode())
        digest.update("\n".join(labels[col]).encode("utf-8"))
        digest.update(b"\n")
        digest.update(np.asarray(codes[col], dtype="<i4")[order].tobytes())
    occupied = (
        frame["occupied"].fillna(True).to_numpy(dtype=bool)
        if "occupied" in frame.columns
        else np.ones(len(frame), dtype=bool)
    )
    digest.update(b"column=occupied\n")
    digest.update(occupied[order].astype(np.uint8).tobytes())
    return digest.hexdigest()


def write_sampling_record(round_sample: RoundSample, directory: str | Path) -> list[Path]:
    """Write ``sample.csv``, ``strata.csv``, ``plan.csv`` and ``meta.json``; returns paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (
        (SAMPLE_FILE, round_sample.sample),
        (STRATA_FILE, round_sample.strata),
        (PLAN_FILE, round_sample.plan),
    ):
        target = directory / name
        with atomic_path(target) as tmp:
            if not _plain_csv(table, tmp):
                table.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
        written.append(target)
    target = directory / META_FILE
    with atomic_path(target) as tmp:
        tmp.write_text(
            json.dumps(_jsonable(round_sample.meta), ensure_ascii=False, indent=2, sort_keys=True)
            + "\n",
            encoding="utf-8",
        )
    written.append(target)
    return written


def _plain_csv(table: pd.DataFrame, path: Path, *, chunk: int = 100_000) -> bool:
    """Write ``table`` as ``to_csv(index=False, encoding="utf-8-sig", lineterminator="\\n")``
    does, byte for byte, when every column is text without missing values or integers and
    no cell needs quoting (no ``,``, ``"``, line break): each chunk of rows joined into one
    string (pandas' writer formats cell by cell: seconds for a city's sample). Returns
    ``False``, leaving ``path`` to the caller, when the table is not that plain."""
    text = [c for c in table.columns if table[c].dtype == "str"]
    numbers = [c for c in table.columns if pd.api.types.is_integer_dtype(table[c].dtype)]
    if len(text) + len(numbers) != len(table.columns) or not len(table.columns):
        return False
    if any(ch in str(c) for c in table.columns for ch in ',"\r\n'):
        return False
    header = ",".join(map(str, table.columns))
    width = len(table.columns)
    with path.open("wb") as out:
        out.write(("\ufeff" + header + "\n").encode("utf-8"))
        for start in range(0, len(table), chunk):
            part = table.iloc[start : start + chunk]
            pieces = np.empty((len(part), 2 * width), dtype=object)
            pieces[:, 1::2] = ","
            pieces[:, -1] = "\n"
            for j, col in enumerate(table.columns):
                values = part[col].to_numpy()
                pieces[:, 2 * j] = values if col in text else _integers(values)
            try:
                lines = "".join(pieces.ravel().tolist())
            except TypeError:  # a missing text (NaN): pandas writes it as an empty cell
                return False
            plain = lines.count(",") == (width - 1) * len(part) and lines.count("\n") == len(part)
            if not plain or '"' in lines or "\r" in lines:
                return False
            out.write(lines.encode("utf-8"))
    return True


def _integers(values: np.ndarray) -> np.ndarray:
    """Integers as text (a lookup table for the small non-negative ones, as counts are)."""
    values = np.asarray(values)
    if len(values) and values.min() >= 0 and values.max() <= 2 * len(values) + 1000:
        table = np.array([str(k) for k in range(int(values.max()) + 1)], dtype=object)
        return table[values]
    return values.astype(str).astype(object)


def read_sampling_record(directory: str | Path, *, households: bool = True) -> RoundSample:
    """Read a record written by :func:`write_sampling_record` back into a ``RoundSample``.

    ``households=False`` skips ``sample.csv`` (one row per drawn household, large at city
    scale) for callers that need only the strata, plan and meta; ``sample`` is then empty.
    """
    directory = Path(directory)
    tables = {SAMPLE_FILE: pd.DataFrame()}
    for name in (SAMPLE_FILE, STRATA_FILE, PLAN_FILE) if households else (STRATA_FILE, PLAN_FILE):
        path = directory / name
        if not path.exists():
            raise WuyeError(
                Problem(
                    "抽样记录不完整：缺少文件",
                    "重新运行 wuye-eval sample 生成抽样记录",
                    file=str(path),
                )
            )
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
        dtypes = {c: "str" for c in header if c in TEXT_COLUMNS}
        table = pd.read_csv(
            path,
            dtype=dtypes,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values={c: [""] for c in header if c not in TEXT_COLUMNS},
        )
        tables[name] = table
    meta_path = directory / META_FILE
    if not meta_path.exists():
        raise WuyeError(
            Problem(
                "抽样记录不完整：缺少文件",
                "重新运行 wuye-eval sample 生成抽样记录",
                file=str(meta_path),
            )
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WuyeError(
            Problem(
                f"抽样记录 meta.json 已损坏：{exc}",
                "重新运行 wuye-eval sample",
                file=str(meta_path),
            )
        ) from exc
    return RoundSample(
        sample=tables[SAMPLE_FILE], strata=tables[STRATA_FILE], plan=tables[PLAN_FILE], meta=meta
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
