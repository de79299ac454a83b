"""wuye-eval evaluation: questionnaires, ingest, estimation, verdicts, 红黑榜, reports.

The public API is importable from here; heavy modules load on first use (PEP 562) so
that the command line starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from evaluation.history import history  # binds the function over the module name
from evaluation.round import Round, load_round
from sampling.errors import Problem, WuyeError

_LAZY: dict[str, str] = {
    # questionnaires and ingest
    "Questionnaire": "evaluation.questionnaire",
    "load_questionnaire": "evaluation.questionnaire",
    "read_survey_export": "evaluation.ingest",
    "ingest_round": "evaluation.ingest",
    "write_template": "evaluation.ingest",
    # estimation and verdicts
    "survey_proportion": "evaluation.estimation",
    "survey_mean": "evaluation.estimation",
    "score_round": "evaluation.scoring",
    "Scores": "evaluation.scoring",
    "verdicts": "evaluation.verdict",
    "compare_rounds": "evaluation.change",
    "key_drivers": "evaluation.drivers",
    "importance_performance": "evaluation.drivers",
    # 红黑榜 and history
    "parse_rules": "evaluation.rules",
    "Rules": "evaluation.rules",
    "rank_round": "evaluation.ranking",
    "Ranking": "evaluation.ranking",
    "Store": "evaluation.store",
    "trend_table": "evaluation.history",
    "district_indicators": "evaluation.indicators",
    # results and reports
    "RoundResults": "evaluation.results",
    "load_results": "evaluation.results",
    "save_results": "evaluation.results",
    "render_reports": "evaluation.report",
    "render_round": "evaluation.report",
    # the demo district
    "build_district": "evaluation.demo",
    "simulate_fieldwork": "evaluation.demo",
    "write_demo_round": "evaluation.demo",
    "write_fieldwork": "evaluation.demo",
}

__all__ = ["Problem", "Round", "WuyeError", "history", "load_round", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
