"""The workspace's memory: one SQLite file (``wuye.sqlite``) holding every round's results.

Standard library :mod:`sqlite3`, no server. The schema is versioned (table
``schema_version``) and upgraded by :data:`MIGRATIONS` when a store is opened. Each step of a
round is written by :meth:`Store.write_step` inside ONE transaction: the step's rows for that
round are deleted and the new frames inserted, so re-running a step replaces its results
exactly and an interrupted step (exception, kill, power cut) leaves the previous state — SQLite
rolls the hot journal back on the next open.

Data tables (:data:`STEPS`): ``register, firm_register`` (step ``round``), ``strata, plan``
(``sample``), ``respondents, answers, quarantine_summary, ingest_counts, dispositions,
response_rates`` (``ingest``), ``estates, items, dimensions, district, drivers,
firm_drivers, importance`` (``score``; the last three since schema version 2),
``ranking, firms, escalations`` (``rank``), ``quality_flags, quality_surveyors, comments,
comment_themes`` (``ingest``, since schema version 3) and ``backchecks`` (``backcheck``, the
call results of the 回访名单; since version 3); ``<step>_<name>`` spellings such as
``score_estates`` or ``rank_estates`` are accepted too. Every row carries ``round_id``; the
``rounds`` table holds each round's period, year, kind (series) and district. Columns follow the frames written: a column not yet in the table is
added (``ALTER TABLE``, inside the same transaction) and its pandas kind recorded in
``columns`` so :meth:`Store.read` returns the same dtypes. Column names that differ only in
case (``N`` and ``n`` in the sampling plan) are stored under distinct SQL names.

Personal data never enters the store: columns such as ``room``, ``phone``, ``household_id``
are refused, and the ingest quarantine is stored as counts only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.round import PERIOD_PATTERN
from wuye_common.errors import Problem, WuyeError

STEPS: dict[str, tuple[str, ...]] = {
    "round": ("register", "firm_register"),
    "sample": ("strata", "plan"),
    "ingest": (
        "respondents",
        "answers",
        "quarantine_summary",
        "ingest_counts",
        "dispositions",
        "response_rates",
        "quality_flags",
        "quality_surveyors",
        "comments",
        "comment_themes",
    ),
    "backcheck": ("backchecks",),
    "score": (
        "estates",
        "items",
        "dimensions",
        "district",
        "drivers",
        "firm_drivers",
        "importance",
    ),
    "rank": ("ranking", "firms", "escalations"),
}
#: names accepted in ``write_step(tables=...)`` for a step, mapped to the stored table
ALIASES: dict[str, dict[str, str]] = {
    "round": {"firms": "firm_register"},
    "ingest": {"counts": "ingest_counts", "quarantine_counts": "quarantine_summary"},
    "rank": {"estates": "ranking"},
}
DATA_TABLES: tuple[str, ...] = tuple(t for ts in STEPS.values() for t in ts)
#: ``<step>_<name>`` spellings accepted by :meth:`Store.read`
READ_ALIASES: dict[str, str] = {
    **{f"{s}_{t}": t for s, ts in STEPS.items() for t in ts},
    **{f"{s}_{a}": t for s, m in ALIASES.items() for a, t in m.items()},
}
META_TABLES: tuple[str, ...] = ("schema_version", "rounds", "steps", "columns")
#: steps that must have been written (for the same round) before a step may be written
REQUIRES: dict[str, tuple[str, ...]] = {
    "round": (),
    "sample": (),
    "ingest": (),
    "score": (),
    "rank": ("score",),
    "backcheck": ("ingest",),
}
STEP_LABELS = {
    "round": "轮次登记",
    "sample": "抽样",
    "ingest": "问卷导入",
    "score": "评分",
    "rank": "排名",
    "backcheck": "回访核实",
}
#: column names that would carry personal data (compared case-insensitively)
FORBIDDEN_COLUMNS = frozenset(
    {
        "room",
        "phone",
        "mobile",
        "telephone",
        "name",
        "respondent_name",
        "ip",
        "ip_address",
        "household_id",
        "address",
        "contact",
        "id_card",
        "姓名",
        "电话",
        "手机",
        "手机号",
        "联系电话",
        "房号",
        "门牌号",
        "地址",
        "身份证",
        "ip地址",
        "detail",
        "raw",
    }
)
CHUNK_ROWS = 200_000
"""Rows converted, inserted and fetched at a time."""
ROUND_FIELDS = ("period", "year", "kind", "part", "district", "label")


#: data tables each schema version creates (fixed once released: a later version adds its own)
V1_TABLES: tuple[str, ...] = (
    "register",
    "firm_register",
    "strata",
    "plan",
    "respondents",
    "answers",
    "quarantine_summary",
    "ingest_counts",
    "dispositions",
    "response_rates",
    "estates",
    "items",
    "dimensions",
    "district",
    "ranking",
    "firms",
    "escalations",
)
V2_TABLES: tuple[str, ...] = ("drivers", "firm_drivers", "importance")
V3_TABLES: tuple[str, ...] = (
    "quality_flags",
    "quality_surveyors",
    "comments",
    "comment_themes",
    "backchecks",
)


def _create_data_tables(con: sqlite3.Connection, tables: Iterable[str]) -> None:
    """One table per step output: ``round_id`` and an index on it; the other columns are
    added as frames are written."""
    for table in tables:
        con.execute(f"CREATE TABLE {_q(table)} (round_id TEXT NOT NULL)")
        con.execute(f"CREATE INDEX {_q('ix_' + table)} ON {_q(table)} (round_id)")


def _create_v1(con: sqlite3.Connection) -> None:
    con.execute(
        "CREATE TABLE rounds (round_id TEXT PRIMARY KEY, period TEXT, year INTEGER, "
        "kind TEXT, part INTEGER, district TEXT, label TEXT, meta TEXT, "
        "updated_at TEXT)"
    )
    con.execute(
        "CREATE TABLE steps (round_id TEXT NOT NULL, step TEXT NOT NULL, "
        "written_at TEXT, row_counts TEXT, meta TEXT, PRIMARY KEY (round_id, step))"
    )
    con.execute(
        'CREATE TABLE "columns" (table_name TEXT NOT NULL, column_name TEXT NOT NULL, '
        "sql_name TEXT NOT NULL, kind TEXT NOT NULL, position INTEGER NOT NULL, "
        "PRIMARY KEY (table_name, column_name))"
    )
    _create_data_tables(con, V1_TABLES)


def _create_v2(con: sqlite3.Connection) -> None:
    _create_data_tables(con, V2_TABLES)


def _create_v3(con: sqlite3.Connection) -> None:
    _create_data_tables(con, V3_TABLES)


#: (version, description, function applied inside the upgrade transaction); append only.
MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "rounds, steps, column registry and one table per step output", _create_v1),
    (
        2,
        "score step: key drivers (district, by firm) and importance-performance tables",
        _create_v2,
    ),
    (
        3,
        "ingest step: fieldwork-quality flags, surveyors, scrubbed comments and their themes; "
        "back-check step: the call results",
        _create_v3,
    ),
]

#: test hook: called with the table name after each table's rows are inserted
_after_table: Callable[[str], None] | None = None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cannot_open(path: str | Path, exc: sqlite3.DatabaseError) -> WuyeError:
    return WuyeError(
        Problem(
            f"无法打开历史数据库：{exc}",
            "确认该文件是 wuye-eval 的数据库且未损坏；必要时改用新文件",
            file=str(path),
        )
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A workspace database. ``Store(path)`` creates or upgrades it; use it as a context
    manager (``with Store(path) as store:``) so that its connection is closed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        except sqlite3.DatabaseError as exc:
            raise _cannot_open(path, exc) from exc
        try:
            self.con.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.con.close()
            raise _cannot_open(path, exc) from exc
        except BaseException:  # a newer schema, an interrupt: no connection left open
            self.con.close()
            raise

    # -- lifecycle
    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER "
                "PRIMARY KEY, description TEXT, applied_at TEXT)"
            )
            current = self.con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            current = int(current or 0)
            latest = max(v for v, _, _ in MIGRATIONS)
            if current > latest:
                raise WuyeError(
                    Problem(
                        f"历史数据库的结构版本 {current} 比本程序支持的 {latest} 新",
                        "升级 wuye-eval 后再打开该数据库",
                        file=str(self.path),
                    )
                )
            for version, description, apply in sorted(MIGRATIONS, key=lambda m: m[0]):
                if version > current:
                    apply(self.con)
                    self.con.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)",
                        (version, description, _now()),
                    )
            self.con.execute("COMMIT")
        except BaseException:
            if self.con.in_transaction:  # SQLite already rolled back on a full disk
                self.con.execute("ROLLBACK")
            raise

    # -- writing
    def write_step(
        self,
        round_id: str,
        step: str,
        tables: dict[str, pd.DataFrame],
        meta: dict[str, Any] | None = None,
    ) -> dict[str, int]:
        """Replace ``step``'s results for ``round_id`` with ``tables``, in one transaction.

        ``tables`` maps the step's table names (:data:`STEPS`, or :data:`ALIASES` such as
        ``estates`` for the rank step) to DataFrames; the step's tables not given are emptied
        for the round. Round metadata (``period, year, kind, part, district, label``) comes
        from ``meta`` or from a one-row ``rounds`` frame given to any step and is upserted
        into ``rounds``; a round never registered whose id is itself a period (``2025H1``)
        is registered with that period. A ``quarantine`` frame given to ``ingest`` is stored
        as counts per file and reason only. Returns rows written per table.

        Raises :class:`WuyeError` — with nothing written — for an unknown step or table,
        personal-data columns, or a step whose prerequisites (:data:`REQUIRES`) are missing:
        ranking a round that has not been scored.
        """
        round_id = str(round_id)
        tables, meta = _checked_step_tables(step, tables, dict(meta or {}))
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self._check_prerequisites(round_id, step)
            self._register_round(round_id, meta)
            counts: dict[str, int] = {}
            for name in STEPS[step]:
                self.con.execute(f"DELETE FROM {_q(name)} WHERE round_id = ?", (round_id,))
                if name in tables:
                    counts[name] = self._insert(name, round_id, tables[name])
                    if _after_table is not None:
                        _after_table(name)
            self.con.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)",
                (
                    round_id,
                    step,
                    _now(),
                    json.dumps(counts),
                    json.dumps(meta, ensure_ascii=False, default=str),
                ),
            )
            self.con.execute("COMMIT")
        except BaseException:
            if self.con.in_transaction:  # SQLite already rolled back on a full disk
                self.con.execute("ROLLBACK")
            raise
        return counts

    def _check_prerequisites(self, round_id: str, step: str) -> None:
        """Raise unless the steps ``step`` requires (:data:`REQUIRES`) are stored."""
        done = {
            r[0] for r in self.con.execute("SELECT step FROM steps WHERE round_id = ?", (round_id,))
        }
        missing = [s for s in REQUIRES[step] if s not in done]
        if missing:
            labels = "、".join(STEP_LABELS[s] for s in missing)
            raise WuyeError(
                Problem(
                    f"轮次 {round_id} 尚未完成{labels}，不能写入{STEP_LABELS[step]}结果",
                    f"先运行{labels}（如 wuye-eval {missing[-1]} <轮次>），再运行这一步",
                )
            )

    def _register_round(self, round_id: str, meta: dict[str, Any]) -> None:
        """Upsert the ``rounds`` row from ``meta`` (keeping fields it does not carry)."""
        row = self.con.execute(
            "SELECT period, year, kind, part, district, label, meta FROM rounds WHERE round_id = ?",
            (round_id,),
        ).fetchone()
        old = dict(zip(ROUND_FIELDS, row[:6], strict=True)) if row else {}
        period = meta.get("period") or old.get("period")
        if not period and PERIOD_PATTERN.match(round_id):
            period = round_id
        if not meta and row:
            return
        fields = {**old, **{k: meta[k] for k in ROUND_FIELDS if meta.get(k) is not None}}
        fields["period"] = period
        m = PERIOD_PATTERN.match(str(period or ""))
        if m:
            fields.setdefault("year", int(m["year"]))
            fields.setdefault("kind", m["kind"])
            fields["part"] = int(m["part"]) if fields.get("part") is None else fields["part"]
            fields["year"] = int(m["year"]) if fields.get("year") is None else fields["year"]
            fields["kind"] = m["kind"] if fields.get("kind") is None else fields["kind"]
        old_meta = json.loads(row[6]) if row and row[6] else {}
        values = [
            None
            if fields.get(k) is None
            else (int(fields[k]) if k in ("year", "part") else str(fields[k]))
            for k in ROUND_FIELDS
        ]
        self.con.execute(
            "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                round_id,
                *values,
                json.dumps({**old_meta, **meta}, ensure_ascii=False, default=str),
                _now(),
            ),
        )

    def columns(self, table: str) -> list[str]:
        """The stored column names of data table ``table`` (union over rounds), in order."""
        return [str(c) for c in self._columns(READ_ALIASES.get(table, table))["column_name"]]

    def _columns(self, table: str) -> pd.DataFrame:
        return pd.read_sql_query(
            'SELECT column_name, sql_name, kind, position FROM "columns" WHERE table_name = ? '
            "ORDER BY position",
            self.con,
            params=(table,),
        )

    def _insert(self, table: str, round_id: str, frame: pd.DataFrame) -> int:
        frame = frame.reset_index(drop=True)
        frame = frame.drop(columns=[c for c in frame.columns if str(c) == "round_id"])
        known = self._columns(table)
        mapping = dict(zip(known["column_name"], known["sql_name"], strict=True))
        stored_kinds = dict(zip(known["column_name"], known["kind"], strict=True))
        used = {s.lower() for s in known["sql_name"]} | {"round_id"}
        position = len(known)
        kinds: list[str] = []
        names: list[str] = []
        for col in frame.columns:
            col_name = str(col)
            kind = _kind(frame[col])
            if col_name not in mapping:
                sql_name, k = col_name, 1
                while sql_name.lower() in used:
                    sql_name, k = f"{col_name}#{k}", k + 1
                used.add(sql_name.lower())
                self.con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(sql_name)}")
                self.con.execute(
                    'INSERT INTO "columns" VALUES (?, ?, ?, ?, ?)',
                    (table, col_name, sql_name, kind, position),
                )
                position += 1
                mapping[col_name] = sql_name
            else:
                old = stored_kinds[col_name]
                if old != kind and kind != "null":
                    merged = _merge_kinds(old, kind)
                    self.con.execute(
                        'UPDATE "columns" SET kind = ? WHERE table_name = ? AND column_name = ?',
                        (merged, table, col_name),
                    )
            names.append(mapping[col_name])
            kinds.append(kind)
        if not len(frame):
            return 0
        sql = (
            f"INSERT INTO {_q(table)} (round_id{''.join(', ' + _q(n) for n in names)}) "
            f"VALUES (?{', ?' * len(names)})"
        )
        # in chunks: Python values for millions of answers at once would take gigabytes
        # (still one transaction: all or nothing)
        for lo in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[lo : lo + CHUNK_ROWS]
            values = [
                _to_sql_values(part[col], kind)[1]
                for col, kind in zip(frame.columns, kinds, strict=True)
            ]
            rows: Iterable[tuple] = zip([round_id] * len(part), *values, strict=True)
            self.con.executemany(sql, rows)
        return len(frame)

    # -- reading
    def read(
        self, table: str, round_id: str | None = None, columns: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` (all rounds, or one), with the dtypes they were written with;
        ``columns``: only these of the stored columns (in stored order; names the table
        does not have are skipped), besides ``round_id``."""
        if table in ("rounds", "steps", "schema_version"):
            where = (
                " WHERE round_id = ?" if round_id is not None and table != "schema_version" else ""
            )
            params = (str(round_id),) if where else ()
            return pd.read_sql_query(f"SELECT * FROM {table}{where}", self.con, params=params)
        table = READ_ALIASES.get(table, table)
        if table not in DATA_TABLES:
            raise WuyeError(
                Problem(f"历史数据库中没有表 {table!r}", f"可用的表：{'、'.join(DATA_TABLES)}")
            )
        cols = self._columns(table)
        if columns is not None:
            cols = cols[cols["column_name"].isin([str(c) for c in columns])]
        # one round: its id is not fetched row by row (millions of answers at city scale)
        constant = round_id is not None and len(cols) > 0
        select = ", ".join(
            [*([] if constant else ["round_id"]), *(_q(s) for s in cols["sql_name"])]
        )
        sql = f"SELECT {select} FROM {_q(table)}"
        params: tuple = ()
        if round_id is not None:
            sql += " WHERE round_id = ?"
            params = (str(round_id),)
        sql += " ORDER BY rowid"
        names = [*([] if constant else ["round_id"]), *cols["column_name"]]
        kinds = [*([] if constant else ["str"]), *cols["kind"]]
        parts: list[list[Any]] = [[] for _ in names]
        cursor = self.con.execute(sql, params)
        n = 0
        while rows := cursor.fetchmany(CHUNK_ROWS):  # bounded memory for millions of rows
            n += len(rows)
            block = np.empty((len(rows), len(names)), dtype=object)
            block[:] = rows  # one pass in C (zip(*rows) makes a tuple per column)
            for j, kind in enumerate(kinds):
                parts[j].append(_fetched(block[:, j], kind))
        out = {name: _joined(p, kind) for name, kind, p in zip(names, kinds, parts, strict=True)}
        if constant:
            out["round_id"] = pd.Series(
                pd.array([str(round_id)], dtype="str").take(np.zeros(n, np.intp))
            )
        return pd.DataFrame({"round_id": out.pop("round_id"), **out})

    def rounds(self) -> pd.DataFrame:
        """The rounds table, ordered by series (kind), year and part."""
        frame = self.read("rounds")
        return frame.sort_values(
            ["kind", "year", "part", "round_id"], kind="mergesort"
        ).reset_index(drop=True)

    def steps(self, round_id: str | None = None) -> pd.DataFrame:
        """Steps written, with their time and row counts."""
        return self.read("steps", round_id)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, sorted (for tests comparing database states)."""
        names = [
            r[0]
            for r in self.con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            n: sorted(map(repr, self.con.execute(f"SELECT * FROM {_q(n)}").fetchall()))
            for n in names
        }


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows counted per ``source_file``, ``reason_code`` and ``reason``."""
    keys = [c for c in ("source_file", "reason_code", "reason") if c in quarantine.columns]
    if not keys:
        return pd.DataFrame({"count": [len(quarantine)]})
    return quarantine.groupby(keys, dropna=False, sort=True).size().rename("count").reset_index()


