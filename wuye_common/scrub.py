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
or ``@`` are never searched, so cleaning a column costs one cheap filter plus a search of the
few texts that may hold something. Personal *names* are found by the comment cleaner of the
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


def scrub_values(values: pd.Series) -> pd.Series:
    """:func:`scrub_text` over a column: searched once per distinct text that holds a digit
    or ``@``; NA and non-text values stay as they are; same index and dtype."""
    if values.empty:
        return values
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.asarray(uniques, dtype=object)
    candidates = pd.Series(texts).map(lambda t: isinstance(t, str) and bool(_MAYBE.search(t)))
    if not candidates.any():
        return values
    cleaned = texts.copy()
    cleaned[candidates.to_numpy()] = [scrub_text(t) for t in texts[candidates.to_numpy()]]
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
