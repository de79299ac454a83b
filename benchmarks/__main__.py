"""Run every ``bench_*.py`` module in this folder (or those named on the command line).

Each module exposes ``main() -> None`` printing its timings, each with a baseline measured
in the same run and the goal beside it. Usage: ``python -m benchmarks [sampling ...]``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Import and run the selected benchmark modules in name order."""
    wanted = set(sys.argv[1:] if argv is None else argv)
    folder = Path(__file__).resolve().parent
    names = sorted(p.stem for p in folder.glob("bench_*.py"))
    if wanted:
        names = [n for n in names if n in wanted or n.removeprefix("bench_") in wanted]
    if not names:
        print("没有找到基准测试模块 (benchmarks/bench_*.py)")
        return 1
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==", flush=True)
        start = time.perf_counter()
        argv_before = sys.argv
        sys.argv = [f"benchmarks.{name}"]  # the names chosen here are not the module's options
        try:
            module.main()
        finally:
            sys.argv = argv_before
        print(f"-- {name}: {time.perf_counter() - start:.1f} s in total\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
