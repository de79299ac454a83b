"""Survey weights and variance strata from the sampling record (抽样记录).

Design: within each estate, households are drawn by simple random sampling without
replacement inside each building (building = stratum, N_h households). Non-response is
adjusted within the building by treating the respondents as the sample: the weight of a
respondent is ``N_g / n_g`` where ``N_g`` is the number of households and ``n_g`` the
number of respondents of its (collapsed) stratum g — the weighting-class adjustment of
Kalton & Flores-Cervantes (2003, *J. Official Statistics* 19:81–97) with buildings as
classes. The same ``N_g`` is the finite-population correction.

Collapsing (documented neighbour rule), per estate with buildings in sort order:

* a record building **without respondents** is merged into the next building in sort
  order that has respondents (the previous one when it is the last), so its N_h is not
  lost and the estate's weights still sum to its households;
* respondents whose building is **missing or not in the record** join the next record
  building in sort order after their building label (the last one when none follows or
  the label is missing); their building's households are unknown, so N is not changed;
* a stratum left with **one respondent** (one or two households per building: villa
  estates, systematic samples with n < buildings) cannot give a variance (a lonely stratum;
  its df is 0). Such strata are collapsed with their neighbours in sort order — the
  collapsed-strata rule (Wolter 2007, *Introduction to Variance Estimation*, §2.5; Lumley
  2010, *Complex Surveys*, §2.3 and R ``survey``'s advice for single-PSU strata, to combine
  them with similar strata rather than drop their variance): walking the estate's strata
  in order, a stratum with fewer than :data:`MIN_STRATUM_N` respondents is joined by the
  next ones until the group holds that many; a last group still short joins the group
  before it. The group is one stratum for the weights and the variance (conservative: the
  between-building part of the variance is counted), and ``collapsed`` marks it;
* when the estate is **not in the record** (or no record is given), the estate is one
  stratum with N = 台账 ``households`` (no register row either: N = respondents) —
  flagged by ``fallback``. Such respondents are not known to come from a probability
  sample: unless ``design`` names the external design that drew them (``[sampling]
  design``), they are a **non-probability sample** (``nonprobability``) and get no
  finite-population correction (``N_fpc`` = ∞); with a named design, N = 台账 户数 is
  the FPC population (no 台账 户数: no FPC either);
* if a stratum has more respondents than households (duplicates or a stale record), N is
  raised to n for the weight (weight 1) and ``n_exceeds_N`` marks it; its N is wrong, so
  it gets **no** finite-population correction (``N_fpc`` = ∞): the estate is never
  treated as a census on a stale record.

``N_fpc`` is the stratum size the finite-population correction uses (``1 − n_h/N_fpc``;
∞: none); ``N_h`` the one the weight uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wuye_common.errors import Problem, WuyeError

WEIGHT_COLUMNS = ("response_id", "estate_id", "stratum", "weight", "N_h", "n_h")
#: flag columns of :func:`respondent_weights` (bool, per respondent)
FLAG_COLUMNS = ("fallback", "n_exceeds_N", "nonprobability", "collapsed")
#: fewest respondents a stratum keeps on its own (a variance needs two)
MIN_STRATUM_N = 2

#: column dtypes of the (empty) result for no respondents
EMPTY_DTYPES = {
    "response_id": "str",
    "estate_id": "str",
    "stratum": "str",
    "weight": float,
    "N_h": float,
    "n_h": np.int64,
    "N_fpc": float,
    "N_record": float,
    "fallback": bool,
    "n_exceeds_N": bool,
    "nonprobability": bool,
    "collapsed": bool,
}


def _require(frame: pd.DataFrame, cols: tuple[str, ...], name: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise WuyeError(
            Problem(
                f"{name} 缺少列：{'、'.join(missing)}",
                "按 docs/architecture.md 的列名提供该表",
                column=missing[0],
            )
        )


def respondent_weights(
    respondents: pd.DataFrame,
    strata: pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
    *,
    design: str | None = None,
) -> pd.DataFrame:
    """Weights and variance strata per respondent (:func:`weights_and_strata`)."""
    return weights_and_strata(respondents, strata, register, design=design)[0]


def weights_and_strata(
    respondents: pd.DataFrame,
    strata: pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
    *,
    design: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Weights and variance strata per respondent (see module docstring for the rules).

    Returns one row per respondent, in the input order: ``response_id, estate_id, stratum``
    (label ``"{estate_id}|{building(s)}"``), ``weight`` (= N_h/n_h), ``N_h``, ``n_h``,
    ``N_fpc`` (the FPC's stratum size, ∞ = no FPC), ``N_record`` (the stratum's households
    as the record or 台账 gives them, before any raise to n) and the bool flags ``fallback`` (estate
    not in the sampling record), ``n_exceeds_N``, ``nonprobability`` (not in the record
    and ``design`` names no external design) and ``collapsed`` (the stratum joins
    buildings left with one respondent). ``design``: ``[sampling] design`` (one of
    ``sampling.config.EXTERNAL_DESIGNS``, checked when the round loads) or ``None``.
    Also each respondent's stratum code, ``pd.factorize(stratum)[0]`` (strata numbered in
    order of their first respondent), from the thousands of strata, not the respondents.
    """
    _require(respondents, ("response_id", "estate_id"), "respondents")
    # the rules act on distinct (estate, building) pairs — thousands, not one row per
    # respondent; ``m`` counts each pair's respondents and ``pair`` maps respondents back
    building = (
        respondents["building"]
        if "building" in respondents.columns
        else pd.Series(pd.NA, index=respondents.index, dtype=object)
    )
    keys = pd.DataFrame(
        {"estate_id": respondents["estate_id"], "building": building}, index=respondents.index
    )
    pair = (
        keys.groupby(["estate_id", "building"], sort=False, dropna=False, observed=True)
        .ngroup()
        .to_numpy()
    )
    firsts = pd.Series(pair).drop_duplicates()  # group code → its first respondent
    resp = keys.iloc[firsts.index.to_numpy()].reset_index(drop=True)
    remap = np.empty(len(firsts), dtype=np.int64)
    remap[firsts.to_numpy()] = np.arange(len(firsts))
    pair = remap[pair]  # respondent → row of ``resp``
    resp["estate_id"] = resp["estate_id"].astype(str)
    b = resp["building"]
    resp["building"] = b.astype("str").where(b.notna(), None)
    resp["m"] = np.bincount(pair, minlength=len(resp)).astype(float)
    resp["_row"] = np.arange(len(resp))

    rec = _record_sizes(strata)
    in_record = resp["estate_id"].isin(rec["estate_id"])
    parts = []
    if in_record.any():
        parts.append(_record_strata(resp[in_record], rec))
    if (~in_record).any():
        parts.append(_register_strata(resp[~in_record], register, design))
    if not parts:  # no respondents
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY_DTYPES.items()})
        return empty, np.zeros(0, dtype=np.int64)
    u = pd.concat(parts, ignore_index=True).sort_values("_row", kind="stable")
    # respondents per stratum: Σ m over the pairs of the stratum (pairs are numbered in order
    # of their first respondent, so the strata's codes are those of the respondents' labels)
    s_code, s_labels = pd.factorize(u["stratum"])
    n_s = np.bincount(s_code, u["m"].to_numpy(dtype=float), len(s_labels))
    n_h_u = n_s[s_code]
    N_u = u["N_h"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "response_id": respondents["response_id"].to_numpy(),
            "estate_id": pd.array(u["estate_id"].to_numpy(dtype=object)[pair], dtype="str"),
            "stratum": pd.array(u["stratum"].to_numpy(dtype=object)[pair], dtype="str"),
        }
    )
    N_h = np.maximum(N_u, n_h_u)[pair]
    n_h = n_h_u[pair]
    out["N_h"] = N_h
    out["n_h"] = n_h.astype(np.int64)
    out["weight"] = N_h / n_h
    exceeds = n_h_u > N_u
    fpc_known = u["fpc_known"].to_numpy(dtype=bool) & ~exceeds
    out["N_fpc"] = np.where(fpc_known, N_u, np.inf)[pair]
    out["N_record"] = N_u[pair]
    out["fallback"] = u["fallback"].to_numpy(dtype=bool)[pair]
    out["n_exceeds_N"] = exceeds[pair]
    out["nonprobability"] = u["nonprobability"].to_numpy(dtype=bool)[pair]
    out["collapsed"] = u["collapsed"].to_numpy(dtype=bool)[pair]
    return out[[*WEIGHT_COLUMNS, "N_fpc", "N_record", *FLAG_COLUMNS]], s_code[pair]


