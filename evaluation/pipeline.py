"""The round, stage by stage: the I/O edge that wires the pure stages together.

Each step reads what earlier steps stored, does its work, and writes its outputs (files
under ``round.output_dir`` and tables in the workspace database) so that steps can be run
one at a time from the CLI or all at once with :func:`run_round`. The loaded round carries
its questionnaire and rules; one run opens the store once and reads the sampling record
once (:class:`RunContext`), and every :class:`~evaluation.store.Store` is closed after use.
"""

from __future__ import annotations

import errno
import glob
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evaluation.results import RoundResults
from evaluation.round import Round, previous_period
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import remove_stale_temporaries
from wuye_common.scrub import scrub_text

if TYPE_CHECKING:
    from evaluation.ingest import IngestResult
    from evaluation.ranking.lists import Ranking
    from evaluation.report.manifest import Manifest
    from evaluation.scoring.round_scores import Scores
    from evaluation.store import Store
    from sampling.record import RoundSample

Echo = Callable[[str], Any]


def _quiet(_: str) -> None:
    return None


#: test hook (tests/test_faults.py): ``WUYE_TEST_PAUSE_AT=<point>`` makes the run write the
#: file named by ``WUYE_TEST_PAUSE_FILE`` and sleep at that point, so a test can kill it
#: there. Points: ``ingest``/``score``/``rank`` (inside the step's database transaction,
#: after its first table is inserted) and ``report`` (after the data bundle and workbook,
#: before the PDF). Unset in normal use: then nothing here runs.
PAUSE_ENV = "WUYE_TEST_PAUSE_AT"
PAUSE_TABLES = {"ingest": "respondents", "score": "estates", "rank": "ranking"}


