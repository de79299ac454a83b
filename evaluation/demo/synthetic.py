"""A realistic synthetic :class:`RoundResults` for tests and the report benchmark.

Includes hostile estate names (a spreadsheet formula; slashes, ``..``, quotes and a newline)
so every output path is exercised with them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.results import RoundResults
from evaluation.round import load_round
from wuye_common.vocabulary import TIERS

FORMULA_NAME = '=HYPERLINK("http://x","y")'
ODD_NAME = '../华庭"苑"/二期\n南区'
DIMENSIONS = ("综合服务", "秩序维护/安全", "环境卫生", "绿化养护", "设施设备维护")
NAMES = (
    "幸福家园",
    "锦绣华庭",
    "东湖花园",
    "滨江苑",
    "光谷新城",
    "梧桐雅居",
    "葛店人家",
    "凤凰城",
    "金色港湾",
    "翠柳居",
    "星河湾",
    "桂花园",
    "和谐小区",
    "碧水蓝天",
    "书香门第",
    "阳光丽景",
    "龙湖天街",
    "紫荆花园",
    "康居苑",
    "长江明珠",
)
FIRMS = (
    "武汉安居物业服务有限公司",
    "湖北楚天物业管理有限公司",
    "葛店城投物业有限公司",
    "万科物业服务分公司",
    "鄂州乐居物业有限公司",
)


def write_round_folder(folder: Path, n_estates: int = 20, seed: int = 7, report: str = "") -> Path:
    """Write ``round.toml`` and ``台账.csv`` for a synthetic round; returns the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"E{i + 1:03d}" for i in range(n_estates)]
    names = [
        f"{NAMES[i % len(NAMES)]}{'' if i < len(NAMES) else i // len(NAMES) + 1}"
        for i in range(n_estates)
    ]
    if n_estates >= 2:
        names[0] = FORMULA_NAME
        names[1] = ODD_NAME
    register = pd.DataFrame(
        {
            "小区编号": ids,
            "小区名称": names,
            "所属社区": [f"{'东西南北中'[i % 5]}湖社区" for i in range(n_estates)],
            "物业企业": [FIRMS[i % len(FIRMS)] for i in range(n_estates)],
            "服务等级": [TIERS[i % len(TIERS)] for i in range(n_estates)],
            "户数": rng.integers(120, 2400, n_estates),
        }
    )
    register.to_csv(folder / "台账.csv", index=False, encoding="utf-8-sig")
    (folder / "round.toml").write_text(
        '[round]\ndistrict = "葛店经开区"\nperiod = "2025H1"\nid = "2025H1"\n\n'
        '[inputs]\nregister = "台账.csv"\n\n[output]\ndir = "out"\n' + report,
        encoding="utf-8",
    )
    return folder


def _plan(reg: pd.DataFrame, respondents: np.ndarray) -> pd.DataFrame:
    """A sampling plan for the synthetic estates (households approached for these
    respondents at an 85% response rate) with its exact power figures."""
    from sampling.power import Target, design_figures

    N = reg["households"].to_numpy(dtype=np.int64)
    n = np.minimum(np.ceil(respondents / 0.85), N).astype(np.int64)
    figures = design_figures(n, N, reg["threshold"].to_numpy(), Target(response_rate=0.85))
    return pd.DataFrame(
        {
            "estate_id": reg["estate_id"].astype(str),
            "N": N,
            "n": n,
            "design": "simple_srs",
            "n_topup": 0,
            "interval_method": "exact",
            "respondents": figures.respondents,
            "power": figures.power,
            "power_pass": figures.power_pass,
            "detectable_delta": figures.detectable_delta,
            "census_recommended": (n >= N) & (figures.power < 0.8),
        }
    )


