"""Nonsense values, structures too large to run and files that used to crash the loader.

Each case was once accepted (and ran to exit 0 with a silently wrong result), crashed after
validation passed, or raised a traceback at `validate`; each must now be a ScenarioError that
names the file and the key.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from cli_helper import cli
from typer.testing import CliRunner

from pipeline_sim import PipelineModel, ScenarioError, load_scenario
from pipeline_sim.cli import app
from pipeline_sim.scenario import loader, schema
from pipeline_sim.world import cadres

TEACHING = 'name = "teach"\n[simulation]\nyears = 1\n[hierarchy]\npreset = "teaching"\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, overrides: dict, key: str) -> str:
    """The overrides, written into a scenario file, give an error naming the file and `key`."""
    lines = {"name": '"teach"', "simulation.years": "1", "hierarchy.preset": '"teaching"', **overrides}
    text = "".join(f"{dotted} = {value}\n" for dotted, value in lines.items())
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message, message
    assert key in message, message
    assert "\n" not in message.strip() or all(line.startswith(str(path)) for line in message.splitlines())
    return message


# ---------------------------------------------------------------------------------------------
# nonsense accepted before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("work.weak_unit_effect", "nan"),  # an unconstrained float
        ("assessment.inflation", "nan"),
        ("recruitment.competence_mean", "-nan"),
        ("work.competence_growth", "nan"),  # quality rows vanished from the metrics
        ("appointment.patronage_strength", "inf"),  # a non-negative float
        ("planning.min_service_left_years", "inf"),
        ("recruitment.entry_age_sd", "inf"),
        ("metrics.min_competence", "-inf"),
        ("initial.holder_age_mean.district", "nan"),  # holders without birth dates kept office
        ("metrics.young_age.commune", "inf"),
    ],
)
def test_nan_and_infinity_are_refused(tmp_path, key, value):
    message = refused(tmp_path, {key: value}, key)
    assert "finite" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("initial.holder_age_mean.district", "500.0"),  # per-level age tables
        ("initial.holder_age_mean.district", "-3.0"),
        ("metrics.young_age.commune", "1e9"),
        ("metrics.age_group_edges", "[-5.0, 1e300]"),
        ("initial.holder_age_sd", "1e6"),
        ("work.competence_growth", "1e300"),  # huge but finite
        ("assessment.score_sd", "1e308"),
        ("integrity.tenure_effect", "1e10"),
        ("fast_track.yearly_intake", "1000000000"),
        ("demography.retirement_male.base_year", "-9000000000"),
    ],
)
def test_values_outside_a_plausible_range_are_refused(tmp_path, key, value):
    refused(tmp_path, {key: value}, key)


def test_retirement_younger_than_entry_is_refused(tmp_path):
    # entrants of 58 and women retiring from 55: every post was left vacant, exit 0
    message = refused(
        tmp_path,
        {"recruitment.entry_age_min": "58.0", "recruitment.entry_age_mean": "59.0"},
        "recruitment.entry_age_min",
    )
    assert "retire" in message
    refused(
        tmp_path,
        {"demography.retirement_male.age_before": "40.0", "demography.retirement_male.base_age": "40.0"}
        | {"recruitment.entry_age_mean": "45.0", "demography.retirement_male.final_age": "45.0"},
        "retirement_male",
    )


def test_dismissal_after_more_not_completed_years_than_are_kept_is_refused(tmp_path):
    # 5 used to act as 3 silently: only three years of grades are kept
    message = refused(tmp_path, {"integrity.dismiss_after_not_completed_years": "5"}, "integrity")
    assert "dismiss_after_not_completed_years" in message
    # the bound is the history the model keeps
    assert schema.GRADE_HISTORY_YEARS == cadres.HISTORY
    field = schema.Integrity.model_fields["dismiss_after_not_completed_years"]
    assert any(getattr(m, "le", None) == cadres.HISTORY for m in field.metadata)
    load_scenario(
        {"hierarchy": {"preset": "teaching"}, "integrity": {"dismiss_after_not_completed_years": 3}}
    )


def test_dismissal_after_three_not_completed_years_reads_three_years(custom):
    scen = custom(
        ["top", "low"],
        {"top": {"head": 1}, "low": {"head": 2}},
        {"low": 4},
        integrity={"enabled": True, "p_violation": 0.0, "dismiss_after_not_completed_years": 3},
    )
    model = PipelineModel(scen, seed=2, years=2)
    model.step()
    c = model.cadres
    holder = int(model.posts.holder[1])
    nc = schema.GRADES.index("not_completed")
    # two bad years and a good one three years back: not grounds under a rule of three years
    for back, grade in enumerate((nc, nc, 1)):
        c.grades[holder, (model.last_assessed_year - back) % cadres.HISTORY] = grade
    from pipeline_sim.processes import integrity

    model.year_cache.clear()
    integrity.run(model)
    assert c.status[holder] == cadres.ACTIVE and c.post[holder] >= 0
    for back in range(3):
        c.grades[holder, (model.last_assessed_year - back) % cadres.HISTORY] = nc
    model.year_cache.clear()
    integrity.run(model)
    assert c.post[holder] < 0 or c.status[holder] != cadres.ACTIVE


def test_more_sectors_than_the_sector_history_holds_are_refused():
    sectors = [f"s{i}" for i in range(schema.MAX_SECTORS + 1)]
    with pytest.raises(ScenarioError, match=r"hierarchy\.sectors"):
        load_scenario({"hierarchy": {"preset": "teaching", "sectors": sectors}})
    bits = np.dtype(cadres.FIELDS["sectors_mask"][0]).itemsize * 8
    assert bits >= schema.MAX_SECTORS


def test_eight_sectors_keep_every_sector_in_the_history():
    sectors = [f"s{i}" for i in range(schema.MAX_SECTORS)]
    scen = load_scenario(
        {
            "simulation": {"years": 1},
            "hierarchy": {
                "preset": "custom",
                "levels": ["top", "low"],
                "sectors": sectors,
                "units": {"top": 1, "low": 2},
                "staff": {"low": 16},
                "posts": {lvl: {s: {"head": 1} for s in sectors} for lvl in ("top", "low")},
            },
        }
    )
    model = PipelineModel(scen, seed=1, years=1)
    c = model.cadres
    last = c.sector == len(sectors) - 1
    assert last.any()
    assert (c.sectors_mask[last] == 1 << (len(sectors) - 1)).all()


# ---------------------------------------------------------------------------------------------
# accepted, then crashed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hierarchy.units.commune", "1000000000"),
        ("hierarchy.staff.commune", "1000000000000"),
        ("hierarchy.posts.commune.party.member", "100000000"),
        ("integrity.dismiss_after_not_completed_years", "1000000000000"),  # hung
        ("integrity.dismiss_after_reprimands_in_term", "1000"),  # int8 counter
        ("simulation.burn_in_years", "100000000"),
        ("demography.mortality_doubling_years", "1e-9"),
        ("simulation.seed", str(2**64)),
        ("name", '"' + "n" * 300 + '"'),  # results lost at the write
        ("name", '".."'),  # a folder name that is not a folder of its own
    ],
)
def test_values_that_crashed_after_validation_are_refused(tmp_path, key, value):
    refused(tmp_path, {key: value}, key)


@pytest.mark.parametrize("table", ["levels", "sectors"])
def test_more_levels_or_sectors_than_int8_columns_hold_are_refused(table):
    names = [f"x{i}" for i in range(128)]
    hierarchy = {"preset": "custom", "levels": ["a", "b"], "sectors": ["p"], table: names}
    with pytest.raises(ScenarioError, match=rf"hierarchy\.{table}"):
        load_scenario({"hierarchy": hierarchy})
    assert np.iinfo(cadres.FIELDS["level"][0]).max >= schema.MAX_LEVELS
    assert np.iinfo(cadres.FIELDS["grade"][0]).max >= 4 * schema.MAX_LEVELS + 3


def test_every_replication_seed_must_fit_int64(tmp_path):
    top = 2**63 - 1
    message = refused(tmp_path, {"simulation.seed": str(top), "simulation.reps": "2"}, "simulation.seed")
    assert str(top - 1) in message  # the largest first seed for two replications
    scen = load_scenario({"hierarchy": {"preset": "teaching"}, "simulation": {"seed": top - 1, "reps": 2}})
    assert scen.simulation.seed == top - 1
    with pytest.raises(ValueError):
        schema.check_seeds(top, 2)
    schema.check_seeds(top, 1)


def test_the_largest_seed_runs_and_is_written(teaching):
    from pipeline_sim import run

    teaching["simulation"] = {"years": 1, "seed": 2**63 - 1}
    result = run(load_scenario(teaching))
    assert result.metrics["seed"].unique().tolist() == [2**63 - 1]


def test_memory_estimate_refuses_a_structure_larger_than_the_memory_given(teaching):
    scen = load_scenario(teaching)
    need = loader.memory_estimate(scen)
    cadres_n, posts = loader.structure_size(scen)
    assert 2_000 < cadres_n < 2_500 and posts == 605
    assert 1_000_000 < need < 10_000_000
    loader.check_memory(scen, available=need + 1)
    loader.check_memory(scen, available=None)
    with pytest.raises(ValueError, match=r"about 0\.0 GiB.*available") as info:
        loader.check_memory(scen, available=need // 2)
    assert f"{cadres_n:,} cadres" in str(info.value)


def test_historic_structure_estimate_is_close_to_its_measured_peak():
    scen = load_scenario({"hierarchy": {"preset": "historic"}})
    # the benchmark measures a peak of about 680 MB for 30 years
    assert 600e6 < loader.memory_estimate(scen) < 1.5e9


def test_structure_too_large_for_this_machine_is_refused_with_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "available_memory", lambda: 500 * 2**20)
    path = write(tmp_path, "national.toml", '[hierarchy]\npreset = "historic"\n')
    with pytest.raises(ScenarioError, match=r"national\.toml: hierarchy: .*GiB of memory.*0\.5 GiB"):
        load_scenario(path)
    # within every per-key bound, and still far beyond what the model can hold
    big = '[hierarchy]\npreset = "teaching"\nunits = { commune = 100000 }\nstaff = { commune = 100000 }\n'
    path = write(tmp_path, "huge.toml", big)
    with pytest.raises(ScenarioError, match="the model can hold"):
        load_scenario(path)


# ---------------------------------------------------------------------------------------------
# files that crashed the loader


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,  # RecursionError in the TOML parser
        "a = " + "{b = " * 5_000 + "1" + "}" * 5_000,
        "a = " + "[" * 40 + "]" * 40,  # parses, nested too deep for the merge and validation
        ".".join(["a"] * 100_000) + " = 1",  # quadratic in tomllib: ran out of memory
        "[" + ".".join(["t"] * 50_000) + "]\nx = 1",
    ],
    ids=["arrays", "inline-tables", "arrays-40", "dotted-key", "dotted-header"],
)
def test_deep_nesting_is_an_error(tmp_path, text):
    path = write(tmp_path, "deep.toml", text)
    with pytest.raises(ScenarioError, match=r"deep\.toml: .*(nested|dotted key)"):
        load_scenario(path)


def test_deep_nesting_in_a_dict_or_an_override_is_an_error(teaching):
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ScenarioError, match="nested deeper"):
        load_scenario({**teaching, "description": deep})
    with pytest.raises(ScenarioError, match=r"overrides description: .*nested deeper"):
        load_scenario(teaching, overrides={"description": deep})
    with pytest.raises(ScenarioError, match="overrides"):
        load_scenario(teaching, overrides={".".join(["a"] * 10_000): 1})
    with pytest.raises(ScenarioError, match=r"--set description: .*nested deeper"):
        load_scenario(teaching, overrides={"description": deep}, overrides_label="--set")
    assert loader.parse_override_value("[" * 100_000) == "[" * 100_000


def test_long_extends_chain_is_an_error(tmp_path):
    write(tmp_path, "f0.toml", TEACHING)
    for i in range(1, 40):
        write(tmp_path, f"f{i}.toml", f'extends = "f{i - 1}.toml"\n')
    load_scenario(tmp_path / f"f{loader.MAX_EXTENDS - 1}.toml")
    with pytest.raises(ScenarioError, match=r"f39\.toml.*extends: chain longer than 16 files"):
        load_scenario(tmp_path / "f39.toml")


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("a\\u0000b.toml", "NUL"),
        ("x" * 5_000 + ".toml", "too long"),
        ("d/" * 3_000 + "x.toml", "too long"),
        (".", "is a folder"),
        ("sub", "is a folder"),
        ("", "expected a file name"),
    ],
    ids=["nul", "long-name", "long-path", "dot", "folder", "empty"],
)
def test_bad_extends_path_is_an_error(tmp_path, target, fragment):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, "child.toml", f'extends = "{target}"\n')
    with pytest.raises(ScenarioError, match=fragment) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: extends:")
    assert "\x00" not in message and len(message) < 600


def test_bad_scenario_paths_are_errors(tmp_path):
    for source, fragment in [
        ("a\x00b.toml", "NUL"),
        ("y" * 5_000 + ".toml", "too long"),
        (tmp_path, "is a folder"),
        (tmp_path / "absent.toml", "no such scenario file"),
    ]:
        with pytest.raises(ScenarioError, match=fragment) as info:
            load_scenario(source)
        assert "\x00" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(fifo)


def test_files_that_are_not_utf8_or_too_large_are_errors(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes('description = "tỉnh"\n'.encode("utf-16"))
    with pytest.raises(ScenarioError, match=r"latin\.toml: not a UTF-8 text file"):
        load_scenario(latin)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (loader.MAX_FILE_BYTES + 10) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"big\.toml: larger than"):
        load_scenario(big)


def test_messages_are_one_line_per_problem_with_user_text_escaped(tmp_path):
    path = write(tmp_path, "ctl.toml", TEACHING + '[planning]\nmode = "a\\nb\\u0000c"\n"x\\ny" = 1\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}: planning.") for line in lines)
    long_value = write(tmp_path, "long.toml", TEACHING + "[planning]\nmode = [" + "1, " * 50_000 + "]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(long_value)
    assert len(str(info.value)) < 1_000


# ---------------------------------------------------------------------------------------------
# messages printed literally


@pytest.mark.parametrize("value", ["[/x]", "[red]swallowed[/red]", "[bold]", "[link=x]y[/link]"])
def test_validate_prints_markup_in_messages_literally(tmp_path, value):
    path = write(tmp_path, "markup.toml", TEACHING + f'[planning]\nmode = "{value}"\n')
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"(got '{value}')" in result.output
    assert result.output.startswith("error: ")


def test_fail_prints_markup_literally(tmp_path):
    path = write(tmp_path, "teach.toml", TEACHING)
    result = CliRunner().invoke(app, ["show", str(path), "--set", "planning.mode=[/x]"])
    assert result.exit_code == 2
    assert "(got '[/x]')" in result.output and "Traceback" not in result.output
    missing = tmp_path / "[red]odd[bold].toml"
    result = CliRunner().invoke(app, ["run", str(missing)])
    assert result.exit_code == 2
    assert f"error: {missing}: no such scenario file" in result.output


def test_no_float_field_is_left_unbounded():
    """Every float of the schema is finite and bounded on both sides (directly or by a rule)."""
    bounded_by_rule = set()

    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, schema.Section):
                walk(ann, f"{prefix}{name}.")
            elif ann is float:
                lo = [
                    getattr(m, a)
                    for m in field.metadata
                    for a in ("ge", "gt")
                    if getattr(m, a, None) is not None
                ]
                hi = [
                    getattr(m, a)
                    for m in field.metadata
                    for a in ("le", "lt")
                    if getattr(m, a, None) is not None
                ]
                key = f"{prefix}{name}"
                if key not in bounded_by_rule:
                    assert lo and hi, f"{key} has no lower or upper bound"
                    assert all(math.isfinite(v) for v in lo + hi)

    walk(schema.Scenario)


def test_long_paths_in_messages_keep_the_file_name():
    path = "/" + "/".join(["d" * 200] * 10) + "/scenario.toml"
    assert loader.shown_path(path).endswith("/scenario.toml") and len(loader.shown_path(path)) <= 300
    assert loader.shown_path("a\nb\x85c.toml") == "a\\nb\\x85c.toml"


def test_interrupt_message_prints_a_folder_with_markup_literally(capsys):
    import typer

    from pipeline_sim import cli

    def start(on_done, notify):
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit):
        cli.run_experiment("sweep", 1, Path("results/[/x]"), True, start)
    assert "--resume --out results/[/x]" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a.b", "[red]", "x]", "", "  ", "x" * 65, "a\nb", "a\x85b"])
def test_level_and_sector_names_that_break_keys_or_tables_are_refused(name):
    hierarchy = {"preset": "custom", "levels": ["top", name], "sectors": ["p"], "units": {"top": 1}}
    with pytest.raises(ScenarioError, match=r"hierarchy\.levels\.1: .*level and sector names"):
        load_scenario({"hierarchy": hierarchy})
    hierarchy = {"preset": "teaching", "sectors": [name]}
    with pytest.raises(ScenarioError, match=r"hierarchy\.sectors\.0: "):
        load_scenario({"hierarchy": hierarchy})


@pytest.mark.parametrize(
    "args",
    [
        ["run", "base.toml", "--seed", str(2**63 - 1), "--reps", "2"],
        ["compare", "base.toml", "base.toml", "--seed", str(2**63 - 1), "--reps", "2"],
        ["sweep", "base.toml", "--vary", "planning.mode=open,closed", "--seed", str(2**63 - 1)],
    ],
)
def test_seeds_from_the_command_line_are_checked_before_any_run(tmp_path, args):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(tmp_path, *args, "--years", "1", "-q")
    assert proc.returncode == 2, proc.stderr
    assert "2^63-1" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.parquet"))


def test_the_api_checks_replication_seeds_before_any_run():
    from pipeline_sim import run

    with pytest.raises(ValueError, match="2\\^63-1"):
        run({"hierarchy": {"preset": "teaching"}}, reps=2, seed=2**63 - 1, years=1)


def test_a_scenario_made_in_python_gets_the_memory_check_too():
    scen = load_scenario({"hierarchy": {"preset": "teaching"}})
    huge = scen.hierarchy.model_copy(
        update={"staff": {"provincial": 200, "district": 60, "commune": 100_000}}
    )
    huge = huge.model_copy(update={"units": {"provincial": 1, "district": 6, "commune": 90_000}})
    with pytest.raises(ValueError, match="more than the"):
        PipelineModel(scen.model_copy(update={"hierarchy": huge}))


# ---------------------------------------------------------------------------------------------
# the keys of the later mechanisms


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rotation.congress_share", "1.5"),
        ("rotation.ahead_share", "-0.1"),
        ("rotation.ahead_share", '"half"'),
        ("rotation.candidates", '"everyone"'),
        ("rotation.vertical_exchanges", '"yes"'),
        ("rotation.level_weights.commune", "2.0"),
        ("rotation.level_weights.nowhere", "0.5"),  # not a level of the structure
        ("rotation.term_limit_levels", '["district", "nowhere"]'),
    ],
)
def test_bad_values_of_the_rotation_volume_keys_are_refused(tmp_path, key, value):
    refused(tmp_path, {key: value}, key.replace(".nowhere", ""))


def test_moves_at_a_congress_without_a_congress_are_refused(tmp_path):
    message = refused(
        tmp_path, {"rotation.congress_share": "0.5", "congress.enabled": "false"}, "rotation.congress_share"
    )
    assert "congress.enabled" in message
