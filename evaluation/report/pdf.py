"""Chinese PDFs typeset with Typst from PyPI: the district report and per-estate cards.

Data reaches the templates as one JSON string (``sys.inputs.data``); one Typst compiler per
process (fonts loaded once) renders every card. Cards fan out over any
:class:`concurrent.futures.Executor` in batches; one estate's failure is collected, not raised.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.report import charts, fonts, summary, tables
from evaluation.report import format as fmt
from evaluation.report.cards import card_payloads, records
from evaluation.report.manifest import Failure
from evaluation.results import RoundResults
from wuye_common.files import atomic_write_bytes, safe_filename
from wuye_common.resources import package_dir

INLINE_BELOW = 150  # fewer cards render in-process: spawning 2 workers costs 2–4 s (measured)

_LOCAL = threading.local()  # one compiler per thread: a Typst compiler is not shareable

#: Tagged PDF (accessibility structure) for the district report. Off: on the 2,000-estate
#: round the tags made the file 16.2 MB instead of 1.6 MB and cost ~1.4 s of CPU and ~120 MB
#: at the compile, for 60,000 table cells; page text and layout are the same either way.
DISTRICT_PDF_TAGS = False


# ---------------------------------------------------------------- payloads (pure)


def table_payload(frame: pd.DataFrame) -> dict | None:
    """A display frame as ``{"columns", "rows"}`` for ``data-table``; empty → None."""
    if frame is None or frame.empty:
        return None
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[fmt.restyle(v) for v in row] for row in frame.astype(str).to_numpy().tolist()],
    }


INTERVAL_LABELS = {
    "exact": "精确区间（超几何分布，Konijn 1973）：全小区简单随机抽样的小区用精确区间，"
    "满意率恰在达标线上的小区被误判为“未达标”的概率严格不超过 2.5%；其他抽样设计的小区用 "
    "Korn–Graubard 区间（R survey svyciprop beta）",
    "beta": "Korn–Graubard 区间（Clopper–Pearson 区间按有效样本量调整，R survey svyciprop beta）",
    "logit": "Logit 变换区间（R survey svyciprop logit）",
    "xlogit": "Logit 变换区间（R survey svyciprop xlogit）",
    "asin": "反正弦变换区间",
    "wilson": "Wilson 得分区间（按有效样本量）",
    "mean": "正态近似区间（p̂ ± t·se）",
}


def method_rows(results: RoundResults) -> list[list[str]]:
    """The method appendix as key/value rows (also the workbook's 方法说明)."""
    rnd, meta = results.round, results.meta
    s = rnd.sampling
    sampling = meta.get("sampling") if isinstance(meta.get("sampling"), dict) else {}
    design = meta.get("design") or sampling.get("design")
    if isinstance(design, dict):
        keys = (
            ("simple_srs",) if design.get("method") == "simple" else ("stratified_srs", "fallback")
        )
        design = "；".join(str(design[k]) for k in keys if k in design)
    design_text = str(design or f"按楼栋分层抽样（{s.method}）")
    if getattr(s, "sizing", "margin") == "power":
        design_text += (
            f"。样本量按检验功效确定：满意率比达标线低 {s.delta * 100:g} 个百分点的小区，"
            f"被判为“未达标”的概率不低于 {fmt.pct(s.power, 0)}（精确计算），最少 {s.minimum} 户，"
            f"预计应答率 {fmt.pct(s.response_rate, 0)}"
        )
    else:
        design_text += (
            f"。样本量按达标线处误差 ±{s.margin * 100:.0f} 个百分点确定，最少 {s.minimum} 户，"
            f"预计应答率 {fmt.pct(s.response_rate, 0)}"
        )
    method = str(meta.get("interval_method") or rnd.interval_method)
    interval = meta.get("interval") or INTERVAL_LABELS.get(method, method)
    rows = [
        ["抽样设计", design_text],
        [
            "满意率",
            "总体评价题选择“非常满意”“满意”的加权比例（设计权数 = 户数 / 样本数：全小区简单随机"
            "抽样的小区各户相同，按楼栋分层抽样的小区按楼栋计算）",
        ],
        [
            "估计方法",
            str(
                meta.get("estimator")
                or "分层设计加权比例估计（Horvitz–Thompson），"
                "方差含有限总体校正（R survey svymean 同法）"
            ),
        ],
        ["区间方法", f"{interval}，置信水平 {fmt.pct(rnd.confidence, 0)}"],
        [
            "判定规则",
            "区间下限不低于达标线为“达标”，区间上限低于达标线为“未达标”，其余为“临界”",
        ],
        ["达标线", "；".join(f"{t} {fmt.pct(v)}" for t, v in rnd.thresholds.items())],
        *list_method_rows(rnd),
    ]
    power = power_sentence(results)
    if power:
        rows.append(["检验功效", power])
    rows.append(["小区域估计", tables.SAE_SENTENCE + _sae_switch(results)])
    return [[k, fmt.restyle(v)] for k, v in rows]


def power_sentence(results: RoundResults) -> str:
    """One plain sentence on the plan's exact power (empty without a plan)."""
    plan = results.plan
    if plan.empty or "power" not in plan.columns:
        return ""
    s = results.round.sampling
    p = plan[pd.to_numeric(plan["N"], errors="coerce") > 0]
    census = p["census_recommended"].astype(bool) if "census_recommended" in p else p["N"] < 0
    decided = p.loc[~census, "power"].dropna()
    half = (1 - results.round.confidence) / 2
    text = (
        f"按本轮抽样方案，满意率比达标线低 {s.delta * 100:g} 个百分点的小区被判为“未达标”的概率为"
        f" {fmt.pct(decided.min(), 0)}{fmt.DASH}{fmt.pct(decided.max(), 0)}"
        if len(decided)
        else f"按本轮抽样方案，满意率比达标线低 {s.delta * 100:g} 个百分点的小区被判为“未达标”"
    )
    text += f"（目标 {fmt.pct(s.power, 0)}）；恰在达标线上的小区被误判为“未达标”的概率不超过 {fmt.pct(half)}"
    if census.any():
        text += f"；{int(census.sum())} 个小区户数较少，抽样达不到目标，建议全部入户"
    total = int(p["n"].sum() + (p["n_topup"].sum() if "n_topup" in p else 0))
    return text + f"。本方案共需入户 {fmt.integer(total)} 户。"


def _sae_switch(results: RoundResults) -> str:
    on = bool((getattr(results.round, "scoring", None) or {}).get("small_area", False))
    return "本轮按 [scoring] small_area = true 以小区域估计判定。" if on else ""


def list_method_rows(rnd: Any) -> list[list[str]]:
    """How the 红黑榜 is decided (issue #18): the rows of the methods section."""
    from evaluation.ranking.rules import parse_rules

    rules = parse_rules(getattr(rnd, "rules", None))
    w, el = rules.weights, rules.eligibility
    parts = [
        (w.compliance, "相对达标线的满意率"),
        (w.index, "满意度指数"),
        (w.verdict, "判定"),
        (w.credit, "信用积分"),
        (w.complaints, "每百户投诉"),
        (w.inspection, "检查考评"),
    ]
    weights = "、".join(f"{name} {weight:g}" for weight, name in parts if weight > 0)
    return [
        [
            "综合得分",
            f"各分项（0–100 分）按权重加权平均：{weights}。相对达标线的满意率 = 50 + 50 × h / "
            f"{w.compliance_scale:g}（截在 0–100），h = 2·arcsin√p̂ − 2·arcsin√T（Cohen h，"
            "p̂ 为满意率、T 为本等级达标线）：恰在达标线的小区在任何等级都得 50 分，"
            "同样高出达标线的小区在各等级得分相同、名次期望相同。",
        ],
        [
            "多重检验",
            "每个小区和企业检验“满意率不低于达标线”（黑榜）与“满意率达不到达标线”（红榜）两个"
            "单侧假设。全小区简单随机抽样的小区用超几何分布算出精确 p 值（与精确区间的判定一致，"
            "任何抽样比例下误判概率都不超过名义水平），其他小区和企业由设计估计及其有效样本量"
            "算出（Korn–Graubard）；全轮按 "
            f"Benjamini–Hochberg 方法校正为 q 值。上黑榜须 q ≤ {rules.black.fdr:g}，上红榜须"
            f" q ≤ {rules.red.fdr:g}，使被列入者中误判的比例平均不超过该值。",
        ],
        [
            "名次区间",
            "名次的 95% 联合区间（Klein、Wright、Wieczorek 2020）：各小区满意率取 Šidák 联合"
            "区间，区间两端的综合得分决定名次可能的范围，所有小区的名次同时落在区间内的概率"
            "不低于 95%。“进入前列概率”“落入末位概率”由 1000 次参数抽样（按有效样本量的"
            " Beta 分布）得出。按名次上红榜（前若干名、前若干比例）须同时满足：高于达标线的检验"
            "通过、名次在入选线之内、进入入选线的概率不低于 50%（多半确在前列）；按名次上黑榜"
            "（倒数若干名）须整个名次区间都在倒数范围之内：点名批评须确定无疑。",
        ],
        [
            "企业汇总",
            "企业满意率以旗下各小区为层作分层估计（按户数加权，各小区有限总体校正），区间方法"
            "与小区相同；样本中全部满意（或全部不满意）的小区按企业满意率计方差，不当作零方差。"
            "企业判定以户数加权的达标线为准；旗下小区因自身测评结果（检验通过）上黑榜的户数"
            f"占比 ≥ {rules.firms.black_estate_share:.0%} 时企业上黑榜。",
        ],
        [
            "应答率",
            "应答率为 AAPOR RR1：完成户数 ÷ 所有接触过的合格住户（主样本与已启用的备用样本，"
            "备用样本按顺序使用，排在已完成者之前的均视为已接触；访问记录为空置或非本户的"
            "住户不属调查对象，不计入）；同时给出合作率、拒访率、"
            f"接触率和样本完成率（完成户数 ÷ 主样本）。RR1 低于 {el.min_response_rate:.0%} "
            f"或有效样本少于 {el.min_n} 的小区不参与排名，评分提示用同一标准。",
        ],
        [
            "未应答敏感性",
            "按模式混合模型，未应答住户的满意率在 logit 尺度上与应答住户相差 δ（δ 即满意与不满意"
            "住户应答几率之比的对数）；“未应答敏感度”为使判定改变所需的 δ。若满意与不满意住户"
            f"应答几率相差 {el.nr_odds_ratio:g} 倍以内即可改变判定，标注“应答偏差敏感”，不按该"
            "小区测评结果上榜；上榜所需的检验也按这一范围内最不利的情形计算。",
        ],
        [
            "数据问题",
            "答卷数多于抽样记录户数的楼栋不作有限总体校正、不视为普查（标注“样本多于户数”，"
            "该小区不按测评结果上榜）；无抽样记录且 round.toml 未写明 [sampling] design 的小区"
            "视为非概率样本（不作有限总体校正，不参与排名"
            + ("" if not rules.allow_nonprobability else "；本轮规则允许其上榜")
            + "）；只有一个样本户的楼栋与相邻楼栋合并计算方差（标注“分层合并”）。",
        ],
    ]


def _svg(fig: Any) -> str | None:
    """A chart as SVG text for the Typst template (None: nothing to draw)."""
    return None if fig is None else charts.to_svg(fig)


def _font_list(results: RoundResults) -> list[str]:
    return fonts.typst_families(results.round.report)


def _title(results: RoundResults) -> str:
    return results.round.label


def tier_charts(results: RoundResults) -> list[dict[str, Any]]:
    """Per tier (in the thresholds' order): its estates' rates with intervals, best first."""
    e = results.estates
    if e.empty or not {"tier", "rate"} <= set(e.columns):
        return []
    order = {t: i for i, t in enumerate(results.round.thresholds)}
    ordered = e.assign(_o=e["tier"].map(order).fillna(99)).sort_values(
        ["_o", "rate"], ascending=[True, False]
    )
    low = ordered.get("rate_low", ordered["rate"])
    high = ordered.get("rate_high", ordered["rate"])
    cols = pd.DataFrame(
        {
            "tier": ordered["tier"].astype(str),
            "name": fmt.text_series(ordered.get("estate_name", ordered["estate_id"])),
            "rate": ordered["rate"],
            "low": low,
            "high": high,
            "text": fmt.interval_series(ordered["rate"], low, high),
            "verdict": fmt.text_series(ordered.get("verdict", pd.Series("", index=ordered.index))),
        }
    )
    grouped: dict[str, list] = {}
    for rec in records(cols):
        grouped.setdefault(rec.pop("tier"), []).append(rec)
    out = []
    for tier, rows in grouped.items():
        thr = results.round.thresholds.get(tier)
        out.append({"tier": tier, "threshold": thr, "threshold_text": fmt.pct(thr), "rows": rows})
    return out


def summary_payload(results: RoundResults) -> dict[str, Any]:
    """The cover and the 摘要 (one page: sentences, the 红黑榜 of estates and firms)."""
    return {
        "cover": summary.cover_rows(results),
        "lines": summary.summary_lines(results),
        "lists": table_payload(summary.lists_compact(results)),
        "firm_lists": table_payload(summary.firm_lists_compact(results)),
    }


def quality_payload(results: RoundResults) -> dict[str, Any]:
    """The district report's 数据质量 section: what was checked, what was found, which
    verdicts are sensitive."""
    flags = results.quality_flags
    surveyors = results.quality_surveyors
    flagged = int((flags["action"] == "flag").sum()) if "action" in flags else 0
    suspects = (
        int(surveyors["fabrication_flag"].astype(bool).sum())
        if "fabrication_flag" in surveyors
        else 0
    )
    sensitive = tables.quality_estates_table(results)
    summary = [
        [
            "检查内容",
            "直线作答、同源多份与集中提交、雷同答卷（按本小区答案分布的期望份数）、答题用时"
            "（相对本小区的稳健 z 值）、提交时段、住户清册、调查员满意率差异（CMH 检验）与"
            "调查员造假风险分",
        ],
        ["被标记问卷", f"{flagged} 份（仍计入结果；下表为剔除后结论）"],
        ["风险偏高的调查员", f"{suspects} 名（假名见工作簿“调查员”表）"],
        ["质量敏感小区", f"{len(sensitive)} 个：剔除被标记问卷后结论或榜单改变，发布前应核实"],
    ]
    by_estate = tables.quality_by_estate(results)
    return {
        "summary": [[k, fmt.restyle(v)] for k, v in summary],
        "sensitive": table_payload(sensitive),
        "by_estate": table_payload(
            by_estate.drop(columns=["estate_id"], errors="ignore").astype(str)
            if not by_estate.empty
            else by_estate
        ),
    }


def themes_payload(results: RoundResults) -> list[dict[str, Any]]:
    """The district's comment themes as bars: ``theme, mentions, unhappy, frac``."""
    themes = tables.district_themes(results)
    if themes.empty:
        return []
    top = float(themes["mentions"].max()) or 1.0
    return [
        {
            "theme": str(r.theme),
            "mentions": int(r.mentions),
            "unhappy": int(r.dissatisfied_mentions),
            "frac": float(r.mentions) / top,
        }
        for r in themes.itertuples(index=False)
    ]


def _oc_svg(results: RoundResults) -> str | None:
    """The operating-characteristic chart as SVG text (None without a plan)."""
    return _svg(charts.oc_chart(results))


def district_payload(results: RoundResults) -> dict[str, Any]:
    """Everything the district template shows, already formatted."""
    results = tables.prepare(results)
    estates = tables.estates_table(results)
    return {
        "title": _title(results),
        "fonts": _font_list(results),
        "generated": str(results.meta.get("generated") or date.today().isoformat()),
        "summary": summary_payload(results),
        "overview": tables.overview(results).to_numpy().tolist(),
        "response": table_payload(tables.response_table(results)),
        "tiers": table_payload(tables.tier_summary(results)),
        "tier_charts": tier_charts(results),
        "communities": table_payload(summary.community_table(results)),
        "estates": table_payload(estates.drop(columns=["小区编号"], errors="ignore")),
        "red": table_payload(tables.lists_table(results, "红榜")),
        "black": table_payload(tables.lists_table(results, "黑榜")),
        "firms": table_payload(tables.firms_table(results, reasons=False)),
        "firm_reasons": table_payload(tables.firm_reasons_table(results)),
        "drivers": table_payload(tables.drivers_table(results)),
        "importance": table_payload(tables.importance_table(results)),
        "advice": summary.district_advice(results),
        "problems": table_payload(summary.problems_table(results)),
        "changes": table_payload(tables.changes_table(results)),
        "escalations": table_payload(tables.escalations_table(results)),
        "indicators": table_payload(tables.indicators_table(results)),
        "method": method_rows(results),
        "caterpillar": _svg(charts.caterpillar_chart(results)),
        "firm_caterpillar": _svg(charts.caterpillar_chart(results, "firms")),
        "funnel": _svg(charts.funnel_chart(results)),
        "plan_power": table_payload(tables.plan_power_table(results)),
        "oc_chart": _oc_svg(results),
        "oc_note": tables.OC_SENTENCE,
        "small_area": table_payload(tables.small_area_table(results)),
        "small_area_note": tables.SAE_SENTENCE,
        "ingest": table_payload(tables.ingest_table(results, files_only=True)),
        "quarantine": table_payload(tables.quarantine_table(results)),
        "quality": quality_payload(results),
        "themes": themes_payload(results),
    }


# ---------------------------------------------------------------- compiling (I/O)


def template_dir() -> Path:
    """The Typst templates shipped in the package (``evaluation/report/templates/``)."""
    return package_dir("evaluation.report", "templates")


def _compiler(template: str, font_dirs: tuple[str, ...], system_fonts: bool) -> Any:
    """One Typst compiler per thread and template (fonts are loaded once)."""
    import typst

    key = (template, font_dirs, system_fonts)
    compilers = _LOCAL.__dict__.setdefault("compilers", {})
    if key not in compilers:
        templates = template_dir()
        compilers[key] = typst.Compiler(
            str(templates / template),
            root=str(templates),
            font_paths=list(font_dirs),
            ignore_system_fonts=not system_fonts,
        )
    return compilers[key]


def compile_pdf(
    template: str,
    payload: dict[str, Any],
    *,
    system_fonts: bool = False,
    fmt_: str = "pdf",
    ppi: float | None = None,
    pdf_tags: bool = True,
) -> bytes:
    """Compile ``templates/<template>`` with ``payload`` as ``sys.inputs.data``."""
    compiler = _compiler(template, fonts.typst_font_dirs(), system_fonts)
    data = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    kwargs: dict[str, Any] = {"format": fmt_, "sys_inputs": {"data": data}}
    if ppi:
        kwargs["ppi"] = ppi
    if fmt_ == "pdf":
        kwargs["pdf_tags"] = pdf_tags
    out = compiler.compile(**kwargs)
    return out[0] if isinstance(out, list) else out


def render_district_pdf(results: RoundResults, target: Path) -> Path:
    """Write the district 红黑榜 report PDF to ``target`` (atomically)."""
    pdf = compile_pdf(
        "district.typ",
        district_payload(results),
        system_fonts=fonts.uses_system_font(results.round.report),
        pdf_tags=DISTRICT_PDF_TAGS,
    )
    return atomic_write_bytes(Path(target), pdf)


def render_card_batch(
    jobs: list[tuple[str, str]], out_dir: str, system_fonts: bool = False
) -> list[tuple[str, str | None, str | None]]:
    """Worker: compile cards for ``jobs`` = ``[(estate_id, payload_json)]``.

    Returns ``(estate_id, written path or None, error or None)`` per estate; one estate's
    error never stops the batch. Runs in any process (picklable arguments only).
    """
    compiler = _compiler("card.typ", fonts.typst_font_dirs(), system_fonts)
    folder = Path(out_dir)
    results: list[tuple[str, str | None, str | None]] = []
    for estate_id, data in jobs:
        try:
            pdf = compiler.compile(format="pdf", sys_inputs={"data": data})
            target = atomic_write_bytes(folder / f"{safe_filename(estate_id)}.pdf", pdf)
            results.append((estate_id, str(target), None))
        except Exception as exc:  # Typst and OS errors: record per estate, keep going
            results.append((estate_id, None, f"{type(exc).__name__}: {exc}"[:500]))
    return results


def default_executor(max_workers: int = 2) -> ProcessPoolExecutor:
    """A spawn-context process pool (forked workers can hang with kernels/threads)."""
    workers = max(1, min(max_workers, os.cpu_count() or 1))
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def render_cards(
    results: RoundResults,
    out_dir: Path,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    estate_ids: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> tuple[list[Path], list[Failure]]:
    """Render one PDF card per estate into ``out_dir/<safe estate_id>.pdf``.

    ``executor``: any :class:`~concurrent.futures.Executor` (e.g. a ``dask.distributed``
    client's ``get_executor()``); by default a small spawn process pool, or in-process for a
    fewer than ``INLINE_BELOW`` cards. Estates go in batches of ``batch_size`` per task (default: about eight
    tasks, 5–100 estates each). Returns the written paths and the per-estate failures.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payloads = card_payloads(results)
    if estate_ids is not None:
        wanted = {str(x) for x in estate_ids}
        payloads = {k: v for k, v in payloads.items() if k in wanted}
    jobs = [(k, json.dumps(v, ensure_ascii=False, allow_nan=False)) for k, v in payloads.items()]
    if not jobs:
        return [], []
    system_fonts = fonts.uses_system_font(results.round.report)
    size = batch_size or min(100, max(5, math.ceil(len(jobs) / 8)))
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    own = executor is None and len(jobs) >= INLINE_BELOW
    if own:
        executor = default_executor(min(2, len(batches)))
    outcomes = _CardOutcomes(len(jobs), progress)
    try:
        if executor is None:
            for batch in batches:
                outcomes.collect(batch, render_card_batch(batch, str(out_dir), system_fonts), None)
        else:
            _run_batches(executor, batches, str(out_dir), system_fonts, outcomes)
    finally:
        outcomes.bar.close()
        if own and executor is not None:
            executor.shutdown(wait=True)
    return outcomes.written, outcomes.failures


class _CardOutcomes:
    """Written cards and per-estate failures, batch by batch, with a progress bar."""

    def __init__(self, total: int, progress: bool) -> None:
        from tqdm.auto import tqdm

        self.written: list[Path] = []
        self.failures: list[Failure] = []
        self.bar = tqdm(total=total, desc="小区报告卡", unit="个", disable=not progress)

    def collect(self, batch: list, outcome: list | None, error: str | None) -> None:
        """``outcome`` of :func:`render_card_batch`, or ``None`` and the ``error`` that
        failed the whole batch."""
        if outcome is None:
            outcome = [(k, None, error) for k, _ in batch]
        for estate_id, path, err in outcome:
            if err is None and path:
                self.written.append(Path(path))
            else:
                self.failures.append(
                    Failure(
                        kind="pdf",
                        target=f"cards/{safe_filename(estate_id)}.pdf",
                        reason=err or "未知错误",
                        estate_id=estate_id,
                    )
                )
        self.bar.update(len(batch))


def _run_batches(
    executor: Executor,
    batches: list[list],
    out_dir: str,
    system_fonts: bool,
    outcomes: _CardOutcomes,
) -> None:
    futures: dict[Future, list] = {
        executor.submit(render_card_batch, batch, out_dir, system_fonts): batch for batch in batches
    }
    for future in as_completed(futures):
        try:
            outcomes.collect(futures[future], future.result(), None)
        except Exception as exc:  # a worker died: every estate of its batch failed
            outcomes.collect(futures[future], None, f"工作进程失败：{type(exc).__name__}: {exc}")
