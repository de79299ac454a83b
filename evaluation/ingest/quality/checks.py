"""The fieldwork-quality checks of a round's accepted forms, put together: row-level rules
(:mod:`~evaluation.ingest.quality.rules`), surveyor-level rules
(:mod:`~evaluation.ingest.quality.surveyors`) and back-check results
(:mod:`~evaluation.ingest.quality.backcheck`), each with its configured action
(:mod:`~evaluation.ingest.quality.config`).

A flag is evidence, not a verdict: a form a ``flag`` rule finds stays accepted and carries the
rule's code (``quality_rules`` of the respondents) and a Chinese reason; a form a
``quarantine`` rule finds is quarantined with that reason (the first such rule in
:data:`ORDER`). Back-checks that proved a form fabricated (未入户, 非本户) always quarantine it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.ingest.quality import rules, surveyors
from evaluation.ingest.quality.backcheck import DIFFERS, FABRICATED, backcheck_rates
from evaluation.ingest.quality.config import QualityConfig

#: every code in the order reasons are listed (and the first quarantining one is chosen)
ORDER: tuple[str, ...] = (
    "backcheck_fabricated",
    "speeder",
    "duplicate",
    "not_in_frame",
    "burst",
    "one_source",
    "near_duplicate",
    "straightline",
    "extreme",
    "fast",
    "odd_hours",
    "surveyor_effect",
    "fabrication",
    "backcheck_differs",
)
FLAG_COLUMNS = [
    "source_file",
    "source_row",
    "estate_id",
    "response_id",
    "surveyor",
    "rules",
    "action",
    "reasons",
]


@dataclass
class Forms:
    """The forms the checks look at (accepted by every other ingest rule), row-aligned."""

    estate_id: pd.Series
    response_id: pd.Series
    source_file: pd.Series
    source_row: pd.Series
    codes: np.ndarray
    """Forms × items answer codes, 0 = no answer."""
    scale_sizes: np.ndarray
    overall: int
    """Column of the overall item in ``codes``."""
    submitted: pd.Series
    duration: np.ndarray
    ip_key: pd.Series
    device_key: pd.Series
    phone_key: pd.Series
    surveyor: pd.Series
    """Surveyor pseudonym (NA: no surveyor)."""
    satisfied: np.ndarray
    """1.0 / 0.0 on the overall item, NaN without an answer."""
    in_frame: np.ndarray | None = None
    given: dict[str, rules.Hit] = field(default_factory=dict)
    """Hits found before (``speeder``/``duplicate`` when they only flag)."""

    @property
    def n(self) -> int:
        return len(self.estate_id)


@dataclass
class Quality:
    """What the checks found (see the module doc)."""

    quarantine_code: np.ndarray
    """Per form, the code that quarantines it (``""``: stays accepted)."""
    quarantine_detail: np.ndarray
    flag_rules: np.ndarray
    """Per form, the ``;``-joined codes of the rules that flag it."""
    flags: pd.DataFrame
    """One row per form found (:data:`FLAG_COLUMNS`)."""
    surveyors: pd.DataFrame
    risk: np.ndarray
    """Per form, its number of codes (the back-check draw's form risk)."""
    surveyor_risk: np.ndarray
    """Per form, its surveyor's fabrication score (0 without)."""


def run_checks(
    forms: Forms, config: QualityConfig, backchecks: pd.DataFrame | None = None
) -> Quality:
    """Every configured rule over ``forms``; ``backchecks``: the round's call results
    (``response_id, result``)."""
    estate = pd.factorize(forms.estate_id)[0]
    z, median = rules.robust_duration_z(estate, forms.duration, config.get("timing", "min_forms"))
    pattern = rules._pattern_codes(forms.codes) if forms.n else np.zeros(0, np.int64)
    hits = _row_hits(forms, config, estate, z, pattern)
    if config.on("timing"):
        hits["fast"] = rules.fast(z, forms.duration, median, config.get("timing", "robust_z"))
    hits.update(_backcheck_hits(forms, backchecks))
    flagged = np.zeros(forms.n, dtype=bool)
    for hit in hits.values():
        flagged |= hit.mask
    table, surveyor_hits = _surveyor_checks(forms, config, estate, z, pattern, flagged, backchecks)
    hits.update(surveyor_hits)
    return _assemble(forms, config, hits, table)


def _row_hits(
    forms: Forms,
    config: QualityConfig,
    estate: np.ndarray,
    duration_z: np.ndarray,
    pattern: np.ndarray,
) -> dict[str, rules.Hit]:
    """The row-level rules that are on (timing aside); ``pattern``: the forms' answer
    patterns (:func:`~evaluation.ingest.quality.rules._pattern_codes`)."""
    n, hits = forms.n, dict(forms.given)
    if config.on("straightline"):
        hits.update(
            rules.straightline(
                forms.codes,
                forms.scale_sizes,
                duration_z,
                min_items=config.get("straightline", "min_items"),
                max_z=config.get("straightline", "max_z"),
            )
        )
    no_surveyor = forms.surveyor.isna().to_numpy()
    ip, device = rules.source_codes(forms.ip_key), rules.source_codes(forms.device_key)
    if config.on("one_source"):
        hits["one_source"] = rules.one_source(
            estate,
            {
                "IP": (np.where(no_surveyor, ip, -1), config.get("one_source", "max_ip"), True),
                "设备": (
                    np.where(no_surveyor, device, -1),
                    config.get("one_source", "max_device"),
                    True,
                ),
                "电话": (
                    rules.source_codes(forms.phone_key),
                    config.get("one_source", "max_phone"),
                    False,
                ),
            },
        )
    seconds = _seconds(forms.submitted)
    if config.on("burst"):
        hits["burst"] = rules.bursts(
            estate,
            seconds,
            {"IP": ip, "设备": device, "调查员": rules.source_codes(forms.surveyor)},
            forms=config.get("burst", "forms"),
            minutes=config.get("burst", "minutes"),
        )
    if config.on("near_duplicate") and n:
        order = np.argsort(np.argsort(np.nan_to_num(seconds, nan=np.inf), kind="stable"))
        hits["near_duplicate"] = rules.near_duplicates(
            forms.codes,
            estate,
            forms.overall,
            order,
            min_items=config.get("near_duplicate", "min_items"),
            alpha=config.get("near_duplicate", "alpha"),
            pattern=pattern,
        )
    if config.on("hours"):
        hits["odd_hours"] = rules.odd_hours(
            forms.submitted, config.get("hours", "start"), config.get("hours", "end")
        )
    if config.on("household"):
        hits["not_in_frame"] = rules.not_in_frame(forms.in_frame, n)
    return hits


def _seconds(submitted: pd.Series) -> np.ndarray:
    """Submission times in seconds since the epoch (NaN when unknown)."""
    values = submitted.to_numpy(dtype="datetime64[ns]")
    out = values.astype("int64").astype(float) / 1e9
    return np.where(np.isnat(values), np.nan, out)


def _backcheck_hits(forms: Forms, backchecks: pd.DataFrame | None) -> dict[str, rules.Hit]:
    """Forms the call team proved fabricated, or whose answers the household disowned."""
    if backchecks is None or backchecks.empty:
        return {}
    result = forms.response_id.map(
        backchecks.drop_duplicates("response_id", keep="last").set_index("response_id")["result"]
    )
    out = {}
    for code, values, text in (
        ("backcheck_fabricated", FABRICATED, "回访结果："),
        ("backcheck_differs", DIFFERS, "回访结果："),
    ):
        mask = result.isin(values).to_numpy()
        detail = np.full(forms.n, "", dtype=object)
        detail[mask] = [text + str(r) for r in result[mask]]
        out[code] = rules.Hit(mask, detail)
    return out


def _surveyor_checks(
    forms: Forms,
    config: QualityConfig,
    estate: np.ndarray,
    duration_z: np.ndarray,
    pattern: np.ndarray,
    flagged: np.ndarray,
    backchecks: pd.DataFrame | None,
) -> tuple[pd.DataFrame, dict[str, rules.Hit]]:
    """The per-surveyor table and the surveyor-level hits (empty without surveyors)."""
    if not forms.surveyor.notna().any():
        return pd.DataFrame(), {}
    code, names = pd.factorize(forms.surveyor, use_na_sentinel=True)
    inputs = surveyors.SurveyorForms(
        surveyor=code,
        estate=estate,
        satisfied=forms.satisfied,
        codes=forms.codes,
        scale_sizes=forms.scale_sizes,
        pattern=pattern,
        duration_z=duration_z,
        flagged=flagged,
    )
    return surveyor_table(inputs, names, config, forms, backchecks)


def surveyor_table(
    inputs: surveyors.SurveyorForms,
    names: pd.Index,
    config: QualityConfig,
    forms: Forms,
    backchecks: pd.DataFrame | None,
) -> tuple[pd.DataFrame, dict[str, rules.Hit]]:
    """Per surveyor: forms, estates, flagged share, surveyor effect (CMH, BH q-value), the
    fabrication indicators and score, back-check rates; and the hits on their forms."""
    n_s = len(names)
    has = inputs.surveyor >= 0
    s = inputs.surveyor[has]
    table = pd.DataFrame({"surveyor": np.asarray(names, dtype=object)})
    table["forms"] = np.bincount(s, minlength=n_s)
    table["estates"] = (
        (pd.DataFrame({"s": s, "e": inputs.estate[has]}).drop_duplicates().groupby("s").size())
        .reindex(range(n_s), fill_value=0)
        .to_numpy()
    )
    table["flagged_forms"] = np.bincount(s, weights=inputs.flagged[has], minlength=n_s).astype(
        np.int64
    )
    enough = {
        rule: table["forms"].to_numpy() >= config.get(rule, "min_forms")
        for rule in ("surveyor_effect", "fabrication")
    }
    effect = surveyors.surveyor_effect_stepdown(
        inputs,
        n_s,
        alpha=config.get("surveyor_effect", "alpha"),
        eligible=enough["surveyor_effect"],
    )
    styles, styles_se = surveyors.response_styles(inputs, n_s)
    dups = surveyors.duplicate_excess(inputs, n_s)
    indicators = pd.concat([styles.reset_index(drop=True), dups, effect], axis=1)
    indicators["effect"] = indicators["cmh_z"].abs().fillna(0.0)
    eligible = enough["fabrication"] & (len(names) >= config.min_surveyors)
    indicators["score"] = surveyors.fabrication_score(
        indicators, enough["fabrication"], styles_se.reset_index(drop=True)
    )
    table = pd.concat([table, indicators], axis=1)
    table["flagged_share"] = table["flagged_forms"] / table["forms"].where(table["forms"] > 0)
    effect_hit = table["effect_flag"].to_numpy(dtype=bool)
    fabrication_hit = (
        eligible & (table["score"] > config.get("fabrication", "threshold")).to_numpy()
    )
    table["fabrication_flag"] = fabrication_hit
    table = table.merge(
        backcheck_rates(backchecks, forms.response_id, forms.surveyor), on="surveyor", how="left"
    )
    hits = {}
    for code, on, which, text in (
        (
            "surveyor_effect",
            config.on("surveyor_effect"),
            effect_hit,
            "调查员满意率差异 q = {:.3g}",
        ),
        ("fabrication", config.on("fabrication"), fabrication_hit, "调查员造假风险分 {:.1f}"),
    ):
        if not on:
            continue
        value = table["q_value" if code == "surveyor_effect" else "score"].to_numpy()
        mask = np.zeros(len(inputs.surveyor), dtype=bool)
        mask[has] = which[s]
        detail = np.full(len(mask), "", dtype=object)
        detail[mask] = [text.format(v) for v in value[inputs.surveyor[mask]]]
        hits[code] = rules.Hit(mask, detail)
    return table, hits


def _assemble(
    forms: Forms, config: QualityConfig, hits: dict[str, rules.Hit], table: pd.DataFrame
) -> Quality:
    """Codes, actions and the flag table from the hits."""
    n = forms.n
    present = [c for c in ORDER if c in hits and hits[c].mask.any()]
    found = np.zeros((n, len(present)), dtype=bool)
    for j, c in enumerate(present):
        found[:, j] = hits[c].mask
    action = np.array([_action(c, config) for c in present], dtype=object)
    quarantining = found & (action == "quarantine")[None, :]
    first = (
        np.where(quarantining.any(axis=1), quarantining.argmax(axis=1), -1)
        if present
        else np.full(n, -1)
    )
    quarantine_code = np.where(first >= 0, np.asarray([*present, ""], dtype=object)[first], "")
    quarantine_detail = np.full(n, "", dtype=object)
    for j, c in enumerate(present):
        at = first == j
        quarantine_detail[at] = hits[c].detail[at]
    flagging = found & (action == "flag")[None, :]
    rows = np.flatnonzero(found.any(axis=1))
    flag_rules = np.full(n, "", dtype=object)
    flag_rules[rows] = _joined(flagging[rows], present)
    reasons = np.full(len(rows), "", dtype=object)
    for j, c in enumerate(present):  # a dozen rules, each over the flagged forms at once
        at = found[rows, j]
        text = np.where(hits[c].detail[rows][at] != "", "（" + hits[c].detail[rows][at] + "）", "")
        part = rules.REASONS[c] + text
        reasons[at] = np.where(reasons[at] == "", part, reasons[at] + "；" + part)
    flags = pd.DataFrame(
        {
            "source_file": forms.source_file.to_numpy()[rows],
            "source_row": forms.source_row.to_numpy()[rows],
            "estate_id": forms.estate_id.to_numpy()[rows],
            "response_id": forms.response_id.to_numpy()[rows],
            "surveyor": forms.surveyor.to_numpy(dtype=object, na_value=None)[rows],
            "rules": _joined(found[rows], present),
            "action": np.where(quarantine_code[rows] != "", "quarantine", "flag"),
            "reasons": reasons,
        },
        columns=FLAG_COLUMNS,
    )
    surveyor_risk = np.zeros(n)
    if not table.empty:
        score = table.set_index("surveyor")["score"]
        surveyor_risk = forms.surveyor.map(score).to_numpy(dtype=float, na_value=0.0)
        surveyor_risk = np.nan_to_num(surveyor_risk, nan=0.0)
    return Quality(
        quarantine_code=quarantine_code,
        quarantine_detail=quarantine_detail,
        flag_rules=flag_rules,
        flags=flags,
        surveyors=table,
        risk=found.sum(axis=1).astype(float),
        surveyor_risk=surveyor_risk,
    )


def _joined(found: np.ndarray, codes: list[str]) -> np.ndarray:
    """Per row of ``found`` (rows × codes), its codes ``;``-joined (one pass per code)."""
    out = np.full(found.shape[0], "", dtype=object)
    for j, code in enumerate(codes):
        at = found[:, j]
        out[at] = np.where(out[at] == "", code, out[at] + ";" + code)
    return out


def _action(code: str, config: QualityConfig) -> str:
    """The action of ``code``: back-checks proving fabrication quarantine, answers that
    differ flag; the others as configured."""
    if code == "backcheck_fabricated":
        return "quarantine"
    if code == "backcheck_differs":
        return "flag"
    return config.action(rules.RULE_OF[code])
