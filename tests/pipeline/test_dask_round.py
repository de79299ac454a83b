"""The same round on a Dask cluster (``[output] executor = "dask"``): a two-worker
``LocalCluster`` (threads, ``processes=False``: worker processes take seconds each to
start on 2 cores) runs the per-file ingest and the estate cards, and the outputs equal a
local run's."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pypdfium2 as pdfium
import pytest
import tomli_w

from evaluation import pipeline
from evaluation.round import load_round
from tests.hostile import round_folder
from wuye_common.errors import WuyeError


def _copy(small_round: Path, target: Path, **output: str) -> Path:
    """A copy of the small round whose ``[output]`` gets ``output``; its round folder."""
    shutil.copytree(small_round, target)
    toml = round_folder(target) / "round.toml"
    config = tomllib.loads(toml.read_text(encoding="utf-8"))
    config["output"].update(output)
    toml.write_text(tomli_w.dumps(config), encoding="utf-8")
    return round_folder(target)


def _sheets(path: Path) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, sheet_name=None, header=None, dtype=str, engine="calamine")


def _pdf_text(path: Path) -> str:
    doc = pdfium.PdfDocument(str(path))
    try:
        return re.sub(r"\s+", "", "".join(p.get_textpage().get_text_range() for p in doc))
    finally:
        doc.close()


def _same_outputs(local: Path, remote: Path) -> None:
    """Result CSVs identical; workbooks equal cell by cell; PDFs equal in text."""
    csvs = sorted(p.relative_to(local) for p in (local / "data").glob("*.csv"))
    assert csvs and csvs == sorted(p.relative_to(remote) for p in (remote / "data").glob("*.csv"))
    for name in csvs:
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
    books = sorted(p.relative_to(local) for p in local.rglob("*.xlsx"))
    assert any(b.parts[0] == "ingest" for b in books)
    for name in books:
        left, right = _sheets(local / name), _sheets(remote / name)
        assert left.keys() == right.keys(), name
        for sheet in left:
            pd.testing.assert_frame_equal(left[sheet], right[sheet], obj=f"{name}:{sheet}")
    pdfs = sorted(p.relative_to(local) for p in local.rglob("*.pdf"))
    assert len(pdfs) > 1 and pdfs == sorted(p.relative_to(remote) for p in remote.rglob("*.pdf"))
    for name in pdfs:
        assert _pdf_text(local / name) == _pdf_text(remote / name), name


def test_round_on_a_two_worker_dask_cluster_equals_the_local_run(
    small_round: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    local = _copy(small_round, tmp_path / "local")
    pipeline.run_round(load_round(local), cards=True)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = _copy(
            small_round, tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address
        )
        rnd = load_round(remote)
        assert (rnd.executor, rnd.scheduler) == ("dask", cluster.scheduler_address)
        pipeline.run_round(rnd, cards=True)
        ran = set(cluster.scheduler.task_prefixes)
    assert {"read_export", "render_card_batch"} <= ran  # the work went to the workers
    _same_outputs(load_round(local).output_dir, rnd.output_dir)


def test_dask_executor_needs_a_scheduler_address(small_round: Path, tmp_path: Path) -> None:
    folder = _copy(small_round, tmp_path / "ws", executor="dask")
    with pytest.raises(WuyeError, match="scheduler") as err:
        load_round(folder)
    assert err.value.problems[0].column == "output.scheduler"


@pytest.mark.parametrize(
    ("output", "column"),
    [({"executor": "spark"}, "output.executor"), ({"executors": "dask"}, "output.executors")],
)
def test_unknown_executor_or_output_key_is_refused(
    small_round: Path, tmp_path: Path, output: dict[str, str], column: str
) -> None:
    folder = _copy(small_round, tmp_path / "ws", **output)
    with pytest.raises(WuyeError) as err:
        load_round(folder)
    assert [p.column for p in err.value.problems] == [column]


def test_unreachable_scheduler_is_a_located_error(
    small_round: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    import evaluation.executors

    monkeypatch.setattr(evaluation.executors, "CONNECT_TIMEOUT", "1s")
    folder = _copy(small_round, tmp_path / "ws", executor="dask", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(WuyeError, match="Dask 调度器") as err:
        pipeline.ingest_step(load_round(folder))
    assert err.value.problems[0].column == "output.scheduler"
