"""The raftkv adapter: how the harness starts, kills, pauses and questions the bundled node.

The node runs inside its container (or on an SSH host) as one process started through the Remote,
never as PID 1, with its pid in /run/rj/node.pid (`docs/architecture.md`, container conventions).
It is always started with `--simulate-page-cache`, so a `kill -9` loses exactly what a power cut
would: what the node wrote but never fsynced.

Every action verifies its effect inside the node before returning, in the same exec so that one
round trip suffices: a kill waits until the process is reaped (gone from /proc, not a zombie)
and its client port is closed; a start until the client port listens; a pause until the process
is in state T; a resume until it is not. Each action is idempotent (killing a dead node, starting
a running one, resuming a running one do nothing), which is what lets teardown apply it to every
node."""

from __future__ import annotations

import json
import shlex
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from raft_jepsen.harness.clients.raftkv import RaftKVClient
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client

RAFT_PORT = 7000
CLIENT_PORT = 8000
PID_FILE = "/run/rj/node.pid"
LOG_FILE = "/var/log/rj/node.log"
DATA_DIR = "/var/lib/raftkv"
CODE_DIR = "/opt/raftkv"
WAIT_S = 15  # the longest any action may take to be verified before it counts as failed

# Shell pieces shared by the actions. `running` is true when the pid file names a live raftkv
# process: a zombie has an empty cmdline, and a recycled pid another command line.
_PRELUDE = f"""\
pid=$(cat {PID_FILE} 2>/dev/null)
running() {{ [ -n "$pid" ] && grep -q raftkv /proc/$pid/cmdline 2>/dev/null; }}
listening() {{ cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':{CLIENT_PORT:04X} [0-9A-F:]* 0A '; }}
state() {{ sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f1; }}
wait_for() {{ i=0; while ! eval "$1"; do i=$((i+1)); [ $i -gt {WAIT_S * 50} ] && return 1; sleep 0.02; done; }}
"""

# `$at` (epoch ns, 0 for now): several nodes killed together wait for one shared instant, so that
# they die as in one power cut rather than an exec round trip (~100 ms) apart: longer than a lazy
# fsync period, which would let the last node to die keep what the first lost. They sleep until
# then: busy-waiting in every node at once would starve the nodes of CPU right before the cut.
_KILL = _PRELUDE + """\
running || { echo not-running; exit 0; }
left=$(( at - $(date +%s%N) ))
[ "$left" -gt 0 ] && sleep "$(printf '%d.%09d' $((left / 1000000000)) $((left % 1000000000)))"
kill -9 $pid
wait_for '[ ! -d /proc/$pid ] && ! listening' || { echo "pid $pid not reaped (state $(state))"; exit 1; }
echo killed
"""

_PAUSE = _PRELUDE + """\
running || { echo not-running; exit 0; }
kill -STOP $pid
wait_for '[ "$(state)" = T ]' || { echo "pid $pid not stopped (state $(state))"; exit 1; }
echo paused
"""

# SIGCONT even a running process: teardown resumes every node, not knowing which were paused.
_RESUME = _PRELUDE + """\
running || { echo not-running; exit 0; }
kill -CONT $pid
wait_for '[ "$(state)" != T ]' || { echo "pid $pid still stopped"; exit 1; }
echo resumed
"""