def synthetic_results(
    folder: Path, n_estates: int = 20, seed: int = 7, report: str = ""
) -> RoundResults:
    """Build a round folder in ``folder`` and plausible results for it."""
    rnd = load_round(write_round_folder(folder, n_estates, seed, report))
    rng = np.random.default_rng(seed)
    estates = _estates(rnd.register, rng)
    dims, items = _dimensions_and_items(estates, rng)
    quality = _synthetic_quality(estates)
    estates = quality.pop("estates")
    return RoundResults(
        round=rnd,
        plan=_plan(rnd.register, estates["n"].to_numpy()),
        estates=estates,
        items=items,
        dimensions=dims,
        district=_district(estates),
        firms=_firms(estates),
        escalations=_escalations(estates),
        changes=_changes(estates, rng),
        **_context_tables(estates, rng),
        **quality,
        meta={
            "design": "按楼栋分层简单随机抽样",
            "estimator": "设计加权比例（Horvitz–Thompson）",
            "interval": "Clopper–Pearson / 有效样本量调整",
        },
    )


def _estates(reg: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The 台账 with plausible scores, verdicts, ranks and lists."""
    k = len(reg)
    n = rng.integers(35, 90, k)
    n[1:3] = (18, 25)  # two small samples: their small-area estimates are shown
    rate = np.clip(reg["threshold"].to_numpy() + rng.normal(0.02, 0.08, k), 0.2, 1.0)
    half = 1.96 * np.sqrt(rate * (1 - rate) / n) + 0.01
    low, high = np.clip(rate - half, 0, 1), np.clip(rate + half, 0, 1)
    thr = reg["threshold"].to_numpy()
    verdict = np.where(low >= thr, "达标", np.where(high < thr, "未达标", "临界"))
    index = 100 * np.clip(rate - 0.05 + rng.normal(0, 0.03, k), 0, 1)
    estates = reg.copy()
    estates = estates.assign(
        rate=rate,
        rate_se=(half - 0.01) / 1.96,
        rate_low=low,
        rate_high=high,
        index=index,
        index_low=index - 4,
        index_high=np.minimum(index + 4, 100),
        n=n,
        response_rate=rng.uniform(0.7, 0.98, k),
        verdict=verdict,
        point_pass=rate >= thr,
        flags=np.where(n < 40, "样本量偏少", ""),
        composite=rate * 100,
        interval_method="exact",
    )
    # plausible small-area estimates: small samples pulled toward their tier's mean
    weight = n / (n + 40.0)
    tier_mean = estates.groupby("tier")["rate"].transform("mean").to_numpy()
    sae = weight * rate + (1 - weight) * tier_mean
    estates["sae_rate"] = sae
    estates["sae_low"] = np.clip(sae - 0.8 * half, 0, 1)
    estates["sae_high"] = np.clip(sae + 0.8 * half, 0, 1)
    estates["rank"] = estates["composite"].rank(ascending=False, method="min").astype(int)
    estates["rank_low"] = np.maximum(estates["rank"] - 3, 1)
    estates["rank_high"] = np.minimum(estates["rank"] + 3, k)
    estates["q_value"] = np.clip(1 - 10 * np.abs(rate - thr), 0.001, 1)
    order = estates["composite"].to_numpy()
    lists = np.full(k, "", dtype=object)
    lists[np.argsort(-order)[: max(1, k // 6)]] = "红榜"
    lists[np.argsort(order)[: max(1, k // 6)]] = "黑榜"
    estates["list"] = lists.astype(str)
    estates["reasons"] = np.where(
        estates["list"] == "红榜",
        "满意率显著高于达标线；无有效投诉",
        np.where(estates["list"] == "黑榜", "满意率低于达标线；投诉较多", ""),
    )
    return estates


def _dimensions_and_items(
    estates: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-estate dimension and item rates scattered around each estate's rate."""
    k, rate, n = len(estates), estates["rate"].to_numpy(), estates["n"].to_numpy()
    reg = estates
    dims = pd.DataFrame(
        {
            "estate_id": np.repeat(reg["estate_id"].to_numpy(), len(DIMENSIONS)),
            "dimension": np.tile(DIMENSIONS, k),
        }
    )
    drate = np.clip(np.repeat(rate, len(DIMENSIONS)) + rng.normal(0, 0.07, len(dims)), 0, 1)
    dims = dims.assign(
        rate=drate,
        ci_low=np.clip(drate - 0.1, 0, 1),
        ci_high=np.clip(drate + 0.1, 0, 1),
        index=drate * 95,
        n=np.repeat(n, len(DIMENSIONS)),
    )
    items = dims.rename(columns={"dimension": "dimension"}).assign(
        item_id=np.tile([f"S{i + 1:02d}" for i in range(len(DIMENSIONS))], k)
    )
    items = items[["estate_id", "item_id", "dimension", "rate", "ci_low", "ci_high", "n"]]
    return dims, items


def _district(estates: pd.DataFrame) -> pd.DataFrame:
    """One row per tier and the 全区 row."""
    k, rate, n = len(estates), estates["rate"].to_numpy(), estates["n"].to_numpy()
    district = estates.groupby("tier", as_index=False).agg(
        rate=("rate", "mean"), n=("n", "sum"), estates=("estate_id", "size")
    )
    district = district.assign(ci_low=district["rate"] - 0.03, ci_high=district["rate"] + 0.03)
    district = pd.concat(
        [
            district,
            pd.DataFrame(
                {
                    "tier": ["全区"],
                    "rate": [rate.mean()],
                    "n": [n.sum()],
                    "estates": [k],
                    "ci_low": [rate.mean() - 0.02],
                    "ci_high": [rate.mean() + 0.02],
                }
            ),
        ],
        ignore_index=True,
    )
    return district


def _firms(estates: pd.DataFrame) -> pd.DataFrame:
    """The firm roll-up: the lowest firm black-listed."""
    firms = estates.groupby("firm", as_index=False).agg(
        estates=("estate_id", "size"), households=("households", "sum"), rate=("rate", "mean")
    )
    firms = firms.assign(
        rank=firms["rate"].rank(ascending=False, method="min").astype(int),
        ci_low=firms["rate"] - 0.04,
        ci_high=firms["rate"] + 0.04,
        list=np.where(firms["rate"] == firms["rate"].min(), "黑榜", ""),
        reasons=np.where(firms["rate"] == firms["rate"].min(), "所服务小区满意率整体偏低", ""),
    )
    firms = firms.assign(
        rank_low=np.maximum(firms["rank"] - 1, 1),
        rank_high=np.minimum(firms["rank"] + 1, len(firms)),
    )
    return firms


def _changes(estates: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Changes against an invented previous round."""
    k, rate, reg = len(estates), estates["rate"].to_numpy(), estates
    prev = np.clip(rate + rng.normal(0, 0.06, k), 0, 1)
    diff = rate - prev
    changes = pd.DataFrame(
        {
            "estate_id": reg["estate_id"],
            "previous_rate": prev,
            "diff": diff,
            "diff_low": diff - 0.08,
            "diff_high": diff + 0.08,
            "significant": np.abs(diff) > 0.08,
        }
    )
    return changes


def _escalations(estates: pd.DataFrame) -> pd.DataFrame:
    """The black-listed estates as escalations."""
    escalations = estates.loc[estates["list"] == "黑榜", ["estate_id", "estate_name", "firm"]]
    escalations = escalations.assign(level="约谈", reason="连续两期未达标")
    return escalations


def _context_tables(estates: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Drivers, trends, plan indicators and the ingest's counts."""
    rate = estates["rate"].to_numpy()
    verdict = estates["verdict"].to_numpy()
    drivers = pd.DataFrame(
        {
            "dimension": list(DIMENSIONS),
            "importance": rng.uniform(0.1, 0.5, len(DIMENSIONS)),
            "rate": rng.uniform(0.6, 0.9, len(DIMENSIONS)),
        }
    )
    trends = pd.DataFrame(
        {"period": ["2024H1", "2024H2", "2025H1"], "rate": [0.78, 0.81, float(rate.mean())]}
    )
    indicators = pd.DataFrame(
        {
            "indicator": ["小区满意率达标比例", "红色物业覆盖率", "业委会组建率"],
            "value": [float((verdict == "达标").mean()), 0.62, 0.48],
            "target": [0.8, 0.7, 0.5],
        }
    )
    indicators = indicators.assign(met=indicators["value"] >= indicators["target"], note="")
    ingest_counts = pd.DataFrame(
        {
            "source_file": ["问卷星导出1.xlsx", "问卷星导出2.xlsx"],
            "read": [900, 640],
            "accepted": [870, 611],
            "quarantined": [30, 29],
        }
    )
    quarantine = pd.DataFrame(
        {
            "reason_code": ["too_fast", "unknown_estate", "duplicate"],
            "reason": ["答题时间过短", "无法识别小区", "重复提交"],
            "count": [31, 18, 10],
        }
    )
    return {
        "drivers": drivers,
        "trends": trends,
        "indicators": indicators,
        "ingest_counts": ingest_counts,
        "quarantine_summary": quarantine,
    }


def _synthetic_quality(estates: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Quality flags, a surveyor table, comments and themes for the first estates, and the
    first estate marked 质量敏感 (its verdict without the flagged forms one step lower)."""
    ids = estates["estate_id"].astype(str).tolist()[:3]
    first = estates["estate_id"].astype(str) == ids[0]
    lower = {"达标": "临界", "临界": "未达标", "未达标": "未达标"}
    estates = estates.assign(
        flagged_forms=np.where(first, 12, 0),
        rate_clean=estates["rate"] - np.where(first, 0.08, 0.0),
        verdict_clean=np.where(first, estates["verdict"].map(lower), estates["verdict"]),
        flags=np.where(
            first,
            (estates["flags"].astype(str) + "；质量敏感").str.lstrip("；"),
            estates["flags"].astype(str),
        ),
    )
    flags = pd.DataFrame(
        {
            "source_file": "问卷星导出1.xlsx",
            "source_row": range(200, 212),
            "estate_id": ids[0],
            "response_id": [f"{i:016x}" for i in range(12)],
            "surveyor": "",
            "rules": "burst;one_source;straightline",
            "action": "flag",
            "reasons": "同一来源短时间内集中提交多份答卷",
        }
    )
    surveyors = pd.DataFrame(
        {
            "surveyor": ["a1b2c3d4", "e5f6a7b8"],
            "forms": [120, 98],
            "estates": [2, 2],
            "flagged_share": [0.25, 0.0],
            "cmh_z": [3.1, -0.4],
            "q_value": [0.004, 0.7],
            "effect_flag": [True, False],
            "score": [4.2, 0.8],
            "fabrication_flag": [True, False],
        }
    )
    comments = pd.DataFrame(
        {
            "estate_id": [ids[0], ids[0], ids[1]],
            "response_id": ["a", "b", "c"],
            "question": "comment",
            "theme": ["电梯;维修", "停车", "保洁/环境卫生"],
            "comment": ["电梯经常出故障，维修太慢", "停车太乱，消防通道被占", "=垃圾清运不及时"],
        }
    )
    themes = pd.DataFrame(
        {
            "estate_id": [ids[0], ids[0], ids[0], ids[1]],
            "theme": ["电梯", "维修", "停车", "保洁/环境卫生"],
            "mentions": [1, 1, 1, 1],
            "dissatisfied_mentions": [1, 1, 0, 1],
            "dissatisfied": [5, 5, 5, 3],
            "share_dissatisfied": [0.2, 0.2, 0.0, 1 / 3],
        }
    )
    return {
        "estates": estates,
        "quality_flags": flags,
        "quality_surveyors": surveyors,
        "comments": comments,
        "comment_themes": themes,
    }
