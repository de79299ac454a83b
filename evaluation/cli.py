"""The ``wuye-eval`` command line: one sub-command per stage, plus ``run`` and ``demo``;
``init`` starts a round folder, ``questionnaire draft`` / ``questionnaire export`` describe
a questionnaire from an export and put it onto a survey platform.

Expected failures (bad input, bad configuration) print located problems in Chinese and
exit with status 2; they never show a traceback. A run whose report items partly failed
(``manifest.json`` lists them under ``failures``) names them and exits with status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wuye_common.errors import WuyeError, clean_text
from wuye_common.scrub import ScrubFilter, scrub_text, scrubbed_logger

if TYPE_CHECKING:
    from evaluation.report.manifest import Manifest
    from evaluation.round import Round

log = scrubbed_logger("wuye")


def _say(text: object) -> None:
    """Print a progress line for the user, scrubbed like a log line (paths may hold
    personal data: a folder named after a resident's phone number)."""
    print(scrub_text(str(text)))


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
        ("topup", "两轮设计：为首轮后仍「临界」的小区抽取补充样本（未入户的住户中）"),
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

    init = sub.add_parser(
        "init", help="新建评估轮次文件夹（round.toml、台账模板、问卷、fieldwork/）"
    )
    init.add_argument("folder", type=Path, help="新轮次文件夹（不存在时创建；已有轮次时不覆盖）")
    init.add_argument("--district", default="某某区", help="区（县）名称，如 葛店经开区")
    init.add_argument("--period", default=None, help="评估期，如 2026H1（默认：当前半年）")
    init.add_argument(
        "--seed", type=_int_between(0, 2**31 - 1), default=None, help="抽样随机种子（默认随机）"
    )
    _questionnaire_parser(sub)
    backcheck = sub.add_parser(
        "backcheck", help="导入电话回访结果：证实造假的问卷隔离，重新计算并出报告"
    )
    backcheck.add_argument("round", type=Path, help="评估轮次文件夹（含 round.toml）")
    backcheck.add_argument("file", type=Path, help="填好「回访结果」列的回访名单（.xlsx/.csv）")
    backcheck.add_argument("--no-cards", action="store_true", help="不生成各小区报告卡")

    template = sub.add_parser("template", help="生成纸质问卷录入模板（Excel）")
    template.add_argument("round", type=Path, help="评估轮次文件夹（含 round.toml）")
    template.add_argument("-o", "--output", type=Path, default=None, help="输出文件路径")

    history = sub.add_parser("history", help="查看历次评估结果与红黑榜")
    history.add_argument("database", type=Path, help="工作区数据库 wuye.sqlite")
    history.add_argument("--kind", choices=["estates", "firms", "lists"], default="lists")
    history.add_argument("--estate", default=None, help="只看某个小区编号")
    history.add_argument("--firm", default=None, help="只看某个物业企业")
    return parser


def _questionnaire_parser(sub: argparse._SubParsersAction) -> None:
    """``questionnaire draft`` and ``questionnaire export``."""
    questionnaire = sub.add_parser(
        "questionnaire", help="问卷定义：从导出文件生成，或导出到问卷平台"
    )
    qsub = questionnaire.add_subparsers(dest="action", required=True, metavar="操作")
    draft = qsub.add_parser(
        "draft", help="根据问卷星、腾讯问卷或 Kobo 的导出文件生成问卷定义草稿（.toml）"
    )
    draft.add_argument(
        "exports",
        nargs="+",
        type=Path,
        help="导出文件；同一批答卷的「按选项文本」和「按选项序号」两个文件一起给出时，可确定选项顺序",
    )
    draft.add_argument("-o", "--output", type=Path, default=None, help="输出文件（默认 问卷.toml）")
    draft.add_argument("--title", default=None, help="问卷标题")
    export = qsub.add_parser("export", help="把问卷定义导出为问卷星文本导入格式或 XLSForm")
    export.add_argument("file", help='问卷定义文件（.toml），或 "default" 表示内置问卷')
    export.add_argument(
        "--format",
        choices=["wjx", "xlsform"],
        required=True,
        help="wjx：问卷星「文本导入」文本；xlsform：KoboToolbox / ODK 的 XLSForm 工作簿",
    )
    export.add_argument("-o", "--output", type=Path, required=True, help="输出文件")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wuye-eval`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    for handler in logging.getLogger().handlers:  # other libraries' records too
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
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
        where = clean_text(str(exc.filename or ""))
        print(
            f"错误：文件读写失败：{clean_text(str(exc.strerror or exc))}（{where}）。"
            "请检查磁盘空间和文件夹写入权限后重试。",
            file=sys.stderr,
        )
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from evaluation import pipeline
    from evaluation.round import load_round

    if args.command == "demo":
        with pipeline.writing_to(args.workspace):
            manifests = run_demo(
                args.workspace,
                estates=args.estates,
                seed=args.seed,
                cards=not args.no_cards,
                echo=_say,
                manifests=True,
            )
        return _report_status(manifests)
    if args.command == "init":
        return _init(args)
    if args.command == "questionnaire":
        return _questionnaire(args)
    if args.command == "history":
        from evaluation.history import history

        frame = history(args.database, kind=args.kind, estate_id=args.estate, firm=args.firm)
        print(frame.to_string(index=False) if not frame.empty else "（无记录）")
        return 0
    rnd = load_round(args.round)
    with pipeline.writing_to(rnd.output_dir, rnd.database):
        manifest = _run_step(args, rnd)
    return _report_status([manifest] if manifest is not None else [])


def _report_status(manifests: Sequence[Manifest]) -> int:
    """1 (and the failed report items named on stderr) when any report item failed."""
    failed = [(m, f) for m in manifests for f in m.failures]
    if not failed:
        return 0
    print(f"错误：{len(failed)} 项报告未能生成：", file=sys.stderr)
    for manifest, failure in failed:
        where = f"（小区 {failure.estate_id}）" if failure.estate_id else ""
        cell = f"，第 {failure.cell} 个单元格" if failure.cell else ""
        print(
            clean_text(
                f"- {manifest.output_dir.name}/{failure.target}{where}{cell}：{failure.reason}"
            ),
            file=sys.stderr,
        )
    print(
        "详见各轮输出文件夹中 manifest.json 的 failures；修正后可重新运行 report。", file=sys.stderr
    )
    return 1


def _init(args: argparse.Namespace) -> int:
    from evaluation.new_round import init_round

    written = init_round(args.folder, district=args.district, period=args.period, seed=args.seed)
    _say(f"已新建评估轮次：{args.folder}")
    for path in written:
        _say(f"  {path.name}")
    _say("  fieldwork/（放置问卷导出文件）")
    _say(
        "下一步：填写 台账.xlsx（删除示例行），按实际问卷修改 问卷.toml"
        "（或用 wuye-eval questionnaire draft 从导出文件生成），核对 round.toml。"
    )
    return 0


def _questionnaire(args: argparse.Namespace) -> int:
    if args.action == "draft":
        from evaluation.ingest.draft import write_draft

        output = args.output or Path("问卷.toml")
        write_draft(args.exports, output, title=args.title)
        _say(f"问卷定义草稿：{output}（请核对其中「待确认」的注释）")
        return 0
    from evaluation.questionnaire import load_questionnaire
    from evaluation.questionnaire.forms import export_questionnaire

    out = export_questionnaire(load_questionnaire(args.file), args.format, args.output)
    what = "问卷星文本导入文本" if args.format == "wjx" else "XLSForm 工作簿"
    _say(f"{what}：{out}")
    return 0


def _run_step(args: argparse.Namespace, rnd: Round) -> Manifest | None:
    """Run the round sub-command ``args.command`` on the loaded round; the report's
    manifest for ``report`` and ``run``."""
    from evaluation import pipeline

    if args.command == "sample":
        pipeline.sample_step(rnd, echo=_say)
    elif args.command == "ingest":
        pipeline.ingest_step(rnd, args.files or None, echo=_say)
    elif args.command == "template":
        pipeline.template_step(rnd, args.output, echo=_say)
    elif args.command == "score":
        pipeline.score_step(rnd, echo=_say)
    elif args.command == "rank":
        pipeline.rank_step(rnd, echo=_say)
    elif args.command == "topup":
        pipeline.topup_step(rnd, echo=_say)
    elif args.command == "report":
        return pipeline.report_step(rnd, cards=not args.no_cards, echo=_say)
    elif args.command == "run":
        return pipeline.run_round(rnd, cards=not args.no_cards, echo=_say)
    elif args.command == "backcheck":
        return pipeline.backcheck_step(rnd, args.file, cards=not args.no_cards, echo=_say)
    return None


def run_demo(
    workspace: Path = Path("reports"),
    *,
    estates: int = 40,
    seed: int = 2024,
    cards: bool = True,
    echo: Callable[[str], object] = print,
    manifests: bool = False,
) -> list[Path] | list[Manifest]:
    """Build the demo district and run its two consecutive half-year rounds end to end;
    returns the rounds' output folders (their report manifests with ``manifests``)."""
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
    written = []
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
        written.append(pipeline.run_round(rnd, cards=cards, echo=echo))
        outputs.append(rnd.output_dir)
    echo("示例运行完成：" + "、".join(str(p) for p in outputs))
    return written if manifests else outputs


if __name__ == "__main__":
    raise SystemExit(main())
