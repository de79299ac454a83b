"""Fieldwork steps of the demo that the quality checks must catch: surveyors (调查员) and one
dishonest among them, one forged batch of forms, and comments holding personal data.

Every step draws from its own random stream (``QUALITY_STREAM``), so that the draws of the
other steps of :func:`evaluation.demo.fieldwork.simulate_visits` are what they were before
these steps existed.

- **Surveyors**: each estate is visited by two or three surveyors of the agency's pool (about
  one per two estates, at least six); each building by one of them.
- **The dishonest surveyor** (the one with the most visits) fabricates
  :data:`DISHONEST_SHARE` of his forms instead of asking the household: every item 非常满意 or
  满意 (no 不清楚), 70–130 seconds each, typed in evening sessions two to four minutes apart,
  no phone, no comment (``fabricated`` in the key).
- **The forged batch**: forms for one estate whose verdict they lift from 未达标 to 临界
  (:func:`forged_target`: the fewest that do, from ``FORGED_FORMS // 2`` up), on sampled
  households that did not respond, all from one IP within three minutes, every rating
  非常满意 — someone trying to take the estate off the 黑榜 (``forged`` in the key, role
  ``forged``).
- **Personal data in comments**: :data:`PERSONAL_COMMENT_SHARE` of the comments are replaced
  by ones holding a phone number, a dwelling address or a name
  (:data:`~evaluation.demo.names.PERSONAL_COMMENTS`; ``comment_personal`` in the key).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from evaluation.demo import names as nm
from evaluation.demo.records import Responses, Submissions, pair_codes

QUALITY_STREAM = 7
SURVEYORS_PER_ESTATE = (2, 3)
DISHONEST_SHARE = 0.5
FORGED_FORMS = 12
FORGED_MAX = 30
PERSONAL_COMMENT_SHARE = 0.08
FORGED_IP = "58.19.77.7(湖北-鄂州)"


def assign_surveyors(rng: np.random.Generator, resp: Responses, n_estates: int) -> None:
    """Each building's surveyor, as ``resp.texts["surveyor"]`` (names)."""
    pool = max(6, min(len(nm.SURVEYOR_NAMES), -(-n_estates // 2)))
    k = rng.integers(SURVEYORS_PER_ESTATE[0], SURVEYORS_PER_ESTATE[1] + 1, n_estates)
    crew = np.argsort(rng.random((n_estates, pool)), axis=1)[:, : SURVEYORS_PER_ESTATE[1]]
    rows = resp.rows
    building = pair_codes(rows["e"].to_numpy(), rows["building"].astype(str).to_numpy())
    pick = rng.random(int(building.max()) + 1)
    estate = np.maximum(resp.estate, 0)
    who = crew[estate, (pick[building] * k[estate]).astype(np.int64)]
    who[~resp.known] = rng.integers(0, pool, int((~resp.known).sum()))
    resp.surveyor = who
    resp.texts["surveyor"] = np.array(nm.SURVEYOR_NAMES, dtype=object)[who]
    resp.mess["surveyors"] = len(np.unique(who))


def dishonest_surveyor(
    rng: np.random.Generator, resp: Responses, items: list[dict[str, Any]], start: np.datetime64
) -> None:
    """The surveyor with the most visits fabricates part of his forms (module doc)."""
    honest = resp.known & ~resp.speeder & (resp.rows["role"] != "unsampled").to_numpy()
    counts = np.bincount(resp.surveyor[honest])
    liar = int(np.argmax(counts))
    mine = np.flatnonzero(honest & (resp.surveyor == liar))
    fake = np.sort(rng.choice(mine, round(DISHONEST_SHARE * len(mine)), replace=False))
    for j, item in enumerate(items):
        top = item["satisfied"]
        # option numbers: the satisfied options come first
        resp.answers[j][fake] = (rng.random(len(fake)) < 0.3).astype(int) % len(top)
    resp.duration[fake] = rng.integers(70, 131, len(fake))
    session = np.arange(len(fake)) // 6
    days = rng.integers(0, 20, int(session.max(initial=0)) + 1)
    gaps = rng.integers(120, 241, len(fake))
    offset = pd.Series(gaps).groupby(session).cumsum().to_numpy()
    resp.times[fake] = (
        start
        + days[session].astype("timedelta64[D]")
        + np.timedelta64(19 * 3600, "s")
        + offset.astype("timedelta64[s]")
    )
    resp.texts["phone"][fake] = "(空)"
    resp.texts["comment"][fake] = "(空)"
    mask = np.zeros(resp.n, dtype=bool)
    mask[fake] = True
    resp.mark(mask, "fabricated")
    resp.mess["dishonest_surveyor_forms"] = len(mine)


def personal_comments(rng: np.random.Generator, resp: Responses) -> None:
    """Some comments replaced by ones holding a phone, an address or a name."""
    said = np.flatnonzero(resp.texts["comment"] != "(空)")
    pick = np.sort(
        rng.choice(said, max(3, round(PERSONAL_COMMENT_SHARE * len(said))), replace=False)
    )
    templates = rng.integers(0, len(nm.PERSONAL_COMMENTS), len(pick))
    b, u, r = (resp.rows[c].to_numpy(dtype=object)[pick] for c in ("building", "unit", "room"))
    texts = []
    for i, t in enumerate(templates):  # the draws in the same order, pick by pick
        phone = "1" + "".join(map(str, [*rng.integers(3, 10, 1), *rng.integers(0, 10, 9)]))
        name = nm.PERSON_NAMES[int(rng.integers(0, len(nm.PERSON_NAMES)))]
        texts.append(
            nm.PERSONAL_COMMENTS[t].format(
                phone=phone,
                phone_spaced=f"{phone[:3]} {phone[3:7]} {phone[7:]}",
                b=b[i],
                u=u[i],
                r=r[i],
                name=name,
                surname=name[0],
            )
        )
    resp.texts["comment"][pick] = np.array(texts, dtype=object)
    mask = np.zeros(resp.n, dtype=bool)
    mask[pick] = True
    resp.mark(mask, "comment_personal")


class Forgery(NamedTuple):
    """The forged batch's estate (truth row, −1: none), size and answer to each item."""

    estate: int
    size: int
    tops: tuple[str, ...]


def forged_target(
    resp: Responses,
    households: Any,
    visits: Any,
    estates: pd.DataFrame,
    items: list[dict[str, Any]],
) -> Forgery:
    """The estate (truth row) the batch is forged for and its size: the estate where the
    fewest forged forms (every item its top option, 非常满意) (at least :data:`FORGED_FORMS` // 2, at most the estate's
    non-responding main households and :data:`FORGED_MAX`) lift the verdict from 未达标 to 临界
    — judged as a forger reading the last report would, with the interval that report
    gives an SRS of the estate (the exact hypergeometric interval,
    :func:`evaluation.scoring.exact.exact_interval`; ``estates``: ``threshold`` and
    ``households`` N per truth row) on the sampled responses so far that ingest will accept
    (speeders and households outside the sample aside). When no estate can be lifted, :data:`FORGED_FORMS`
    forms for the answered estate whose rate is nearest its threshold (the pattern is still
    planted); estate −1 when no estate has that many non-responding main households.
    ``items``: the questionnaire's items (the batch answers each with its top option)."""
    from evaluation.scoring.exact import exact_interval

    overall = next(j for j, item in enumerate(items) if item["overall"])
    satisfied = items[overall]["satisfied"]
    tops = tuple(str(item["satisfied"][0]) for item in items)
    e = resp.estate
    answer = resp.labels(overall)
    counted = resp.rows["role"].isin(["main", "reserve"]).to_numpy() & ~resp.speeder
    known = resp.known & counted & (answer != "不清楚")
    thresholds = estates["threshold"].to_numpy(dtype=float)
    n_e = len(thresholds)
    n = np.bincount(e[known], minlength=n_e)
    s = np.bincount(e[known], weights=np.isin(answer[known], satisfied), minlength=n_e)
    s = s.astype(np.int64)
    big_n = np.maximum(estates["households"].to_numpy(dtype=np.int64), n + FORGED_MAX)
    idle = np.bincount(
        households.estate[visits.main & (visits.status != "completed")], minlength=n_e
    )
    sizes = np.arange(FORGED_FORMS // 2, FORGED_MAX + 1)
    ok_n = n > 0
    before = np.zeros(n_e, dtype=bool)
    before[ok_n] = exact_interval(s[ok_n], n[ok_n], big_n[ok_n])[1] < thresholds[ok_n]
    for k in sizes:  # a few dozen sizes, vectorised over estates
        at = np.flatnonzero(before & (idle >= k))
        if not len(at):
            break
        after = exact_interval(s[at] + k, n[at] + k, big_n[at])[1] >= thresholds[at]
        ok = at[after]
        if len(ok):
            return Forgery(int(ok[np.argmin(thresholds[ok] - s[ok] / n[ok])]), int(k), tops)
    # none can be lifted: the forger still tries, on the answered estate nearest its line
    tries = np.flatnonzero(ok_n & (idle >= FORGED_FORMS))
    if not len(tries):
        return Forgery(-1, 0, tops)
    nearest = int(tries[np.argmin(np.abs(thresholds[tries] - s[tries] / n[tries]))])
    return Forgery(nearest, FORGED_FORMS, tops)


def forged_batch(
    rng: np.random.Generator,
    resp: Responses,
    subs: Submissions,
    households: Any,
    visits: Any,
    target: Forgery,
    name: str,
    start: np.datetime64,
) -> Submissions:
    """Append the forged batch (module doc) to ``resp`` and ``subs``; ``target``: the
    estate's truth row, the batch size and the answers (:func:`forged_target`; nothing is
    forged when the estate is −1), ``name`` its register name."""
    e, size = target.estate, target.size
    table = households.table
    idle = np.flatnonzero((households.estate == e) & visits.main & (visits.status != "completed"))
    if e < 0 or not len(idle):
        return subs
    pick = np.sort(rng.choice(idle, min(size, len(idle)), replace=False))
    k = len(pick)
    new = table.loc[pick, ["estate_id", "building", "unit", "room", "household_id"]].assign(
        role="forged", e=e
    )
    first = resp.n
    resp.rows = pd.concat([resp.rows, new], ignore_index=True)
    resp.answers = [
        np.concatenate([column, np.full(k, resp.option(j, top), dtype=column.dtype)])
        for j, (column, top) in enumerate(zip(resp.answers, target.tops, strict=True))
    ]
    when = (
        start
        + np.timedelta64(int(rng.integers(3, 18)), "D")
        + np.timedelta64(14 * 3600, "s")
        + np.sort(rng.integers(0, 180, k)).astype("timedelta64[s]")
    )
    extra = {
        "estate": np.full(k, name, dtype=object),
        "building": (new["building"].astype(str) + "栋").to_numpy(dtype=object),
        "room": (new["unit"].astype(str) + "-" + new["room"].astype(str)).to_numpy(dtype=object),
        "phone": np.full(k, "(空)", dtype=object),
        "comment": np.full(k, "(空)", dtype=object),
        "surveyor": np.full(k, "(空)", dtype=object),
    }
    for key, values in extra.items():
        if key in resp.texts:
            resp.texts[key] = np.concatenate([resp.texts[key], values])
    meta = {"来源": "链接", "来源详情": "直接访问", "来自IP": FORGED_IP}
    for key in resp.metadata:
        resp.metadata[key] = np.concatenate(
            [resp.metadata[key], np.full(k, meta[key], dtype=object)]
        )
    resp.times = np.concatenate([resp.times, when])
    duration = rng.integers(62, 91, k)
    resp.duration = np.concatenate([resp.duration, duration])
    resp.speeder = np.concatenate([resp.speeder, np.zeros(k, dtype=bool)])
    resp.kinds = np.concatenate([resp.kinds, np.full(k, ",forged", dtype=object)])
    resp.mess["forged"] = k
    take = np.concatenate([subs.take, first + np.arange(k)])
    times = np.concatenate([subs.times, when])
    order = np.argsort(times, kind="stable")
    return Submissions(
        take=take[order],
        times=times[order],
        duration=np.concatenate([subs.duration, duration])[order],
        kinds=np.concatenate([subs.kinds, np.full(k, ",forged", dtype=object)])[order],
    )
