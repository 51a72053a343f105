"""The register workload: many independent single-key registers (Jepsen's independent keys).

A few keys are live at a time; each takes `OPS_PER_KEY` random read / write / cas ops from
whichever processes are free, then retires and the next key (`k0`, `k1`, ...) takes its place.
Short per-key histories keep the linearizability search small, and many keys give many chances
to catch an anomaly. Checked per key with the `cas-register` model."""

from __future__ import annotations

import random
from dataclasses import dataclass

from checkers import availability
from harness.generator.core import PENDING, Context, Generator, invocation
from harness.history import Op
from workloads import registers

MODEL = "cas-register"
CLIENT_RETRIES = 0  # an unknown write stays unknown: the history is what a bare client sees
OPS_PER_KEY = 100
CLIENTS_PER_KEY = 4  # about this many processes contend for each live key


@dataclass(frozen=True, slots=True)
class RotatingKeys:
    """Random register ops over `live` keys; a key retires after `per_key` ops."""

    per_key: int
    live: tuple[tuple[str, int], ...]  # (key, ops left)
    next_key: int

    def op(self, ctx: Context):
        if not ctx.free_threads():
            return PENDING
        i = ctx.rng.randrange(len(self.live))
        key, left = self.live[i]
        op = invocation(ctx, registers.random_op(ctx.rng, key))
        live, next_key = list(self.live), self.next_key
        if left > 1:
            live[i] = (key, left - 1)
        else:
            live[i] = (f"k{next_key}", self.per_key)
            next_key += 1
        return op, RotatingKeys(self.per_key, tuple(live), next_key)

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def generator(spec, rng: random.Random) -> Generator:
    live = max(1, spec.concurrency // CLIENTS_PER_KEY)
    return RotatingKeys(OPS_PER_KEY, tuple((f"k{i}", OPS_PER_KEY) for i in range(live)), live)


def final_reads(spec, nodes: list[str], keys: list) -> Generator:
    return registers.final_reads(nodes, keys)


def checkers(spec) -> dict:
    return {**registers.linearizable_checker(MODEL), "availability": availability.for_spec(spec)}
