"""wuye-eval evaluation: questionnaires, ingest, estimation, verdicts, 红黑榜, reports.

The public API is importable from here; heavy modules load on first use (PEP 562) so
that the command line starts fast.
"""

from __future__ import annotations

from evaluation.history import history  # binds the function over the module name
from evaluation.round import Round, load_round
from wuye_common.errors import Problem, WuyeError
from wuye_common.lazy import lazy_exports

_LAZY: dict[str, str] = {
    # questionnaires and ingest
    "Questionnaire": "evaluation.questionnaire",
    "load_questionnaire": "evaluation.questionnaire",
    "read_survey_export": "evaluation.ingest",
    "ingest_round": "evaluation.ingest",
    "write_template": "evaluation.ingest",
    # scoring: estimation and verdicts
    "survey_proportion": "evaluation.scoring",
    "survey_mean": "evaluation.scoring",
    "score_round": "evaluation.scoring",
    "Scores": "evaluation.scoring",
    "verdicts": "evaluation.scoring",
    "key_drivers": "evaluation.scoring",
    "importance_performance": "evaluation.scoring",
    "operating_characteristic": "evaluation.scoring",
    "exact_interval": "evaluation.scoring",
    "exact_p_value": "evaluation.scoring",
    # ranking: 红黑榜, changes and history
    "compare_rounds": "evaluation.ranking",
    "parse_rules": "evaluation.ranking",
    "Rules": "evaluation.ranking",
    "rank_round": "evaluation.ranking",
    "Ranking": "evaluation.ranking",
    "district_indicators": "evaluation.ranking",
    "Store": "evaluation.store",
    "trend_table": "evaluation.history",
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


__getattr__ = lazy_exports(__name__, _LAZY)
