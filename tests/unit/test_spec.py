"""The test spec: flags and YAML, one-line errors, a seed that is always saved."""

import pytest
import yaml

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.errors import UsageError


def test_defaults_are_a_complete_test_with_a_drawn_seed():
    spec = specs.build()
    assert spec.system == "raftkv" and spec.workload == "register" and spec.nodes == 5
    assert spec.test_name == "raftkv-register"
    assert isinstance(spec.seed, int)


def test_yaml_takes_the_flag_names_with_dashes_or_underscores_and_flags_win(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("time-limit: 30\nnemesis_interval: 2\nnodes: 3\nbug: [stale-read]\nnemesis: partition,kill\nseed: 9\n")
    spec = specs.load(path, {"nodes": "7", "bug": ["lazy-fsync"]})
    assert (spec.time_limit, spec.nemesis_interval, spec.nodes) == (30.0, 2.0, 7)
    assert spec.bugs == ("lazy-fsync",)
    assert spec.nemesis == ("partition", "kill")
    assert spec.seed == 9


def test_the_saved_spec_replays_exactly(tmp_path):
    spec = specs.build({"workload": "kv", "nemesis": "none", "bug": ["stale-read", "self-elect"], "rate": 12.5,
                        "system-opt": ["simulate-page-cache=false"]})
    path = tmp_path / "test.yaml"
    path.write_text(specs.dump(spec))
    assert specs.load(path) == spec
    saved = yaml.safe_load(path.read_text())
    assert saved["seed"] == spec.seed
    assert saved["system-opt"] == {"simulate-page-cache": "false"}  # recorded in test.yaml


@pytest.mark.parametrize(
    "config, message",
    [
        ({"nodez": 3}, "unknown option 'nodez'"),
        ({"nodes": "five"}, "nodes: expected an integer, got 'five'"),
        ({"nodes": True}, "nodes: expected an integer"),
        ({"rate": 0}, "rate: must be at least 0.01, got 0"),
        ({"recovery_time": -1}, "recovery-time: must be at least 0"),
        ({"leave-running": "yes"}, "leave-running: expected true or false"),
        ({"nemesis": [1]}, "nemesis: expected a list of names"),
        ({"workload": "bank"}, "unknown workload 'bank' (expected one of register, kv, append, set)"),
        ({"nemesis": "partition,flood"}, "unknown nemesis 'flood' (expected one of partition"),
        ({"bug": "no-such-bug"}, "unknown bug 'no-such-bug' for system raftkv (its switches: vote-ignores-log"),
        ({"bug": "stale_read"}, "unknown bug 'stale_read' for system raftkv"),  # a misspelt switch is refused
        ({"system": "zookeeper"}, "unknown system 'zookeeper' (expected one of raftkv"),
        ({"system-opt": "nope=1"}, "--system-opt system raftkv has no option 'nope' (its options: simulate-page-cache, snapshot-every)"),
        ({"system-opt": "simulate-page-cache=maybe"}, "simulate-page-cache: expected true or false, got 'maybe'"),
        ({"system-opt": "no-equals-sign"}, "system-opt: expected KEY=VALUE, got 'no-equals-sign'"),
        ({"nodes": 16}, "nodes: a Docker cluster has 1 to 15 nodes, not 16"),
        ({"remote": "ssh"}, "remote ssh needs nodes-file"),
        ({"name": "../x"}, "name: must be a plain folder name"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(config, message):
    with pytest.raises(UsageError) as e:
        specs.build(config, source="t.yaml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_bad_flag_is_named_as_a_flag():
    with pytest.raises(UsageError, match=r"^--concurrency: must be at least 1"):
        specs.build(flags={"concurrency": "0"})


@pytest.mark.parametrize("text, message", [("[1, 2]", "expected a mapping"), ("a: [", "not valid YAML"), ("a: 1\n", "unknown option 'a'")])
def test_bad_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        specs.load(path)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        specs.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"time-limit": "inf"}, "--time-limit: expected a finite number, got inf"),
        ({"time-limit": "nan"}, "--time-limit: expected a finite number, got nan"),
        ({"time-limit": "1e999"}, "--time-limit: expected a finite number"),
        ({"recovery-time": "inf"}, "--recovery-time: expected a finite number"),
        ({"nemesis-interval": "inf"}, "--nemesis-interval: expected a finite number"),
        ({"nemesis-interval": "0.001"}, "--nemesis-interval: must be at least 0.1"),
        ({"availability-window": "-inf"}, "--availability-window: expected a finite number"),
        ({"rate": "1e-300"}, "--rate: must be at least 0.01, got 1e-300"),
        ({"rate": "1e300"}, "--rate: must be at most 100000"),
        ({"concurrency": "100000"}, "--concurrency: must be at most 1000, got 100000"),
        ({"test-count": "1000000"}, "--test-count: must be at most 10000"),
        ({"seed": "9" * 5000}, "--seed: expected an integer, got '99999"),
        ({"seed": str(2**63)}, "--seed: must be at most"),
        ({"name": "a\0b"}, "--name: control characters (NUL, newline, ...) are not allowed"),
        ({"name": "x" * 101}, "--name: must be a plain folder name of at most 100 characters"),
        ({"store": "st\0re"}, "--store: control characters"),
        ({"junit": "j\nunit.xml"}, "--junit: control characters"),
        ({"system": "raftkv\0"}, "--system: control characters"),
        ({"nemesis": "partition,ki\0ll"}, "--nemesis: control characters"),
        ({"bug": ["x" * 10_000]}, "--bug: at most 100 characters"),
        ({"system-opt": ["simulate-page-cache=\0"]}, "--system-opt: control characters"),
        ({"store": ""}, "--store: expected a path"),
    ],
)
def test_numbers_finite_and_in_range_names_plain(flags, message):
    with pytest.raises(UsageError) as e:
        specs.build(flags=flags)
    assert message in str(e.value)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400


def test_a_huge_value_is_quoted_short():
    with pytest.raises(UsageError) as e:
        specs.build({"workload": "w" * 100_000})
    assert len(str(e.value)) < 300


@pytest.mark.parametrize("text, message", [
    ("seed: " + "9" * 5000 + "\n", "not valid YAML"),  # beyond int()'s digit limit
    ("nodes: " + "[" * 5000 + "]" * 5000 + "\n", "t.yaml"),
    ("a: &a [1]\nb: *a\n", "aliases (*name) are not allowed"),
    ("time-limit: .inf\n", "time-limit: expected a finite number"),
    ("rate: .nan\n", "rate: expected a finite number"),
])
def test_bad_yaml_values_are_one_line(tmp_path, text, message):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        specs.load(path)
    assert message in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 400


def test_paths_are_checked_before_anything_runs(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="junit: .*no such folder"):
        specs.check_paths(specs.build({"junit": str(tmp_path / "missing" / "j.xml"), "store": str(tmp_path)}))
    with pytest.raises(UsageError, match="is a folder, not a file"):
        specs.check_paths(specs.build({"junit": str(tmp_path), "store": str(tmp_path)}))
    with pytest.raises(UsageError, match="store: .*is not a folder"):
        specs.check_paths(specs.build({"store": str(tmp_path / "file" / "store")}))
    with pytest.raises(UsageError, match="store: cannot write in /proc"):  # read-only even for root
        specs.check_paths(specs.build({"store": "/proc/rj-store"}))
    with pytest.raises(UsageError, match="cannot read"):
        specs.check_paths(specs.build({"remote": "ssh", "nodes-file": str(tmp_path / "nodes.yaml"), "store": str(tmp_path)}))
    specs.check_paths(specs.build({"store": str(tmp_path / "new" / "store"), "junit": str(tmp_path / "j.xml")}))
    assert not (tmp_path / "new").exists()  # checking creates nothing
