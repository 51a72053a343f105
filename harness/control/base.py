"""The Remote protocol: the only way a command reaches a node.

Every fault, every node start and every log copy is a shell command or a file copy through a
Remote, so the same nemesis drives containers (`DockerRemote`, docker exec) and real hosts
(`SshRemote`, SSH). Nothing else in raft-jepsen runs commands on nodes.

A command is a string run by `sh -c` on the node. `exec` waits for it (a daemon is started by a
command that detaches it: `systems.daemon`); `upload`/`download` copy one regular file to/from a
full path on the node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from raft_jepsen.harness.errors import EnvironmentProblem

# `timeout(1)` exits 124 when it stopped the command, 137 when it had to SIGKILL it.
TIMEOUT_EXIT_CODES = (124, 137)
# Seconds between timeout(1)'s SIGTERM and its SIGKILL.
KILL_AFTER_S = 2


@dataclass(frozen=True, slots=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class RemoteError(EnvironmentProblem):
    """A node could not be reached, or a command on it failed or timed out."""


class CommandFailed(RemoteError):
    """`exec(..., check=True)` of a command that exited non-zero; the result is attached."""

    def __init__(self, target: str, cmd: str, result: Result):
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        reason = f": {detail[-1]}" if detail else ""
        super().__init__(f"{target}: `{_short(cmd)}` exited {result.exit_code}{reason}")
        self.result = result


class CommandTimeout(RemoteError):
    """The command ran past its timeout and was killed: what it did is unknown."""

    def __init__(self, target: str, cmd: str, timeout: float):
        super().__init__(f"{target}: `{_short(cmd)}` did not finish within {timeout:g} s")


def _short(cmd: str) -> str:
    return cmd if len(cmd) <= 80 else cmd[:77] + "..."


def command_argv(cmd: str, timeout: float | None) -> list[str]:
    """The argv that runs `cmd` by `sh -c` on the node, under coreutils' timeout(1) when a
    timeout is given, so that the command itself is stopped, not just our wait for it."""
    argv = ["sh", "-c", cmd]
    if timeout is None:
        return argv
    return ["timeout", "-k", str(KILL_AFTER_S), f"{timeout:g}", *argv]


def timed_out(result: Result, timeout: float | None, elapsed: float) -> bool:
    # The exit code alone could be the command's own; the elapsed time tells them apart.
    return timeout is not None and result.exit_code in TIMEOUT_EXIT_CODES and elapsed >= timeout


def finish(name: str, cmd: str, exit_code: int, out: bytes | None, err: bytes | None,
           timeout: float | None, elapsed: float, check: bool) -> Result:
    """The Result of a finished command, or the error it amounts to (what every Remote does)."""
    result = Result(exit_code, (out or b"").decode("utf-8", errors="replace"),
                    (err or b"").decode("utf-8", errors="replace"))
    if timed_out(result, timeout, elapsed):
        raise CommandTimeout(name, cmd, timeout)
    if check and not result.ok:
        raise CommandFailed(name, cmd, result)
    return result


@runtime_checkable
class Remote(Protocol):
    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        """Run `cmd` by `sh -c` and wait for it. `check`: raise `CommandFailed` on a non-zero
        exit. A command still running after `timeout` seconds is killed: `CommandTimeout`."""
        ...

    def upload(self, src: str | Path, dst: str) -> None:
        """Copy the local file `src` to the path `dst` on the node (its directory must exist)."""
        ...

    def download(self, src: str, dst: str | Path) -> None:
        """Copy the node's file `src` to the local path `dst`."""
        ...


@dataclass
class NullRemote:
    """A Remote that runs nothing: it records every call and answers `respond(cmd)` (exit 0 and
    no output by default). For tests of the layers above Remote."""

    name: str = "null"
    respond: Callable[[str], Result] = lambda cmd: Result(0, "", "")
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        self.calls.append(("exec", cmd))
        result = self.respond(cmd)
        if check and not result.ok:
            raise CommandFailed(self.name, cmd, result)
        return result

    def upload(self, src: str | Path, dst: str) -> None:
        self.calls.append(("upload", str(src), dst))

    def download(self, src: str, dst: str | Path) -> None:
        self.calls.append(("download", src, str(dst)))