def _kind(s: pd.Series) -> str:
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool" if isinstance(dtype, np.dtype) else "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "int" if isinstance(dtype, np.dtype) else "Int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        if not s.notna().any():
            return "null"
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            sample = s.dropna()
            if sample.map(type).isin([bool, np.bool_]).all():
                return "boolean"
            if sample.map(type).isin([int, np.int64]).all():
                return "Int64"
            if sample.map(type).isin([float, int, np.float64]).all():
                return "float"
        return "str"
    return "str"


def _merge_kinds(old: str, new: str) -> str:
    if old == "null":
        return new
    if {old, new} <= {"int", "Int64"}:
        return "Int64"
    if {old, new} <= {"bool", "boolean"}:
        return "boolean"
    if {old, new} <= {"int", "Int64", "float"}:
        return "float"
    return "str"


def _to_sql_values(s: pd.Series, kind: str | None = None) -> tuple[str, np.ndarray]:
    """Python values sqlite3 accepts (int, float, str, None), vectorised per column
    (``kind`` as :func:`_kind` gives for the whole column, when ``s`` is a part of it)."""
    kind = _kind(s) if kind is None else kind
    notna = s.notna().to_numpy()
    if kind in ("bool", "int"):
        data = s.to_numpy().astype(object)
    elif kind == "float":
        data = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float).astype(object)
    elif kind == "datetime":
        data = _iso_texts(s)
    elif kind == "boolean":
        data = s.fillna(False).astype(bool).to_numpy().astype(object)
    elif kind == "Int64":
        data = pd.to_numeric(s, errors="coerce").fillna(0).astype("int64").to_numpy().astype(object)
    elif isinstance(s.dtype, pd.StringDtype):
        data = s.to_numpy(dtype=object)  # already texts: no conversion
    else:
        data = s.astype("string").to_numpy(dtype=object)
    return kind, data if notna.all() else np.where(notna, data, None)


