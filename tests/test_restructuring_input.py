"""Bad restructuring input: grouping files and steps that cannot be applied get one clear error
naming the scenario file, the key and (for a grouping file) the file and its row."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helper import cli

from pipeline_sim import ScenarioError, load_scenario

#: the teaching province: 1 province, 6 districts of 8 communes each (48)
HEAD = 'name = "teach"\n[simulation]\nyears = 3\n[hierarchy]\npreset = "teaching"\n'


def scenario(folder: Path, steps: str, extra: str = "") -> Path:
    path = folder / "restr.toml"
    path.write_text(HEAD + extra + steps, encoding="utf-8")
    return path


def merge_communes(groups: str) -> str:
    return f'[[restructuring]]\nyear = 2022\naction = "merge"\nlevel = "commune"\ngroups = "{groups}"\n'


def refused(path: Path, *parts: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for part in parts:
        assert part in message, message
    assert "\n" not in message, message
    return message


def csv(folder: Path, name: str, rows: list[tuple[int, str]], header: str = "unit,group") -> Path:
    path = folder / name
    path.write_text(header + "\n" + "".join(f"{u},{g}\n" for u, g in rows), encoding="utf-8")
    return path


def by_district(units=range(1, 49)) -> list[tuple[int, str]]:
    """Communes paired within their district (8 communes each)."""
    return [(u, f"d{(u - 1) // 8}-{(u - 1) % 8 // 2}") for u in units]


def test_a_good_grouping_file_loads_relative_to_the_scenario_file(tmp_path, monkeypatch):
    (tmp_path / "maps").mkdir()
    csv(tmp_path / "maps", "pairs.csv", by_district())
    path = scenario(tmp_path, merge_communes("maps/pairs.csv"))
    monkeypatch.chdir(Path("/"))  # the path is the scenario file's, not the working folder's
    scen = load_scenario(path)
    assert Path(scen.restructuring[0].groups) == (tmp_path / "maps" / "pairs.csv").resolve()
    assert load_scenario(scen.model_dump(mode="json")) == scen  # the resolved scenario is data


def test_a_grouping_file_that_leaves_a_unit_out(tmp_path):
    csv(tmp_path, "g.csv", by_district(range(1, 48)))
    refused(
        scenario(tmp_path, merge_communes("g.csv")), "restructuring.0.groups", "g.csv", "leaves out 1", "(48)"
    )


def test_a_grouping_file_that_names_a_unit_twice(tmp_path):
    csv(tmp_path, "g.csv", [*by_district(), (5, "d0-0")])
    refused(
        scenario(tmp_path, merge_communes("g.csv")),
        "restructuring.0.groups",
        "g.csv row 50",
        "unit 5 is named twice",
        "row 6",
    )


def test_a_grouping_file_that_crosses_parents(tmp_path):
    rows = by_district()
    rows[8] = (9, "d0-3")  # the first commune of district 2 joins a pair of district 1
    csv(tmp_path, "g.csv", rows)
    refused(
        scenario(tmp_path, merge_communes("g.csv")),
        "restructuring.0.groups",
        "'d0-3'",
        "different parents",
        "cross_parents",
    )
    allowed = scenario(tmp_path, merge_communes("g.csv") + "cross_parents = true\n")
    assert load_scenario(allowed).restructuring[0].cross_parents


def test_a_toml_grouping_file(tmp_path):
    (tmp_path / "g.toml").write_text("groups = " + str([[u] for u in range(1, 48)]) + "\n", encoding="utf-8")
    refused(scenario(tmp_path, merge_communes("g.toml")), "restructuring.0.groups", "leaves out 1")
    (tmp_path / "g.toml").write_text("groups = [1, 2]\n", encoding="utf-8")
    refused(
        scenario(tmp_path, merge_communes("g.toml")), "restructuring.0.groups", "expected groups = [[1, 2]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unit,group\n1,a\n0,a\n", "row 3: unit 0 is not a unit of the level (1 to 48)"),
        ("unit,group\n1,a\nx,a\n", "row 3: unit 'x' is not a unit number"),
        ("unit,group\n1,\n", "row 2: the group is empty"),
        ("unit;group\n1;a\n", "the header must name the columns 'unit' and 'group'"),
        ("# only a comment\n", "empty grouping file"),
    ],
)
def test_broken_grouping_files(tmp_path, text, expected):
    (tmp_path / "g.csv").write_text(text, encoding="utf-8")
    refused(scenario(tmp_path, merge_communes("g.csv")), "restructuring.0.groups", expected)


def test_a_missing_or_foreign_grouping_file(tmp_path):
    refused(scenario(tmp_path, merge_communes("none.csv")), "restructuring.0.groups", "no such grouping file")
    (tmp_path / "g.json").write_text("{}", encoding="utf-8")
    refused(scenario(tmp_path, merge_communes("g.json")), "restructuring.0.groups", "a .csv or a .toml file")


@pytest.mark.parametrize("year", [2020, 2024, 1950])
def test_an_event_year_outside_the_run(tmp_path, year):
    steps = f'[[restructuring]]\nyear = {year}\naction = "merge"\nlevel = "commune"\ntarget = 10\n'
    refused(scenario(tmp_path, steps), "restructuring.0.year", f"{year} is outside the run (2021-2023")


@pytest.mark.parametrize(
    ("step", "key", "expected"),
    [
        ('action = "merge"\nlevel = "ward"\ntarget = 3', "restructuring.0.level", "not one of the levels"),
        ('action = "merge"\nlevel = "provincial"\ntarget = 1', "restructuring.0.level", "top level"),
        ('action = "merge"\nlevel = "commune"', "restructuring.0", "grouping file (groups) or a number"),
        ('action = "abolish"\nlevel = "district"', "restructuring.0.level", "below the second"),
        (
            'action = "abolish"\nlevel = "commune"\ntarget = 3',
            "restructuring.0.target",
            "only for action 'merge'",
        ),
        ('action = "posts"', "restructuring.0", "changes nothing"),
        (
            'action = "posts"\nlevel = "commune"\nstaff = { commune = 3 }',
            "restructuring.0.level",
            "not for action",
        ),
        ('action = "posts"\nstaff = { ward = 3 }', "restructuring.0.staff.ward", "not one of the levels"),
        (
            'action = "posts"\nposts = { commune = { mass = { head = 1 } } }',
            "restructuring.0.posts.commune",
            "sector",
        ),
        ('action = "posts"\nrules = { "planning.mdoe" = "open" }', "restructuring.0.rules", "planning.mode"),
        (
            'action = "posts"\nrules = { "hierarchy.scale" = 0.5 }',
            "restructuring.0.rules.hierarchy.scale",
            "cannot",
        ),
        (
            'action = "posts"\nbodies = { x = { posts = ["ward.party.head"] } }',
            "restructuring.0.bodies.x",
            "level",
        ),
        ('action = "split"\nlevel = "commune"', "restructuring.0.action", "merge"),
        (
            'action = "merge"\nlevel = "commune"\ntarget = 0',
            "restructuring.0.target",
            "greater than or equal to 1",
        ),
        ('action = "merge"\nlevel = "commune"\ntarget = 3\nmonth = 13', "restructuring.0.month", "12"),
    ],
)
def test_steps_that_cannot_be_applied(tmp_path, step, key, expected):
    refused(scenario(tmp_path, f"[[restructuring]]\nyear = 2022\n{step}\n"), key, expected)


def test_a_level_abolished_cannot_merge_later(tmp_path):
    four = (
        'name = "four"\n[simulation]\nyears = 3\n[hierarchy]\npreset = "historic"\nscale = 0.01\n'
        '[[restructuring]]\nyear = 2022\naction = "abolish"\nlevel = "district"\n'
        '[[restructuring]]\nyear = 2023\naction = "merge"\nlevel = "district"\ntarget = 2\n'
    )
    path = tmp_path / "four.toml"
    path.write_text(four, encoding="utf-8")
    refused(path, "restructuring.1.level", "abolished by restructuring.0")


def test_key_ranks_cannot_be_held_above_the_quota(tmp_path):
    extra = '[surplus]\nranks = ["head", "deputy"]\n'
    steps = '[[restructuring]]\nyear = 2022\naction = "merge"\nlevel = "commune"\ntarget = 10\n'
    refused(scenario(tmp_path, steps, extra), "surplus.ranks", "key ranks ['head']")


def test_the_command_line_reports_one_line_and_no_traceback(tmp_path):
    csv(tmp_path, "g.csv", by_district(range(2, 49)))
    scenario(tmp_path, merge_communes("g.csv"))
    proc = cli(tmp_path, "validate", "restr.toml")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: restr.toml: restructuring.0.groups: {tmp_path.resolve() / 'g.csv'}: leaves out 1 of the "
        "level's 48 units (1); every unit must be in one group"
    ], proc.stderr
