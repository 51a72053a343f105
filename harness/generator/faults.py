"""Fault schedules: when faults start and stop, and the final phase that heals them all.

Fault ops are templates such as `{"f": "start-partition"}`: which partition, which nodes, is
the nemesis's choice (harness.nemesis.package), recorded in the op it returns."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping

from raft_jepsen.harness.generator.core import (
    NS,
    PENDING,
    AnyOf,
    Context,
    Delay,
    Generator,
    Once,
    Seq,
    clients,
    invocation,
    nemesis,
    phases,
    sleep,
)
from raft_jepsen.harness.history import Op

# How often a fault that can move (a partition) is replaced by a fresh one instead of healed.
# Networks fail that way (links recover while others go down) and, for Raft, it is what lets a
# node that was cut off from a working leader reach the others just as that leader is cut off in
# turn: the node is behind, yet in the same term, and a pre-vote that skips the log check elects
# it. Healing first lets it catch up within milliseconds (git: bench/detect-results.md, 2026-12-02).
MOVE_CHANCE = 0.5


@dataclass(frozen=True, slots=True)
class FaultCycle:
    """Every `interval_ns`: start a fault, then stop it (or, for a fault in `moves`, maybe start
    another of its kind in its place), then start the next one.

    The kinds are started in shuffled rounds (each kind once per round, in a random order), not
    drawn independently: a short run with three kinds then has each of them in force, which the
    coverage check requires, instead of partitions four times by chance.

    `faults` are (start template, stop template) pairs, one per chosen fault kind; `moves` the
    start fs whose new fault replaces the one in force. Each step's draws are a pure function of
    (`seed`, n), not draws from the shared random source, so the fault timetable of a replayed
    run is the same however the clients' timing varies."""

    faults: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]
    seed: int
    moves: frozenset[str] = frozenset()
    n: int = 0
    running: int | None = None  # the index in `faults` of the fault in force
    started: int = 0  # how many faults were started (moves not counted)

    def op(self, ctx: Context):
        if not self.faults:
            return None
        rng = random.Random(self.seed * 1_000_003 + self.n)
        started = self.started
        if self.running is None:
            running = self._round(started // len(self.faults))[started % len(self.faults)]
            template = self.faults[running][0]
            started += 1
        else:
            start, stop = self.faults[self.running]
            moved = start["f"] in self.moves and rng.random() < MOVE_CHANCE
            running, template = (self.running, start) if moved else (None, stop)
        op = invocation(ctx, template)
        return op if op is PENDING else (op, FaultCycle(self.faults, self.seed, self.moves, self.n + 1, running, started))

    def _round(self, number: int) -> list[int]:
        order = list(range(len(self.faults)))
        random.Random(f"{self.seed}:{number}").shuffle(order)
        return order

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


@dataclass(frozen=True, slots=True)
class Offbeat:
    """A background cycle's timetable: its j-th fault starts at a random point within half an
    interval either side of the main cycle's j-th start, (2j+1)·interval, and stops one interval
    later. So each background fault overlaps a main one, and starts before it as often as after:
    a fixed half-interval lag always put the main fault first, and some bugs need the other order
    (lease-read: the leader's clock jumps back, *then* it is cut off; git: bench/detect-results.md,
    2026-12-07). The draws are a pure function of (`seed`, j), as FaultCycle's are."""

    interval_ns: int
    gen: Generator
    seed: int
    n: int = 0  # ops issued: even n starts fault n//2, odd n stops it

    def due(self) -> int:
        j = self.n // 2
        shift = random.Random(f"{self.seed}:phase:{j}").random() - 0.5
        start = (2 * j + 1) * self.interval_ns + int(shift * self.interval_ns)
        return start + (self.interval_ns if self.n % 2 else 0)

    def op(self, ctx: Context):
        result = self.gen.op(ctx)
        if result is None or result is PENDING:
            return result
        op, nxt = result
        return op.replace(time=max(op.time, self.due())), Offbeat(self.interval_ns, nxt, self.seed, self.n + 1)

    def update(self, ctx: Context, event: Op) -> Generator:
        return Offbeat(self.interval_ns, self.gen.update(ctx, event), self.seed, self.n)


# Background faults that are standing conditions rather than events: a slow or lossy network must
# span the main fault's heal (a leader restarted, every node resumed, under it: the moment split
# votes and late AppendEntries matter), so they keep a fixed lag of half an interval behind it.
LAGGING = frozenset({"start-packet"})


def fault_schedule(faults, interval_s: float, rng: random.Random, moves=frozenset(), background=()) -> Generator:
    """Faults started and stopped (or moved) at `interval_s`, `2*interval_s`, ... after the run
    began: the first interval is a warm-up with a healthy cluster. `background` faults overlap
    them (Jepsen's combined packages overlap the same way): events (clock, membership) on an
    `Offbeat` timetable, before or after the main fault at random; standing conditions
    (`LAGGING`: packet faults) half an interval behind it, on from the middle of each main fault
    to the middle of the pause after it."""
    interval = int(interval_s * NS)
    main = Delay(interval, FaultCycle(tuple(faults), rng.randrange(2**32), frozenset(moves)), next_time=interval)
    lagging = tuple(b for b in background if b[0]["f"] in LAGGING)
    events = tuple(b for b in background if b[0]["f"] not in LAGGING)
    cycles: list[Generator] = [main]
    if lagging:
        cycles.append(Delay(interval, FaultCycle(lagging, rng.randrange(2**32)), next_time=interval * 3 // 2))
    if events:
        cycles.append(Offbeat(interval, FaultCycle(events, rng.randrange(2**32)), rng.randrange(2**32)))
    return main if len(cycles) == 1 else AnyOf(tuple(cycles))


def final_phase(heals, recovery_s: float, reads: Generator) -> Generator:
    """Heal every fault, wait `recovery_s` for the cluster to recover, then the final reads."""
    return phases(nemesis(Seq(tuple(Once(h) for h in heals))), sleep(recovery_s), clients(reads))