def _iso_texts(s: pd.Series) -> np.ndarray:
    """Datetimes as ``%Y-%m-%dT%H:%M:%S.%f`` texts: numpy's ISO form for plain datetimes
    of whole microseconds (about 20 times faster than ``strftime``), else ``strftime``."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "M":
        values = s.to_numpy()
        micro = values.astype("datetime64[us]")
        if (micro == values)[~np.isnat(values)].all():
            return np.datetime_as_string(micro, unit="us").astype(object)
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object)


NUMERIC_KINDS = frozenset({"float", "int", "Int64"})
"""Kinds fetched straight into float64 arrays (NULL → NaN; integers exact up to 2**53)."""


def _fetched(values: np.ndarray, kind: str) -> Any:
    """A fetched part of a column (an object array), converted at once and light in memory
    (sqlite3 makes a new object per value): numbers as a float64 array, texts as factorize
    codes and uniques; anything else (or a number column holding texts) as objects."""
    if kind in NUMERIC_KINDS:
        try:
            numbers = values.astype(float)  # None → NaN
        except (TypeError, ValueError):  # a text in a number column: the general path
            return np.ascontiguousarray(values)
        if kind == "float" or _exact_integers(numbers):
            return numbers
        return np.ascontiguousarray(values)
    if kind == "str":
        return pd.factorize(np.ascontiguousarray(values))
    return np.ascontiguousarray(values)


def _exact_integers(numbers: np.ndarray) -> bool:
    """Whether float64 ``numbers`` (NaN: NULL) are whole and exactly representable."""
    finite = numbers[~np.isnan(numbers)]
    return bool((np.abs(finite) <= 2**53).all() and (finite == np.floor(finite)).all())


def _joined(parts: list[Any], kind: str) -> pd.Series:
    """A column from its fetched parts (:func:`_fetched`), in the dtype of ``kind``."""
    if not parts:
        return _from_sql(pd.Series([], dtype=object), kind)
    if kind == "str":
        # the parts' uniques made one set; each part's codes mapped to it (-1: NULL)
        codes, uniques = pd.factorize(np.concatenate([u for _, u in parts]))
        lookup = np.append(codes, -1)
        offsets = np.cumsum([0, *(len(u) for _, u in parts[:-1])])
        index = np.concatenate(
            [
                lookup[np.where(c < 0, len(codes), c + o)]
                for (c, _), o in zip(parts, offsets, strict=True)
            ]
        )
        return pd.Series(pd.array(uniques, dtype="str").take(index, allow_fill=True))
    if kind in NUMERIC_KINDS and all(p.dtype == float for p in parts):
        numbers = np.concatenate(parts)
        if kind == "float":
            return pd.Series(numbers)
        missing = np.isnan(numbers)
        whole = np.where(missing, 0, numbers).astype(np.int64)
        if kind == "int" and not missing.any():
            return pd.Series(whole)
        return pd.Series(pd.arrays.IntegerArray(whole, missing))
    return _from_sql(pd.Series(np.concatenate([p.astype(object) for p in parts])), kind)


def _from_sql(s: pd.Series, kind: str) -> pd.Series:
    if kind == "bool":
        return s.astype(bool) if s.notna().all() else s.astype("boolean")
    if kind == "boolean":
        return s.astype("boolean")
    if kind == "int":
        return s.astype("int64") if s.notna().all() else s.astype("Int64")
    if kind == "Int64":
        return s.astype("Int64")
    if kind == "float":
        return pd.to_numeric(s, errors="coerce").astype(float)
    if kind == "datetime":
        return pd.to_datetime(s)
    return s.astype("str")


def _checked_step_tables(
    step: str, tables: dict[str, pd.DataFrame], meta: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables a step stores, under their stored names, and the round's metadata (from
    ``meta`` and a one-row ``rounds`` frame); raises for an unknown step or table, a table
    that is not a DataFrame, or personal-data columns — before anything is written."""
    if step not in STEPS:
        raise WuyeError(Problem(f"未知的步骤 {step!r}", f"只能是 {'、'.join(STEPS)}"))
    tables = dict(tables)
    rounds_frame = tables.pop("rounds", None)
    if isinstance(rounds_frame, pd.DataFrame) and len(rounds_frame):
        first = rounds_frame.iloc[0].to_dict()
        meta = {**{k: v for k, v in first.items() if k != "round_id" and pd.notna(v)}, **meta}
    if step == "ingest" and "quarantine" in tables:
        tables["quarantine_summary"] = quarantine_counts(tables.pop("quarantine"))
    tables = {ALIASES.get(step, {}).get(k, k): v for k, v in tables.items()}
    unknown = [t for t in tables if t not in STEPS[step]]
    if unknown:
        raise WuyeError(
            Problem(
                f"步骤 {step} 不保存这些表：{'、'.join(unknown)}",
                f"只能是 {'、'.join(STEPS[step])}",
            )
        )
    problems = []
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise WuyeError(Problem(f"表 {name} 应是 DataFrame", "检查调用代码"))
        bad = [str(c) for c in frame.columns if str(c).strip().lower() in FORBIDDEN_COLUMNS]
        if bad:
            problems.append(
                Problem(
                    f"表 {name} 含有个人信息列：{'、'.join(bad)}，不能写入历史数据库",
                    "只保存假名化的 household_key，删除姓名、电话、房号等列",
                )
            )
    if problems:
        raise WuyeError(problems)
    return tables, meta