class RaftKV:
    """System adapter for raftkv: Killable, Pausable, HasPrimaries, HasLogs."""

    def __init__(self, nodes: Sequence[Node], *, bugs: Sequence[str] = (), client_retries: int = 0,
                 simulate_page_cache: bool = True):
        """`client_retries`: how often a client resends a command whose outcome is unknown
        (harness.clients.raftkv); the workload chooses it."""
        self.nodes = list(nodes)
        self.bugs = list(bugs)
        self.client_retries = client_retries
        self.simulate_page_cache = simulate_page_cache

    def setup(self, node: Node) -> None:
        """A fresh node: no process, no data, an empty log; then start it."""
        self.teardown(node)
        _run(node, f"mkdir -p {DATA_DIR} /run/rj /var/log/rj && : > {LOG_FILE}", "setup")
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.kill(node)  # SIGKILL ends a stopped process too
        _run(node, f"rm -rf {DATA_DIR} {PID_FILE}", "teardown")

    def client(self, node: Node) -> Client:
        return RaftKVClient({n.name: n.client_addr for n in self.nodes}, retries=self.client_retries)

    def kill(self, node: Node, at: float | None = None) -> None:
        """kill -9 the node; at `at` (wall-clock epoch seconds) when given, so that nodes killed
        together die at the same instant."""
        _run(node, f"at={int((at or 0) * 1e9)}\n" + _KILL, "kill")

    def start(self, node: Node) -> None:
        _run(node, self._start_script(node), "start")

    def pause(self, node: Node) -> None:
        _run(node, _PAUSE, "pause")

    def resume(self, node: Node) -> None:
        _run(node, _RESUME, "resume")

    def primaries(self, nodes: list[Node]) -> list[str]:
        """The nodes reporting role leader at the highest term any leader reports. Nodes that do
        not answer (killed, paused, cut off) simply do not count."""
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            statuses = list(pool.map(status, nodes))
        leaders = [(s["term"], n.name) for n, s in zip(nodes, statuses) if s and s.get("role") == "leader"]
        if not leaders:
            return []
        top = max(term for term, _ in leaders)
        return sorted(name for term, name in leaders if term == top)

    def log_files(self, node: Node) -> list[str]:
        return [LOG_FILE]

    def command(self, node: Node) -> list[str]:
        """The node's command line. Peers are addressed by IP: container hostnames are not
        necessarily resolvable by other containers, and grudges are IP based anyway."""
        peers = ",".join(f"{n.name}={n.ip}:{RAFT_PORT}" for n in self.nodes)
        cmd = ["python3", "-m", "raftkv", "--id", node.name, "--peers", peers, "--data", DATA_DIR]
        cmd += ["--client-port", str(CLIENT_PORT)]
        for bug in self.bugs:
            cmd += ["--bug", bug]
        if self.simulate_page_cache:
            cmd.append("--simulate-page-cache")
        return cmd

    def _start_script(self, node: Node) -> str:
        # The inner sh writes its own pid, then execs the node, so the pid file names the node.
        # setsid -f detaches it from the exec session (closing an SSH channel sends no SIGHUP);
        # all three standard streams are redirected so the exec does not wait for them.
        inner = f"echo $$ >{PID_FILE}; exec {shlex.join(self.command(node))} >>{LOG_FILE} 2>&1"
        return _PRELUDE + f"""\
running && {{ echo already-running; exit 0; }}
mkdir -p {DATA_DIR} /run/rj /var/log/rj
rm -f {PID_FILE}
PYTHONPATH={CODE_DIR} setsid -f sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1
wait_for '[ -s {PID_FILE} ]' || {{ echo "no pid file"; exit 1; }}
pid=$(cat {PID_FILE})
wait_for 'listening || ! running' || {{ echo "not listening on {CLIENT_PORT}"; exit 1; }}
running || {{ echo "exited at start: $(tail -n 3 {LOG_FILE} | tr '\\n' ' ')"; exit 1; }}
echo started
"""


def status(node: Node, timeout: float = 1.0) -> dict | None:
    """The node's `status` reply fields, or None when it does not answer in time."""
    try:
        with socket.create_connection(node.client_addr, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b'{"id": 0, "op": "status"}\n')
            line = sock.makefile("rb").readline()
        reply = json.loads(line)
    except (OSError, ValueError):
        return None
    if not isinstance(reply, dict) or not reply.get("ok") or not isinstance(reply.get("term"), int):
        return None
    return reply


def _run(node: Node, script: str, what: str) -> None:
    result = node.remote.exec(script, check=False, timeout=WAIT_S + 15)
    if result.exit_code != 0:
        lines = (result.stdout + result.stderr).strip().splitlines()
        reason = lines[-1] if lines else f"exit {result.exit_code}"
        raise EnvironmentProblem(f"{node.name}: raftkv {what} failed: {reason}")
