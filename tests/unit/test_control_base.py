"""The Remote contract's pure parts: how a command and its timeout become an argv, how a
timeout is told apart from a command's own exit code, and the no-op remote for tests."""

from __future__ import annotations

import subprocess

import pytest

from raft_jepsen.harness.control.base import (
    CommandFailed,
    NullRemote,
    Remote,
    Result,
    command_argv,
    timed_out,
)
from raft_jepsen.harness.control.docker import DockerRemote
from raft_jepsen.harness.control.ssh import SshRemote


def test_every_remote_satisfies_the_protocol():
    # Neither constructor connects: a container handle and an address are all they keep.
    for remote in (NullRemote(), DockerRemote(container=object(), name="n1"), SshRemote("192.0.2.1")):
        assert isinstance(remote, Remote)


def test_command_argv_runs_by_sh_and_wraps_timeouts():
    assert command_argv("echo 'a b' | wc -c", None) == ["sh", "-c", "echo 'a b' | wc -c"]
    assert command_argv("sleep 9", 1.5) == ["timeout", "-k", "2", "1.5", "sh", "-c", "sleep 9"]


def test_the_wrapped_argv_really_stops_the_command_with_exit_124():
    done = subprocess.run(command_argv("sleep 30", 0.2), capture_output=True, timeout=10)
    assert done.returncode == 124


def test_exit_124_is_a_timeout_only_when_the_timeout_has_elapsed():
    assert timed_out(Result(124, "", ""), 1.0, elapsed=1.01)
    assert not timed_out(Result(124, "", ""), 1.0, elapsed=0.2)  # the command's own exit code
    assert not timed_out(Result(124, "", ""), None, elapsed=99)
    assert not timed_out(Result(0, "", ""), 1.0, elapsed=5)


def test_null_remote_records_calls_and_checks_exit_codes():
    remote = NullRemote(respond=lambda cmd: Result(1, "", "nope\n") if "fail" in cmd else Result(0, "ok", ""))
    assert remote.exec("true").stdout == "ok"
    assert remote.exec("fail", check=False).exit_code == 1
    with pytest.raises(CommandFailed, match=r"null: `fail` exited 1: nope") as raised:
        remote.exec("fail")
    assert raised.value.result.stderr == "nope\n"
    remote.upload("a", "/b")
    assert remote.calls == [("exec", "true"), ("exec", "fail"), ("exec", "fail"), ("upload", "a", "/b")]
