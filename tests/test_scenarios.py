"""Scenario files: extends, the shipped files, `show` round trips and errors that name file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pipeline_sim import Scenario, ScenarioError, load_scenario
from pipeline_sim.scenario import dumps_toml, scenario_to_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

PARENT = """
name = "parent"
description = "the base"

[simulation]
years = 7
seed = 3

[hierarchy]
preset = "teaching"
key_ranks = ["head", "deputy"]

[planning]
mode = "open"
max_candidates = 4
selection = "seniority"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_overrides_only_what_differs(tmp_path):
    write(tmp_path, "parent.toml", PARENT)
    child = write(
        tmp_path,
        "child.toml",
        'extends = "parent.toml"\nname = "child"\n\n[planning]\nmax_candidates = 2\n\n'
        '[hierarchy]\nkey_ranks = ["head"]\n',
    )
    parent = load_scenario(tmp_path / "parent.toml")
    scen = load_scenario(child)
    assert scen.name == "child"
    assert scen.planning.max_candidates == 2  # overridden
    assert scen.planning.mode == "open"  # same table, not given: inherited
    assert scen.planning.selection == "seniority"
    assert scen.simulation.years == 7 and scen.simulation.seed == 3  # other tables inherited
    assert scen.description == "the base"
    assert scen.hierarchy.key_ranks == ["head"]  # lists replace, they do not merge
    assert scen.hierarchy.units == parent.hierarchy.units
    # nothing else differs from the parent
    differs = {k for k, v in scenario_to_dict(scen).items() if v != scenario_to_dict(parent)[k]}
    assert differs == {"name", "planning", "hierarchy"}


def test_extends_resolves_the_parent_relative_to_the_child(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "policies").mkdir()
    write(tmp_path / "base", "parent.toml", PARENT)
    text = 'extends = "../base/parent.toml"\nname = "closed"\n[planning]\nmode = "closed"\n'
    child = write(tmp_path / "policies", "closed.toml", text)
    monkeypatch.chdir(tmp_path)
    scen = load_scenario("policies/closed.toml")
    assert scen.planning.mode == "closed"
    assert scen.simulation.years == 7
    assert load_scenario(child) == scen


def test_extends_chains_over_several_files(tmp_path):
    write(tmp_path, "parent.toml", PARENT)
    write(tmp_path, "middle.toml", 'extends = "parent.toml"\n[simulation]\nyears = 9\n')
    leaf = write(tmp_path, "leaf.toml", 'extends = "middle.toml"\nname = "leaf"\n[simulation]\nseed = 8\n')
    scen = load_scenario(leaf)
    assert (scen.simulation.years, scen.simulation.seed, scen.planning.mode) == (9, 8, "open")


def test_scenario_without_a_name_is_named_after_its_file(tmp_path):
    path = write(tmp_path, "my_policy.toml", '[hierarchy]\npreset = "teaching"\n')
    assert load_scenario(path).name == "my_policy"


def test_child_without_a_name_is_named_after_its_own_file(tmp_path):
    write(tmp_path, "parent.toml", PARENT)
    child = write(tmp_path, "open_review.toml", 'extends = "parent.toml"\n[planning]\nreview = "rigid"\n')
    assert load_scenario(child).name == "open_review"


def test_overrides_are_applied_after_the_file(tmp_path):
    path = write(tmp_path, "parent.toml", PARENT)
    scen = load_scenario(path, overrides={"planning.mode": "closed", "simulation.years": 2})
    assert scen.planning.mode == "closed" and scen.simulation.years == 2
    assert scen.planning.max_candidates == 4


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_validate(path):
    scen = load_scenario(path)
    assert isinstance(scen, Scenario)
    assert scen.name == tomllib.loads(path.read_text(encoding="utf-8")).get("name", path.stem)


def test_there_are_shipped_scenarios():
    assert (SCENARIOS / "baseline.toml").is_file()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_show_output_loads_back_to_the_same_scenario(path):
    scen = load_scenario(path)
    text = dumps_toml(scenario_to_dict(scen))
    assert load_scenario(tomllib.loads(text)) == scen


def test_show_output_of_a_custom_hierarchy_loads_back(tmp_path):
    scen = load_scenario(
        {
            "name": "odd-names",
            "description": 'quotes " and \\ backslash\nand a new line',
            "hierarchy": {
                "preset": "custom",
                "levels": ["top level", "low-level", "3rd"],
                "sectors": ["party", "mass orgs"],
                "units": {"top level": 1, "low-level": 2, "3rd": 5},
                "staff": {"3rd": 4},
                "posts": {
                    "top level": {"party": {"head": 1}, "mass orgs": {"head": 1, "member": 2}},
                    "3rd": {"party": {"head": 1, "deputy": 1}},
                },
            },
        }
    )
    text = dumps_toml(scenario_to_dict(scen))
    path = write(tmp_path, "resolved.toml", text)
    assert load_scenario(path) == scen


