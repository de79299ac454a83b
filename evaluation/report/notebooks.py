"""Run the report notebooks with papermill's parameters, one reused kernel per worker.

A fresh kernel costs about a second per notebook and parallel fresh kernels race for ports,
so each worker (a batch of notebooks) starts one kernel, and before every notebook runs a
``%reset -f`` cell; parameters are injected with papermill's ``parameterize_notebook``
(string values are escaped literals, so odd estate ids cannot inject code). Each executed
notebook is written atomically and exported to HTML without code cells. A failing cell is
recorded (cell number and error) and the other notebooks still run.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.report.html import embed_font
from evaluation.report.manifest import Failure
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_write_bytes, safe_filename
from wuye_common.resources import package_dir

RESET_TAG = "wuye-reset"
DEVELOPER_TAG = "developer"  # markdown for the analyst, left out of the HTML
INLINE_MAX = 4  # up to this many notebooks share one kernel in this process


def notebook_dir() -> Path:
    """The report recipes shipped in the package, ``evaluation/report/notebooks/`` (package
    data found through importlib.resources; only notebooks from there run by default)."""
    return package_dir("evaluation.report", "notebooks")


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to execute: source, output ``.ipynb`` and papermill parameters."""

    source: str
    target: str
    parameters: dict[str, Any] = field(default_factory=dict)
    html: bool = True
    estate_id: str | None = None


@dataclass
class NotebookOutcome:
    """What one job produced; ``error``/``cell`` set when a cell failed."""

    job: NotebookJob
    written: list[str] = field(default_factory=list)
    error: str | None = None
    cell: int | None = None
    seconds: float = 0.0


def report_jobs(
    round_path: Path,
    output_dir: Path,
    *,
    results_dir: Path | None = None,
    estates: Iterable[str] = (),
    source_dir: Path | None = None,
    html: bool = True,
) -> list[NotebookJob]:
    """The district notebook plus one estate notebook per id in ``estates``.

    Outputs go to ``output_dir/notebooks/``; estate notebooks are named by a safe form of
    the estate id, never by its name.
    """
    src = Path(source_dir) if source_dir else notebook_dir()
    out = Path(output_dir) / "notebooks"
    base = {
        "round_path": str(Path(round_path).resolve()),
        "results_dir": str(results_dir) if results_dir else None,
    }
    jobs = [
        NotebookJob(
            str(src / "district_report.ipynb"), str(out / "district_report.ipynb"), dict(base), html
        )
    ]
    for estate_id in estates:
        jobs.append(
            NotebookJob(
                str(src / "estate_report.ipynb"),
                str(out / f"estate_{safe_filename(str(estate_id))}.ipynb"),
                {**base, "estate_id": str(estate_id)},
                html,
                estate_id=str(estate_id),
            )
        )
    return jobs


def _prepare(job: NotebookJob) -> Any:
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    source = Path(job.source)
    if not source.exists():
        raise WuyeError(
            Problem(
                "找不到报告笔记本",
                "重新安装 wuye-eval（笔记本随软件包安装在 evaluation/report/notebooks/）",
                file=str(source),
            )
        )
    nb = load_notebook_node(str(source))  # papermill's reader: adds the metadata it needs
    nb = parameterize_notebook(
        nb, job.parameters, report_mode=False, kernel_name="python3", language="python"
    )
    reset = nbformat.v4.new_code_cell("%reset -f")
    reset.metadata["tags"] = [RESET_TAG]
    nb.cells.insert(0, reset)
    return nb


def _failing_cell(nb: Any) -> tuple[int | None, str | None]:
    """1-based position (ignoring the reset cell) and error of the first failed cell."""
    position = 0
    for cell in nb.cells:
        if RESET_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        position += 1
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                return position, f"{output.get('ename')}: {output.get('evalue')}"[:500]
    return None, None


