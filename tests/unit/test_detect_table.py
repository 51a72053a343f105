"""bench/detect.py's table comes from its data alone: each switch beside its setting's control,
false alarms counted, a switch never found says why, and the README block is replaced whole."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "detect.py"


@pytest.fixture(scope="module")
def detect():
    spec = importlib.util.spec_from_file_location("bench_detect", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(bug, setting, seed, verdict, first=None, failed=(), limit=30):
    return {"date": "2026-12-07T02:00:00Z", "system": "raftkv", "bug": bug, "setting": setting,
            "options": {"time-limit": limit, "nemesis": "partition-halves,membership"}, "seed": seed,
            "verdict": verdict, "first_bad_s": first, "failed": list(failed), "note": None,
            "run_dir": f"/store/{seed}", "wall_s": 40.0}


def row(table, bug):
    return next(line for line in table.splitlines() if line.startswith(f"| `{bug}` "))


def test_a_row_counts_finds_and_sits_beside_its_control(detect):
    data = [record("config-before-commit", "membership", 1, "invalid", 3.0, ["linearizable"]),
            record("config-before-commit", "membership", 2, "valid"),
            record("config-before-commit", "membership", 3, "invalid", 5.0, ["linearizable"]),
            record(None, "membership", 1, "valid"), record(None, "membership", 2, "invalid", 9.0, ["availability"]),
            record(None, "membership", 3, "valid")]
    cells = [c.strip() for c in row(detect.render(data), "config-before-commit").split("|")[1:-1]]
    assert cells[2:7] == ["3", "2", "4.0", "3", "1 (availability)"]
    assert "found by linearizable" in cells[7]


def test_a_switch_never_found_says_why_and_a_missing_control_is_shown(detect):
    table = detect.render([record("truncate-on-match", "packet", 1, "valid")])
    cells = [c.strip() for c in row(table, "truncate-on-match").split("|")[1:-1]]
    assert cells[3] == "0" and cells[5] == "none yet" and "not found: " in cells[7]


def test_runs_of_different_time_limits_are_different_rows(detect):
    table = detect.render([record("stale-read", "default", 1, "invalid", 1.0, limit=30),
                           record("stale-read", "default", 1, "valid", limit=60)])
    assert sum(line.startswith("| `stale-read` ") for line in table.splitlines()) == 2


def test_the_readme_block_is_replaced_and_nothing_else(detect, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{detect.BEGIN}\nold table\n{detect.END}\nafter\n", encoding="utf-8")
    detect.write_readme("new table\n", readme)
    assert readme.read_text(encoding="utf-8") == f"before\n{detect.BEGIN}\nnew table\n{detect.END}\nafter\n"


def test_every_switch_has_a_setting_and_every_setting_is_a_valid_spec(detect):
    from raft_jepsen.harness import spec as specs
    from raft_jepsen.node_image.raftkv.bugs import BUGS

    assert set(detect.SWITCHES) == set(BUGS)
    for setting, options in detect.SETTINGS.items():
        specs.build({"system": "raftkv", **options}, source="test")  # UsageError if not


def test_a_setting_that_fixes_its_own_time_limit_shows_it(detect):
    fixed = record("fixed-timeout", "latency-pause", 1, "invalid", failed=["liveness"])
    fixed["options"] = {**detect.SETTINGS["latency-pause"]}
    other = record("stale-read", "default", 1, "invalid", 1.0)
    table = detect.render([fixed, other])
    assert f"`--time-limit {detect.SETTINGS['latency-pause']['time-limit']}`" in row(table, "fixed-timeout")
    assert "--time-limit" not in row(table, "stale-read")  # the header names it
