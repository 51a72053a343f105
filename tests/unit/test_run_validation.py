"""`raft-jepsen run`: bad input is one line and exit 3 before any container starts (the runner,
which is where Docker is first touched, must never be reached)."""

import pytest

from raft_jepsen.harness import cli
from raft_jepsen.harness.cli import run as run_command


@pytest.fixture
def no_runner(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the runner was reached")

    monkeypatch.setattr(run_command, "run", refuse)


@pytest.mark.parametrize("argv, message", [
    (["--time-limit", "inf"], "--time-limit: expected a finite number"),
    (["--recovery-time", "inf"], "--recovery-time: expected a finite number"),
    (["--nemesis-interval", "inf"], "--nemesis-interval: expected a finite number"),
    (["--rate", "1e-300"], "--rate: must be at least 0.01"),
    (["--concurrency", "100000"], "--concurrency: must be at most 1000"),
    (["--name", "a\0b"], "--name: control characters"),
    (["--nodes", "16"], "nodes: a Docker cluster has 1 to 15 nodes, not 16"),
    (["--junit", "/nonexistent-folder/j.xml"], "junit: /nonexistent-folder: no such folder"),
    (["--store", "/proc/rj-store"], "store: cannot write in /proc"),
    (["--config", ""], "--config: empty file name"),
    (["--config", "/nonexistent.yaml"], "cannot read"),
    (["--workload", "bank"], "unknown workload 'bank'"),
    (["--remote", "ssh", "--nodes-file", "/nonexistent.yaml"], "cannot read"),
])
def test_bad_input_never_reaches_the_runner(no_runner, capsys, argv, message):
    assert cli.main(["run", *argv]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
