"""City-scale round: a 2,000-estate demo round (~600,000 responses) run end to end.

Stages, each through the pipeline's own functions (``evaluation.pipeline``):
sample (draw + field sheets + sampling record + store), ingest, score, rank, and the report
(results gathered from the store, data tables, then the Excel workbook and the district PDF
as the report step makes them; estate cards only with ``--cards``, timed apart). The demo inputs, the sample and the simulated 问卷星 export are
made in a child process — as in real use, where fieldwork lies days between sampling and
ingest — and the round goes on from ``load round`` in a fresh process; the simulated input
is timed but left out of the "whole round" figure.

Printed with the goals beside them (2 cores): scoring ≤ 1 s; ingest ≤ 0.5× and the whole
round (load → district PDF, no cards) ≤ 1.1× a bare ``python-calamine`` read of the same
export, measured in the same run; peak memory ≤ 1.2 GB at 2,000 estates (≤ 8 GB larger).
The scoring figure is ``score_round`` alone (best of 3;
the score step also reads the sampling record and stores the estimates). Ratios are against
baselines measured in the same run: scoring vs a bare pass over the same answers
(``pd.factorize`` of the estate and item ids, then ``numpy.bincount`` counts of satisfied and
answered per estate × item), ingest vs a bare ``python-calamine`` read of the export.

Linear growth: with ``--estates`` other than ``--reference`` (default 2,000), the reference
round is run first, in its own process, and the time per export row of the ingest and of
the whole round is printed at both sizes with their ratio (goal ≤ 1.3×): e.g.
``--estates 10000`` (~3.7 million export rows; goal: the round within 8 GB).

Peak memory: per round stage from ``VmHWM`` (reset through ``/proc/self/clear_refs`` on
Linux, where allowed; the sample stage's in the fieldwork process), else ``ru_maxrss`` of
the round's process; the fieldwork process's own peak is printed apart.

Run: ``.venv/bin/python -m benchmarks city`` or ``.venv/bin/python benchmarks/bench_city.py
[--estates 2000] [--reference 2000] [--cards] [--keep DIR] [--profile STAGE]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

GOAL_SCORE_S = 1.0
GOAL_INGEST_RATIO = 0.5
GOAL_ROUND_RATIO = 1.1
GOAL_PEAK_MB = 1.2 * 1024
GOAL_PEAK_LARGE_MB = 8 * 1024
GOAL_PER_ROW_RATIO = 1.3
REFERENCE_ESTATES = 2000
PERIOD = "2025H2"


def _rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KB on Linux
    return own / scale, kids / scale


def _reset_hwm() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _hwm_mb(field: str = "VmHWM") -> float | None:
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process in MB, where /proc has it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Stages:
    """Times stages, records each one's peak RSS, optionally profiles one of them (cProfile)."""

    def __init__(self, profile: str | None = None) -> None:
        self.rows: list[tuple[str, float, float | None, bool]] = []
        self.profile = profile
        self.can_reset = _reset_hwm()

    def run(self, name: str, fn: Callable[[], Any], *, in_round: bool = True) -> Any:
        if self.can_reset:
            _reset_hwm()
        before = _hwm_mb("VmRSS")
        profiler = None
        if self.profile == name:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        peak = _hwm_mb() if self.can_reset else None
        self.rows.append((name, elapsed, peak, in_round))
        mark = "" if in_round else "  (fieldwork input, not in the round total)"
        mem = f"{peak:7.0f} MB peak" if peak is not None else ""
        if before is not None and peak is not None:
            mem += f" ({before:.0f} MB at start)"
        print(f"  {name:<22} {elapsed:7.2f} s  {mem}{mark}", flush=True)
        return out

    def total(self) -> float:
        return sum(t for _, t, _, r in self.rows if r)