def _pause_here() -> None:
    import os
    import time

    marker = os.environ.get("WUYE_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(os.environ.get(PAUSE_ENV, ""), encoding="utf-8")
    time.sleep(600)


def _install_pause_hooks() -> None:
    """Arm the ``WUYE_TEST_PAUSE_AT`` hook, if set (tests only)."""
    import os

    point = os.environ.get(PAUSE_ENV)
    if not point:
        return
    if point in PAUSE_TABLES:
        import evaluation.store as store_module

        table = PAUSE_TABLES[point]
        store_module._after_table = lambda name: _pause_here() if name == table else None
    elif point == "report":
        import evaluation.report.render as render_module

        original = render_module.render_district_pdf

        def paused(*args: Any, **kwargs: Any) -> Any:
            _pause_here()
            return original(*args, **kwargs)

        render_module.render_district_pdf = paused


def _store(rnd: Round) -> Store:
    """The round's workspace database, opened (use it as a context manager: it is closed
    at the end of the ``with``)."""
    from evaluation.store import Store

    _install_pause_hooks()
    return Store(rnd.database)


class RunContext:
    """What the steps of one run share: the round's store, opened on first use and kept
    open until the context is closed (``with RunContext(rnd) as context:``), and its
    sampling record, read on first use (:meth:`sample`) and kept for the later steps."""

    def __init__(self, rnd: Round) -> None:
        self.rnd = rnd
        self._store: Store | None = None
        self._exits = ExitStack()
        self._executor: Executor | None = None
        self._executor_open = False
        self._sample: RoundSample | None = None
        self._read = False
        self._households = False

    @property
    def store(self) -> Store:
        """The round's workspace database, opened on first use."""
        if self._store is None:
            self._store = _store(self.rnd)
        return self._store

    @property
    def executor(self) -> Executor | None:
        """Where the per-file ingest and the report fan-out run: ``None`` (this machine,
        ``[output] executor = "local"``) or a Dask client's executor, connected on first
        use and kept until the context is closed (:mod:`evaluation.executors`)."""
        if not self._executor_open:
            from evaluation.executors import round_executor

            self._executor = self._exits.enter_context(round_executor(self.rnd))
            self._executor_open = True
        return self._executor

    def sample(self, *, households: bool = True) -> RoundSample | None:
        """The round's sampling record (``None``: the round was not sampled here);
        ``households=False`` may leave its ``sample`` (one row per household) empty."""
        if not self._read or (households and not self._households):
            self._sample = _load_sample(self.rnd, households=households)
            self._read, self._households = True, households
        return self._sample

    def drop_households(self) -> None:
        """Forget the record's households (large at city scale) once the ingest has linked
        them; its strata, plan and meta stay."""
        if self._sample is not None and self._households:
            self._sample = replace(self._sample, sample=pd.DataFrame())
            self._households = False

    def close(self) -> None:
        """Close the store and the executor's connection, if they were opened."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._exits.close()
        self._executor, self._executor_open = None, False

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _context(rnd: Round, context: RunContext | None) -> Iterator[RunContext]:
    """``context`` (a run's, left open), or one for a single step, closed at its end."""
    if context is not None:
        yield context
        return
    with RunContext(rnd) as own:
        yield own


@contextmanager
def _opened(rnd: Round, store: Store | None) -> Iterator[Store]:
    """``store`` as given (left open), or the round's store opened and closed around the
    ``with``."""
    if store is not None:
        yield store
        return
    with _store(rnd) as own:
        yield own


# --------------------------------------------------------------------------- write errors
_WRITE_FIXES = {
    errno.ENOSPC: "磁盘空间不足：清理磁盘，或在 round.toml 的 [output] dir 改用有空间的文件夹，然后重新运行",
    errno.EFBIG: "文件超过了系统允许的大小（或磁盘已满）：清理磁盘或改用其他输出文件夹后重新运行",
    errno.EACCES: "没有写入权限，或文件正被其他程序（如 Excel）打开：关闭该程序、检查文件夹权限后重新运行",
    errno.EROFS: "该文件夹在只读磁盘上：在 round.toml 的 [output] dir 改用可写入的文件夹后重新运行",
    errno.EEXIST: "该位置已有一个同名文件（应为文件夹）：移走该文件，或在 [output] dir 改用其他文件夹",
    errno.ENOTDIR: "路径中有一段是文件而不是文件夹：移走该文件，或在 [output] dir 改用其他文件夹",
}
_WRITE_FIXES[errno.EDQUOT] = _WRITE_FIXES[errno.ENOSPC]
_WRITE_FIXES[errno.EPERM] = _WRITE_FIXES[errno.EACCES]


def _os_error_in(exc: BaseException) -> OSError | None:
    """The ``OSError`` behind ``exc``: itself, one a library wrapped (xlsxwriter's
    ``FileCreateError`` carries it as its argument), or its cause."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        for candidate in (seen, *getattr(seen, "args", ())):
            if isinstance(candidate, OSError):
                return candidate
        seen = seen.__cause__ or seen.__context__
    return None


def _release_quietly(exc: BaseException) -> None:
    """Free what the failed write still holds (e.g. xlsxwriter's open zip file, whose
    finaliser would fail again on the full disk) without Python printing
    "Exception ignored ... Traceback" on stderr."""
    import gc
    import sys
    import traceback

    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        seen: BaseException | None = exc
        visited: set[int] = set()
        while seen is not None and id(seen) not in visited:  # a chain may loop back
            visited.add(id(seen))
            traceback.clear_frames(seen.__traceback__)
            seen = seen.__cause__ or seen.__context__
        gc.collect()
    finally:
        sys.unraisablehook = hook


@contextmanager
def writing_to(folder: Path, database: Path | None = None) -> Iterator[None]:
    """Turn a failed write (disk full, read-only, a file in the way) into a located
    :class:`WuyeError` naming ``folder`` (or the file) and what to do. Every output is
    written to a temporary name and renamed, so earlier outputs are left as they were."""
    import sqlite3
    import time

    keep = "此前已生成的文件没有被改动"
    started = time.time() - 1.0  # file times may be coarser than the clock
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise WuyeError(
            Problem(
                f"写入历史数据库失败：{exc}",
                "清理磁盘空间并确认数据库文件可写入后重新运行；数据库中已有的结果不受影响",
                file=str(database or folder),
            )
        ) from exc
    except (WuyeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        error = _os_error_in(exc)
        if error is None:
            raise
        fix = _WRITE_FIXES.get(error.errno or -1, "检查磁盘空间和文件夹写入权限后重新运行")
        where = f"（{error.filename}）" if error.filename else ""
        problem = Problem(
            f"写入输出文件夹失败：{error.strerror or error}{where}",
            f"{fix}；{keep}",
            file=str(folder),
        )
        _release_quietly(exc)
        remove_stale_temporaries(Path(folder), since=started)
        raise WuyeError(problem) from None


# --------------------------------------------------------------------------- sampling
def sample_step(rnd: Round, *, echo: Echo = _quiet) -> RoundSample:
    """Draw the round's sample, write field sheets and the sampling record, store it."""
    from sampling.design import run_sampling

    if "frame" not in rnd.paths:
        raise WuyeError(
            Problem(
                "round.toml 未指定住户清册 [inputs] frame，无法抽样",
                '在 [inputs] 中加入 frame = "住户清册.csv"',
                file="round.toml",
            )
        )
    drawn = run_sampling(rnd)
    with _store(rnd) as store:
        store.write_step(rnd.round_id, "round", _round_tables(rnd))
        store.write_step(rnd.round_id, "sample", {"strata": drawn.strata, "plan": drawn.plan})
    plan = drawn.plan
    echo(
        f"抽样完成：{len(plan)} 个小区，主样本 {int(plan['n'].sum())} 户，"
        f"替补 {int((drawn.sample['role'] == 'reserve').sum())} 户；"
        f"入户名单在 {rnd.output_dir / 'sampling'}"
    )
    for warning in getattr(drawn, "warnings", []) or []:
        echo(f"提示：{warning}")
    return drawn


def _round_tables(rnd: Round) -> dict[str, pd.DataFrame]:
    meta = pd.DataFrame(
        [
            {
                "round_id": rnd.round_id,
                "district": rnd.district,
                "period": rnd.period,
                "year": rnd.year,
                "kind": rnd.kind,
                "confidence": rnd.confidence,
                "root": scrub_text(str(rnd.root)),  # a folder may be named by a phone
            }
        ]
    )
    register = rnd.register.assign(round_id=rnd.round_id)
    return {"rounds": meta, "register": register}


def _load_sample(rnd: Round, *, households: bool = True) -> RoundSample | None:
    """The sampling record under ``output_dir / "sampling"`` (``None`` when absent). With a
    top-up (``sampling/topup/``) its households join the sample with ``wave = 2`` (the
    first wave's have ``wave = 1``); the strata and plan stay the first wave's, and
    ``meta["topup"]`` holds the top-up's plan and meta."""
    from sampling.record import read_sampling_record
    from sampling.topup import TOPUP_DIR

    folder = rnd.output_dir / "sampling"
    if not folder.exists():
        return None
    drawn = read_sampling_record(folder, households=households)
    extra = folder / TOPUP_DIR
    if not (extra / "plan.csv").exists():
        return drawn
    topup = read_sampling_record(extra, households=households)
    drawn.meta["topup"] = {"plan": topup.plan, "meta": topup.meta}
    if households:
        drawn.sample = pd.concat(
            [drawn.sample.assign(wave=1), topup.sample.assign(wave=2)], ignore_index=True
        )
    return drawn


# --------------------------------------------------------------------------- ingest
def response_files(rnd: Round) -> list[Path]:
    """Expand the ``[inputs] responses`` globs, in sorted order."""
    return _globbed(rnd, "responses")


def _globbed(rnd: Round, key: str) -> list[Path]:
    """Expand the ``[inputs] <key>`` globs, in sorted order."""
    files: list[Path] = []
    for pattern in rnd.paths.get(key, []):
        files.extend(Path(m) for m in sorted(glob.glob(pattern)))
    return files


def ingest_step(
    rnd: Round,
    files: list[Path] | None = None,
    *,
    echo: Echo = _quiet,
    context: RunContext | None = None,
) -> IngestResult:
    """Read the fieldwork exports; quarantine bad rows; store pseudonymised responses.

    The answers are stored compactly, one row per respondent: each item's answer code is a
    ``q:<item_id>`` column of ``respondents`` (NULL: no answer); the long ``answers`` table
    is left empty for the round (:func:`_stored_ingest` rebuilds the long frame). The step's
    meta records the round's items and the questionnaire's scoring fingerprint."""
    with _context(rnd, context) as ctx:
        result = _ingest(rnd, files, ctx, echo)
    _return_freed_memory()
    return result


def _ingest(rnd: Round, files: list[Path] | None, ctx: RunContext, echo: Echo) -> IngestResult:
    from evaluation.ingest import ingest_round
    from evaluation.ingest.ingest import answer_columns

    files = files or response_files(rnd)
    if not files:
        raise WuyeError(
            Problem(
                "没有找到要导入的问卷导出文件",
                "在命令后列出文件，或在 round.toml 的 [inputs] responses 中写明路径",
                file="round.toml",
            )
        )
    drawn = ctx.sample()
    contacts = None
    visits = _globbed(rnd, "visits")
    if drawn is not None and visits:
        from evaluation.ingest.visits import read_visits

        contacts = read_visits(visits, drawn.sample)
        echo(f"读入入户记录：{len(visits)} 个文件，{len(contacts)} 户有访问结果")
    result = ingest_round(
        rnd,
        files,
        sample=None if drawn is None else drawn.sample,
        household_frame=_household_frame(rnd) if drawn is None else None,
        backchecks=_stored_backchecks(rnd, ctx.store),
        contacts=contacts,
        executor=ctx.executor,
    )
    if drawn is not None and "wave" in drawn.sample.columns:
        result.respondents = _with_waves(rnd, result.respondents, drawn.sample)
    ctx.drop_households()
    if len(result.respondents) + len(result.quarantine) == 0:
        # storing this would replace the round's earlier ingest with nothing
        raise WuyeError(
            Problem(
                "导出文件中没有任何答卷行（只有表头或全是空行）",
                "确认导出的是本轮问卷的答卷数据；本次没有写入任何结果，之前导入的数据保持不变",
                file="、".join(scrub_text(Path(f).name) for f in files),
            )
        )
    folder = rnd.output_dir / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    result.write_quarantine(folder / "隔离记录.xlsx")
    secrets = write_secrets(rnd, result.secrets)
    result.secrets = {}  # personal data: kept in the secrets folder only, not in memory
    respondents = pd.concat(
        [result.respondents, answer_columns(result.respondents, result.answers)], axis=1
    )
    questionnaire = rnd.questionnaire
    ctx.store.write_step(
        rnd.round_id,
        "ingest",
        {
            "respondents": respondents,
            "answers": pd.DataFrame(),  # the round's long rows (earlier versions) are deleted
            "ingest_counts": result.counts,
            "quarantine_summary": quarantine_summary(result.quarantine),
            "response_rates": result.response_rates,
            "quality_flags": result.quality_flags,
            "quality_surveyors": result.surveyors,
            "comments": result.comments,
            "comment_themes": result.comment_themes,
        },
        meta={
            "items": questionnaire.items["item_id"].astype(str).tolist(),
            "questionnaire": questionnaire.scoring_fingerprint(),
        },
    )
    echo(result.summary().to_string(index=False) if hasattr(result, "summary") else "")
    echo(
        f"导入完成：接受 {len(result.respondents)} 份，隔离 {len(result.quarantine)} 行，"
        f"整行空白跳过 {result.blank_rows} 行；隔离记录在 {folder / '隔离记录.xlsx'}"
    )
    flags = result.quality_flags
    if len(flags):
        flagged = int((flags["action"] == "flag").sum())
        echo(
            f"数据质量：{flagged} 份答卷被标记（仍计入结果，另算剔除后的敏感性），详见工作簿「数据质量」"
        )
    for path in secrets:
        echo(f"回访材料（含电话，仅供回访组，勿外发）：{path}")
    return result


def _household_frame(rnd: Round) -> pd.DataFrame | None:
    """The round's household frame, for the ``household`` quality rule of a round that was
    not sampled here (``None`` without one)."""
    from sampling.design import round_limits
    from sampling.frame import load_frame

    if "frame" not in rnd.paths:
        return None
    frame, _ = load_frame(
        rnd.paths["frame"],
        rnd.register,
        known_estates=rnd.all_estate_ids,
        limits=round_limits(rnd),
    )
    return frame


def _stored_backchecks(rnd: Round, store: Store) -> pd.DataFrame | None:
    """The round's stored call results (``None`` when there are none)."""
    table = store.read("backchecks", round_id=rnd.round_id)
    return None if table.empty else table.drop(columns="round_id")


def write_secrets(rnd: Round, secrets: dict[str, pd.DataFrame]) -> list[Path]:
    """Write the ingest's secret tables into the round's secrets folder (beside the pseudonym
    key, never under the reports): ``<round_id>_回访名单.xlsx`` (phone numbers as text) and
    ``<round_id>_调查员对照.csv``. Returns the written paths."""
    from wuye_common.files import atomic_path

    folder = rnd.secret_path.parent
    written = []
    for name, table in secrets.items():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if name == "回访名单":
            target = folder / f"{rnd.round_id}_{name}.xlsx"
            with atomic_path(target) as tmp:
                _write_text_sheet(table, tmp, name)
        else:
            target = folder / f"{rnd.round_id}_{name}.csv"
            with atomic_path(target) as tmp:
                table.to_csv(tmp, index=False, encoding="utf-8-sig")
        target.chmod(0o600)
        written.append(target)
    return written


def _write_text_sheet(table: pd.DataFrame, path: Path, title: str) -> None:
    """One sheet, every cell as text (phone numbers stay text, nothing becomes a formula)."""
    from wuye_common.plain_xlsx import Table, write_tables

    write_tables(path, [Table(title, table.astype("string"))])


def _approached(rnd: Round, first: RoundSample, respondents: pd.DataFrame) -> set[str]:
    """The first wave's approached households (:func:`sampling.topup.approached_households`)
    from the stored respondents' household pseudonyms."""
    from evaluation.ingest.pseudonym import load_or_create_key, pseudonymise
    from sampling.topup import approached_households

    sample = first.sample
    keys = pseudonymise(
        sample["household_id"].astype("string"), load_or_create_key(rnd.secret_path), "household"
    )
    answered = keys.isin(set(respondents.get("household_key", pd.Series(dtype=str)).dropna()))
    return approached_households(sample, answered.to_numpy(dtype=bool))


def _with_waves(rnd: Round, respondents: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """Respondents with ``wave``: 2 for the households of the top-up, else 1 (matched on the
    household pseudonym, as ingest keys them)."""
    from evaluation.ingest.pseudonym import load_or_create_key, pseudonymise

    second = sample.loc[sample["wave"] == 2, "household_id"].astype("string")
    keys = set(pseudonymise(second, load_or_create_key(rnd.secret_path), "household").dropna())
    wave = respondents["household_key"].isin(keys).to_numpy()
    return respondents.assign(wave=(1 + wave).astype("int64"))


def _return_freed_memory() -> None:
    """Hand the memory the ingest freed (the export's cells, the validation's intermediates)
    back to the system before scoring: glibc keeps freed heap pages in the process
    (``malloc_trim``; a no-op elsewhere)."""
    import ctypes
    import gc
    import sys
    from contextlib import suppress

    if not sys.platform.startswith("linux"):
        return
    gc.collect()
    with suppress(OSError, AttributeError):  # not glibc (e.g. musl): nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def quarantine_summary(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows counted by reason."""
    if quarantine.empty:
        return pd.DataFrame(columns=["reason_code", "reason", "count"])
    return (
        quarantine.groupby(["reason_code"], sort=True)
        .agg(reason=("reason", "first"), count=("reason", "size"))
        .reset_index()
    )


@dataclass
class StoredIngest:
    """A round's ingest read back from the store (:func:`_stored_ingest`) or kept in memory
    for scoring (:func:`scoring_view`): what scoring reads of an
    :class:`~evaluation.ingest.IngestResult`."""

    respondents: pd.DataFrame
    answers: pd.DataFrame
    response_rates: pd.DataFrame
    dispositions: pd.DataFrame | None = None


def scoring_view(result: IngestResult) -> StoredIngest:
    """What the score step reads of an ingest result, without the rest: the respondents'
    :data:`~evaluation.scoring.round_scores.RESPONDENT_COLUMNS` (as :func:`_stored_ingest`
    reads them back), the answers, the response rates (the dispositions only where the
    rates are missing: scoring falls back on them). The whole result — pseudonymised keys,
    source files, quarantine, dispositions, comments — is not held while the round is scored
    (at 10,000 estates it is ~4 GB)."""
    from evaluation.scoring.round_scores import RESPONDENT_COLUMNS, has_response_rates

    respondents = result.respondents
    rates = result.response_rates
    return StoredIngest(
        respondents=respondents[[c for c in RESPONDENT_COLUMNS if c in respondents.columns]],
        answers=result.answers,
        response_rates=rates,
        dispositions=None if has_response_rates(rates) else result.dispositions,
    )


@dataclass
class StoredScores:
    """A round's scores read back from the store (:func:`_stored_scores`)."""

    estates: pd.DataFrame
    items: pd.DataFrame
    dimensions: pd.DataFrame
    district: pd.DataFrame


def _stored_ingest(
    rnd: Round, store: Store | None = None, columns: Iterable[str] | None = None
) -> StoredIngest:
    """The round's stored ingest: ``respondents`` (without the answer columns; only
    ``columns`` of them when given), the long ``answers`` rebuilt from those
    ``q:<item_id>`` columns and the round's questionnaire (a round stored by an earlier
    version: its long ``answers`` rows), ``response_rates``. Refused when the
    questionnaire's scoring changed since the ingest."""
    with _opened(rnd, store) as opened:
        return _read_ingest(rnd, opened, columns)


def _read_ingest(rnd: Round, store: Store, columns: Iterable[str] | None = None) -> StoredIngest:
    from evaluation.ingest.ingest import ANSWER_PREFIX, answers_from_columns

    stored = store.columns("respondents")
    # the table's columns are the union over rounds: other rounds' items are all empty here
    wide = [c for c in stored if c.startswith(ANSWER_PREFIX)]
    wanted = None if columns is None else {str(c) for c in columns}
    plain = [c for c in stored if c not in wide and (wanted is None or c in wanted)]
    meta = _step_meta(store, rnd.round_id, "ingest")
    own = [f"{ANSWER_PREFIX}{i}" for i in meta["items"]] if "items" in meta else wide
    respondents = store.read("respondents", round_id=rnd.round_id, columns=[*plain, *own])
    if respondents.empty:
        raise WuyeError(
            Problem(
                f"轮次 {rnd.round_id} 还没有导入问卷数据", f"先运行 wuye-eval ingest {rnd.root}"
            )
        )
    answers = store.read("answers", round_id=rnd.round_id)
    read_wide = [c for c in respondents.columns if c in wide]
    if answers.empty and wide:
        questionnaire = rnd.questionnaire
        if meta.get("questionnaire") not in (None, questionnaire.scoring_fingerprint()):
            raise WuyeError(
                Problem(
                    f"轮次 {rnd.round_id} 导入后问卷定义被修改了（题目、量表、满意选项或分值），"
                    "用现在的问卷计分会改变已保存答案的含义",
                    "恢复导入时的问卷文件；或确认新问卷无误后重新运行 wuye-eval ingest 再计分",
                    file=questionnaire.source,
                )
            )
        if "items" not in meta:
            read_wide = [c for c in read_wide if respondents[c].notna().any()]
        answers = answers_from_columns(
            respondents[[c for c in respondents.columns if c not in wide or c in read_wide]],
            questionnaire,
        )
    return StoredIngest(
        respondents=respondents.drop(columns=[c for c in respondents.columns if c in wide]),
        answers=answers,
        response_rates=store.read("response_rates", round_id=rnd.round_id),
    )


def _step_meta(store: Store, round_id: str, step: str) -> dict[str, Any]:
    """The ``meta`` a step of the round was written with (empty when none)."""
    import json

    steps = store.steps(round_id)
    row = steps[steps["step"] == step]
    if row.empty or not isinstance(row["meta"].iloc[0], str):
        return {}
    return json.loads(row["meta"].iloc[0] or "{}")


# --------------------------------------------------------------------------- scoring
def score_step(
    rnd: Round,
    ingest: IngestResult | StoredIngest | None = None,
    *,
    echo: Echo = _quiet,
    context: RunContext | None = None,
) -> Scores:
    """Estimate rates, indices and intervals; judge each estate; find the key drivers (district
    and by firm) and the importance–performance table; store them all (step ``score``).

    The drivers come from the answers already in memory (one respondent × dimension matrix,
    :func:`evaluation.scoring.drivers.round_drivers`), so the report never re-reads the answers.
    They are computed in a second thread while the estimates are made (both only read the
    answers; numpy releases the interpreter lock in its array work, so the two overlap on a
    machine with two cores): the same tables as one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from evaluation.scoring.drivers import round_drivers
    from evaluation.scoring.round_scores import RESPONDENT_COLUMNS, AnswerGrids, score_round
    from evaluation.scoring.sensitivity import with_sensitivity

    with _context(rnd, context) as ctx:
        if ingest is None:
            ingest = _stored_ingest(rnd, ctx.store, columns=RESPONDENT_COLUMNS)
        drawn = ctx.sample(households=False)
        strata = None if drawn is None else drawn.strata
        plan = None if drawn is None else drawn.plan
        items, register = rnd.questionnaire.items, rnd.register
        with ThreadPoolExecutor(1, thread_name_prefix="drivers") as pool:
            driving = pool.submit(round_drivers, ingest.answers, items, register)
            grids = AnswerGrids.of(ingest)  # the answers encoded once for both scorings
            scores = score_round(rnd, ingest, strata, plan=plan, grids=grids)
            scores.estates = with_sensitivity(
                scores.estates, rnd, ingest, strata, plan=plan, grids=grids
            )
            del grids
            drivers = driving.result()
        ctx.store.write_step(
            rnd.round_id,
            "score",
            {
                "estates": scores.estates,
                "items": scores.items,
                "dimensions": scores.dimensions,
                "district": scores.district,
                "drivers": drivers["drivers"],
                "firm_drivers": drivers["firm_drivers"],
                "importance": drivers["importance"],
            },
        )
    counts = scores.estates["verdict"].value_counts()
    echo(
        "计算完成："
        + "，".join(f"{k} {int(counts.get(k, 0))} 个" for k in ("达标", "临界", "未达标"))
    )
    sensitive = scores.estates["verdict_clean"] != scores.estates["verdict"]
    if sensitive.any():
        echo(f"质量敏感：{int(sensitive.sum())} 个小区剔除被标记的问卷后结论改变")
    return scores


def _stored_scores(rnd: Round, store: Store) -> StoredScores:
    """The round's stored scores (an error naming the score step when there are none)."""
    return StoredScores(
        estates=_stored_estates(rnd, store),
        items=store.read("items", round_id=rnd.round_id),
        dimensions=store.read("dimensions", round_id=rnd.round_id),
        district=store.read("district", round_id=rnd.round_id),
    )


def _stored_estates(rnd: Round, store: Store) -> pd.DataFrame:
    """The round's stored estates table (an error naming the score step when it has none):
    all that ranking and the top-up read of the scores."""
    estates = store.read("estates", round_id=rnd.round_id)
    if estates.empty:
        raise WuyeError(
            Problem(
                f"轮次 {rnd.round_id} 还没有计算满意率，不能排名或出报告",
                f"先运行 wuye-eval score {rnd.root}",
            )
        )
    return estates


# --------------------------------------------------------------------------- top-up
def topup_step(rnd: Round, *, echo: Echo = _quiet) -> RoundSample:
    """Draw the top-up of a two-wave round (``[sampling] waves = 2``) for the estates still
    临界 after the first wave's scoring; field sheets and record in ``sampling/topup/``."""
    from sampling.topup import run_topup

    if int(rnd.sampling.waves) != 2:
        raise WuyeError(
            Problem(
                "本轮不是两轮设计，不能补充调查",
                "抽样前在 round.toml 的 [sampling] 中写 waves = 2（首轮后对临界小区补充调查）",
                file="round.toml",
                column="sampling.waves",
            )
        )
    with RunContext(rnd) as ctx:
        first = ctx.sample(households=True)
        if first is None:
            raise WuyeError(Problem("本轮还没有抽样记录", f"先运行 wuye-eval sample {rnd.root}"))
        estates = _stored_estates(rnd, ctx.store)
        respondents = ctx.store.read("respondents", round_id=rnd.round_id)
    undecided = estates.loc[estates["verdict"] == "临界", "estate_id"].astype(str).tolist()
    first_wave = first
    if "wave" in first.sample.columns:
        first_wave = replace(first, sample=first.sample[first.sample["wave"] == 1])
    drawn = run_topup(rnd, first_wave, undecided, _approached(rnd, first_wave, respondents))
    plan = drawn.plan
    echo(
        f"补充抽样完成：{int((plan['n'] > 0).sum())} 个临界小区，主样本 {int(plan['n'].sum())} 户；"
        f"入户名单在 {rnd.output_dir / 'sampling' / 'topup'}"
    )
    return drawn


# --------------------------------------------------------------------------- ranking
def rank_step(
    rnd: Round,
    scores: Scores | StoredScores | None = None,
    *,
    echo: Echo = _quiet,
    context: RunContext | None = None,
) -> Ranking:
    """Apply the round's 红黑榜 rules (``rnd.rules``) with history; store the lists."""
    from evaluation.ranking.lists import rank_round

    with _context(rnd, context) as ctx:
        store = ctx.store
        estates = scores.estates if scores is not None else _stored_estates(rnd, store)
        ranking = rank_round(rnd, estates, history=store)
        store.write_step(
            rnd.round_id,
            "rank",
            {
                "ranking": ranking.estates,
                "firms": ranking.firms,
                "escalations": ranking.escalations,
            },
        )
    lists = ranking.estates["list"].value_counts()
    echo(
        f"红黑榜：红榜 {int(lists.get('红榜', 0))} 个小区，黑榜 {int(lists.get('黑榜', 0))} 个小区"
    )
    return ranking


# --------------------------------------------------------------------------- report
def build_results(rnd: Round, *, context: RunContext | None = None) -> RoundResults:
    """Gather every stored table of the round (and the previous round) for the reports.

    Reads the scores, rankings and the score step's drivers and importance tables — not the
    answers, except for a round scored before those tables were stored."""
    with _context(rnd, context) as ctx:
        return _gather(rnd, ctx)


def _gather(rnd: Round, ctx: RunContext) -> RoundResults:
    from evaluation.history import trend_table
    from evaluation.ranking.change import compare_firms, compare_rounds
    from evaluation.ranking.indicators import district_indicators

    store = ctx.store
    rid = rnd.round_id

    def read(table: str, round_id: str = rid) -> pd.DataFrame:
        return store.read(table, round_id=round_id)

    def stored(table: str) -> pd.DataFrame:
        """A table of the round as its step produced it (no ``round_id``); none: empty."""
        frame = read(table)
        return frame.drop(columns="round_id") if len(frame) else pd.DataFrame()

    scores = _stored_scores(rnd, store)
    ranking = read("ranking")
    from evaluation.ranking.lists import mark_list_sensitivity

    estates = _merge_new_columns(rnd.register, scores.estates)
    if not ranking.empty:
        estates = mark_list_sensitivity(_merge_new_columns(estates, ranking))
    previous = read("estates", previous_period(rnd.period))
    changes = firm_changes = pd.DataFrame()
    if not previous.empty:
        changes = compare_rounds(scores.estates, previous, confidence=rnd.confidence)
        firm_changes = compare_firms(scores.estates, previous, confidence=rnd.confidence)
    # stored by the score step; a round scored before schema version 2 has none: they are
    # computed from its stored answers (empty when it has none either)
    drivers, firm_drivers, importance = (
        stored(t) for t in ("drivers", "firm_drivers", "importance")
    )
    if drivers.empty and firm_drivers.empty and importance.empty:
        drivers, firm_drivers, importance = _drivers_from_stored_answers(rnd, store)
    drawn = ctx.sample(households=False)
    return RoundResults(
        round=rnd,
        estates=estates,
        items=scores.items,
        dimensions=scores.dimensions,
        district=scores.district,
        firms=read("firms"),
        escalations=read("escalations"),
        changes=changes,
        firm_changes=firm_changes,
        drivers=drivers,
        firm_drivers=firm_drivers,
        importance=importance,
        trends=trend_table(store, kind="estates"),
        indicators=district_indicators(rnd.register, rnd.year),
        plan=pd.DataFrame() if drawn is None else drawn.plan,
        ingest_counts=read("ingest_counts"),
        quarantine_summary=read("quarantine_summary"),
        quality_flags=stored("quality_flags"),
        quality_surveyors=stored("quality_surveyors"),
        comments=stored("comments"),
        comment_themes=stored("comment_themes"),
        meta={
            "round_id": rid,
            "period": rnd.period,
            "district": rnd.district,
            "confidence": rnd.confidence,
            "interval_method": rnd.interval_method,
            "sampling": None if drawn is None else drawn.meta,
        },
    )


def _drivers_from_stored_answers(rnd: Round, store: Store) -> tuple[pd.DataFrame, ...]:
    """Drivers, firm drivers and importance of a round scored before the score step stored
    them, from its stored answers; three empty frames when it has no answers either."""
    from evaluation.scoring.drivers import round_drivers

    try:
        answers = _stored_ingest(rnd, store).answers
    except WuyeError:
        answers = pd.DataFrame()
    if answers.empty:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    tables = round_drivers(answers, rnd.questionnaire.items, rnd.register)
    return tables["drivers"], tables["firm_drivers"], tables["importance"]


def _merge_new_columns(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Left-join on ``estate_id`` the columns of ``right`` that ``left`` does not have."""
    extra = [c for c in right.columns if c not in left.columns or c == "estate_id"]
    return left.merge(right[extra], on="estate_id", how="left")


def report_step(
    rnd: Round, *, cards: bool = True, echo: Echo = _quiet, context: RunContext | None = None
) -> Manifest:
    """Render the workbook, PDFs and notebooks; write the manifest. The estate cards and
    notebooks fan out over the round's executor (``[output] executor``)."""
    from evaluation.report import render_reports

    with _context(rnd, context) as ctx:
        results = build_results(rnd, context=ctx)
        remove_stale_temporaries(rnd.output_dir)
        estates = rnd.report.get("notebook_estates")
        if estates is None and "list" in results.estates.columns:
            # by default the black-listed estates, the ones a firm is likely to dispute
            estates = results.estates.loc[results.estates["list"] == "黑榜", "estate_id"].tolist()
        manifest = render_reports(
            results,
            cards=cards,
            notebooks=rnd.report.get("notebooks", True),
            notebook_estates=estates,
            executor=ctx.executor,
            notebook_executor=ctx.executor,
        )
    failures = getattr(manifest, "failures", [])
    if failures:
        names = "、".join(f.target for f in failures[:10]) + ("等" if len(failures) > 10 else "")
        echo(
            f"报告部分生成：{len(failures)} 项未能生成（{names}），原因见 manifest.json 的 "
            f"failures；其余文件在 {rnd.output_dir}"
        )
    else:
        echo(f"报告已生成：{rnd.output_dir}（清单 manifest.json）")
    return manifest


# --------------------------------------------------------------------------- whole round
def run_round(rnd: Round, *, cards: bool = True, echo: Echo = _quiet) -> Manifest:
    """Ingest → score → rank → report, in one go: the store opened once, the sampling
    record read once; of the ingest result only what scoring reads is held
    (:func:`scoring_view`), and not past scoring."""
    with RunContext(rnd) as context:
        ingest = scoring_view(ingest_step(rnd, echo=echo, context=context))
        scores = score_step(rnd, ingest, echo=echo, context=context)
        del ingest
        rank_step(rnd, scores, echo=echo, context=context)
        del scores
        _return_freed_memory()  # the report's workbook and PDF start from a small heap
        return report_step(rnd, cards=cards, echo=echo, context=context)


def backcheck_step(
    rnd: Round, results_file: Path, *, cards: bool = True, echo: Echo = _quiet
) -> Manifest:
    """``wuye-eval backcheck ROUND FILE``: read the call results of the 回访名单, store them
    (step ``backcheck``), and run the round again — the ingest quarantines the forms proven
    fabricated (非本户, 未入户) and flags those whose answers differ; scores, lists and
    reports follow. Prints each surveyor's falsification rate with its interval."""
    from evaluation.ingest.quality.backcheck import RESULT_LABELS, read_results

    results = read_results(results_file)
    if results.empty:
        raise WuyeError(
            Problem(
                "回访结果文件中没有填写任何回访结果",
                "在「回访结果」列填写 属实/非本户/未入户/答案不符/未接通 后再导入",
                file=Path(results_file).name,
            )
        )
    with _store(rnd) as store:
        known = store.read("respondents", round_id=rnd.round_id)
        unknown = ~results["response_id"].isin(known.get("response_id", pd.Series(dtype=str)))
        if unknown.all():
            raise WuyeError(
                Problem(
                    "回访结果中的答卷编号都不在本轮导入的数据中",
                    "确认回访名单来自本轮（同一轮次的密钥文件夹），并先运行 wuye-eval ingest",
                    file=Path(results_file).name,
                )
            )
        store.write_step(rnd.round_id, "backcheck", {"backchecks": results})
    counts = results["result"].map(RESULT_LABELS).value_counts()
    echo("回访结果：" + "，".join(f"{k} {int(v)} 份" for k, v in counts.items()))
    manifest = run_round(rnd, cards=cards, echo=echo)
    with _store(rnd) as store:
        people = store.read("quality_surveyors", round_id=rnd.round_id)
    if "checked" in people.columns:
        for row in people.dropna(subset=["checked"]).itertuples(index=False):
            echo(
                f"调查员 {row.surveyor}：回访 {int(row.checked)} 份，不实 {int(row.failed)} 份，"
                f"不实率 {row.fail_rate:.0%}（95% 区间 {row.fail_low:.0%}–{row.fail_high:.0%}）"
            )
    return manifest


def template_step(rnd: Round, output: Path | None = None, *, echo: Echo = _quiet) -> Path:
    """Write the paper-entry template for the round's questionnaire."""
    from evaluation.ingest import write_template

    name = "纸质问卷录入模板.xlsx"
    target = output or rnd.output_dir / name
    if target.is_dir():  # ``-o 某文件夹``: the template goes inside it
        target = target / name
    if target.suffix.lower() != ".xlsx":
        raise WuyeError(
            Problem(
                f"录入模板只能保存为 .xlsx，而不是 {target.name}",
                "把 -o 的文件名改为以 .xlsx 结尾，或给出一个文件夹",
                file=str(target),
            )
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    write_template(target, rnd.questionnaire, rnd.register)
    echo(f"录入模板：{target}")
    return target
