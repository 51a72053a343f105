"""The partition nemesis: `start-partition` cuts the cluster along a grudge, `stop-partition`
heals it, and both are proven with a probe matrix before the op is recorded.

Each start draws one of the configured kinds (halves, one, leader, ring, bridge) through the
seeded rng, the leader kind more often (`WEIGHTS`). The recorded value says what was done and
when it held:

    {"kind": "halves", "grudge": {"n1": ["n3", "n4", "n5"], ...},
     "applied_ms": 140, "verified_ms": 820}

`applied_ms` runs from the start of the invoke until every node's rules were committed (from then
on the kernel drops the packets; for a heal, also until both `-save` outputs were read back);
`verified_ms` until the probe matrix matched, which for a cut includes the probe's connect
timeout, since a cut is only seen as a timeout. A matrix that never matches is
recorded as `"verified_ms": null` with the `"observed"` matrix: the history says so rather than
pretending."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Callable

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import grudges
from raft_jepsen.harness.nemesis.net import Net

KINDS: dict[str, Callable[[list[str], random.Random], grudges.Grudge]] = {
    "halves": grudges.halves,
    "one": grudges.isolate_one,
    "ring": grudges.majorities_ring,
    "bridge": grudges.bridge,
}
LEADER = "leader"  # isolate whoever leads now: needs the system to say who that is
MIN_NODES = {"halves": 2, "one": 2, LEADER: 2, "ring": 4, "bridge": 3}
# How often each kind is drawn, relative to 1 for the others: with all five kinds, half the
# partitions cut the leader off. That is the partition Raft must survive without a stale read or
# a lost acknowledgement; the other kinds leave the leader with its majority most of the time.
WEIGHTS = {LEADER: 4}


class PartitionNemesis:
    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(
        self,
        net: Net,
        kinds: list[str],
        rng: random.Random,
        primaries: Callable[[], list[str]] = list,
    ):
        if not kinds:
            raise UsageError("a partition nemesis needs at least one kind")
        unknown = [k for k in kinds if k not in MIN_NODES]
        if unknown:
            raise UsageError(f"unknown partition kind {unknown[0]!r} (expected one of {', '.join(MIN_NODES)})")
        self.net = net
        self.kinds = list(kinds)
        self.weights = [WEIGHTS.get(k, 1) for k in self.kinds]
        self.rng = rng
        self.primaries = primaries
        self.names = sorted(n.name for n in net.nodes)

    def setup(self) -> None:
        # A crashed earlier run may have left rules behind: start from a proven clean network.
        self._heal_or_raise()

    def invoke(self, op: Op) -> Op:
        started = time.monotonic()
        if op.f == "start-partition":
            value = self._start(started)
        elif op.f == "stop-partition":
            value = self._stop(started)
        else:
            raise UsageError(f"the partition nemesis cannot do {op.f!r}")
        return replace(op, value=value)

    def teardown(self) -> None:
        self._heal_or_raise()
        left = {n: rules for n, rules in self.net.remove().items() if rules}
        if left:
            raise EnvironmentProblem(f"the RJ chain could not be removed: {left}")

    def _start(self, started: float) -> dict:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == LEADER:
            leaders = sorted(self.primaries())
            if not leaders:
                return {"kind": kind, "grudge": {}, "skipped": "no leader"}
            grudge = grudges.isolate(self.names, self.rng.choice(leaders))
        else:
            grudge = KINDS[kind](self.names, self.rng)
        self.net.drop(grudge)
        return {"kind": kind, "grudge": grudges.to_json(grudge), **self._prove(grudge, started)}

    def _stop(self, started: float) -> dict:
        leftover = {n: rules for n, rules in self.net.heal().items() if rules}
        value = {"grudge": {}, **self._prove({}, started)}
        if leftover:
            value["leftover"] = leftover
        return value

    def _prove(self, grudge: grudges.Grudge, started: float) -> dict:
        applied_ms = _elapsed_ms(started)
        matrix = self.net.verify(grudge)
        if matrix.matches(grudge):
            return {"applied_ms": applied_ms, "verified_ms": _elapsed_ms(started)}
        return {"applied_ms": applied_ms, "verified_ms": None, "observed": matrix.to_json()}

    def _heal_or_raise(self) -> None:
        value = self._stop(time.monotonic())
        if "leftover" in value:
            raise EnvironmentProblem(f"network heal not verified: RJ rules left {value['leftover']}")
        if value["verified_ms"] is None:
            raise EnvironmentProblem(f"network heal not verified: cuts seen {value['observed']}")


def _elapsed_ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)