#: the ingest's parts timed apart (module, function, label), in the order they run
INGEST_PARTS = (
    ("evaluation.ingest.ingest", "read_export", "read + standardise (per file)"),
    ("evaluation.ingest.ingest", "_stack", "stack files"),
    ("evaluation.ingest.ingest", "_link_estates", "link estate names"),
    ("evaluation.ingest.ingest", "_decode_answers", "decode answers"),
    ("evaluation.ingest.ingest", "_link_households", "link households"),
    ("evaluation.ingest.ingest", "_pseudonyms", "pseudonymise"),
    ("evaluation.ingest.ingest", "_flag_duplicates", "duplicates"),
    ("evaluation.ingest.ingest", "_quality", "quality checks"),
    ("evaluation.ingest.ingest", "_comments", "comments"),
    ("evaluation.ingest.ingest", "outcome_dispositions", "dispositions"),
    ("evaluation.ingest.ingest", "_secrets", "back-check list"),
    ("evaluation.ingest.ingest.IngestResult", "write_quarantine", "quarantine workbook"),
    ("evaluation.pipeline", "write_secrets", "secrets files"),
    ("evaluation.store.Store", "write_step", "store"),
)


@contextmanager
def _ingest_parts() -> Iterator[dict[str, float]]:
    """Time the ingest's parts (:data:`INGEST_PARTS`) by wrapping them for the block; the
    dict is filled with seconds per part (a part called several times: summed)."""
    import functools
    import importlib

    times: dict[str, float] = {}
    patched = []
    for module_name, name, label in INGEST_PARTS:
        module_path, _, owner_name = module_name.rpartition(".")
        try:
            owner: Any = importlib.import_module(module_name)
        except ModuleNotFoundError:  # a class inside a module
            owner = getattr(importlib.import_module(module_path), owner_name)
        original = getattr(owner, name)

        def timed(*args: Any, _f: Callable = original, _label: str = label, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*args, **kw)
            finally:
                times[_label] = times.get(_label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, functools.wraps(original)(timed))
        patched.append((owner, name, original))
    try:
        yield times
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)


def _bincount_baseline(answers: Any) -> float:
    """Bare numpy: satisfied and answered counts per estate × item over the same answers."""
    import numpy as np
    import pandas as pd

    t0 = time.perf_counter()
    est = pd.factorize(answers["estate_id"])[0]
    item = pd.factorize(answers["item_id"])[0]
    sat = answers["satisfied"].to_numpy(dtype=float, na_value=np.nan)
    k = int(item.max()) + 1
    cell = est * k + item
    size = (int(est.max()) + 1) * k
    ok = ~np.isnan(sat)
    np.bincount(cell[ok], weights=sat[ok], minlength=size)
    np.bincount(cell[ok], minlength=size)
    return time.perf_counter() - t0


def _calamine_baseline(path: Path) -> float:
    from python_calamine import CalamineWorkbook

    t0 = time.perf_counter()
    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_index(0).to_python()
    assert rows
    return time.perf_counter() - t0


EXCEL_ROWS = 1_048_575
"""Data rows an .xlsx sheet holds below its header (Excel's 1,048,576 rows)."""
FILE_ROWS = 1_000_000


def _split_export(export: Any) -> list[Any]:
    """The export as one file, or — beyond what a sheet holds, as a province's districts
    would send it — files of about :data:`FILE_ROWS` rows, each cut where the estate
    changes."""
    import numpy as np

    if len(export) <= EXCEL_ROWS:
        return [export]
    estate = export[next(c for c in export.columns if "小区" in str(c))].astype(str).to_numpy()
    changes = np.flatnonzero(estate[1:] != estate[:-1]) + 1
    cuts = [0]
    for target in range(FILE_ROWS, len(export), FILE_ROWS):
        after = changes[changes >= max(target, cuts[-1] + 1)]
        cuts.append(int(after[0]) if len(after) and after[0] - target < 10_000 else target)
    cuts.append(len(export))
    return [export.iloc[a:b] for a, b in itertools.pairwise(cuts)]


