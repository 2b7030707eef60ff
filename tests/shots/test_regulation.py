import pytest

from modiste.shots.regulation import OTHER, SHOT_TYPES, Regulation, RegulationError, Rules

FULL = """\
name: shop-a
order:
  - near_front
  - [near_back, near_side]
  - other
  - brand_tag
  - wash_tag
tie_break: confidence
limits:
  near_zoom: 2
overflow: drop
categories:
  bottoms:
    order: [hem, far_front, "*"]
    limits: {}
  tops:
    tie_break: original
"""


def write(tmp_path, text, name="reg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_file_ranks_groups_other_and_settings(tmp_path):
    reg = Regulation.load(write(tmp_path, FULL))
    assert reg.name == "shop-a"
    assert reg.rank("near_front") == 0
    assert reg.rank("near_back") == reg.rank("near_side") == 1
    assert reg.rank("collar") == reg.rank("far_back") == 2  # not listed: the place of "other"
    assert reg.rank("brand_tag") == 3 and reg.rank("wash_tag") == 4
    rules = reg.rules()
    assert rules.limits == {"near_zoom": 2}
    assert (rules.tie_break, rules.overflow) == ("confidence", "drop")


def test_categories_replace_set_keys_and_inherit_the_rest(tmp_path):
    reg = Regulation.load(write(tmp_path, FULL))
    bottoms, tops = reg.rules("bottoms"), reg.rules("tops")
    assert reg.rank("hem", "bottoms") == 0 and reg.rank("far_front", "bottoms") == 1
    assert reg.rank("near_front", "bottoms") == 2  # "*" is "other"
    assert bottoms.limits == {} and bottoms.tie_break == "confidence" and bottoms.overflow == "drop"
    assert tops.order == reg.default.order and tops.tie_break == "original" and tops.limits == {"near_zoom": 2}
    assert reg.rules("shoes") is reg.default and reg.rules(None) is reg.default
    assert reg.rank("hem", "shoes") == reg.rank("hem")


def test_without_other_unlisted_types_go_last():
    reg = Regulation.from_dict({"order": ["back", ["hem", "collar"]]})
    assert [reg.rank(t) for t in ("back", "hem", "collar", "print")] == [0, 1, 1, 2]
    assert reg.default.tie_break == "original" and reg.default.overflow == "end" and reg.default.limits == {}


def test_round_trip_and_repr(tmp_path):
    reg = Regulation.load(write(tmp_path, FULL))
    again = Regulation.from_dict(reg.to_dict())
    assert again == reg
    assert again.to_dict()["order"] == ["near_front", ["near_back", "near_side"], OTHER, "brand_tag", "wash_tag"]
    assert "shop-a" in repr(reg) and "bottoms" in repr(reg)
    assert Regulation.from_dict({"order": ["back"]}) != reg


def test_name_defaults_to_file_stem(tmp_path):
    assert Regulation.load(write(tmp_path, "order: [back]\n", name="shop-b.yaml")).name == "shop-b"


def test_known_types_can_be_replaced_or_switched_off(tmp_path):
    path = write(tmp_path, "order: [front_view, other]\n")
    with pytest.raises(RegulationError):
        Regulation.load(path)
    assert Regulation.load(path, known_types=["front_view"]).rank("front_view") == 0
    assert Regulation.load(path, known_types=None).rank("anything") == 1


def test_rules_rank_directly():
    rules = Rules(order=(("back",), (OTHER,), ("hem",)))
    assert [rules.rank(t) for t in ("back", "collar", "hem")] == [0, 1, 2]


BAD = [
    # (text, line, column, words in the message)
    ("order:\n  - near_front\n  - back\n  - near_fornt\n", 4, 5, ["unknown shot type 'near_fornt'", "near_front"]),
    ("order:\n  - back\n  - [hem, collar]\n  - sleeve\n  - collar\n", 5, 5, ["'collar' is listed twice", "line 3"]),
    ("order: [back, [hem, back]]\n", 1, 21, ["'back' is listed twice"]),
    ("order:\n  - back\n  - other\n  - \"*\"\n", 4, 5, ["listed twice"]),
    ("order: [back]\nlimits:\n  hem: 2\n  near_zoom: -1\n", 4, 14, ["limits.near_zoom", "-1"]),
    ("order: [back]\nlimits:\n  near_zoom: two\n", 3, 14, ["whole number"]),
    ("order: [back]\nlimits:\n  near_zoom: 1.5\n", 3, 14, ["whole number"]),
    ("order: [back]\nlimits:\n  near_zoom: true\n", 3, 14, ["whole number"]),
    ("order: [back]\nlimits:\n  near_zom: 2\n", 3, 3, ["unknown shot type 'near_zom'"]),
    ("order: [back]\ntie_break: original\nlimit:\n  near_zoom: 2\n", 3, 1, ["unknown key 'limit'", "limits"]),
    ("order: [back]\ncategories:\n  tops:\n    order: [back]\n    overflw: drop\n", 5, 5, ["unknown key 'overflw'"]),
    ("order: [back]\ncategories:\n  tops:\n    order:\n      - collar\n      - bak\n", 6, 9,
     ["categories.tops.order[1]", "'bak'"]),
    ("order: [back]\ntie_break: random\n", 2, 12, ["tie_break", "confidence"]),
    ("order: [back]\noverflow: hide\n", 2, 11, ["overflow", "drop"]),
    ("name: a\norder: near_front\n", 2, 8, ["non-empty list"]),
    ("order:\n  - back\n  - 3\n", 3, 5, ["expected a shot type"]),
    ("order:\n  - back\n  - []\n", 3, 5, ["empty group"]),
    ("order: [back]\ncategories:\n  tops: [back]\n", 3, 9, ["expected a mapping"]),
    ("order: [back]\nlimits: [2]\n", 2, 9, ["mapping"]),
    ("order: [back]\norder: [hem]\n", 2, 1, ["appears twice"]),
    ("order: [back\n", 2, 1, ["not valid YAML"]),
    ("name: a\n", 1, 1, ["missing the 'order' list"]),
    ("- back\n", 1, 1, ["expected a mapping"]),
]


@pytest.mark.parametrize("text,line,column,words", BAD)
def test_bad_files_name_file_line_and_column(tmp_path, text, line, column, words):
    path = write(tmp_path, text)
    with pytest.raises(RegulationError) as info:
        Regulation.load(path)
    e = info.value
    assert (e.file, e.line, e.column) == (str(path), line, column)
    assert str(e).startswith(f"{path}:{line}:{column}: ")
    for w in words:
        assert w in str(e)


def test_empty_file(tmp_path):
    path = write(tmp_path, "# nothing yet\n")
    with pytest.raises(RegulationError, match="empty") as info:
        Regulation.load(path)
    assert info.value.file == str(path) and str(path) in str(info.value)


def test_error_is_a_value_error_and_from_dict_names_the_key_path():
    with pytest.raises(ValueError, match=r"^order\[1\]\[0\]: unknown shot type 'hemm'"):
        Regulation.from_dict({"order": ["back", ["hemm"]]})
    with pytest.raises(RegulationError, match=r"categories\.tops\.limits\.near_zoom"):
        Regulation.from_dict({"order": ["back"], "categories": {"tops": {"limits": {"near_zoom": -2}}}})


def test_every_shot_type_is_accepted():
    reg = Regulation.from_dict({"order": list(SHOT_TYPES)})
    assert [reg.rank(t) for t in SHOT_TYPES] == list(range(17))
