"""Faults timed on the cluster's state (`--nemesis-timing`): during an election, or right after a
leader change, rather than whenever the schedule says.

A healthy cluster never shows those moments on its own, and waiting for another fault to cause
one would couple the faults' timetables, so a timed fault makes its own: it SIGSTOPs the current
leader (the trigger, recorded), then

- `election`: acts at a seeded moment 100-600 ms after the pause (raftkv's election timeout is
  300-600 ms), provided no new leader has been seen by then: the fault lands while the others
  are electing. A leader seen earlier makes the fault skipped, with when;
- `leader-change`: watches who leads (HasPrimaries, every 20 ms) and acts as soon as another
  node leads: the new leader has had no time to commit an entry of its own term (Raft's figure 8).

Then the fault itself is chosen as usual, on the cluster as it is at that moment: `kill-leader`
kills the new leader, `partition-leader-minority` cuts it off with a minority. The paused old
leader is resumed when the fault is healed (a stale leader coming back is part of the test). The
recorded value carries `"timing": {"at": "leader-change", "paused": "n2", "new_leader": "n4",
"waited_ms": 420}`; no leader to pause, or no moment within its wait (one nemesis interval), makes the fault skipped
(and the leader is resumed at once)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import FAULT_OPS
from raft_jepsen.harness.nemesis.base import Nemesis
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Pausable

TIMINGS = {
    "interval": "faults start on the schedule (every --nemesis-interval)",
    "election": "each fault lands while a new leader is being elected (the nemesis pauses the leader to start "
                "one; needs a system that names its leader and can be paused)",
    "leader-change": "each fault lands right after a new leader is seen (the nemesis pauses the leader to cause "
                     "one; needs a system that names its leader and can be paused)",
}
WAIT_S = 10.0  # how long a timed fault waits for its moment, by default (a package: one interval)
POLL_S = 0.02
ELECTION_MOMENT_S = (0.1, 0.6)


class TimedNemesis:
    """`inner`'s fault starts, each at the moment `at` names; its other ops go straight through."""

    def __init__(self, inner: Nemesis, at: str, system: Pausable, nodes: list[Node], rng: random.Random,
                 primaries: Callable[[], list[str]], held: set[str], wait_s: float = WAIT_S):
        """`held`: shared with `primaries`, which asks only the nodes not in it: a paused node
        answers no status, and asking it would cost a timeout on every poll."""
        if at not in TIMINGS or at == "interval":
            raise UsageError(f"unknown nemesis timing {at!r} (expected one of {', '.join(TIMINGS)})")
        self.inner, self.at, self.system, self.rng = inner, at, system, rng
        self.fs = inner.fs
        self.nodes = {n.name: n for n in nodes}
        self.primaries = primaries
        self.wait_s = wait_s
        self.paused: list[str] = []  # old leaders this nemesis paused and has not resumed
        self.held = held

    def setup(self) -> None:
        self.inner.setup()

    def teardown(self) -> None:
        try:
            self._resume()
        finally:
            self.inner.teardown()

    def invoke(self, op: Op) -> Op:
        if op.f not in FAULT_OPS:  # a heal: heal, then bring back the leader paused for it
            done = self.inner.invoke(op)
            if not self.paused:
                return done
            resumed = self._resume()
            return replace(done, value={**(done.value if isinstance(done.value, dict) else {}), "resumed": resumed})
        timing: dict = {"at": self.at}
        if self.paused:  # a fault that moves (a partition) starts again before any heal
            timing["resumed"] = self._resume()
        leaders = sorted(self.primaries())
        if not leaders:
            return replace(op, value={"timing": timing, "skipped": "no leader to pause for the moment"})
        old = self.rng.choice(leaders)
        delay = self.rng.uniform(*ELECTION_MOMENT_S)  # drawn whatever the timing: the same seed, the same draws
        started = time.monotonic()
        self.system.pause(self.nodes[old])
        self.paused.append(old)
        self.held.add(old)
        timing["paused"] = old
        why = self._wait(old, delay, started, timing)
        if why is not None:
            timing["resumed"] = self._resume()
            return replace(op, value={"timing": timing, "skipped": why})
        done = self.inner.invoke(op)
        value = done.value if isinstance(done.value, dict) else {"value": done.value}
        return replace(done, value={**value, "timing": timing})

    def _wait(self, old: str, delay: float, started: float, timing: dict) -> str | None:
        """Wait for the moment; None when it came (`timing` says when), else why not."""
        while True:
            waited = time.monotonic() - started
            new = [n for n in self.primaries() if n != old]
            if new:
                if self.at == "leader-change":
                    timing.update(new_leader=min(new), waited_ms=round(waited * 1000))
                    return None
                return f"{min(new)} was elected {round(waited * 1000)} ms after {old} was paused, before the moment"
            if self.at == "election" and waited >= delay:
                timing.update(leaderless_ms=round(waited * 1000))
                return None
            if waited > self.wait_s:
                return f"no new leader within {self.wait_s:g} s of pausing {old}"
            time.sleep(POLL_S)

    def _resume(self) -> list[str]:
        paused, self.paused = self.paused, []
        for name in paused:
            self.system.resume(self.nodes[name])
            self.held.discard(name)
        return paused
