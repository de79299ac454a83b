"""Where a round's fan-out work runs: this machine, or a Dask distributed cluster.

``[output] executor = "dask"`` with ``[output] scheduler = "tcp://host:8786"`` in
``round.toml`` sends the per-file ingest (read and standardise each export,
:func:`evaluation.ingest.ingest.read_export`) and the report fan-out (estate cards,
notebooks) to the workers of that scheduler through a
:class:`concurrent.futures.Executor` (``distributed.Client.get_executor``). Everything
else — the validation of all rows at once, scoring, ranking, the store — stays in the
round's process, so the outputs are those of a local run. The workers must see the round's
files under the same paths (a shared disk) and have wuye-eval installed (the ``dask``
extra: ``pip install "wuye-eval[dask]"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from wuye_common.errors import Problem, WuyeError

if TYPE_CHECKING:
    from evaluation.round import Round

CONNECT_TIMEOUT = "20s"
"""How long to wait for the Dask scheduler before giving up."""


@contextmanager
def round_executor(rnd: Round) -> Iterator[Executor | None]:
    """The round's executor: ``None`` for ``local`` (each stage runs its own default), else
    a Dask client's executor, the client closed at the end of the ``with``."""
    if getattr(rnd, "executor", "local") != "dask":
        yield None
        return
    client = _dask_client(str(rnd.scheduler))
    try:
        yield client.get_executor()
    finally:
        client.close()


def _dask_client(address: str):  # -> distributed.Client
    """A client of the scheduler at ``address``; a located error when Dask is not
    installed or the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise WuyeError(
            Problem(
                '[output] executor = "dask" 需要安装 Dask（dask 与 distributed）',
                '运行 pip install "wuye-eval[dask]"，或改为 executor = "local"',
                file="round.toml",
                column="output.executor",
            )
        ) from exc
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise WuyeError(
            Problem(
                f"无法连接 Dask 调度器 {address}：{type(exc).__name__}",
                "确认调度器已启动（dask scheduler）且地址与端口正确，"
                '或改为 executor = "local" 在本机运行',
                file="round.toml",
                column="output.scheduler",
            )
        ) from exc
