"""Fault packages: the nemesis names of a test spec, composed into one nemesis with its schedule.

Jepsen's `nemesis.combined` shape: a package is the nemesis that performs the faults, the fault
op pairs a generator should schedule (start one, `interval` seconds later stop it or, for the
kinds in `MOVES`, maybe start another in its place), and the final ops that heal everything
before the final reads. The nemesis's `teardown` heals every kind on every node again, so a run
that stops anywhere still ends healed."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from raft_jepsen.harness.errors import RaftJepsenError, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import MOVES, outcome_of
from raft_jepsen.harness.nemesis import NEMESES, clock, lazyfs, membership, packet
from raft_jepsen.harness.nemesis.base import Nemesis
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.partition import (
    LEADER,
    LEADER_MAJORITY,
    LEADER_MINORITY,
    MIN_NODES,
    RAFT_KINDS,
    SNAPSHOT,
    PartitionNemesis,
)
from raft_jepsen.harness.nemesis.process import (
    RAFT_TARGETS,
    TARGETS,
    kill_nemesis,
    pause_nemesis,
    power_cut_nemesis,
)
from raft_jepsen.harness.nemesis.targets import LEADER_SPECS
from raft_jepsen.harness.nemesis.timing import TimedNemesis
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import HasPrimaries, HasSnapshots, Killable, Pausable, System

PARTITION_KINDS = {
    "partition-halves": "halves",
    "partition-one": "one",
    "partition-leader": LEADER,
    "partition-ring": "ring",
    "partition-bridge": "bridge",
    "partition-leader-minority": LEADER_MINORITY,
    "partition-leader-majority": LEADER_MAJORITY,
    "partition-snapshot": SNAPSHOT,
}
# Kinds plain `partition` draws from: every kind but the snapshot hold, which can take many
# intervals and needs a system option to be reachable at all.
RANDOM_PARTITION_KINDS = ("halves", "one", LEADER, "ring", "bridge")


class ComposedNemesis:
    """Several nemeses behind one: each op goes to the nemesis that handles its `f`."""

    def __init__(self, nemeses: Sequence[Nemesis]):
        self.nemeses = list(nemeses)
        self.fs = frozenset().union(*(n.fs for n in self.nemeses))

    def setup(self) -> None:
        for n in self.nemeses:
            n.setup()

    def invoke(self, op: Op) -> Op:
        """The op the nemesis returns, its value stamped with its outcome (`outcome_of`)."""
        for n in self.nemeses:
            if op.f in n.fs:
                done = n.invoke(op)
                if isinstance(done, Op) and isinstance(done.value, dict) and "outcome" not in done.value:
                    done = replace(done, value={**done.value, "outcome": outcome_of(done.f, done.value)})
                return done
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
    data_dirs: Sequence[str] = (), timing: str = "interval",
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
    held: set[str] = set()  # nodes paused by a timed fault's trigger: not asked who leads
    primaries = _primaries(system, nodes, held)
    leaders = primaries or list
    parts: list[tuple[Nemesis, tuple[str, str]]] = []
    kinds = partition_kinds(names, len(nodes), primaries is not None)
    if kinds:
        positions = _positions(system, nodes) if SNAPSHOT in kinds else None
        if SNAPSHOT in kinds and positions is None:
            raise UsageError(f"system {type(system).__name__} cannot do nemesis partition-snapshot: it does not report "
                             "its log positions")
        net = Net(nodes, port=probe_port)
        parts.append((PartitionNemesis(net, kinds, rng, leaders, positions=positions, snapshot_wait_s=max(30.0, 5 * interval),
                                       held=held), ("start-partition", "stop-partition")))
    targets = [t for t in TARGETS if primaries is not None or t not in LEADER_SPECS]
    kill_targets = process_targets("kill", names, targets, primaries is not None)
    if kill_targets:
        _require(system, Killable, "be killed and restarted")
        parts.append((kill_nemesis(system, nodes, rng, targets=kill_targets, primaries=leaders, held=held), ("kill", "start")))
    pause_targets = process_targets("pause", names, targets, primaries is not None)
    if pause_targets:
        _require(system, Pausable, "be paused")
        parts.append((pause_nemesis(system, nodes, rng, targets=pause_targets, primaries=leaders, held=held),
                      ("pause", "resume")))
    if lazyfs.NAME in names:
        _require(system, Killable, "be killed and restarted")
        parts.append((lazyfs.LoseUnsyncedNemesis(system, nodes, rng, data_dirs), ("power-cut", "power-on")))
    elif "power-cut" in names:
        _require(system, Killable, "be killed and restarted")
        parts.append((power_cut_nemesis(system, nodes, rng), ("power-cut", "power-on")))
    background: list[tuple[Nemesis, tuple[str, str]]] = []
    shapes = packet.kinds_named(names)
    if shapes:
        # A slow or lossy network is a standing condition the other faults come on top of, as in
        # Jepsen's combined packages: a leader killed while every link is slow is what makes its
        # followers time out together. In the main cycle a packet fault would only ever alternate
        # with the others; alone, it is the main cycle.
        (background if parts else parts).append(
            (packet.PacketNemesis(nodes, shapes, rng, leaders, targets=targets), ("start-packet", "stop-packet")))
    clocks = clock.kinds_named(names)
    if clocks:
        background.append((clock.ClockNemesis(nodes, clocks, rng, leaders, targets=targets), ("start-clock", "stop-clock")))
    if membership.NAME in names:
        background.append((membership.MembershipNemesis(system, nodes, rng, primaries=primaries),
                           (membership.START, membership.STOP)))
    pairs = tuple(pair for _, pair in parts)
    moves = MOVES.intersection(start for start, _ in pairs)
    if timing != "interval" and parts:
        if primaries is None or not isinstance(system, Pausable):
            raise UsageError(f"nemesis timing {timing} needs a system that names its leader and can be paused")
        # A timed fault waits at most one interval for its moment: the fault before it (a partition
        # that moves) stays in force while it waits, and must not outlast its own interval by much.
        timed = TimedNemesis(ComposedNemesis([n for n, _ in parts]), timing, system, nodes, rng, leaders, held,
                             wait_s=max(1.0, interval))
        parts = [(timed, pairs[0])]
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
            kinds += [k for k in RANDOM_PARTITION_KINDS if n >= MIN_NODES[k] and (k != LEADER or knows_leader)]
        elif name in PARTITION_KINDS:
            kind = PARTITION_KINDS[name]
            if n < MIN_NODES[kind]:
                raise UsageError(f"nemesis {name} needs at least {MIN_NODES[kind]} nodes, the cluster has {n}")
            if kind in RAFT_KINDS and not knows_leader:
                raise UsageError(f"nemesis {name} needs a system that can name its leader")
            kinds.append(kind)
    if any(name.startswith("partition") for name in names) and not kinds:
        raise UsageError(f"no partition is possible with {n} node(s)")
    return list(dict.fromkeys(kinds))


def process_targets(f: str, names: Sequence[str], generic: Sequence[str], knows_leader: bool) -> list[str]:
    """The node specs of the `f` nemesis (kill or pause): every generic one for plain `f`, `all`
    for `pause-all`, plus the one each Raft-aware name (`kill-leader`, `pause-follower`, ...) asks
    for."""
    specs = list(generic) if f in names else []
    if f"{f}-all" in names:  # every node: no leader to know
        specs.append("all")
    for target in RAFT_TARGETS:
        if f"{f}-{target}" in names:
            if not knows_leader:
                raise UsageError(f"nemesis {f}-{target} needs a system that can name its leader")
            specs.append(target)
    return list(dict.fromkeys(specs))


def _primaries(system: System, nodes: list[Node], held: set[str]) -> Callable[[], list[str]] | None:
    if isinstance(system, HasPrimaries):
        return lambda: system.primaries([n for n in nodes if n.name not in held])
    return None


def _positions(system: System, nodes: list[Node]) -> Callable[[str], tuple[int, int] | None] | None:
    if isinstance(system, HasSnapshots):
        by_name = {n.name: n for n in nodes}
        return lambda name: system.log_position(by_name[name])
    return None


def _require(system: System, ability: type, what: str) -> None:
    if not isinstance(system, ability):
        raise UsageError(f"system {type(system).__name__} cannot {what}")
