"""The ``wuye-eval`` command line: one sub-command per stage, plus ``run`` and ``demo``.

Expected failures (bad input, bad configuration) print located problems in Chinese and
exit with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wuye_common.errors import WuyeError

if TYPE_CHECKING:
    from evaluation.round import Round

log = logging.getLogger("wuye")


def _int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]``, else a Chinese usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"应为整数，而不是 {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"应在 {low} 与 {high} 之间，而不是 {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wuye-eval",
        description="住宅小区物业服务满意度第三方评估：抽样、数据导入、满意率估计、达标判定、红黑榜与报告。",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="输出更多运行信息")
    sub = parser.add_subparsers(dest="command", required=True, metavar="命令")

    demo = sub.add_parser("demo", help="在内置示例区（两个半年度轮次）上运行全流程")
    demo.add_argument(
        "--workspace", type=Path, default=Path("reports"), help="示例输出目录（默认 reports/）"
    )
    demo.add_argument(
        "--estates",
        type=_int_between(5, 20_000),
        default=40,
        help="示例小区数（默认 40，5 至 20000）",
    )
    demo.add_argument(
        "--seed",
        type=_int_between(0, 2**31 - 1),
        default=2024,
        help="示例数据的随机种子（非负整数）",
    )
    demo.add_argument("--no-cards", action="store_true", help="不生成各小区报告卡")

    for name, text in (
        ("sample", "按楼栋分层抽取样本户与替补户，输出入户名单"),
        ("score", "计算各小区满意率、指数、置信区间与达标判定"),
        ("rank", "按规则生成红黑榜与企业汇总"),
        ("report", "生成 Excel 工作簿、PDF 报告与笔记本"),
        ("run", "一次完成 导入 → 计算 → 排名 → 报告"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("round", type=Path, help="评估轮次文件夹（含 round.toml）")
        if name in ("report", "run"):
            cmd.add_argument("--no-cards", action="store_true", help="不生成各小区报告卡")

    ingest = sub.add_parser("ingest", help="导入问卷数据（问卷星、腾讯问卷、Kobo、纸质录入模板）")
    ingest.add_argument("round", type=Path, help="评估轮次文件夹（含 round.toml）")
    ingest.add_argument(
        "files", nargs="*", type=Path, help="导出文件；省略时使用 round.toml 中 [inputs] responses"
    )

    template = sub.add_parser("template", help="生成纸质问卷录入模板（Excel）")
    template.add_argument("round", type=Path, help="评估轮次文件夹（含 round.toml）")
    template.add_argument("-o", "--output", type=Path, default=None, help="输出文件路径")

    history = sub.add_parser("history", help="查看历次评估结果与红黑榜")
    history.add_argument("database", type=Path, help="工作区数据库 wuye.sqlite")
    history.add_argument("--kind", choices=["estates", "firms", "lists"], default="lists")
    history.add_argument("--estate", default=None, help="只看某个小区编号")
    history.add_argument("--firm", default=None, help="只看某个物业企业")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wuye-eval`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        return _dispatch(args)
    except WuyeError as exc:
        print(f"错误：共发现 {len(exc.problems)} 个问题", file=sys.stderr)
        for problem in exc.problems:
            print(f"- {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断；已完成的步骤保持不变，可重新运行。", file=sys.stderr)
        return 130
    except OSError as exc:
        print(
            f"错误：文件读写失败：{exc.strerror or exc}（{exc.filename or ''}）。"
            "请检查磁盘空间和文件夹写入权限后重试。",
            file=sys.stderr,
        )
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from evaluation import pipeline
    from evaluation.round import load_round

    if args.command == "demo":
        with pipeline.writing_to(args.workspace):
            run_demo(
                args.workspace,
                estates=args.estates,
                seed=args.seed,
                cards=not args.no_cards,
                echo=print,
            )
        return 0
    if args.command == "history":
        from evaluation.history import history

        frame = history(args.database, kind=args.kind, estate_id=args.estate, firm=args.firm)
        print(frame.to_string(index=False) if not frame.empty else "（无记录）")
        return 0
    rnd = load_round(args.round)
    with pipeline.writing_to(rnd.output_dir, rnd.database):
        _run_step(args, rnd)
    return 0


def _run_step(args: argparse.Namespace, rnd: Round) -> None:
    """Run the round sub-command ``args.command`` on the loaded round."""
    from evaluation import pipeline

    if args.command == "sample":
        pipeline.sample_step(rnd, echo=print)
    elif args.command == "ingest":
        pipeline.ingest_step(rnd, args.files or None, echo=print)
    elif args.command == "template":
        pipeline.template_step(rnd, args.output, echo=print)
    elif args.command == "score":
        pipeline.score_step(rnd, echo=print)
    elif args.command == "rank":
        pipeline.rank_step(rnd, echo=print)
    elif args.command == "report":
        pipeline.report_step(rnd, cards=not args.no_cards, echo=print)
    elif args.command == "run":
        pipeline.run_round(rnd, cards=not args.no_cards, echo=print)


def run_demo(
    workspace: Path = Path("reports"),
    *,
    estates: int = 40,
    seed: int = 2024,
    cards: bool = True,
    echo: Callable[[str], object] = print,
) -> list[Path]:
    """Build the demo district and run its two consecutive half-year rounds end to end."""
    import shutil

    from evaluation import pipeline
    from evaluation.demo import DEMO_PERIODS, build_district, write_demo_round, write_fieldwork
    from evaluation.round import load_round

    workspace = Path(workspace)
    demo_dir = workspace / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    district = build_district(seed, estates=estates)
    outputs = []
    for period in DEMO_PERIODS:
        out = workspace / period
        if out.exists():
            shutil.rmtree(out)
        round_dir = write_demo_round(
            demo_dir,
            period,
            seed=seed,
            estates=estates,
            output_dir=out,
            database=demo_dir / "wuye.sqlite",
            secrets=demo_dir / ".secrets",
            district=district,
        )
        rnd = load_round(round_dir)
        echo(f"== {rnd.label}（{len(rnd.register)} 个小区）==")
        drawn = pipeline.sample_step(rnd, echo=echo)
        write_fieldwork(round_dir, district, drawn.sample, period=period, seed=seed)
        pipeline.run_round(rnd, cards=cards, echo=echo)
        outputs.append(rnd.output_dir)
    echo("示例运行完成：" + "、".join(str(p) for p in outputs))
    return outputs


if __name__ == "__main__":
    raise SystemExit(main())
