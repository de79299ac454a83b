"""Estate-name matching, building/room normalisation and sample linking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.ingest.linking import (
    building_key,
    chinese_number,
    estate_core,
    estate_key,
    link_sample,
    match_estates,
    room_parts,
)

REGISTER = pd.DataFrame(
    {
        "estate_id": ["E001", "E002", "E003", "E004", "E005", "E006"],
        "estate_name": [
            "锦绣花园",
            "阳光家园",
            "阳光花园",
            "滨湖一期小区",
            "融创城",
            "葛店经开区东湖春晓二期",
        ],
    }
)


def match(*names: str | None, **kw: float) -> pd.DataFrame:
    return match_estates(pd.Series(list(names), dtype="string"), REGISTER, **kw)


def test_normalisation() -> None:
    keys = estate_key(pd.Series(["  锦绣 花园 ", "ＡＢＣ１２３", "滨湖·一期", "", None]))
    assert keys.tolist()[:3] == ["锦绣花园", "abc123", "滨湖1期"]
    assert keys.isna().tolist()[3:] == [True, True]
    core = estate_core(pd.Series(["锦绣花园小区", "桂花园", "阳光家园", "碧桂园"], dtype="string"))
    assert core.tolist() == ["锦绣", "桂花园", "阳光", "碧桂园"]


def test_exact_id_and_normalised_matches() -> None:
    out = match("锦绣花园", "锦绣 花园小区", "ｅ００１", "滨湖一期", "滨湖1期", "融创城 ")
    assert out["estate_id"].tolist() == ["E001", "E001", "E001", "E004", "E004", "E005"]
    assert out["match"].tolist() == ["exact", "exact", "id", "exact", "exact", "exact"]


def test_prefix_rule_accepts_unique_short_forms_only() -> None:
    out = match("融创", "葛店经开区东湖春晓", "阳光")
    assert out["estate_id"].tolist()[:2] == ["E005", "E006"]
    assert out["match"].tolist() == ["prefix", "prefix", "ambiguous"]  # 阳光: 家园 or 花园
    register = pd.DataFrame({"estate_id": ["A", "B"], "estate_name": ["葛店花园", "葛店还建小区"]})
    out = match_estates(pd.Series(["葛店", "葛店花园小区", "葛店还建"]), register)
    # 葛店 is 葛店花园's core name but also begins 葛店还建小区: not guessed
    assert out["match"].tolist() == ["ambiguous", "exact", "exact"]
    assert out["estate_id"].tolist()[1:] == ["A", "B"]


def test_suffix_collision_is_ambiguous_with_suggestions() -> None:
    out = match("阳光小区")
    assert out["match"].iat[0] == "ambiguous" and pd.isna(out["estate_id"].iat[0])
    assert "阳光家园（E002" in out["suggestions"].iat[0]
    assert "阳光花园（E003" in out["suggestions"].iat[0]


def test_typos_are_quarantined_not_guessed() -> None:
    out = match("锦秀花园", "完全无关的名字", None)
    assert out["match"].tolist() == ["unknown", "unknown", "missing"]
    assert out["estate_id"].isna().all()
    assert out["suggestions"].iat[0].startswith("锦绣花园（E001，75分）")
    assert out["suggestions"].iat[1] == ""


def test_fuzzy_cutoff_and_margin() -> None:
    long = "葛店经开区东胡春晓二期"  # one character wrong in eleven: ratio ≈ 91
    assert match(long)["match"].iat[0] == "fuzzy"
    assert match(long)["estate_id"].iat[0] == "E006"
    assert match(long, cutoff=95)["match"].iat[0] == "unknown"
    register = pd.DataFrame(
        {
            "estate_id": ["A", "B"],
            "estate_name": ["葛店经开区东湖春晓一期", "葛店经开区东湖春晓二期"],
        }
    )
    out = match_estates(pd.Series(["葛店经开区东湖春晓三期"]), register, cutoff=85)
    assert out["match"].iat[0] == "ambiguous"  # both ≈ 91: not clearly ahead


def test_buildings_and_rooms() -> None:
    assert chinese_number("十二") == "12" and chinese_number("二十") == "20"
    assert chinese_number("九十九") == "99" and chinese_number("花") == "花"
    b = building_key(
        pd.Series(["3栋", "3号楼", "３", "三栋", "03", "第十二栋", "A座", " 5 幢", None])
    )
    assert b.tolist()[:-1] == ["3", "3", "3", "3", "3", "12", "a", "5"]
    assert pd.isna(b.iat[-1])
    r = room_parts(pd.Series(["1-302", "1单元302", "302室", "3栋2单元0302", "３０２", None, "无"]))
    assert r["room_key"].tolist()[:5] == ["302"] * 5
    assert r["unit_key"].fillna("-").tolist()[:5] == ["1", "1", "-", "2", "-"]
    assert r["room_key"].isna().tolist()[5:] == [True, True]


def test_link_sample_uses_unit_when_needed() -> None:
    sample = pd.DataFrame(
        {
            "estate_id": ["E1"] * 4,
            "building": ["3栋", "3栋", "3栋", "4栋"],
            "unit": ["1", "2", "1", "1"],
            "room": ["302", "302", "401", "302"],
            "household_id": ["E1|3栋|1|302", "E1|3栋|2|302", "E1|3栋|1|401", "E1|4栋|1|302"],
            "role": ["main", "reserve", "main", "main"],
        }
    )
    responses = pd.DataFrame(
        {
            "estate_id": ["E1"] * 7,
            "building_key": ["3", "3", "3", "3", "3", "9", "3"],
            "room_key": ["302", "302", "401", "302", None, "302", "401"],
            "unit_key": ["2", None, None, "7", None, "1", "2"],
        }
    )
    out = link_sample(responses, sample)
    assert out["household_id"].fillna("-").tolist() == [
        "E1|3栋|2|302",
        "-",
        "E1|3栋|1|401",
        "-",
        "-",
        "-",
        "-",
    ]
    # a given unit must match: 2-401 is not the sampled 1-401
    assert out["link"].tolist() == [
        "linked",
        "ambiguous",
        "linked",
        "not_found",
        "no_room",
        "not_found",
        "not_found",
    ]
    assert out["role"].iat[0] == "reserve"
    # the linked household's position in the sample, −1 where none is linked
    assert out["sample_row"].tolist() == [1, -1, 2, -1, -1, -1, -1]


def test_top_columns_equal_a_stable_argsort_with_many_ties() -> None:
    from evaluation.ingest.linking import top_columns

    rng = np.random.default_rng(1)
    for _ in range(300):
        n, m = int(rng.integers(0, 30)), int(rng.integers(1, 12))
        scores = rng.integers(0, 4, size=(n, m)).astype(np.float32) * 25
        for k in (1, 2, 3, 5):
            want = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, m)]
            assert np.array_equal(top_columns(scores, k), want)