def _configure(toml: Path, args: argparse.Namespace) -> None:
    """The bench's ``[sampling] margin`` (where the round sizes by margin); beyond the
    reference size, ``[ingest]`` ceilings that let a province's frame (~7 million
    households at 10,000 estates) and export be read."""
    text = toml.read_text(encoding="utf-8").replace("margin = 0.08", f"margin = {args.margin}")
    if args.estates > REFERENCE_ESTATES and "[ingest]" not in text:
        scale = -(-args.estates // REFERENCE_ESTATES)
        text += f"\n[ingest]\nmax_rows = {2_000_000 * scale}\nmax_cells = {100_000_000 * scale}\n"
    toml.write_text(text, encoding="utf-8")


def _fieldwork(args: argparse.Namespace, work: Path, queue: Any) -> None:
    """Child process: the round's inputs, its sample (a round stage, timed with its own
    peak) and the simulated 问卷星 export — fieldwork input that an agency receives days
    later, so its memory is not the round's."""
    from evaluation.demo import write_export

    st = Stages(args.profile)
    round_dir, export = _simulated_export(st, args, work)
    n_rows = len(export)
    parts = _split_export(export)
    del export  # the parts are views of it
    paths = [
        round_dir / "fieldwork" / f"问卷星导出_{PERIOD}{'' if len(parts) == 1 else f'_{i}'}.xlsx"
        for i in range(1, len(parts) + 1)
    ]

    def write() -> None:
        for part, path in zip(parts, paths, strict=True):
            write_export(part, path)

    st.run("write export xlsx", write, in_round=False)
    queue.put(
        {
            "rows": st.rows,
            "round_dir": str(round_dir),
            "exports": [str(p) for p in paths],
            "n_rows": n_rows,
            "peak": _rss_mb()[0],
        }
    )


def _simulated_export(st: Stages, args: argparse.Namespace, work: Path) -> tuple[Path, Any]:
    """The round folder and its simulated export; the district, the round and its sample
    are let go on return (only the export is written after)."""
    from evaluation.demo import build_district, simulate_fieldwork, write_demo_round
    from evaluation.pipeline import sample_step
    from evaluation.round import load_round

    demo = work / "demo"
    district = st.run(
        "build district", lambda: build_district(args.seed, estates=args.estates), in_round=False
    )
    round_dir = st.run(
        "write inputs",
        lambda: write_demo_round(
            demo,
            PERIOD,
            seed=args.seed,
            estates=args.estates,
            output_dir=work / PERIOD,
            database=demo / "wuye.sqlite",
            secrets=demo / ".secrets",
            district=district,
        ),
        in_round=False,
    )
    _configure(round_dir / "round.toml", args)
    rnd = load_round(round_dir)
    drawn = st.run("sample", lambda: sample_step(rnd))
    export = st.run(
        "simulate fieldwork",
        lambda: simulate_fieldwork(district, drawn.sample, period=PERIOD, seed=args.seed),
        in_round=False,
    )
    return round_dir, export


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estates", type=int, default=REFERENCE_ESTATES)
    parser.add_argument(
        "--reference",
        type=int,
        default=REFERENCE_ESTATES,
        help="size run first (own process) for the per-row comparison when --estates differs",
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--margin",
        type=float,
        default=0.04,
        help="[sampling] margin of a round sized by margin (the demo's round is sized by "
        "power: ~740,000 export rows at 2,000 estates)",
    )
    parser.add_argument("--cards", action="store_true", help="also render every estate card")
    parser.add_argument("--keep", type=Path, help="workspace folder to use and keep")
    parser.add_argument("--profile", help="profile one stage with cProfile (stage name)")
    parser.add_argument("--summary", type=Path, help=argparse.SUPPRESS)  # JSON for the caller
    # under ``python -m benchmarks city`` the module names stay on the command line
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    reference = None
    if args.estates != args.reference:
        reference = _reference_round(args)
    summary = _round(args)
    if args.summary:
        args.summary.write_text(json.dumps(summary), encoding="utf-8")
    if reference is not None:
        _print_per_row(reference, summary)


def _reference_round(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--reference`` round run first in its own process (its output shown as it
    goes); its summary."""
    with tempfile.TemporaryDirectory(prefix="bench_city_ref_") as folder:
        summary = Path(folder) / "summary.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--estates",
            str(args.reference),
            "--reference",
            str(args.reference),
            "--seed",
            str(args.seed),
            "--margin",
            str(args.margin),
            "--summary",
            str(summary),
            *(["--keep", str(args.keep / "reference")] if args.keep else []),
        ]
        print(f"Reference round ({args.reference} estates), in its own process:", flush=True)
        subprocess.run(command, check=True)
        print(flush=True)
        return json.loads(summary.read_text(encoding="utf-8"))


def _print_per_row(reference: dict[str, Any], summary: dict[str, Any]) -> None:
    """Time per export row of the ingest and the whole round at both sizes."""
    print(f"\nPer export row ({reference['estates']:,} vs {summary['estates']:,} estates):")
    for key, label in (("ingest", "ingest"), ("total", "whole round"), ("read", "calamine read")):
        small = reference[key] / reference["rows"] * 1e6
        large = summary[key] / summary["rows"] * 1e6
        ratio = large / small
        goal = (
            ""
            if key == "read"
            else f"  goal ≤ {GOAL_PER_ROW_RATIO}×  "
            + ("ok" if ratio <= GOAL_PER_ROW_RATIO else "MISSED")
        )
        print(
            f"  {label:<14} {small:6.1f} µs at {reference['rows']:,} rows, "
            f"{large:6.1f} µs at {summary['rows']:,} rows: {ratio:4.2f}×{goal}"
        )
    print(
        f"  peak memory    {reference['peak']:.0f} MB and {summary['peak']:.0f} MB; goal ≤ "
        f"{GOAL_PEAK_LARGE_MB:.0f} MB "
        f"{'ok' if summary['peak'] <= GOAL_PEAK_LARGE_MB else 'MISSED'}"
    )


def _make_fieldwork(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The inputs, sample and export made in a child process (:func:`_fieldwork`)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_fieldwork, args=(args, work, queue))
    child.start()
    while True:  # the child's result, or its failure (it then sends nothing)
        try:
            made = queue.get(timeout=5)
            break
        except Empty:
            if not child.is_alive():
                raise SystemExit(f"fieldwork process failed (exit code {child.exitcode})") from None
    child.join()
    if child.exitcode:
        raise SystemExit(f"fieldwork process failed (exit code {child.exitcode})")
    print(
        f"  (fieldwork process: peak {made['peak']:.0f} MB; the round continues in a fresh "
        f"process, as after days of fieldwork)",
        flush=True,
    )
    return made


def _round(args: argparse.Namespace) -> dict[str, Any]:
    """One city round at ``--estates``, stage by stage; prints the figures, returns a
    summary (rows, seconds, peak MB)."""
    from evaluation.pipeline import (
        _load_sample,
        _return_freed_memory,
        build_results,
        ingest_step,
        rank_step,
        score_step,
        scoring_view,
    )
    from evaluation.report.pdf import render_cards
    from evaluation.report.render import render_reports
    from evaluation.report.tables import prepare
    from evaluation.results import save_results
    from evaluation.round import load_round
    from evaluation.scoring.round_scores import score_round

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_city_"))
    out = work / PERIOD
    print(
        f"City-scale round: {args.estates} estates, workspace {work}; "
        f"{os.cpu_count()} CPUs visible",
        flush=True,
    )
    made = _make_fieldwork(args, work)
    st = Stages(args.profile)
    st.rows.extend(made["rows"])
    paths = [Path(p) for p in made["exports"]]
    rnd = st.run("load round", lambda: load_round(Path(made["round_dir"])))
    strata = _load_sample(rnd, households=False).strata
    with _ingest_parts() as parts:
        # as in run_round: only what scoring reads is kept of the ingest result
        ingest = st.run("ingest", lambda: scoring_view(ingest_step(rnd, paths)))
    for name, seconds in parts.items():
        print(f"    {name:<28} {seconds:7.2f} s", flush=True)
    n_resp, n_ans = len(ingest.respondents), len(ingest.answers)
    scores = st.run("score", lambda: score_step(rnd, ingest))
    pure = []
    for _ in range(3):  # score_round alone (score_step adds reading the record and storing)
        t0 = time.perf_counter()
        score_round(rnd, ingest, strata)
        pure.append(time.perf_counter() - t0)
    pure_score = min(pure)
    base_score = min(_bincount_baseline(ingest.answers) for _ in range(3))
    ingest = None  # as in run_round: the ingest result is not held past scoring

    def rank() -> None:  # as run_round: rank, then hand the freed heap back before the report
        rank_step(rnd, scores)
        _return_freed_memory()

    st.run("rank", rank)
    results = st.run("gather results", lambda: prepare(build_results(rnd)))
    st.run("save data tables", lambda: save_results(results, out / "data"))

    def workbook_and_pdf() -> None:  # as the report step makes them
        made = render_reports(
            results, cards=False, notebooks=False, save_data=False, progress=False
        )
        assert not made.failures, made.failures[:3]

    st.run("excel + district pdf", workbook_and_pdf)
    own, _ = _rss_mb()
    if args.cards:

        def cards() -> None:
            _, failures = render_cards(results, out / "cards", progress=False)
            assert not failures, failures[:3]

        st.run("estate cards", cards, in_round=False)
    _, kids = _rss_mb()  # the fieldwork process, card workers
    figures = _Figures(
        rows=made["n_rows"],
        respondents=n_resp,
        answers=n_ans,
        estates=len(rnd.register),
        score=pure_score,
        score_base=base_score,
        read=sum(_calamine_baseline(p) for p in paths),
        fieldwork_peak=made["peak"],
        own=own,
        kids=kids,
    )
    return _print_round(st, figures, args)


@dataclass
class _Figures:
    """What the round's summary prints besides the stage times."""

    rows: int
    respondents: int
    answers: int
    estates: int
    score: float
    score_base: float
    read: float
    fieldwork_peak: float
    own: float
    kids: float


def _print_round(st: Stages, f: _Figures, args: argparse.Namespace) -> dict[str, Any]:
    """The round's figures against their goals; returns the summary."""
    times = {name: t for name, t, _, _ in st.rows}
    total = st.total()
    stage_peaks = [m for _, _, m, r in st.rows if r and m is not None]
    # the round's peak: over its own stages when the kernel lets us reset the high-water
    # mark (the fieldwork process is not part of the round), else this process's
    peak = max(stage_peaks) if stage_peaks else f.own
    goal_peak = GOAL_PEAK_MB if args.estates <= REFERENCE_ESTATES else GOAL_PEAK_LARGE_MB

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"\nRound: {f.rows:,} export rows → {f.respondents:,} respondents, {f.answers:,} "
        f"answers; {f.estates:,} estates",
        flush=True,
    )
    print(
        f"  scoring        {f.score:6.2f} s   goal ≤ {GOAL_SCORE_S:.0f} s   "
        f"{verdict(f.score <= GOAL_SCORE_S)}; "
        f"{f.score / f.score_base:5.1f}× a bare bincount pass ({f.score_base:.3f} s); "
        f"score_round best of 3 (the score step, with record read and store: "
        f"{times['score']:.2f} s)"
    )
    ingest = times["ingest"] / f.read
    print(
        f"  ingest         {times['ingest']:6.2f} s   {ingest:5.2f}× a bare calamine read "
        f"({f.read:.2f} s)   goal ≤ {GOAL_INGEST_RATIO}×  {verdict(ingest <= GOAL_INGEST_RATIO)}"
    )
    whole = total / f.read
    print(
        f"  whole round    {total:6.2f} s   {whole:5.2f}× the calamine read   goal ≤ "
        f"{GOAL_ROUND_RATIO}×  {verdict(whole <= GOAL_ROUND_RATIO)} (sample + load → district "
        f"pdf, no cards, no export writing)"
    )
    print(
        f"  peak memory    {peak:6.0f} MB  goal ≤ {goal_peak:.0f} MB {verdict(peak <= goal_peak)}"
        f" (round stages; this process {f.own:.0f} MB; fieldwork process "
        f"{f.fieldwork_peak:.0f} MB; largest child incl. fieldwork {f.kids:.0f} MB)"
    )
    if args.cards:
        print(
            f"  estate cards   {times['estate cards']:6.2f} s   "
            f"({times['estate cards'] / f.estates * 1000:.0f} ms per estate)"
        )
    return {
        "estates": f.estates,
        "rows": f.rows,
        "ingest": times["ingest"],
        "total": total,
        "read": f.read,
        "peak": peak,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
