"""Questionnaire TOML loading: the default questionnaire, overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.questionnaire import load_questionnaire
from wuye_common.errors import WuyeError

GOOD = """
[questionnaire]
id = "t"
title = "测试问卷"
[scales.three]
options = ["满意", "一般", "不满意"]
points = [100, 50, 0]
satisfied = ["满意"]
missing = ["不清楚"]
[scales.four]
options = ["非常满意", "满意", "不满意", "非常不满意"]
satisfied = ["非常满意", "满意"]
[identification]
estate = { number = 1, text = "小区名称" }
[[items]]
id = "A"
number = 2
text = "保洁"
dimension = "环境卫生"
scale = "three"
[[items]]
id = "B"
number = 3
text = "总体"
dimension = "总体评价"
scale = "four"
overall = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "q.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_questionnaire_items_and_scales() -> None:
    q = load_questionnaire()
    assert list(q.items.columns[:6]) == [
        "item_id",
        "number",
        "text",
        "dimension",
        "scale",
        "is_overall",
    ]
    assert len(q.items) == 13 and q.overall_item == "S13"
    assert q.items["number"].tolist() == list(range(4, 17))
    assert q.dimensions[-1] == "总体评价" and "停车管理" in q.dimensions
    five = q.scale_options("five")
    assert five["label"].tolist()[:5] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert five["code"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert five.loc[five["missing"], "label"].tolist() == ["不清楚", "不适用", "跳过"]
    assert five.loc[five["missing"], "points"].isna().all()
    assert q.satisfied_labels() == ["非常满意", "满意"]
    assert q.identification["estate"].number == 1 and q.identification["phone"].number == 17
    assert q.items.set_index("item_id").loc["S13", "required"]


def test_satisfied_override_includes_basic() -> None:
    q = load_questionnaire("default", satisfied=["非常满意", "满意", "基本满意"])
    assert q.satisfied_labels("five") == ["非常满意", "满意", "基本满意"]
    assert q.satisfied_labels("three") == ["满意"]  # labels absent from a scale are ignored
    with pytest.raises(WuyeError, match="比较满意"):
        load_questionnaire("default", satisfied=["比较满意"])


def test_three_and_four_point_scales_with_default_points(tmp_path: Path) -> None:
    q = load_questionnaire(write(tmp_path, GOOD))
    four = q.scale_options("four")
    assert four["points"].round(1).tolist() == [100.0, 66.7, 33.3, 0.0]
    assert q.scale_options("three")["label"].tolist() == ["满意", "一般", "不满意", "不清楚"]
    assert q.overall_item == "B"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[scales.three]", "[scales.three\n"), "格式错误"),
        (('satisfied = ["满意"]', 'satisfied = ["很满意"]'), "不在 options"),
        (("points = [100, 50, 0]", "points = [100, 50]"), "points"),
        (('scale = "three"', 'scale = "seven"'), "量表 'seven' 未定义"),
        (('id = "B"', 'id = "A"'), "id 重复"),
        (("number = 3", "number = 2"), "题号重复"),
        (("overall = true", "overall = false"), "总体评价题"),
        (('missing = ["不清楚"]', 'missing = ["一般"]'), "同时出现"),
        (("number = 2\n", "number = 0\n"), "的整数"),
        (('dimension = "环境卫生"', 'dimension = ""'), "维度"),
    ],
)
def test_bad_toml_gives_clear_errors(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(WuyeError, match=message) as info:
        load_questionnaire(write(tmp_path, GOOD.replace(old, new, 1)))
    assert all(p.file == "q.toml" for p in info.value.problems)


def test_missing_file_and_no_items(tmp_path: Path) -> None:
    with pytest.raises(WuyeError, match="找不到问卷定义"):
        load_questionnaire(tmp_path / "nope.toml")
    with pytest.raises(WuyeError, match="没有评价题"):
        load_questionnaire(write(tmp_path, GOOD.split("[[items]]")[0]))
