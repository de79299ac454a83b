"""Sampling: sample sizes, allocation across buildings, seeded selection with reserves."""

from sampling.errors import Problem, WuyeError

__all__ = ["Problem", "WuyeError"]
