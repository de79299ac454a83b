"""Round model: round.toml and the 台账 are validated with located, fixable problems."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluation.questionnaire import Questionnaire, load_questionnaire
from evaluation.ranking.rules import Rules, parse_rules
from evaluation.round import (
    DEFAULT_THRESHOLDS,
    load_round,
    period_label,
    previous_period,
)
from wuye_common.errors import WuyeError

REGISTER = """小区编号,小区名称,所属社区,物业企业,服务等级,户数
E1,葛店花园,葛店社区,华宇物业,一级,560
E2,融创城,宏伟社区,华宇物业,二级,1200
E3,还建一区,还建一社区,安居物业,还建社区,300
"""

TOML = """
[round]
district = "葛店经开区"
period = "{period}"
seed = 7

[inputs]
register = "台账.csv"
"""


def make_round(
    tmp_path: Path, *, period: str = "2025H1", register: str = REGISTER, toml: str | None = None
) -> Path:
    folder = tmp_path / "r"
    folder.mkdir(exist_ok=True)
    (folder / "round.toml").write_text(toml or TOML.format(period=period), encoding="utf-8")
    (folder / "台账.csv").write_text(register, encoding="utf-8")
    return folder


def test_half_year_round_loads_all_estates_with_thresholds(tmp_path: Path) -> None:
    rnd = load_round(make_round(tmp_path))
    assert rnd.kind == "H" and rnd.year == 2025 and rnd.round_id == "2025H1"
    assert rnd.thresholds == DEFAULT_THRESHOLDS
    assert list(rnd.register["estate_id"]) == ["E1", "E2", "E3"]
    assert list(rnd.register["threshold"]) == [0.90, 0.80, 0.50]
    assert rnd.register["households"].dtype == "int64"
    assert rnd.output_dir == (tmp_path / "reports" / "2025H1").resolve()
    assert rnd.database == (tmp_path / "wuye.sqlite").resolve()
    assert rnd.label == "葛店经开区 2025年上半年"


def test_sampling_design_names_the_external_design(tmp_path: Path) -> None:
    """``[sampling] design``: none by default (answers without a sampling record are then a
    non-probability sample); "srs" or "systematic" when an external design drew them."""
    assert load_round(make_round(tmp_path)).sampling.design is None
    toml = TOML.format(period="2025H1") + '\n[sampling]\ndesign = "srs"\n'
    assert load_round(make_round(tmp_path, toml=toml)).sampling.design == "srs"


def test_quarterly_round_covers_only_resettlement_estates(tmp_path: Path) -> None:
    rnd = load_round(make_round(tmp_path, period="2025Q3"))
    assert list(rnd.register["estate_id"]) == ["E3"]
    assert rnd.kind == "Q"
    assert rnd.all_estate_ids == ("E1", "E2", "E3")  # the full 台账, for sampling's frame check


def test_round_carries_its_questionnaire_and_rules(tmp_path: Path) -> None:
    """Loaded once: the questionnaire and the parsed [rules] travel with the round, and
    loading or parsing them again gives back the same objects."""
    toml = TOML.format(period="2025H1") + "[rules]\nescalation_count = 3\n"
    rnd = load_round(make_round(tmp_path, toml=toml))
    assert isinstance(rnd.questionnaire, Questionnaire) and rnd.questionnaire_path == "default"
    assert rnd.questionnaire.items.equals(load_questionnaire("default").items)
    assert load_questionnaire(rnd.questionnaire) is rnd.questionnaire
    assert isinstance(rnd.rules, Rules) and rnd.rules.escalation_count == 3
    assert parse_rules(rnd.rules) is rnd.rules
    assert load_round(make_round(tmp_path)).rules == Rules()


@pytest.mark.parametrize(
    ("section", "column"),
    [
        ("[rules]\nescalation_cont = 3\n", "rules.escalation_cont"),
        ("[rules.weights]\nindex = -1\n", "rules.weights.index"),
        ('[report]\nnotebooks = "no"\n', "report.notebooks"),
        ('[report]\nnotebook_estates = "E1"\n', "report.notebook_estates"),
        ("[report]\nfont = 5\n", "report.font"),
        ("[report]\nnotebook = false\n", "report.notebook"),
        ('[questionnaire]\npath = "nope.toml"\n', None),
    ],
)
def test_bad_rules_report_or_questionnaire_fail_at_load(
    tmp_path: Path, section: str, column: str | None
) -> None:
    """A bad [rules], [report] or questionnaire is reported by load_round together with
    the other problems of round.toml, not after ingest and scoring have run."""
    toml = TOML.format(period="2025H1").replace("seed = 7", "seed = 7\nconfidence = 2") + section
    with pytest.raises(WuyeError) as info:
        load_round(make_round(tmp_path, toml=toml))
    problems = info.value.problems
    assert "round.confidence" in {p.column for p in problems}  # reported together
    if column is None:
        assert any("nope.toml" in str(p.file) for p in problems)
    else:
        assert column in {p.column for p in problems}
    assert all(p.file for p in problems)


def test_a_questionnaire_that_is_a_folder_is_located(tmp_path: Path) -> None:
    folder = make_round(tmp_path)
    (folder / "q").mkdir()
    toml = TOML.format(period="2025H1") + '[questionnaire]\npath = "q"\n'
    with pytest.raises(WuyeError, match="问卷定义"):
        load_round(make_round(tmp_path, toml=toml))


def test_register_excel_with_chinese_headers(tmp_path: Path) -> None:
    folder = make_round(tmp_path)
    frame = pd.read_csv(folder / "台账.csv", dtype=str)
    frame.to_excel(folder / "台账.xlsx", index=False)
    toml = TOML.format(period="2025H2").replace("台账.csv", "台账.xlsx")
    (folder / "round.toml").write_text(toml, encoding="utf-8")
    assert len(load_round(folder).register) == 3


def test_every_register_problem_is_located(tmp_path: Path) -> None:
    bad = REGISTER.replace("一级,560", "五级,560").replace("二级,1200", "二级,-5")
    bad += "E1,重复小区,葛店社区,华宇物业,三级,100\n"
    with pytest.raises(WuyeError) as info:
        load_round(make_round(tmp_path, register=bad))
    problems = info.value.problems
    by_column = {(p.row, p.column) for p in problems}
    assert (2, "服务等级") in by_column
    assert (3, "户数") in by_column
    assert (5, "小区编号") in by_column
    assert all(p.file == "台账.csv" and p.fix for p in problems)


def test_missing_column_is_named(tmp_path: Path) -> None:
    register = "小区编号,小区名称,所属社区,服务等级,户数\nE1,A,B,一级,10\n"
    with pytest.raises(WuyeError, match="物业企业"):
        load_round(make_round(tmp_path, register=register))


@pytest.mark.parametrize(
    ("toml", "column"),
    [
        (
            '[round]\ndistrict = "X"\nperiod = "2025H3"\n[inputs]\nregister = "台账.csv"\n',
            "round.period",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\nconfidence = 1.5\n'
            '[inputs]\nregister = "台账.csv"\n',
            "round.confidence",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\n[thresholds]\n"五级" = 0.5\n'
            '[inputs]\nregister = "台账.csv"\n',
            "thresholds.五级",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\n[sampling]\nmargin = "big"\n'
            '[inputs]\nregister = "台账.csv"\n',
            "sampling.margin",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\n[sampling]\nmargn = 0.1\n'
            '[inputs]\nregister = "台账.csv"\n',
            "sampling.margn",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\n[sampling]\ndesign = "quota"\n'
            '[inputs]\nregister = "台账.csv"\n',
            "sampling.design",
        ),
        (
            '[round]\ndistrict = "X"\nperiod = "2025H1"\nid = "../x"\n'
            '[inputs]\nregister = "台账.csv"\n',
            "round.id",
        ),
    ],
)
def test_bad_round_toml_names_the_field(tmp_path: Path, toml: str, column: str) -> None:
    with pytest.raises(WuyeError) as info:
        load_round(make_round(tmp_path, toml=toml))
    assert column in {p.column for p in info.value.problems}


def test_unparsable_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WuyeError, match="TOML"):
        load_round(make_round(tmp_path, toml="[round\nperiod = 2025"))
    with pytest.raises(WuyeError, match=r"round\.toml"):
        load_round(tmp_path / "nowhere")


def test_gbk_register_is_read(tmp_path: Path) -> None:
    folder = make_round(tmp_path)
    (folder / "台账.csv").write_bytes(REGISTER.encode("gbk"))
    assert load_round(folder).register.loc[0, "estate_name"] == "葛店花园"


def test_period_helpers() -> None:
    assert previous_period("2025H1") == "2024H2"
    assert previous_period("2025H2") == "2025H1"
    assert previous_period("2025Q1") == "2024Q4"
    assert period_label("2025Q3") == "2025年第三季度"
    assert period_label("2025H2") == "2025年下半年"


@pytest.mark.parametrize(
    ("section", "column"),
    [
        ('[sampling]\nsizing = "both"\n', "sampling.sizing"),
        ("[sampling]\ndelta = 0.6\n", "sampling.delta"),  # not below the lowest threshold
        ("[sampling]\npower = 0.01\n", "sampling.power"),
        ("[sampling]\npower = 1\n", "sampling.power"),
        ("[sampling]\nbudget = 0\n", "sampling.budget"),
        ("[sampling]\nbudget = 2000.5\n", "sampling.budget"),
        ("[sampling]\nwaves = 3\n", "sampling.waves"),
        ("[sampling]\nfirst_share = 1.2\n", "sampling.first_share"),
        ("[sampling]\ntopup_share = 0\n", "sampling.topup_share"),
        ('[sampling]\nwaves = 2\nmethod = "srs"\n', "sampling.waves"),
        ('[sampling]\nmethod = "cluster"\n', "sampling.method"),
        ('[scoring]\nsmall_area = "yes"\n', "scoring.small_area"),
        ("[scoring]\nsmallarea = true\n", "scoring.smallarea"),
        ('[round]\ninterval_method = "exakt"\n', "round.interval_method"),
    ],
)
def test_power_sampling_and_scoring_keys_are_validated(
    tmp_path: Path, section: str, column: str
) -> None:
    toml = TOML.format(period="2025H1")
    if section.startswith("[round]"):
        toml = toml.replace("seed = 7", "seed = 7\n" + section.split("\n", 1)[1])
    else:
        toml += section
    with pytest.raises(WuyeError) as info:
        load_round(make_round(tmp_path, toml=toml))
    assert column in {p.column for p in info.value.problems}


def test_power_defaults_and_keys_load(tmp_path: Path) -> None:
    rnd = load_round(make_round(tmp_path))
    s = rnd.sampling
    assert (s.sizing, s.delta, s.power, s.budget, s.waves, s.method) == (
        "power",
        0.05,
        0.8,
        None,
        1,
        "simple",
    )
    assert rnd.interval_method == "exact" and rnd.scoring == {}
    toml = TOML.format(period="2025H1") + (
        "[sampling]\nbudget = 5000\nwaves = 2\ndelta = 0.08\n[scoring]\nsmall_area = true\n"
    )
    rnd = load_round(make_round(tmp_path, toml=toml))
    assert (rnd.sampling.budget, rnd.sampling.waves, rnd.sampling.delta) == (5000, 2, 0.08)
    assert rnd.scoring == {"small_area": True}
