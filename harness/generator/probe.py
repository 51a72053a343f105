"""The liveness probe: after the final heal, the workload's own operations until one update and
one read have succeeded, or the deadline passes (`checkers.liveness` then judges how long that
took). Sending the workload's operations, not a probe key of our own, keeps every workload's
checkers whole: they are ordinary operations of the run."""

from __future__ import annotations

from dataclasses import dataclass, replace

from raft_jepsen.harness.generator.core import Context, Generator, rate, time_limit
from raft_jepsen.harness.history import Op


@dataclass(frozen=True, slots=True)
class UntilLive:
    """`gen` until an update and a read have each completed ok; then exhausted."""

    gen: Generator
    wrote: bool = False
    read: bool = False

    def op(self, ctx: Context):
        if self.wrote and self.read:
            return None
        result = self.gen.op(ctx)
        if not isinstance(result, tuple):
            return result
        op, nxt = result
        return op, replace(self, gen=nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        done = replace(self, gen=self.gen.update(ctx, event))
        if event.type == "ok" and event.is_client:
            done = replace(done, read=True) if event.f == "read" else replace(done, wrote=True)
        return done


def probe(workload_gen: Generator, per_second: float, deadline_s: float) -> Generator:
    return UntilLive(time_limit(deadline_s, rate(per_second, workload_gen)))
