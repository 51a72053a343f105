"""The register workload: many independent single-key registers (Jepsen's independent keys).

Random read / write / cas ops over a few live keys at a time (`registers.LiveKeys`), checked per
key with the `cas-register` model."""

from __future__ import annotations

from dataclasses import dataclass

from raft_jepsen.checkers import availability
from raft_jepsen.harness.generator.core import PENDING, Context, Generator, invocation
from raft_jepsen.harness.history import Op
from raft_jepsen.workloads import registers

MODEL = "cas-register"
CLIENT_RETRIES = 0  # an unknown write stays unknown: the history is what a bare client sees


@dataclass(frozen=True, slots=True)
class RotatingKeys:
    """Random register ops over the live keys."""

    keys: registers.LiveKeys

    def op(self, ctx: Context):
        thread = ctx.next_thread()
        if thread is None:
            return PENDING
        template = registers.random_op(ctx.draws(thread), self.keys.key(thread))
        return invocation(ctx, template, thread), self

    def update(self, ctx: Context, event: Op) -> Generator:
        if event.type == "invoke":
            return self
        return RotatingKeys(self.keys.after(ctx.thread_of(event.process), event))


def generator(spec) -> Generator:
    return RotatingKeys(registers.LiveKeys.for_spec(spec))


def final_reads(spec, nodes: list[str], keys: list) -> Generator:
    return registers.final_reads(nodes, keys)


def checkers(spec) -> dict:
    return {**registers.linearizable_checker(MODEL), "availability": availability.for_spec(spec)}
