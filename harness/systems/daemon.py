"""A node's server process, started, killed, paused and resumed through its node's Remote (Jepsen's
`control.util/start-daemon!`), for any system whose node is one long-running process.

The process is never PID 1 (PID 1 ignores signals it has no handler for): it is started detached
(`setsid -f`), its pid recorded in a pid file together with its start time, so that a recycled
pid is never mistaken for it. It leads a process group of its own, and every signal goes to the
whole group: a node started through a wrapper script, or one that runs helpers (a shim and the
program behind it), dies, stops and continues as one, never leaving a child serving. Every action verifies its effect inside the node before returning,
in the same command, so that one round trip suffices: a kill waits until the process is reaped
(gone from /proc, not a zombie) and its port is closed; a start until the port listens; a pause
until the process is in state T; a resume until it is not. A kill also waits until no process of
the group is left. Each action is idempotent (killing a
dead process, starting a running one, resuming a running one do nothing), which is what lets
teardown apply it to every node."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.nodes import Node

WAIT_S = 15  # the longest any action may take to be verified before it counts as failed
# Sourced by the node process's shell just before it execs the server, when present: a fault that
# must be in the process from its start (libfaketime for the clock faults) puts its environment here.
NODE_ENV_FILE = "/run/rj/node.env"


@dataclass(frozen=True, kw_only=True)
class Daemon:
    name: str  # the system's name, for messages
    pid_file: str
    log_file: str
    port: int  # listening on it means started; closed means killed
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    wait_s: int = WAIT_S

    def start(self, node: Node, command: Sequence[str]) -> None:
        self._run(node, self._start_script(command), "start")

    def kill(self, node: Node, at: float | None = None) -> None:
        """kill -9; at `at` (wall-clock epoch seconds) when given, so that processes killed
        together die at the same instant."""
        self._run(node, f"at={int((at or 0) * 1e9)}\n" + _KILL, "kill")

    def forget(self, node: Node) -> None:
        """Kill the process and remove its pid files: the node as it was before the first start
        (the log stays; the pid file's folder too, as it may have been there before)."""
        self.kill(node)
        self._run(node, f"rm -f {shlex.quote(self.pid_file)} {shlex.quote(self.pid_file + '.start')}", "cleanup")

    def pause(self, node: Node) -> None:
        self._run(node, _PAUSE, "pause")

    def resume(self, node: Node) -> None:
        self._run(node, _RESUME, "resume")

    def _start_script(self, command: Sequence[str]) -> str:
        # The inner sh writes its own pid, then execs the server: the pid file names the server
        # (exec keeps the pid and the start time). setsid -f detaches it from the exec session
        # (closing an SSH channel sends no SIGHUP); all three standard streams are redirected so
        # the exec does not wait for them.
        env = "".join(f"export {k}={shlex.quote(v)}; " for k, v in self.env.items())
        inner = (f"echo $$ >{self.pid_file}; {env}[ -r {NODE_ENV_FILE} ] && . {NODE_ENV_FILE}; "
                 f"cd {shlex.quote(self.workdir)} && "
                 f"exec {shlex.join(command)} >>{self.log_file} 2>&1")
        log_dir = self.log_file.rsplit("/", 1)[0] or "/"
        pid_dir = self.pid_file.rsplit("/", 1)[0] or "/"
        return self._prelude() + f"""\
running && {{ echo already-running; exit 0; }}
mkdir -p {shlex.quote(log_dir)} {shlex.quote(pid_dir)}
rm -f $pidfile $pidfile.start
setsid -f sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1
wait_for '[ -s $pidfile ]' || {{ echo "no pid file"; exit 1; }}
pid=$(cat $pidfile); started_at >$pidfile.start
wait_for 'listening || ! alive' || {{ echo "not listening on {self.port}"; exit 1; }}
alive || {{ echo "exited at start: $(tail -n 3 {self.log_file} | tr '\\n' ' ')"; exit 1; }}
echo started
"""

    def _prelude(self) -> str:
        """Shell pieces every action shares. `running` is true when the pid file names a live
        process that started when the recorded one did (a zombie, or a recycled pid, is not it)."""
        return f"""\
pidfile={self.pid_file}
pid=$(cat $pidfile 2>/dev/null)
started_at() {{ sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f20; }}
state() {{ sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f1; }}
alive() {{ [ -n "$pid" ] && [ -d /proc/$pid ] && [ "$(state)" != Z ]; }}
group_alive() {{ sed -n 's/.*) \\([A-Z]\\) [0-9]* \\([0-9]*\\) .*/\\2 \\1/p' /proc/[0-9]*/stat 2>/dev/null | grep -q "^$pid [^Z]"; }}
running() {{ alive && [ "$(started_at)" = "$(cat $pidfile.start 2>/dev/null)" ]; }}
listening() {{ cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':{self.port:04X} [0-9A-F:]* 0A '; }}
wait_for() {{ i=0; while ! eval "$1"; do i=$((i+1)); [ $i -gt {self.wait_s * 50} ] && return 1; sleep 0.02; done; }}
"""

    def _run(self, node: Node, script: str, what: str) -> None:
        if what != "start":
            script = self._prelude() + script
        result = node.remote.exec(script, check=False, timeout=self.wait_s + 15)
        if result.exit_code != 0:
            lines = (result.stdout + result.stderr).strip().splitlines()
            reason = lines[-1] if lines else f"exit {result.exit_code}"
            raise EnvironmentProblem(f"{node.name}: {self.name} {what} failed: {reason}")


# `$at` (epoch ns, 0 for now): several nodes killed together wait for one shared instant, so that
# they die as in one power cut rather than an exec round trip (~100 ms) apart: longer than a lazy
# fsync period, which would let the last node to die keep what the first lost. They sleep until
# then: busy-waiting in every node at once would starve the nodes of CPU right before the cut.
# A negative pid signals the process group (`kill -9 -PID`: dash's kill takes no `--`).
_KILL = """\
running || { echo not-running; exit 0; }
left=$(( at - $(date +%s%N) ))
[ "$left" -gt 0 ] && sleep "$(printf '%d.%09d' $((left / 1000000000)) $((left % 1000000000)))"
kill -9 -$pid
wait_for '[ ! -d /proc/$pid ] && ! listening && ! group_alive' || { echo "pid $pid or its group not reaped (state $(state))"; exit 1; }
echo killed
"""

_PAUSE = """\
running || { echo not-running; exit 0; }
kill -STOP -$pid
wait_for '[ "$(state)" = T ]' || { echo "pid $pid not stopped (state $(state))"; exit 1; }
echo paused
"""

# SIGCONT even a running process: teardown resumes every node, not knowing which were paused.
_RESUME = """\
running || { echo not-running; exit 0; }
kill -CONT -$pid
wait_for '[ "$(state)" != T ]' || { echo "pid $pid still stopped"; exit 1; }
echo resumed
"""
