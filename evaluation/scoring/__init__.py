"""Scoring stage: design weights, design-based estimates with intervals, each estate's
verdict against its tier threshold, and the key drivers of overall satisfaction.

Imports: the round model, the questionnaire, ``evaluation.codes`` and ``wuye_common``.
"""

from wuye_common.lazy import lazy_exports

_WHERE = {
    "survey_proportion": "evaluation.scoring.estimation",
    "survey_mean": "evaluation.scoring.estimation",
    "respondent_weights": "evaluation.scoring.weights",
    "verdicts": "evaluation.scoring.verdict",
    "Scores": "evaluation.scoring.round_scores",
    "score_round": "evaluation.scoring.round_scores",
    "key_drivers": "evaluation.scoring.drivers",
    "importance_performance": "evaluation.scoring.drivers",
    "round_drivers": "evaluation.scoring.drivers",
    "exact_interval": "evaluation.scoring.exact",
    "exact_p_value": "evaluation.scoring.exact",
    "operating_characteristic": "evaluation.scoring.exact",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
