"""The node-side helper programs of the faults (`rjtools` in the node image, /opt/rj), started and
stopped through a node's Remote.

Each runs detached (`setsid -f`) under a pid file `/run/rj/<name>.pid`, its stderr in
`/var/log/rj/<name>.log`. A start returns once the program says it is ready (it creates a ready
file) or fails with the log's last lines; a stop sends SIGTERM (the program undoes what it holds:
the packet queue releases its packets), waits until the process is gone, and is a no-op when
nothing runs, so teardown can stop every tool on every node."""

from __future__ import annotations

import shlex
from typing import Sequence

from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.nodes import Node

TOOLS_DIR = "/opt/rj"
RUN_DIR = "/run/rj"
LOG_DIR = "/var/log/rj"
WAIT_S = 10


def pid_file(name: str) -> str:
    return f"{RUN_DIR}/{name}.pid"


def ready_file(name: str) -> str:
    return f"{RUN_DIR}/{name}.ready"


def start_command(name: str, module: str, args: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Start `python3 -m rjtools.<module> args` as tool `name`, replacing a running one; the
    program must create `ready_file(name)` once it works."""
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in (env or {}).items())
    inner = (f"echo $$ >{pid_file(name)}; export PYTHONPATH={TOOLS_DIR}; {exports}"
             f"exec python3 -m rjtools.{module} {shlex.join(args)}")
    log = f"{LOG_DIR}/{name}.log"
    return stop_command(name) + f"""
mkdir -p {RUN_DIR} {LOG_DIR}
rm -f {ready_file(name)}
setsid -f sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>>{log}
i=0
while [ ! -e {ready_file(name)} ]; do
  i=$((i+1))
  pid=$(cat {pid_file(name)} 2>/dev/null)
  if [ $i -gt {WAIT_S * 50} ] || {{ [ $i -gt 25 ] && [ -n "$pid" ] && [ ! -d /proc/$pid ]; }}; then
    echo "{name} did not start: $(tail -n 2 {log} | tr '\\n' ' ')"; exit 1
  fi
  sleep 0.02
done
echo started"""


def stop_command(name: str) -> str:
    """SIGTERM the tool, wait for it to exit (SIGKILL after WAIT_S), remove its pid file."""
    return f"""\
pid=$(cat {pid_file(name)} 2>/dev/null)
if [ -n "$pid" ] && [ -d /proc/$pid ]; then
  kill -TERM $pid 2>/dev/null
  i=0
  while [ -d /proc/$pid ] && [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != Z ]; do
    i=$((i+1)); [ $i -eq {WAIT_S * 50} ] && kill -KILL $pid 2>/dev/null
    [ $i -gt {WAIT_S * 60} ] && {{ echo "{name} (pid $pid) does not exit"; exit 1; }}
    sleep 0.02
  done
fi
rm -f {pid_file(name)} {ready_file(name)}"""


def run(node: Node, cmd: str, what: str, timeout: float = WAIT_S * 2 + 15) -> str:
    """Run `cmd` on `node`; its stdout, or EnvironmentProblem naming `what` and the last line."""
    result = node.remote.exec(cmd, check=False, timeout=timeout)
    if result.exit_code != 0:
        lines = (result.stdout + result.stderr).strip().splitlines()
        raise EnvironmentProblem(f"{node.name}: {what} failed: {lines[-1] if lines else f'exit {result.exit_code}'}")
    return result.stdout
