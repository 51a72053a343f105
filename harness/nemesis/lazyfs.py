"""Losing un-fsynced writes for any system: its data directories on a write-back filesystem.

With `--nemesis lose-unsynced`, each node's data directories (the system kind's `data_dirs`) are
mounted, before the system starts, on `rjtools.lazyfs`, a FUSE filesystem in the node that keeps
file contents written since the last fsync in its memory. A `power-cut` then kills every node at
one instant, as `power-cut` does, and right after each node's kill tells its filesystems to drop
what was never fsynced (SIGUSR1), so the restarted node finds what a machine finds after losing
power: for raftkv without its simulated page cache, for etcd, for a YAML or Maelstrom node alike.
The recorded value adds what each node lost:

    {"target": "all", "nodes": [...], "together": true, "filesystem": "lazyfs",
     "lost": {"n1": {"bytes": 5120, "files": 1}, ...}, "verified_ms": 410}

FUSE needs the container to have CAP_SYS_ADMIN and /dev/fuse: the cluster grants them only when
this fault is asked for (`PRIVILEGES`), never --privileged."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Sequence

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import tools
from raft_jepsen.harness.nemesis.process import ProcessNemesis, power_cut_nemesis
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Killable

NAME = "lose-unsynced"
PRIVILEGES = (("SYS_ADMIN",), ("/dev/fuse",))  # (capabilities, devices) the containers need
BACKING_DIR = "/var/lib/rj-lazyfs"


def tool(i: int) -> str:
    return f"lazyfs-{i}"


def report_file(i: int) -> str:
    return f"{tools.RUN_DIR}/{tool(i)}.json"


def mount_command(i: int, directory: str) -> str:
    return tools.start_command(tool(i), "lazyfs", [
        "--backing", f"{BACKING_DIR}/{i}", "--mount", directory, "--report", report_file(i),
        "--ready", tools.ready_file(tool(i))])


def unmount_command(i: int) -> str:
    return tools.stop_command(tool(i))


# SIGUSR1, then wait until the report changes (its drop count always does); print it.
def drop_command(i: int) -> str:
    report = report_file(i)
    return f"""\
pid=$(cat {tools.pid_file(tool(i))} 2>/dev/null)
[ -n "$pid" ] && [ -d /proc/$pid ] || {{ echo "{tool(i)} is not running"; exit 1; }}
before=$(cat {report})
kill -USR1 $pid
i=0
while [ "$(cat {report})" = "$before" ]; do
  i=$((i+1)); [ $i -gt 500 ] && {{ echo "{tool(i)} did not drop within 10 s"; exit 1; }}
  sleep 0.02
done
cat {report}"""


def mount(node: Node, dirs: Sequence[str]) -> None:
    for i, d in enumerate(dirs):
        tools.run(node, mount_command(i, d), f"lazyfs mount of {d}")


def unmount(node: Node, dirs: Sequence[str]) -> None:
    for i in range(len(dirs)):
        tools.run(node, unmount_command(i), "lazyfs unmount")


def drop(node: Node, dirs: Sequence[str]) -> dict:
    """Drop every unsynced write on `node`'s filesystems; what this drop lost."""
    lost = {"bytes": 0, "files": 0}
    for i in range(len(dirs)):
        out = tools.run(node, drop_command(i), "lazyfs drop")
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise EnvironmentProblem(f"{node.name}: lazyfs report {out.strip()[:200]!r}") from None
        lost["bytes"] += report["last_bytes"]
        lost["files"] += report["last_files"]
    return lost


class _KillThenDrop:
    """The system's kill and start, with each kill followed by the node's drop."""

    def __init__(self, system: Killable, dirs: Sequence[str], lost: dict[str, dict]):
        self.system, self.dirs, self.lost = system, dirs, lost

    def kill(self, node: Node, at: float | None = None) -> None:
        self.system.kill(node, at)
        self.lost[node.name] = drop(node, self.dirs)

    def start(self, node: Node) -> None:
        self.system.start(node)


class LoseUnsyncedNemesis:
    """`power-cut` / `power-on`, with the page cache dropped between the kill and the restart."""

    fs = frozenset({"power-cut", "power-on"})

    def __init__(self, system: Killable, nodes: list[Node], rng: random.Random, dirs: Sequence[str]):
        if not dirs:
            raise UsageError(f"nemesis {NAME} needs a system that names its data directories")
        self.lost: dict[str, dict] = {}
        self.inner: ProcessNemesis = power_cut_nemesis(_KillThenDrop(system, dirs, self.lost), nodes, rng)

    def setup(self) -> None:
        self.inner.setup()

    def invoke(self, op: Op) -> Op:
        self.lost.clear()
        done = self.inner.invoke(op)
        if op.f != "power-cut":
            return done
        return replace(done, value={**done.value, "filesystem": "lazyfs", "lost": dict(sorted(self.lost.items()))})

    def teardown(self) -> None:
        self.inner.teardown()
