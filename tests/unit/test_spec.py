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
        ({"rate": 0}, "rate: must be positive"),
        ({"recovery_time": -1}, "recovery-time: must be at least 0"),
        ({"leave-running": "yes"}, "leave-running: expected true or false"),
        ({"nemesis": [1]}, "nemesis: expected a list of names"),
        ({"workload": "bank"}, "unknown workload 'bank' (expected one of register, kv, append, set)"),
        ({"nemesis": "partition,flood"}, "unknown nemesis 'flood' (expected one of partition"),
        ({"bug": "no-such-bug"}, "unknown bug 'no-such-bug' for system raftkv (its switches: vote-ignores-log"),
        ({"bug": "stale_read"}, "unknown bug 'stale_read' for system raftkv"),  # a misspelt switch is refused
        ({"system": "zookeeper"}, "unknown system 'zookeeper' (expected one of raftkv"),
        ({"system-opt": "nope=1"}, "--system-opt system raftkv has no option 'nope' (its options: simulate-page-cache)"),
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