def _record_sizes(strata: pd.DataFrame | None) -> pd.DataFrame:
    """The sampling record's households per (estate, building): ``estate_id, building,
    N_h`` (summed over duplicate rows; empty without a record). A missing or non-positive
    N_h is a located problem."""
    if strata is None or not len(strata):
        return pd.DataFrame(
            {
                "estate_id": pd.Series(dtype=str),
                "building": pd.Series(dtype=str),
                "N_h": pd.Series(dtype=float),
            }
        )
    _require(strata, ("estate_id", "building", "N_h"), "抽样记录 strata")
    rec = strata[["estate_id", "building", "N_h"]].copy()
    rec["estate_id"] = rec["estate_id"].astype(str)
    rec["building"] = rec["building"].astype(str)
    rec["N_h"] = pd.to_numeric(rec["N_h"], errors="coerce")
    if rec["N_h"].isna().any() or (rec["N_h"] <= 0).any():
        raise WuyeError(
            Problem(
                "抽样记录中有楼栋的户数 N_h 缺失或不为正数",
                "检查抽样记录的 N_h 列",
                column="N_h",
            )
        )
    return rec.groupby(["estate_id", "building"], as_index=False, sort=True)["N_h"].sum()


def _record_strata(resp: pd.DataFrame, rec: pd.DataFrame) -> pd.DataFrame:
    """Collapse record buildings and respondents' buildings into strata (vectorised).

    ``resp`` holds distinct (estate, building) pairs with their respondent count ``m``."""
    rec = rec[rec["estate_id"].isin(resp["estate_id"])].copy()
    counts = resp.groupby(["estate_id", "building"], dropna=True)["m"].sum()
    rec = rec.merge(counts.reset_index(), on=["estate_id", "building"], how="left")
    rec["m"] = rec["m"].fillna(0)
    # respondents with a building unknown to the record → next record building in order
    known = (
        resp.merge(
            rec[["estate_id", "building"]].assign(_k=True), on=["estate_id", "building"], how="left"
        )["_k"]
        .notna()
        .to_numpy()
    )
    target = resp["building"].to_numpy(dtype=object).copy()
    unknown = ~known
    if unknown.any():
        u = resp.loc[unknown, ["estate_id", "building"]]
        nxt = _next_building(u, rec)
        target[unknown] = nxt
        extra = (
            pd.Series(
                resp.loc[unknown, "m"].to_numpy(dtype=float),
                index=pd.MultiIndex.from_arrays([u["estate_id"].to_numpy(), nxt]),
            )
            .groupby(level=[0, 1])
            .sum()
        )
        key = pd.MultiIndex.from_frame(rec[["estate_id", "building"]])
        rec["m"] += extra.reindex(key).fillna(0).to_numpy()
    # record buildings without respondents → next building with respondents (else previous)
    rec = rec.sort_values(["estate_id", "building"], kind="stable").reset_index(drop=True)
    anchor = rec["building"].where(rec["m"] > 0)
    rec["group"] = anchor.groupby(rec["estate_id"]).bfill()
    rec["group"] = rec["group"].fillna(anchor.groupby(rec["estate_id"]).ffill())
    # groups with fewer than MIN_STRATUM_N respondents → collapsed with their neighbours
    first_gid = rec.groupby(["estate_id", "group"], sort=False).ngroup().to_numpy()
    has = first_gid >= 0
    g_first = np.unique(first_gid[has], return_index=True)[1]  # groups in sort order
    g_est = pd.factorize(rec["estate_id"].to_numpy()[has][g_first])[0]
    g_m = np.bincount(first_gid[has], rec["m"].to_numpy(dtype=float)[has])
    merged = collapse_small_strata(g_est, g_m[np.unique(first_gid[has])])
    gid = np.where(has, merged[np.maximum(first_gid, 0)], -1)
    n_parts = np.bincount(merged, minlength=int(merged.max()) + 1 if len(merged) else 0)
    # label = the group's buildings "+"-joined in sort order: one vectorised reduceat, not a
    # Python join per group (tens of thousands of groups in a city)
    order = np.argsort(gid, kind="stable")
    order = order[gid[order] >= 0]
    g_sorted = gid[order]
    starts = (
        np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
        if len(order)
        else np.empty(0, dtype=np.int64)
    )
    pieces = rec["building"].to_numpy(dtype=object)[order]
    head = np.zeros(len(order), dtype=bool)
    head[starts] = True
    pieces = np.where(head, pieces, "+" + pieces)
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    labels = np.full(n_groups, np.nan, dtype=object)
    totals = np.zeros(n_groups)
    if len(order):
        labels[g_sorted[starts]] = np.add.reduceat(pieces, starts)
        totals = np.bincount(g_sorted, rec["N_h"].to_numpy(dtype=float)[order], n_groups)
    ok = gid >= 0
    rec["label"] = np.where(ok, labels[np.maximum(gid, 0)], np.nan)
    rec["N_g"] = np.where(ok, totals[np.maximum(gid, 0)], np.nan)
    rec["collapsed"] = ok & (n_parts[np.maximum(gid, 0)] > 1) if len(n_parts) else False
    lookup = rec.set_index(["estate_id", "building"])[["label", "N_g", "collapsed"]]
    tk = pd.MultiIndex.from_arrays([resp["estate_id"].to_numpy(), target])
    got = lookup.reindex(tk)
    out = resp[["estate_id", "m", "_row"]].copy()
    out["stratum"] = resp["estate_id"].to_numpy() + "|" + got["label"].to_numpy(dtype=object)
    out["N_h"] = got["N_g"].to_numpy(dtype=float)
    out["fallback"] = False
    out["nonprobability"] = False
    out["fpc_known"] = True
    out["collapsed"] = got["collapsed"].fillna(False).to_numpy(dtype=bool)
    return out


