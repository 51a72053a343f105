"""The status monitor: what each node says of itself (role, term, leader, commit index), asked
every `interval_s` during the run, for the Raft invariants and the liveness checks.

One thread per node, each on its own connection (the system's `HasStatus.status`), so a paused
or cut-off node, which costs its poll a whole timeout, never delays what the others say; the
clients' connections are untouched. A system without `HasStatus` gets a monitor that hears
nothing. The answers go to `status.jsonl` in the run folder, times on the history's axis."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from raft_jepsen.harness.history import roles
from raft_jepsen.harness.history.roles import NodeStatus
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import HasStatus, System

INTERVAL_S = 0.3  # modest: 5 nodes give ~17 small requests a second


class StatusMonitor:
    def __init__(self, system: System, nodes: list[Node], interval_s: float = INTERVAL_S):
        self._system = system
        self._nodes = list(nodes) if isinstance(system, HasStatus) else []
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._heard: list[NodeStatus] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll, args=(n,), name=f"status-{n.name}", daemon=True)
                         for n in self._nodes]
        self.errors: list[str] = []

    def start(self) -> StatusMonitor:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[NodeStatus]:
        """Stop polling; every answer heard, in time order (epoch ns)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        with self._lock:
            return sorted(self._heard, key=lambda s: (s.time, s.node))

    def write(self, path: Path, origin_epoch_ns: int) -> None:
        """Stop, and write what was heard to `path` with times relative to `origin_epoch_ns`."""
        heard = self.stop()
        if self._nodes:
            roles.write_status(path, [replace(s, time=s.time - origin_epoch_ns) for s in heard])

    def _poll(self, node: Node) -> None:
        while not self._stop.is_set():
            try:
                status = self._system.status(node)  # type: ignore[attr-defined]
            except Exception as e:  # a poll that fails is a poll not heard, never a crashed run
                status = None
                if len(self.errors) < 10:
                    self.errors.append(f"{node.name}: status failed: {type(e).__name__}: {e}")
            if status is not None:
                with self._lock:
                    self._heard.append(status)
            self._stop.wait(self._interval_s)
