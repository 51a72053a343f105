"""Fault packages: the nemesis names of a test spec, composed into one nemesis with its schedule.

Jepsen's `nemesis.combined` shape: a package is the nemesis that performs the faults, the fault
op pairs a generator should schedule (start one, `interval` seconds later stop it or, for the
kinds in `MOVES`, maybe start another in its place), and the final ops that heal everything
before the final reads. The nemesis's `teardown` heals every kind on every node again, so a run
that stops anywhere still ends healed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from raft_jepsen.harness.errors import RaftJepsenError, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import MOVES
from raft_jepsen.harness.nemesis import NEMESES, clock, lazyfs, membership, packet
from raft_jepsen.harness.nemesis.base import Nemesis
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.partition import LEADER, MIN_NODES, PartitionNemesis
from raft_jepsen.harness.nemesis.process import (
    TARGETS,
    kill_nemesis,
    pause_nemesis,
    power_cut_nemesis,
)
from raft_jepsen.harness.nemesis.targets import LEADER_SPECS
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import HasPrimaries, Killable, Pausable, System

PARTITION_KINDS = {
    "partition-halves": "halves",
    "partition-one": "one",
    "partition-leader": LEADER,
    "partition-ring": "ring",
    "partition-bridge": "bridge",
}


class ComposedNemesis:
    """Several nemeses behind one: each op goes to the nemesis that handles its `f`."""

    def __init__(self, nemeses: Sequence[Nemesis]):
        self.nemeses = list(nemeses)
        self.fs = frozenset().union(*(n.fs for n in self.nemeses))

    def setup(self) -> None:
        for n in self.nemeses:
            n.setup()

    def invoke(self, op: Op) -> Op:
        for n in self.nemeses:
            if op.f in n.fs:
                return n.invoke(op)
        raise UsageError(f"no nemesis in this package handles {op.f!r} (it handles {', '.join(sorted(self.fs))})")

    def teardown(self) -> None:
        """Heal every kind even if one of them fails; then report the first failure."""
        errors: list[RaftJepsenError] = []
        for n in self.nemeses:
            try:
                n.teardown()
            except RaftJepsenError as e:
                errors.append(e)
        if errors:
            raise errors[0]


@dataclass(frozen=True, slots=True)
class Package:
    nemesis: ComposedNemesis
    faults: tuple[tuple[str, str], ...]  # (start f, stop f): start one, `interval` later stop (or move) it
    interval: float  # seconds between a fault op and the next
    final: tuple[str, ...]  # the stop fs, to run before the final reads
    moves: frozenset[str] = frozenset()  # the start fs that may replace a fault of their kind in force
    # (start f, stop f) pairs on a cycle of their own, overlapping the others (a clock offset is a
    # standing condition of a node: it matters when a partition or pause comes on top of it)
    background: tuple[tuple[str, str], ...] = ()


def package(
    names: Sequence[str], *, nodes: list[Node], system: System, rng: random.Random, interval: float, probe_port: int,
    data_dirs: Sequence[str] = (),
) -> Package:
    """Build the package for `names` (see `NEMESES`); one-line UsageError for a name that is
    unknown or that this cluster or system cannot do. Partitions are proven by connecting to
    `probe_port` (the system's peer port) from every node to every other; `lose-unsynced` mounts
    its filesystem on `data_dirs` (the system's)."""
    unknown = [n for n in names if n not in NEMESES]
    if unknown:
        raise UsageError(f"unknown nemesis {unknown[0]!r} (expected one of {', '.join(NEMESES)})")
    if interval <= 0:
        raise UsageError(f"the nemesis interval must be positive, got {interval}")
    # A generator of our own, seeded by one draw: the caller's rng may also feed a generator in
    # another thread, and interleaved draws would make the schedule depend on thread timing.
    rng = random.Random(rng.getrandbits(64))
    primaries = _primaries(system, nodes)
    leaders = primaries or list
    parts: list[tuple[Nemesis, tuple[str, str]]] = []
    kinds = partition_kinds(names, len(nodes), primaries is not None)
    if kinds:
        parts.append((PartitionNemesis(Net(nodes, port=probe_port), kinds, rng, leaders), ("start-partition", "stop-partition")))
    targets = [t for t in TARGETS if primaries is not None or t not in LEADER_SPECS]
    if "kill" in names:
        _require(system, Killable, "be killed and restarted")
        parts.append((kill_nemesis(system, nodes, rng, targets=targets, primaries=leaders), ("kill", "start")))
    if "pause" in names:
        _require(system, Pausable, "be paused")
        parts.append((pause_nemesis(system, nodes, rng, targets=targets, primaries=leaders), ("pause", "resume")))
    if lazyfs.NAME in names:
        _require(system, Killable, "be killed and restarted")
        parts.append((lazyfs.LoseUnsyncedNemesis(system, nodes, rng, data_dirs), ("power-cut", "power-on")))
    elif "power-cut" in names:
        _require(system, Killable, "be killed and restarted")
        parts.append((power_cut_nemesis(system, nodes, rng), ("power-cut", "power-on")))
    shapes = packet.kinds_named(names)
    if shapes:
        parts.append((packet.PacketNemesis(nodes, shapes, rng, leaders, targets=targets), ("start-packet", "stop-packet")))
    background: list[tuple[Nemesis, tuple[str, str]]] = []
    clocks = clock.kinds_named(names)
    if clocks:
        background.append((clock.ClockNemesis(nodes, clocks, rng, leaders, targets=targets), ("start-clock", "stop-clock")))
    if membership.NAME in names:
        background.append((membership.MembershipNemesis(system, nodes, rng, primaries=primaries),
                           (membership.START, membership.STOP)))
    pairs = tuple(pair for _, pair in parts)
    moves = MOVES.intersection(start for start, _ in pairs)
    every = parts + background
    # The final heal of a kind is its stop op, but membership's final heal waits until restored.
    final = tuple(membership.RESTORE if stop == membership.STOP else stop for _, (_, stop) in every)
    return Package(ComposedNemesis([n for n, _ in every]), pairs, interval, final, moves,
                   tuple(pair for _, pair in background))


def partition_kinds(names: Sequence[str], n: int, knows_leader: bool) -> list[str]:
    """The explicitly named kinds (each must be possible here), plus for plain `partition`
    every kind this cluster and system allow."""
    kinds: list[str] = []
    for name in names:
        if name == "partition":
            kinds += [k for k in MIN_NODES if n >= MIN_NODES[k] and (k != LEADER or knows_leader)]
        elif name in PARTITION_KINDS:
            kind = PARTITION_KINDS[name]
            if n < MIN_NODES[kind]:
                raise UsageError(f"nemesis {name} needs at least {MIN_NODES[kind]} nodes, the cluster has {n}")
            if kind == LEADER and not knows_leader:
                raise UsageError(f"nemesis {name} needs a system that can name its leader")
            kinds.append(kind)
    if any(name.startswith("partition") for name in names) and not kinds:
        raise UsageError(f"no partition is possible with {n} node(s)")
    return list(dict.fromkeys(kinds))


def _primaries(system: System, nodes: list[Node]) -> Callable[[], list[str]] | None:
    if isinstance(system, HasPrimaries):
        return lambda: system.primaries(nodes)
    return None


def _require(system: System, ability: type, what: str) -> None:
    if not isinstance(system, ability):
        raise UsageError(f"system {type(system).__name__} cannot {what}")
