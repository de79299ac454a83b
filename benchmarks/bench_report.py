"""Report benchmark: a 50-estate round → workbook + district PDF + 50 estate cards.

Prints, measured in the same run:
* the wall time of the batch path (goal ≤ 60 s on 2 cores);
* the ratio against rendering each estate through its own papermill run (a fresh kernel
  per estate, the estate notebook only — no PDF, so the baseline is flattered). The
  baseline is measured on ``--baseline`` estates and extrapolated to all of them (goal ≥ 10×);
* the per-estate marginal cost of a card: (T(n cards) − T(k cards)) / (n − k), in one warm
  process (goal ≤ 0.3 s).

Run: ``.venv/bin/python benchmarks/bench_report.py [--estates 50] [--baseline 3]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--estates", type=int, default=50)
    parser.add_argument("--baseline", type=int, default=3)
    args = parser.parse_args()

    import papermill

    from evaluation.demo.synthetic import synthetic_results
    from evaluation.report import pdf
    from evaluation.report.notebooks import notebook_dir, report_jobs, run_notebooks
    from evaluation.report.render import render_reports

    work = Path(tempfile.mkdtemp(prefix="bench_report_"))
    results = synthetic_results(work / "round", n_estates=args.estates)
    n = len(results.estates)

    t0 = time.perf_counter()
    manifest = render_reports(results, progress=False, notebooks=False)
    batch = time.perf_counter() - t0
    assert manifest.ok, manifest.failures
    cards = len(manifest.paths("pdf")) - 1

    # per-estate marginal cost in one warm process (inline, no pool)
    ids = list(results.estates["estate_id"])
    k = max(1, n // 5)
    pdf.INLINE_BELOW = 10**9
    pdf.render_cards(results, work / "warm", estate_ids=ids[:1], progress=False)
    t = time.perf_counter()
    pdf.render_cards(results, work / "m1", estate_ids=ids[:k], progress=False)
    t_k = time.perf_counter() - t
    t = time.perf_counter()
    pdf.render_cards(results, work / "m2", estate_ids=ids, progress=False)
    t_n = time.perf_counter() - t
    marginal = (t_n - t_k) / max(1, n - k)

    # the same cards fanned out over a 2-worker spawn pool (start-up included)
    t = time.perf_counter()
    with pdf.default_executor(2) as pool:
        _, pool_failures = pdf.render_cards(results, work / "pool", executor=pool, progress=False)
    t_pool = time.perf_counter() - t
    assert not pool_failures

    # baseline: one papermill run (fresh kernel) per estate, measured on a few
    source = notebook_dir() / "estate_report.ipynb"
    runs = []
    for estate_id in ids[: args.baseline]:
        t = time.perf_counter()
        papermill.execute_notebook(
            str(source),
            str(work / f"pm_{estate_id}.ipynb"),
            progress_bar=False,
            parameters={
                "round_path": str(results.round.root),
                "estate_id": estate_id,
                "results_dir": str(results.round.output_dir / "data"),
            },
        )
        runs.append(time.perf_counter() - t)
    per_notebook = sum(runs) / len(runs)
    baseline = per_notebook * n

    # the same estate notebooks through one reused kernel (our notebook runner, + HTML)
    jobs = report_jobs(
        results.round.root,
        work / "reuse",
        estates=ids[: args.baseline],
        results_dir=results.round.output_dir / "data",
    )[1:]
    t = time.perf_counter()
    _, nb_failures, _ = run_notebooks(jobs, progress=False)
    reuse = (time.perf_counter() - t) / len(jobs)
    assert not nb_failures, nb_failures

    print(f"round: {n} estates → workbook + district PDF + {cards} cards")
    print(
        f"batch path (render_reports, no notebooks): {batch:6.2f} s   goal ≤ 60 s   "
        f"{'OK' if batch <= 60 else 'MISSED'}"
    )
    print(f"  steps: {manifest_timings(manifest)}")
    print(
        f"papermill per estate: {per_notebook:5.2f} s (mean of {len(runs)} fresh-kernel runs, "
        f"extrapolated × {n} = {baseline:6.1f} s)"
    )
    ratio = baseline / batch
    print(
        f"ratio papermill-per-estate / batch path: {ratio:5.1f}×   goal ≥ 10×   "
        f"{'OK' if ratio >= 10 else 'MISSED'}"
    )
    print(
        f"per-estate marginal cost of a card: {marginal:5.3f} s "
        f"(({t_n:.2f} s for {n} − {t_k:.2f} s for {k}) / {n - k})   goal ≤ 0.3 s   "
        f"{'OK' if marginal <= 0.3 else 'MISSED'}"
    )
    print(
        f"cards only: in-process {t_n:.2f} s; 2-worker spawn pool {t_pool:.2f} s "
        f"(worker start-up included)"
    )
    print(
        f"estate notebook via one reused kernel (+ HTML export): {reuse:5.2f} s each "
        f"(kernel start included, {len(jobs)} notebooks)"
    )
    print(f"outputs in {work}")


def manifest_timings(manifest) -> str:
    import json

    body = json.loads((manifest.output_dir / "manifest.json").read_text(encoding="utf-8"))
    return ", ".join(f"{k} {v:.2f} s" for k, v in body.get("timings_s", {}).items())


if __name__ == "__main__":
    main()
