"""In-memory stand-ins for a cluster, for runner tests (Jepsen's atom-db and atom-client).

`AtomDB` is one dict behind one lock: every operation takes effect atomically at one instant
inside its call, so any history it produces is linearizable. A flaw can be injected to prove the
harness notices:

- `stale-read`: every `STALE_EVERY`-th read of a key answers the value before the latest write;
- `lost-write`: every `LOST_EVERY`-th write is acknowledged but never applied;
- `crash`: every `CRASH_EVERY`-th operation raises in the client after taking effect;
- `duplicate-apply`: every `DUPLICATE_EVERY`-th append is applied twice (raftkv's flaw of that
  name, as a retried command without client dedup shows it).

Besides read / write / cas it serves `append` (the key's list grows by the value), as raftkv does.

`FakePartition` is a nemesis for it: while a partition is in force only the first node serves,
every other node refuses with a definite `not-leader` (as raftkv does without a quorum).
`backend(db)` puts them together for `raft_jepsen.harness.runner.run`."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

from raft_jepsen.harness.backend import Backend, make_package, make_system
from raft_jepsen.harness.control.base import NullRemote
from raft_jepsen.harness.history import CAS_MISMATCH, Op
from raft_jepsen.harness.nemesis.package import ComposedNemesis, Package
from raft_jepsen.harness.nodes import Node

FLAWS = ("stale-read", "lost-write", "crash", "duplicate-apply")
STALE_EVERY = 5
LOST_EVERY = 4
CRASH_EVERY = 7
DUPLICATE_EVERY = 6
LOG_FILE = "/var/log/rj/node.log"


class AtomDB:
    def __init__(self, flaw: str | None = None):
        if flaw is not None and flaw not in FLAWS:
            raise ValueError(f"unknown flaw {flaw!r} (expected one of {', '.join(FLAWS)})")
        self.flaw = flaw
        self.lock = threading.Lock()
        self.values: dict = {}
        self.previous: dict = {}  # key -> the value before the latest write (for stale reads)
        self.counts: dict[str, int] = {}
        self.partitioned = False
        self.set_up: list[str] = []
        self.torn_down: list[str] = []

    def _nth(self, what: str, every: int) -> bool:
        self.counts[what] = self.counts.get(what, 0) + 1
        return self.flaw is not None and self.counts[what] % every == 0

    def apply(self, op: Op, node: str) -> Op:
        with self.lock:
            if self.partitioned and node != "n1":
                return op.completed("fail", error="not-leader")
            crash = self.flaw == "crash" and self._nth("op", CRASH_EVERY)
            done = self._apply(op)
        if crash:
            raise RuntimeError(f"injected client crash after {op.f}")
        return done

    def _apply(self, op: Op) -> Op:
        key = op.key
        current = self.values.get(key)
        if op.f == "read":
            if self.flaw == "stale-read" and key in self.previous and self._nth("read", STALE_EVERY):
                return op.completed("ok", value=self.previous[key])
            return op.completed("ok", value=current)
        if op.f == "write":
            if not (self.flaw == "lost-write" and self._nth("write", LOST_EVERY)):
                self._set(key, op.value)
            return op.completed("ok")
        if op.f == "cas":
            old, new = op.value
            if current != old:
                return op.completed("fail", error=CAS_MISMATCH)
            self._set(key, new)
            return op.completed("ok")
        if op.f == "append":
            times = 2 if self.flaw == "duplicate-apply" and self._nth("append", DUPLICATE_EVERY) else 1
            self._set(key, (current or []) + [op.value] * times)
            return op.completed("ok")
        return op.completed("fail", error="bad-request")

    def _set(self, key, value) -> None:
        self.previous[key] = self.values.get(key)
        self.values[key] = value


class AtomClient:
    def __init__(self, db: AtomDB):
        self.db = db
        self.node: str | None = None

    def open(self, node: Node) -> None:
        self.node = node.name

    def invoke(self, op: Op) -> Op:
        return self.db.apply(op, self.node)

    def close(self) -> None:
        pass


class AtomSystem:
    """The System for an AtomDB (with HasLogs, so log collection is exercised too)."""

    def __init__(self, db: AtomDB):
        self.db = db

    def setup(self, node: Node) -> None:
        self.db.set_up.append(node.name)

    def teardown(self, node: Node) -> None:
        self.db.torn_down.append(node.name)

    def client(self, node: Node) -> AtomClient:
        return AtomClient(self.db)

    def log_files(self, node: Node) -> list[str]:
        return [LOG_FILE]


class FakePartition:
    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, db: AtomDB):
        self.db = db

    def setup(self) -> None:
        self.teardown()

    def invoke(self, op: Op) -> Op:
        self.db.partitioned = op.f == "start-partition"
        return op.completed("info", value={"serving": ["n1"]} if self.db.partitioned else None)

    def teardown(self) -> None:
        self.db.partitioned = False


class _LogRemote(NullRemote):
    """Downloads produce a one-line node log, as a real node's would."""

    def download(self, src: str, dst: str | Path) -> None:
        super().download(src, dst)
        Path(dst).write_text(f'{{"ts": 0, "node": "{self.name}", "event": "fake"}}\n')


def nodes(n: int) -> list[Node]:
    return [Node(name=f"n{i}", ip=f"10.0.0.{i}", client_addr=("127.0.0.1", 0), remote=_LogRemote(name=f"n{i}")) for i in range(1, n + 1)]


@contextlib.contextmanager
def cluster(n: int) -> Iterator[list[Node]]:
    yield nodes(n)


def backend(db: AtomDB | None = None) -> Backend:
    """Nodes without containers. With `db`: the AtomDB as the system and FakePartition for any
    nemesis. Without: the spec's system from the systems table and the real nemesis package, as
    `raft-jepsen run` builds them (for in-memory systems registered by a test)."""
    if db is None:
        return Backend(cluster=lambda spec, progress: cluster(spec.nodes), system=make_system, nemesis=make_package)

    def nemesis(spec, nodes, system, rng) -> Package:
        faults = (("start-partition", "stop-partition"),) if spec.nemesis else ()
        return Package(ComposedNemesis([FakePartition(db)]), faults, spec.nemesis_interval, ("stop-partition",))

    return Backend(
        cluster=lambda spec, progress: cluster(spec.nodes),
        system=lambda spec, nodes: AtomSystem(db),
        nemesis=nemesis,
    )
