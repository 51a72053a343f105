"""bench/detect.py's table comes from its data alone: each switch beside its setting's control,
false alarms counted, a switch never found says why, and the README block is replaced whole;
etcd's rows (bench/detect_etcd.py) split safety from liveness-only verdicts, in a block of their own."""

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


def etcd_record(setting, seed, verdict, safety=None, liveness=None, first=None, failed=()):
    options = {"time-limit": 60.0, **({"system-opt": {"reads": "serializable"}, "nemesis": "partition"}
                                      if setting == "serializable-partition" else {})}
    return {"date": "2026-12-07T05:00:00Z", "system": "etcd", "bug": None, "setting": setting,
            "options": options, "seed": seed, "verdict": verdict, "safety": safety, "liveness": liveness,
            "first_bad_s": first, "failed": list(failed), "note": None, "run_dir": f"/store/{seed}", "wall_s": 90.0}


def test_etcd_rows_split_safety_from_liveness_and_stay_out_of_the_raftkv_table(detect):
    data = [etcd_record("register", 1, "valid", True, True),
            etcd_record("register", 2, "invalid", True, False, failed=["availability"]),
            etcd_record("register", 3, "unknown", "unknown", True),
            etcd_record("serializable-partition", 1, "invalid", False, True, 14.5, ["linearizable"]),
            etcd_record("serializable-partition", 2, "invalid", False, True, 20.5, ["linearizable"]),
            record("stale-read", "default", 1, "invalid", 1.0, ["linearizable"])]
    assert "etcd" not in detect.render(data) and "| `stale-read` " in detect.render(data)
    table = detect.detect_etcd.render(data)
    cells = {line.split("|")[1].strip().split(":")[0]: [c.strip() for c in line.split("|")[1:-1]]
             for line in table.splitlines() if line.startswith("| ") and not line.startswith("| setting")}
    assert cells["register"][1:8] == ["1–3", "3", "1", "0", "1", "1", "–"]
    assert cells["serializable-partition"][4] == "**2 (linearizable)**" and cells["serializable-partition"][7] == "17.5"
    assert "`--system-opt reads=serializable` `--nemesis partition`" in cells["serializable-partition"][0]


def test_every_etcd_setting_is_a_valid_spec(detect):
    from raft_jepsen.harness import spec as specs

    for setting in detect.detect_etcd.SETTINGS:
        specs.build({"system": "etcd", **detect.detect_etcd.options_for(setting)}, source="test")


def test_both_readme_blocks_are_replaced_each_by_its_own_markers(detect, tmp_path):
    readme = tmp_path / "README.md"
    etcd = detect.detect_etcd
    readme.write_text(f"a\n{detect.BEGIN}\nx\n{detect.END}\nb\n{etcd.BEGIN}\ny\n{etcd.END}\nc\n", encoding="utf-8")
    detect.write_readme("raftkv\n", readme)
    detect.write_readme("etcd\n", readme, etcd.BEGIN, etcd.END)
    assert readme.read_text(encoding="utf-8") == (f"a\n{detect.BEGIN}\nraftkv\n{detect.END}\nb\n"
                                                  f"{etcd.BEGIN}\netcd\n{etcd.END}\nc\n")