def collapse_small_strata(
    estate: np.ndarray, m: np.ndarray, minimum: int = MIN_STRATUM_N
) -> np.ndarray:
    """Collapsed-stratum ids (0, 1, … in order) of strata listed by estate, then in sort
    order, with ``m`` respondents each: walking each estate's strata in order, a group is
    closed once it holds ``minimum`` respondents; a last group still short joins the group
    before it (module docstring). Vectorised across estates: one step per position, so
    the loop runs as often as the largest estate has strata."""
    n = len(m)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    estate = np.asarray(estate, dtype=np.int64)
    n_est = int(estate.max()) + 1
    starts = np.flatnonzero(np.r_[True, estate[1:] != estate[:-1]])
    pos = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    group = np.empty(n, dtype=np.int64)
    held = np.zeros(n_est)  # respondents of the estate's open group (0: none open)
    current = np.full(n_est, -1, dtype=np.int64)
    closed = np.full(n_est, -1, dtype=np.int64)  # the estate's last closed group
    next_id = 0
    for k in range(int(pos.max()) + 1):
        rows = np.flatnonzero(pos == k)
        e = estate[rows]
        opening = held[e] == 0
        current[e[opening]] = next_id + np.arange(int(opening.sum()))
        next_id += int(opening.sum())
        group[rows] = current[e]
        held[e] += m[rows]
        full = held[e] >= minimum
        closed[e[full]] = current[e[full]]
        held[e[full]] = 0
    short = np.flatnonzero((held > 0) & (closed >= 0))  # a last group still short
    remap = np.arange(next_id)
    remap[current[short]] = closed[short]
    return pd.factorize(remap[group])[0].astype(np.int64)


