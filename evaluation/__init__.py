"""wuye-eval evaluation: questionnaires, ingest, estimation, verdicts, 红黑榜, reports."""

from evaluation.round import Round, load_round
from sampling.errors import Problem, WuyeError

__all__ = ["Problem", "Round", "WuyeError", "load_round"]
