"""What the fieldwork simulator builds step by step: the responses (who answered, what,
when, with which mess) and the export's submissions. Shared by :mod:`evaluation.demo.
fieldwork` and the quality steps of :mod:`evaluation.demo.fraud`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Responses:
    """One row per response (duplicate submissions come later), filled in step by step."""

    rows: pd.DataFrame
    """Who answered: ``estate_id, building, unit, room, household_id, role`` and ``e`` (the
    estate's row in the truth table, -1 for an estate not in the register)."""
    sampled: int
    """Completed visits: the base of the rates of :data:`~evaluation.demo.fieldwork.MESS_RATES`."""
    unknown_names: list[str]
    """The estate names written by the respondents of estates not in the register."""
    mess: dict[str, int]
    """Counts per kind of mess (and of visit outcome), in the order the steps add them."""
    kinds: np.ndarray
    """Per row: the kinds of mess applied, each after a ``,``."""
    answers: list[np.ndarray] = field(default_factory=list)
    """Per item: each row's answer as an option number into ``options`` (a small integer
    column per item, not a label per cell: a city has tens of millions of answers)."""
    options: list[np.ndarray] = field(default_factory=list)
    """Per item: its answer labels (object array), the satisfied options first."""
    duration: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """所用时间 in seconds."""
    speeder: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    texts: dict[str, np.ndarray] = field(default_factory=dict)
    """Answers to the identification and free-text questions, by their key (``estate``,
    ``building``, ``room``, ``phone``, ``comment``)."""
    times: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[s]"))
    """提交答卷时间."""
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    """The other metadata columns (来源, 来源详情, 来自IP) by header."""
    surveyor: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Each response's surveyor (index into the agency's pool)."""

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def estate(self) -> np.ndarray:
        return self.rows["e"].to_numpy(dtype=np.int64)

    @property
    def known(self) -> np.ndarray:
        """The respondent's estate is in the register."""
        return self.estate >= 0

    def labels(self, item: int) -> np.ndarray:
        """Each row's answer label to item number ``item`` (0-based)."""
        return self.options[item][self.answers[item]]

    def option(self, item: int, label: str) -> int:
        """The option number of ``label`` in item ``item``; -1 when it has no such option."""
        found = np.flatnonzero(self.options[item] == label)
        return int(found[0]) if len(found) else -1

    def mark(self, mask: np.ndarray, kind: str, counted_as: str | None = None) -> None:
        """Record that ``kind`` of mess was applied to the rows of ``mask``."""
        self.kinds[mask] = self.kinds[mask] + "," + kind
        self.mess[counted_as or kind] = int(np.count_nonzero(mask))


@dataclass
class Submissions:
    """One row per submission, in time order: the response it is (``take``, a row of
    :class:`Responses`), when, how long, and the kinds of mess."""

    take: np.ndarray
    times: np.ndarray
    duration: np.ndarray
    kinds: np.ndarray


def pair_codes(a: Any, b: Any) -> np.ndarray:
    """Group numbers of the pairs ``(a, b)`` in order of first appearance: the codes
    ``pd.factorize`` gives the texts ``a + "|" + b``, without making a text per row."""
    first = pd.factorize(np.asarray(a), use_na_sentinel=False)[0].astype(np.int64)
    second, seconds = pd.factorize(np.asarray(b), use_na_sentinel=False)
    return pd.factorize(first * max(len(seconds), 1) + second)[0]


def full_of(n: int, value: Any) -> np.ndarray:
    """An object array of ``n`` references to one ``value`` (``np.full`` of a text makes
    ``n`` copies of it: a gigabyte at a city's scale)."""
    out = np.empty(n, dtype=object)
    out[:] = value
    return out