def html_exporter() -> Any:
    """The notebooks' HTML exporter: no code cells, no prompts, no cells tagged
    ``developer``. A batch builds one and reuses it (its templates load on first use)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    # the analyst's notes (cells tagged ``developer``) stay out of the bureau's HTML
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={DEVELOPER_TAG}, enabled=True), enabled=True
    )
    return exporter


def _finish(
    nb: Any, job: NotebookJob, error: str | None, cell: int | None, exporter: Any
) -> list[str]:
    """Drop the reset cell, add a failure banner, write ``.ipynb`` and, for an HTML job,
    ``.html`` (with the batch's :func:`html_exporter`) atomically."""
    import nbformat

    nb.cells = [c for c in nb.cells if RESET_TAG not in c.get("metadata", {}).get("tags", [])]
    if error:
        banner = nbformat.v4.new_markdown_cell(
            f"**执行失败**：第 {cell} 个单元格出错（{error}）。以下为出错前的结果。"
            if cell
            else f"**执行失败**：{error}"
        )
        nb.cells.insert(0, banner)
    target = Path(job.target)
    written = [str(atomic_write_bytes(target, nbformat.writes(nb).encode("utf-8")))]
    if job.html:
        body, _ = exporter.from_notebook_node(nb)
        body = embed_font(body)  # renders without system CJK fonts
        written.append(str(atomic_write_bytes(target.with_suffix(".html"), body.encode("utf-8"))))
    return written


def run_notebook_batch(
    jobs: Sequence[NotebookJob], timeout: int = 300, kernel_name: str = "python3"
) -> list[NotebookOutcome]:
    """Worker: execute ``jobs`` in one kernel; a failure is recorded, never raised."""
    import time

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    outcomes: list[NotebookOutcome] = []
    km: KernelManager | None = None
    exporter = None  # built at the first HTML, reused for the batch's others

    def start() -> KernelManager:
        manager = KernelManager(kernel_name=kernel_name)
        # the kernel's own console chatter (e.g. its TCP notice) is not for report readers;
        # cell errors still reach us through the notebook outputs
        manager.start_kernel(
            cwd=str(Path(jobs[0].target).parent),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return manager

    try:
        for job in jobs:
            t0 = time.perf_counter()
            outcome = NotebookOutcome(job)
            nb = None
            try:
                Path(job.target).parent.mkdir(parents=True, exist_ok=True)
                nb = _prepare(job)
                if km is None or not km.is_alive():
                    km = start()
                client = NotebookClient(
                    nb,
                    km=km,
                    timeout=timeout,
                    kernel_name=kernel_name,
                    allow_errors=False,
                    resources={"metadata": {"path": str(Path(job.target).parent)}},
                )
                try:
                    client.execute()
                except (CellExecutionError, DeadKernelError, TimeoutError) as exc:
                    outcome.cell, outcome.error = _failing_cell(nb)
                    outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"[:500]
                finally:
                    if client.kc is not None:
                        client.kc.stop_channels()
            except WuyeError as exc:
                outcome.error = str(exc)
            except Exception as exc:  # kernel/IO trouble: record and continue
                outcome.error = f"{type(exc).__name__}: {exc}"[:500]
            if nb is not None:
                try:
                    if job.html and exporter is None:
                        exporter = html_exporter()
                    outcome.written = _finish(nb, job, outcome.error, outcome.cell, exporter)
                except Exception as exc:
                    outcome.error = outcome.error or f"写出失败：{type(exc).__name__}: {exc}"
            outcome.seconds = time.perf_counter() - t0
            outcomes.append(outcome)
    finally:
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)
    return outcomes


def run_notebooks(
    jobs: Sequence[NotebookJob],
    *,
    executor: Executor | None = None,
    workers: int = 2,
    progress: bool = True,
    timeout: int = 300,
) -> tuple[list[Path], list[Failure], list[NotebookOutcome]]:
    """Execute ``jobs`` in ``workers`` batches (one kernel each) over ``executor``.

    Without an executor, up to ``INLINE_MAX`` notebooks run here in one kernel; more use a spawn
    process pool. Returns written files, failures (with the failing cell) and outcomes.
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    if not jobs:
        return [], [], []
    n_batches = max(1, min(workers, len(jobs)))
    size = math.ceil(len(jobs) / n_batches)
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    own = executor is None and len(batches) > 1 and len(jobs) > INLINE_MAX
    if own:
        executor = ProcessPoolExecutor(
            max_workers=min(len(batches), os.cpu_count() or 1),
            mp_context=multiprocessing.get_context("spawn"),
        )
    outcomes: list[NotebookOutcome] = []
    bar = tqdm(total=len(jobs), desc="报告笔记本", unit="本", disable=not progress)
    try:
        if executor is None:  # one kernel for all of them
            outcomes += run_notebook_batch(jobs, timeout)
            bar.update(len(jobs))
        else:
            futures: dict[Future, list] = {
                executor.submit(run_notebook_batch, b, timeout): b for b in batches
            }
            for future in as_completed(futures):
                try:
                    outcomes += future.result()
                except Exception as exc:
                    outcomes += [
                        NotebookOutcome(j, error=f"工作进程失败：{exc}") for j in futures[future]
                    ]
                bar.update(len(futures[future]))
    finally:
        bar.close()
        if own and executor is not None:
            executor.shutdown(wait=True)
    written = [Path(p) for o in outcomes for p in o.written]
    failures = [
        Failure(
            kind="notebook",
            target=Path(o.job.target).name,
            reason=o.error,
            estate_id=o.job.estate_id,
            cell=o.cell,
        )
        for o in outcomes
        if o.error
    ]
    return written, failures, outcomes