def _next_building(u: pd.DataFrame, rec: pd.DataFrame) -> np.ndarray:
    """For each (estate, building label) the next record building in sort order."""
    result = np.empty(len(u), dtype=object)
    lists = rec.sort_values("building").groupby("estate_id")["building"].agg(list)
    for estate, idx in u.groupby("estate_id").indices.items():  # per estate with unknowns
        blds = np.asarray(lists[estate], dtype=object)
        labels = u["building"].to_numpy(dtype=object)[idx]
        pos = np.array(
            [
                len(blds) if not isinstance(lab, str) else int(np.searchsorted(blds, lab))
                for lab in labels
            ]
        )
        result[idx] = blds[np.minimum(pos, len(blds) - 1)]
    return result


def _register_strata(
    resp: pd.DataFrame, register: pd.DataFrame | None, design: str | None
) -> pd.DataFrame:
    """One stratum per estate not in the record: N = 台账 户数 (else its respondents); the
    FPC only when ``design`` names the external design and the 台账 gives 户数."""
    out = resp[["estate_id", "m", "_row"]].copy()
    out["stratum"] = out["estate_id"] + "|*"
    households = None
    if register is not None and "households" in register.columns:
        households = register.assign(estate_id=register["estate_id"].astype(str)).set_index(
            "estate_id"
        )["households"]
        households = households[~households.index.duplicated()]
    if households is not None:
        out["N_h"] = out["estate_id"].map(households).astype(float)
    else:
        out["N_h"] = np.nan
    known = out["N_h"].notna() & out["N_h"].gt(0)
    m = out.groupby("estate_id")["m"].transform("sum").astype(float)
    out["N_h"] = out["N_h"].where(known, m)
    out["fallback"] = True
    out["nonprobability"] = design is None
    out["fpc_known"] = known.to_numpy() & (design is not None)
    out["collapsed"] = False
    return out
