"""Fault schedules: when faults start and stop, and the final phase that heals them all.

Fault ops are templates such as `{"f": "start-partition"}`: which partition, which nodes, is
the nemesis's choice (harness.nemesis.package), recorded in the op it returns."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping

from harness.generator.core import (
    NS,
    PENDING,
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
from harness.history import Op


@dataclass(frozen=True, slots=True)
class FaultCycle:
    """Every `interval_ns`: start a fault, then stop it, then start the next one.

    `faults` are (start template, stop template) pairs, one per chosen fault kind. The kind of
    the n-th fault is a pure function of (`seed`, n), not a draw from the shared random source, so
    the fault timetable of a replayed run is the same however the clients' timing varies."""

    faults: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]
    seed: int
    n: int = 0
    running: Mapping[str, Any] | None = None  # the stop template of the fault in force

    def op(self, ctx: Context):
        if not self.faults:
            return None
        if self.running is not None:
            op = invocation(ctx, self.running)
            return op if op is PENDING else (op, FaultCycle(self.faults, self.seed, self.n))
        start, stop = self.faults[random.Random(self.seed * 1_000_003 + self.n).randrange(len(self.faults))]
        op = invocation(ctx, start)
        return op if op is PENDING else (op, FaultCycle(self.faults, self.seed, self.n + 1, stop))

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def fault_schedule(faults, interval_s: float, rng: random.Random) -> Generator:
    """Alternating start/stop of the given faults at `interval_s`, `2*interval_s`, ... after the
    run began: the first interval is a warm-up with a healthy cluster."""
    interval = int(interval_s * NS)
    return Delay(interval, FaultCycle(tuple(faults), rng.randrange(2**32)), next_time=interval)


def final_phase(heals, recovery_s: float, reads: Generator) -> Generator:
    """Heal every fault, wait `recovery_s` for the cluster to recover, then the final reads."""
    return phases(nemesis(Seq(tuple(Once(h) for h in heals))), sleep(recovery_s), clients(reads))
