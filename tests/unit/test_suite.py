"""suite: a matrix and a list of runs through a stand-in run_config; exit codes and JUnit."""

import sys
import types
import xml.etree.ElementTree as ET

import pytest

from raft_jepsen.harness.cli import main as cli
from raft_jepsen.harness.cli.suite import load_suite
from raft_jepsen.harness.errors import UsageError
from tests.unit.run_fixtures import make_run


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A stand-in for raft_jepsen.harness.cli.run.run_config: a synthetic run folder per config, invalid
    exactly when the config turns on a bug; seed 13 makes the run fail to start."""
    calls = []

    def run_config(config):
        calls.append(config)
        if config.get("seed") == 13:
            raise UsageError("node image missing and no mirror reachable")
        bad = bool(config.get("bugs"))
        run = make_run(tmp_path / "store", n_ops=300, valid=not bad, seed=config["seed"],
                       started=f"20261123T1500{len(calls):02d}", bugs=tuple(config.get("bugs") or ()))
        return (1 if bad else 0), run

    try:
        import raft_jepsen.harness.cli.run as module
    except ModuleNotFoundError:  # `run` is written concurrently; until then, a stand-in module
        module = types.ModuleType("raft_jepsen.harness.cli.run")
        module.HELP, module.add_arguments, module.main = "run one test", lambda p: None, lambda a: 0
        monkeypatch.setitem(sys.modules, "raft_jepsen.harness.cli.run", module)
    monkeypatch.setattr(module, "run_config", run_config, raising=False)
    return calls


def _suite(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_matrix_multiplies_out_with_shared_options(tmp_path):
    plan = load_suite(_suite(tmp_path, """
options: {workload: register, time_limit: 20}
matrix: {system: [raftkv], bugs: [[], [stale-read]], seed: [1, 2, 3]}
runs:
  - {bugs: [vote-ignores-log], seed: 7, expect: invalid}
"""))
    assert len(plan) == 7
    assert plan[0].config == {"workload": "register", "time_limit": 20, "system": "raftkv", "bugs": [], "seed": 1}
    assert [r.expect for r in plan] == ["valid"] * 6 + ["invalid"]


def test_all_valid_is_exit_0_and_junit_has_every_run(tmp_path, runs, capsys):
    junit = tmp_path / "junit.xml"
    suite = _suite(tmp_path, "matrix: {system: [raftkv], seed: [1, 2]}\n")
    assert cli(["suite", str(suite), "--junit", str(junit)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1].startswith("suite: 2 runs: 2 valid")
    assert ET.parse(junit).getroot().get("tests") == "2"
    assert (tmp_path / "store" / "index.html").read_text().count('class="badge valid"') == 2
    assert [c["seed"] for c in runs] == [1, 2]


def test_an_unexpected_invalid_run_is_exit_1(tmp_path, runs, capsys):
    junit = tmp_path / "junit.xml"
    suite = _suite(tmp_path, "matrix: {bugs: [[], [stale-read]], seed: [1]}\n")
    assert cli(["suite", str(suite), "--junit", str(junit)]) == 1
    assert "FAIL invalid" in capsys.readouterr().out
    assert ET.parse(junit).getroot().get("failures") == "1"


def test_expected_invalid_runs_pass(tmp_path, runs):
    suite = _suite(tmp_path, "expect: auto\nmatrix: {bugs: [[], [stale-read]], seed: [1, 2]}\n")
    assert cli(["suite", str(suite)]) == 0
    missed = _suite(tmp_path, "runs: [{seed: 3, expect: invalid}]\n")
    assert cli(["suite", str(missed)]) == 1


def test_a_run_that_cannot_start_is_unknown_exit_2(tmp_path, runs, capsys):
    junit = tmp_path / "junit.xml"
    suite = _suite(tmp_path, "runs: [{seed: 1}, {seed: 13}]\n")
    assert cli(["suite", str(suite), "--junit", str(junit)]) == 2
    assert "node image missing" in capsys.readouterr().out
    assert len(runs) == 2  # the broken run did not stop the suite
    assert ET.parse(junit).getroot().get("errors") == "1"


@pytest.mark.parametrize("text, message", [
    ("- just a list\n", "expected a mapping, got list: not a suite"),
    ("matrix: {seed: []}\n", "matrix.seed must be a non-empty list"),
    ("matrix: {seed: [1]}\nexpect: sometimes\n", "expect: expected one of"),
    ("runs: [{seed: 1, expect: maybe}]\n", "runs[1].expect"),
    ("seeds: [1]\n", "unknown key 'seeds'"),
    ("options: {}\n", "no runs"),
    ("matrix: {seed: [1}\n", "not valid YAML"),
])
def test_bad_suite_files_are_one_line_exit_3(tmp_path, runs, capsys, text, message):
    assert cli(["suite", str(_suite(tmp_path, text))]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert runs == []


@pytest.mark.parametrize("text, message", [
    ("runs: [{nodes: 0}]\n", "runs[1]: nodes: must be at least 1"),
    ("matrix: {seed: [1, 2]}\nruns: [{seed: 1}, {workload: bank}]\n", "unknown workload 'bank'"),
    ("runs: [{seed: 1}, {nodez: 3}]\n", "runs[2]: unknown option 'nodez'"),
    ("options: {time-limit: .inf}\nmatrix: {seed: [1]}\n", "matrix run 1: time-limit: expected a finite number"),
    ("runs: [{bug: [no-such-bug]}]\n", "unknown bug 'no-such-bug'"),
    ("runs: [{nodes: 16}]\n", "a Docker cluster has 1 to 15 nodes"),
    ("runs: [{junit: /nonexistent-folder/j.xml}]\n", "runs[1]: junit: /nonexistent-folder: no such folder"),
    ("matrix: {seed: &s [1, 2]}\nruns: *s\n", "aliases (*name) are not allowed"),
    ("matrix: {" + ", ".join(f"k{i}: [{', '.join(map(str, range(10)))}]" for i in range(12)) + "}\n",
     "multiplies out to 1,000,000,000,000 runs"),
    ("runs: [{expect: " + "x" * 5000 + "}]\n", "got 'xxx"),
])
def test_every_entry_is_checked_before_any_runs_dry_run_too(tmp_path, runs, capsys, text, message):
    for extra in ([], ["--dry-run"]):
        assert cli(["suite", str(_suite(tmp_path, text)), *extra]) == 3
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and len(err) < 500
        assert runs == []


def test_expect_auto_honours_bug_and_bugs(tmp_path, runs, capsys):
    plan = load_suite(_suite(tmp_path, "expect: auto\nruns: [{bug: [stale-read]}, {bugs: stale-read}, {seed: 1}]\n"))
    assert [r.expect for r in plan] == ["invalid", "invalid", "valid"]


def test_a_non_utf8_suite_is_one_line(tmp_path, runs, capsys):
    path = tmp_path / "suite.yaml"
    path.write_bytes(b"runs: [{seed: 1}]\n# \xff\xfe\n")
    assert cli(["suite", str(path)]) == 3
    assert "not a UTF-8 text file" in capsys.readouterr().err


def test_a_bad_junit_path_is_refused_before_any_run(tmp_path, runs, capsys):
    suite = _suite(tmp_path, "runs: [{seed: 1}]\n")
    assert cli(["suite", str(suite), "--junit", str(tmp_path / "missing" / "j.xml")]) == 3
    assert "no such folder" in capsys.readouterr().err and runs == []
