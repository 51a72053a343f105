"""The set workload (Jepsen's set): adds of unique integers to a few sets, then final reads.

raftkv has no set type: its `append` is the add, and a read returns the list it built, which
holds each element once as long as every add is applied once. Every key lives for the whole run,
so an add acknowledged early must survive every fault that follows; the final reads through
every node, after healing, decide (checkers.sets). Clients resend an add of unknown outcome with
the same (client, seq), so a node without client dedup (`duplicate-apply`) shows duplicates."""

from __future__ import annotations

from dataclasses import dataclass

from raft_jepsen.checkers import availability
from raft_jepsen.checkers.sets import ADD, SetChecker
from raft_jepsen.harness.generator.core import PENDING, Context, Generator, invocation
from raft_jepsen.harness.history import Op
from raft_jepsen.workloads import registers

MODEL = None  # checked by checkers.sets, not by the linearizability search
CLIENT_RETRIES = 3
KEYS = ("s1", "s2", "s3")
READ_SHARE = 0.2  # reads during the run only show duplicates and strays; the final reads decide


@dataclass(frozen=True, slots=True)
class Adds:
    """Adds of elements no other op adds, to random keys, mixed with reads."""

    def op(self, ctx: Context):
        thread = ctx.next_thread()
        if thread is None:
            return PENDING
        rng = ctx.draws(thread)
        key = rng.choice(KEYS)
        if rng.random() < READ_SHARE:
            return invocation(ctx, {"f": "read", "key": key, "value": None}, thread), self
        return invocation(ctx, {"f": ADD, "key": key, "value": registers.unique_value(ctx, thread)}, thread), self

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def generator(spec) -> Generator:
    return Adds()


def final_reads(spec, nodes: list[str], keys: list) -> Generator:
    return registers.final_reads(nodes, KEYS)


def checkers(spec) -> dict:
    return {"set": SetChecker(), "availability": availability.for_spec(spec)}
