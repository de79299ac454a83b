"""One scrubber for personal data in free text (PIPL): what residents type into comments,
estate or room cells that did not match, file names, log lines and error messages.

Found values are replaced by a tag (:data:`TAGS`) before anything is stored, written or
logged; the raw value never leaves the reader. Recognised (after NFKC, so full-width digits
count):

- mainland mobile numbers, with or without ``+86``/``86``, spaces or dashes
  (``138 1234 5678``, ``+86-138-1234-5678``);
- landlines with an area code (``027-87654321``, ``(0711) 3456789``, ``0711 3456789``);
- 18-digit resident ID numbers (last character a digit or ``X``) and 15-digit old ones;
- e-mail addresses; IPv4 and IPv6 addresses (checked with :mod:`ipaddress`);
- dwelling addresses: building + unit + room (``3栋1单元502``, ``5-2-301``, ``3号楼502室``),
  unit + room (``1单元502``), a room with 室 (``502室``).

A bare building (``3栋``) or a date is not personal data and stays. Every pattern is linear
in the text's length (no nested or adjacent unbounded quantifiers), and texts without a digit
or ``@`` are never searched. A column is cleaned in one search (:func:`scrub_texts`): its
texts joined, and only the runs of characters a pattern can consume (digits, Latin letters,
``@.-:()#`` …, 栋/单元/室 …: :data:`_RUN`) searched — Chinese prose between them is skipped. Personal *names* are found by the comment cleaner of the
ingest stage (word segmentation), not here.

Log lines: :func:`scrubbed_logger` gives a ``wuye.*`` logger whose records pass through
:class:`ScrubFilter` (the formatted message scrubbed before any handler sees it) — a second
layer: code never formats a raw input value into a message in the first place.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata

import numpy as np
import pandas as pd

TAGS: dict[str, str] = {
    "phone": "〔电话〕",
    "id_number": "〔证件号〕",
    "email": "〔邮箱〕",
    "ip": "〔IP〕",
    "address": "〔门牌〕",
}

_CN = "一二三四五六七八九十"
_SEP = r"[ \-]?"  # one optional space or dash between digit groups
# not the continuation of a number (a digit, or a digit and a decimal point, before it); a
# dot alone may precede (``问卷.13812345678``) or follow (``58.19.3.4.xlsx``, a full stop)
_NOT_IN_NUMBER = r"(?<!\d)(?<!\d\.)"
_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}",
    "id_number": (
        r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
        r"\d{3}[0-9Xx](?![0-9])"
        r"|(?<!\d)[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)"
    ),
    "phone": (
        rf"{_NOT_IN_NUMBER}(?:(?:\+|00)?86{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}}(?![\d])"
        rf"|{_NOT_IN_NUMBER}(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}[2-9]\d{{2,3}}{_SEP}\d{{4}}(?!\d)"
    ),
    "ip": (
        rf"{_NOT_IN_NUMBER}(?:\d{{1,3}}\.){{3}}\d{{1,3}}(?!\d|\.\d)"
        r"|(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])"
    ),
    "address": (
        rf"[\d{_CN}]{{1,4}} ?(?:栋|幢|号楼|座|#) ?(?:[\d{_CN}]{{1,2}} ?单元 ?)?\d{{2,4}} ?(?:室|号|房)?"
        r"|(?<![\d\-])\d{1,3}-\d{1,2}-\d{3,4}(?![\d\-]) ?(?:室|号|房)?"
        rf"|[\d{_CN}]{{1,2}} ?单元 ?\d{{2,4}} ?(?:室|号|房)?"
        r"|(?<!\d)\d{3,4} ?室"
    ),
}
_ANY = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _PATTERNS.items()))
_MAYBE = re.compile(r"[0-9@０-９]")
# Every character a pattern above consumes or a lookaround of it tests: a match lies inside one
# run of them, and at a run's edges the lookarounds see what they see at a text's edges (a
# character outside the set), so searching the runs alone finds exactly the same matches.
_RUN = re.compile(rf"[\dA-Za-z._%+\-@()#: {_CN}栋幢号楼座单元室房]+")
# A run can hold a match only if it holds one of these: @ (e-mail), : (IPv6), 栋幢楼座#单室
# (addresses), "(0" (an area code), a dot or dash between digits (IPv4, dashed numbers and
# addresses), or ten digits apart from single spaces (a phone or ID number without a dash).
_RISKY = re.compile(r"[@:#栋幢楼座单室]|\(0|\d[.\-]\d|(?:\d ?){9}\d")
_JOIN = "\x00"  # joins texts and runs: outside _RUN, untouched by NFKC


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    if kind == "ip" and not _is_ip(match.group()):
        return match.group()
    return TAGS[kind]


def _is_ip(text: str) -> bool:
    if ":" in text and text.count(":") < 3 and "::" not in text:
        return False  # a time such as 12:30:45, not an address
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def scrub_text(text: str) -> str:
    """``text`` with every recognised personal value replaced by its tag (unchanged when
    there is none; NFKC-normalised when something was replaced)."""
    if not isinstance(text, str) or not _MAYBE.search(text):
        return text
    normal = unicodedata.normalize("NFKC", text)
    cleaned = _ANY.sub(_replace, normal)
    return text if cleaned == normal else cleaned


def scrub_texts(texts: list[str]) -> list[str]:
    """``[scrub_text(t) for t in texts]``, in one search: the texts that hold a digit or ``@``
    joined (:data:`_JOIN`), NFKC-normalised at once, and only their runs of :data:`_RUN`
    characters searched."""
    out = list(texts)
    hold = [i for i, t in enumerate(texts) if _MAYBE.search(t)]
    if not hold:
        return out
    joined = _JOIN.join(texts[i] for i in hold)
    if joined.count(_JOIN) != len(hold) - 1:  # a text holds the separator itself
        return [scrub_text(t) for t in texts]
    # NFKC of the joined texts is the join of their NFKC: _JOIN is a starter that composes
    # with nothing, so normalisation never reaches across it
    normal = unicodedata.normalize("NFKC", joined)
    cleaned = _scrub_runs(normal)
    if cleaned == normal:
        return out
    for i, before, after in zip(hold, normal.split(_JOIN), cleaned.split(_JOIN), strict=True):
        if after != before:
            out[i] = after
    return out


def _scrub_runs(text: str) -> str:
    """``_ANY.sub(_replace, text)``, searching only the runs of :data:`_RUN` characters that
    may hold a match (:data:`_RISKY`)."""
    runs = [run for run in _RUN.finditer(text) if _RISKY.search(run.group())]
    if not runs:
        return text
    found = _ANY.sub(_replace, _JOIN.join(m.group() for m in runs)).split(_JOIN)
    parts, at = [], 0
    for run, new in zip(runs, found, strict=True):
        if new != run.group():
            parts += [text[at : run.start()], new]
            at = run.end()
    parts.append(text[at:])
    return "".join(parts)


def scrub_values(values: pd.Series) -> pd.Series:
    """:func:`scrub_text` over a column: searched once per distinct text that holds a digit
    or ``@`` (:func:`scrub_texts`); NA and non-text values stay as they are; same index and
    dtype."""
    if values.empty:
        return values
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.asarray(uniques, dtype=object)
    is_text = np.fromiter((isinstance(t, str) for t in texts), dtype=bool, count=len(texts))
    cleaned = texts.copy()
    cleaned[is_text] = scrub_texts(texts[is_text].tolist())
    if (cleaned == texts).all():
        return values
    out = np.append(cleaned, None)[codes]
    out[codes < 0] = np.asarray(values, dtype=object)[codes < 0]
    return pd.Series(out, index=values.index, name=values.name).astype(values.dtype)


def personal_data_kinds(text: str) -> list[str]:
    """The kinds of personal data :func:`scrub_text` would replace in ``text`` (tests, and
    counting what was scrubbed)."""
    if not isinstance(text, str) or not _MAYBE.search(text):
        return []
    normal = unicodedata.normalize("NFKC", text)
    return [
        m.lastgroup or "" for m in _ANY.finditer(normal) if m.lastgroup != "ip" or _is_ip(m.group())
    ]


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs the formatted message of every record it sees (the
    arguments are merged into the message first, so none reaches a handler raw)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record as logging would show it
            return True
        cleaned = scrub_text(message)
        if cleaned is not message or record.args:
            record.msg, record.args = cleaned, None
        return True


_FILTER = ScrubFilter()


def scrubbed_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`ScrubFilter` attached (once): a filter on a
    logger sees only that logger's own records, so every module logs through its own."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
