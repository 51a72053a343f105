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
from raft_jepsen.harness.nemesis.targets import NoTarget

KINDS: dict[str, Callable[[list[str], random.Random], grudges.Grudge]] = {
    "halves": grudges.halves,
    "one": grudges.isolate_one,
    "ring": grudges.majorities_ring,
    "bridge": grudges.bridge,
}
LEADER = "leader"  # isolate whoever leads now: needs the system to say who that is
# The Raft-aware kinds (OpenRaft's leader-in-minority / leader-in-majority): the leader on the
# minority side with 0 or more followers, or on the majority side with the minority cut off; and
# one follower held apart until every node of the majority has compacted its log past the
# follower's last entry, so that whoever leads must send it a snapshot when the partition heals
# (etcd's robustness tests hold a partition the same way). They need the system to name its
# leader; `snapshot` also needs its log positions (HasSnapshots).
LEADER_MINORITY, LEADER_MAJORITY, SNAPSHOT = "leader-minority", "leader-majority", "snapshot"
RAFT_KINDS = frozenset({LEADER, LEADER_MINORITY, LEADER_MAJORITY, SNAPSHOT})
MIN_NODES = {"halves": 2, "one": 2, LEADER: 2, "ring": 4, "bridge": 3, LEADER_MINORITY: 3, LEADER_MAJORITY: 3,
             SNAPSHOT: 3}
SNAPSHOT_WAIT_S = 30.0  # how long `snapshot` waits for the compaction before calling it indeterminate
SNAPSHOT_POLL_S = 0.25
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
        positions: Callable[[str], tuple[int, int] | None] | None = None,
        snapshot_wait_s: float = SNAPSHOT_WAIT_S,
        held: set[str] | None = None,
    ):
        """`positions(node)`: the node's (last log index, snapshot index), None when it does not
        answer; the `snapshot` kind needs it. `held`: nodes a timed fault holds paused; the
        Raft-aware kinds count them on the side without a working majority, so that the side a
        kind promises a majority has one of live nodes."""
        if not kinds:
            raise UsageError("a partition nemesis needs at least one kind")
        unknown = [k for k in kinds if k not in MIN_NODES]
        if unknown:
            raise UsageError(f"unknown partition kind {unknown[0]!r} (expected one of {', '.join(MIN_NODES)})")
        self.net = net
        self._cut = False  # a partition is in force (installed, not yet healed)
        self.kinds = list(kinds)
        self.weights = [WEIGHTS.get(k, 1) for k in self.kinds]
        self.rng = rng
        self.primaries = primaries
        self.positions = positions
        self.held = held if held is not None else set()
        self.snapshot_wait_s = snapshot_wait_s
        if SNAPSHOT in self.kinds and positions is None:
            raise UsageError("a snapshot partition needs the system's log positions")
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
        value: dict = {"kind": kind}
        if kind in RAFT_KINDS:
            leaders = value["leaders"] = sorted(self.primaries())
            if not leaders:
                return self._skip(value, "no leader", started)
            leader = self.rng.choice(leaders)
            try:
                grudge = self._around(kind, leader)
            except NoTarget as e:
                return self._skip(value, str(e), started)
        else:
            grudge = KINDS[kind](self.names, self.rng)
        self.net.drop(grudge)
        self._cut = bool(grudge)
        value.update(grudge=grudges.to_json(grudge), **self._prove(grudge, started))
        if kind == SNAPSHOT and value["verified_ms"] is not None:
            value["behind"] = self._hold_until_compacted(grudge, value)
        return value

    def _around(self, kind: str, leader: str) -> grudges.Grudge:
        """The grudge of a Raft-aware kind, built around `leader`."""
        held = sorted(n for n in self.held if n != leader and n in self.names)
        followers = [n for n in self.names if n != leader and n not in held]
        minority = len(self.names) - grudges.majority(len(self.names))  # the largest minority
        if kind == LEADER:
            return grudges.isolate(self.names, leader)
        if len(held) + (kind == LEADER_MINORITY) > minority or not followers:
            raise NoTarget(f"{len(held)} node(s) held paused leave no minority side for {kind}")
        room = minority - len(held)  # live followers the minority side may still take
        if kind == LEADER_MINORITY:  # the leader, the held nodes and 0 or more followers
            side = [leader, *held, *self.rng.sample(followers, self.rng.randrange(room))]
        elif kind == LEADER_MAJORITY:  # cut off: the held nodes and followers, one node at least
            side = [*held, *self.rng.sample(followers, self.rng.randrange(0 if held else 1, room + 1))]
        else:  # SNAPSHOT: one live follower alone (the held ones stay with the majority, not asked)
            side = [self.rng.choice(followers)]
        return grudges.complete([sorted(side), [n for n in self.names if n not in side]])

    def _hold_until_compacted(self, grudge: grudges.Grudge, value: dict) -> dict:
        """Wait until every node of the majority has a snapshot past the isolated follower's last
        log entry; the record says how far each was. Not reached in time: the partition stays,
        the op is indeterminate (the follower may still catch up by plain AppendEntries)."""
        alone = next(n for n, peers in grudge.items() if len(peers) == len(self.names) - 1)
        others = [n for n in self.names if n != alone and n not in self.held]
        started = time.monotonic()
        position = self.positions(alone)
        if position is None:
            value["indeterminate"] = f"{alone} did not say how far its log reaches"
            return {"node": alone}
        last = position[0]
        while True:
            snapshots = {n: (p[1] if p else None) for n in others for p in [self.positions(n)]}
            waited = round((time.monotonic() - started) * 1000)
            behind = {"node": alone, "last_index": last, "snapshot_index": snapshots, "waited_ms": waited}
            if all(s is not None and s > last for s in snapshots.values()):
                return behind
            if waited > self.snapshot_wait_s * 1000:
                value["indeterminate"] = (f"the majority's snapshots {snapshots} did not pass {alone}'s last index {last} "
                                          f"within {self.snapshot_wait_s:g} s")
                return behind
            time.sleep(SNAPSHOT_POLL_S)

    def _skip(self, value: dict, why: str, started: float) -> dict:
        """No target fits. A start that was to replace the partition in force (a move) still ends
        that one, as its stop would have: kept, a partition that left no leader made every later
        Raft-aware move skip, and so outlived its time (8 s instead of 1 s in a control run,
        2026-12-07), an outage of the fault's making, not the system's."""
        value = {**value, "skipped": why}
        if self._cut:
            healed = self._stop(started)
            value["healed_previous"] = {k: v for k, v in healed.items() if k != "grudge"}
        value["grudge"] = {}
        return value

    def _stop(self, started: float) -> dict:
        self._cut = False
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