def test_show_output_with_vietnamese_level_names_loads_back():
    scen = load_scenario(
        {
            "hierarchy": {
                "preset": "custom",
                "levels": ["tỉnh", "xã"],
                "sectors": ["đảng"],
                "units": {"tỉnh": 1, "xã": 2},
                "staff": {"xã": 3},
                "posts": {"tỉnh": {"đảng": {"head": 1}}, "xã": {"đảng": {"head": 1}}},
            }
        }
    )
    assert load_scenario(tomllib.loads(dumps_toml(scenario_to_dict(scen)))) == scen


# ---------------------------------------------------------------------------------------------
# errors

BASE = 'name = "base"\n[hierarchy]\npreset = "teaching"\n'

BAD_FILES = {
    # kind: (file text, key path the message must name)
    "unknown key": ('extends = "base.toml"\n[planning]\nmax_candidate = 3\n', "planning.max_candidate"),
    "wrong type": (
        'extends = "base.toml"\n[planning]\nmax_candidates = "three"\n',
        "planning.max_candidates",
    ),
    "negative count": ('extends = "base.toml"\n[hierarchy.units]\ncommune = -1\n', "hierarchy.units.commune"),
    "share above 1": (
        'extends = "base.toml"\n[recruitment]\nfemale_share = 1.5\n',
        "recruitment.female_share",
    ),
    "bad choice": ('extends = "base.toml"\n[planning]\nmode = "sideways"\n', "planning.mode"),
    "missing extends target": ('extends = "nowhere.toml"\n', "extends"),
    "malformed TOML": ('extends = "base.toml"\n[planning\nmode = "open"\n', "line 2"),
}


@pytest.fixture
def bad_file(tmp_path):
    write(tmp_path, "base.toml", BASE)

    def make(kind: str) -> tuple[Path, str]:
        text, key = BAD_FILES[kind]
        return write(tmp_path, kind.replace(" ", "_") + ".toml", text), key

    return make


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_raises_an_error_naming_file_and_key(bad_file, kind):
    path, key = bad_file(kind)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert path.name in message
    assert key in message
    assert "base.toml:" not in message, "the error is in the child, not in its parent"


def test_wrong_value_message_says_what_was_expected(bad_file):
    path, _ = bad_file("share above 1")
    with pytest.raises(ScenarioError, match=r"less than or equal to 1.*1\.5"):
        load_scenario(path)


def test_circular_extends_is_an_error(tmp_path):
    a = write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ScenarioError, match="circular") as info:
        load_scenario(a)
    assert "a.toml" in str(info.value) and "b.toml" in str(info.value)
    assert "extends" in str(info.value)


def test_file_extending_itself_is_an_error(tmp_path):
    a = write(tmp_path, "self.toml", 'extends = "self.toml"\n')
    with pytest.raises(ScenarioError, match="circular"):
        load_scenario(a)


@pytest.mark.parametrize(
    ("parent_text", "key"),
    [
        (
            '[hierarchy]\npreset = "teaching"\n[planning]\nmax_candidates = "three"\n',
            "planning.max_candidates",
        ),
        ('[hierarchy]\npreset = "teaching"\n[planning]\nmax_candidate = 3\n', "planning.max_candidate"),
        ('[hierarchy]\npreset = "teaching"\n[recruitment]\nfemale_share = 1.5\n', "recruitment.female_share"),
    ],
)
def test_error_in_a_parent_file_names_the_parent(tmp_path, parent_text, key):
    parent = write(tmp_path, "broken_parent.toml", parent_text)
    child = write(tmp_path, "child.toml", 'extends = "broken_parent.toml"\nname = "child"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    message = str(info.value)
    # the file that set the key comes first, then the file that was asked for
    assert f"{parent.name} (extended by {child}): {key}" in message


def test_malformed_parent_names_the_parent(tmp_path):
    write(tmp_path, "broken_parent.toml", "[planning\n")
    child = write(tmp_path, "child.toml", 'extends = "broken_parent.toml"\n')
    with pytest.raises(ScenarioError, match=r"broken_parent\.toml: malformed TOML"):
        load_scenario(child)


def test_missing_scenario_file_is_an_error(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.toml")


def test_bad_override_names_the_key(tmp_path):
    path = write(tmp_path, "base.toml", BASE)
    with pytest.raises(ScenarioError, match=r"planning\.mode"):
        load_scenario(path, overrides={"planning.mode": "sideways"})


@pytest.mark.parametrize(
    ("hierarchy", "fragment"),
    [
        ({"preset": "teaching", "units": {"provincial": 2}}, "top level must have exactly 1 unit"),
        ({"preset": "teaching", "units": {"district": 100}}, "hierarchy.units.commune"),
        ({"preset": "teaching", "staff": {"ward": 3}}, "unknown level"),
        ({"preset": "custom", "levels": ["a"], "sectors": ["party"], "units": {"a": 1}}, "no posts"),
    ],
)
def test_inconsistent_hierarchy_is_an_error(hierarchy, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        load_scenario({"hierarchy": hierarchy})
