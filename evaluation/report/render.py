"""Orchestration: every report output of a round, then ``manifest.json``.

``render_reports(results)`` writes into ``results.round.output_dir``: the data bundle
(``data/``), the bureau's workbook, ``district_report.pdf``, ``cards/<estate>.pdf`` and the
executed notebooks with their HTML. One output's failure is collected (and listed in the
manifest) while the others still complete.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from evaluation.report.excel import write_workbook
from evaluation.report.manifest import Failure, Manifest, write_manifest
from evaluation.report.notebooks import report_jobs, run_notebooks
from evaluation.report.pdf import render_cards, render_district_pdf
from evaluation.report.tables import prepare
from evaluation.results import RoundResults, save_results
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import safe_filename
from wuye_common.scrub import scrubbed_logger

log = scrubbed_logger("wuye.report")


def workbook_name(results: RoundResults) -> str:
    """``<district>_<round_id>_结果.xlsx`` (made safe as a file name)."""
    rnd = results.round
    return f"{safe_filename(rnd.district)}_{safe_filename(rnd.round_id)}_结果.xlsx"


#: write errors that would fail every other output too: stop, keep the earlier outputs
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


def fatal_os_error(exc: BaseException) -> OSError | None:
    """The disk-full/read-only ``OSError`` behind ``exc`` (also when a library wraps it)."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:  # a chain may loop back
        visited.add(id(seen))
        inner = [seen, *(a for a in getattr(seen, "args", ()) if isinstance(a, OSError))]
        for candidate in inner:
            if isinstance(candidate, OSError) and candidate.errno in FATAL_ERRNOS:
                return candidate
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return f"文件被占用或无写入权限（{exc.filename}）：关闭正在打开它的程序（如 Excel）后重试"
    if isinstance(exc, WuyeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:500]


def render_reports(
    results: RoundResults,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    notebooks: bool = True,
    notebook_estates: Iterable[str] | None = None,
    cards: bool = True,
    save_data: bool = True,
    notebook_executor: Executor | None = None,
) -> Manifest:
    """Render every report of the round and write ``manifest.json``; returns the manifest.

    ``executor`` fans out the estate cards — any :class:`concurrent.futures.Executor`, e.g.
    a ``dask.distributed`` client's ``get_executor()``; by default in-process for fewer than
    ``pdf.INLINE_BELOW`` cards, else a 2-worker spawn pool. ``notebook_estates`` (default
    ``[report] notebook_estates`` in ``round.toml``) get their own estate notebook; notebooks
    run one kernel per worker (``notebook_executor``, default: spawn pool when > 2).
    """
    results = prepare(results)
    rnd = results.round
    out = Path(rnd.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = _Steps()
    data_dir = out / "data"
    if save_data:
        steps.run("data", "data", "data/", save_results, results, data_dir)
    workbook_and_district_pdf(steps, results, out)
    if cards:
        _cards(steps, results, out, executor=executor, progress=progress)
    if notebooks:
        estates = list(
            notebook_estates
            if notebook_estates is not None
            else rnd.report.get("notebook_estates", []) or []
        )
        jobs = report_jobs(rnd.root, out, results_dir=data_dir, estates=estates)
        got = steps.run(
            "notebooks",
            "notebook",
            "notebooks/",
            run_notebooks,
            jobs,
            executor=notebook_executor,
            progress=progress,
        )
        if got is not None:
            steps.failures.extend(got[1])
    manifest = write_manifest(
        out,
        steps.failures,
        extra={
            "round_id": rnd.round_id,
            "district": rnd.district,
            "period": rnd.period,
            "timings_s": steps.timings,
        },
    )
    _log_failures(steps.failures)
    return manifest


def workbook_and_district_pdf(steps: _Steps, results: RoundResults, out: Path) -> None:
    """The workbook, then the district PDF. One after the other, not overlapped (Typst
    releases the GIL, so the PDF could compile beside the workbook, ~5 s sooner at 2,000
    estates): Typst's compile holds more memory than the results themselves (~3.8 GB at
    10,000 estates) and the workbook's own would come on top, past the 8 GB a
    10,000-estate round must fit in."""
    book = workbook_name(results)
    steps.run("excel", "excel", book, write_workbook, results, out / book)
    steps.run(
        "district_pdf",
        "pdf",
        "district_report.pdf",
        render_district_pdf,
        results,
        out / "district_report.pdf",
    )


class _Steps:
    """Runs the outputs one by one: times each and collects failures, so that one output
    failing does not stop the others (a full or read-only disk does)."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.timings: dict[str, float] = {}

    def run(self, name: str, kind: str, target: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # one output failing must not stop the others
            fatal = fatal_os_error(exc)
            if fatal is exc:  # ... unless the disk is full: the manifest stays as it was
                raise
            if fatal is not None:
                raise fatal from exc
            self.failures.append(Failure(kind=kind, target=target, reason=_reason(exc)))
            log.error("生成 %s 失败：%s", target, _reason(exc))
            return None
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3)


def _cards(
    steps: _Steps, results: RoundResults, out: Path, *, executor: Executor | None, progress: bool
) -> None:
    """The estate cards; cards of an earlier run that were not written again are removed."""
    got = steps.run(
        "cards",
        "pdf",
        "cards/",
        render_cards,
        results,
        out / "cards",
        executor=executor,
        progress=progress,
    )
    if got is None:
        return
    written, card_failures = got
    steps.failures.extend(card_failures)
    keep = {p.name for p in written}
    for stale in (out / "cards").glob("*.pdf"):  # never list an old card as current
        if stale.name not in keep:
            stale.unlink()


def _log_failures(failures: list[Failure]) -> None:
    if failures:
        log.warning("报告生成完成，但有 %d 项失败：", len(failures))
        for f in failures:
            where = f"（第 {f.cell} 个单元格）" if f.cell else ""
            log.warning("  %s %s%s：%s", f.kind, f.target, where, f.reason)


def render_round(
    round_path: str | Path, results_dir: str | Path | None = None, **kwargs: Any
) -> Manifest:
    """``wuye-eval report <round>``: load the saved results of a round and render them.

    ``results_dir`` defaults to ``<output_dir>/data`` (where the pipeline saves them);
    ``kwargs`` go to :func:`render_reports`.
    """
    from evaluation.results import load_results

    results = load_results(round_path, results_dir)
    if results.estates.empty:
        raise WuyeError(
            Problem(
                "没有找到本轮的结果数据（estates.csv 为空或不存在）",
                "先运行 wuye-eval run <轮次文件夹> 完成录入与计分，再生成报告",
                file=str(Path(results_dir) if results_dir else results.round.output_dir / "data"),
            )
        )
    kwargs.setdefault("save_data", results_dir is not None)
    return render_reports(results, **kwargs)
