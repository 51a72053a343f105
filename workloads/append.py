"""The list-append workload (Elle's list-append, without transactions): a few lists at a time.

Each op appends a value no other op uses to one of the live keys, or reads that key's whole list.
As in `register`, a few keys are live at a time (`registers.LiveKeys`), so that every list
stays short and many keys give many chances to see an anomaly. Unique values make
a read name exactly which appends it saw, in order: a value seen twice is an append applied
twice, a value missing is a lost append (checkers.append).

Clients resend an append whose outcome is unknown with the same (client, seq), as a real client
library does: raftkv's session table must make that safe, which is what `duplicate-apply` breaks."""

from __future__ import annotations

from dataclasses import dataclass

from raft_jepsen.checkers import availability
from raft_jepsen.checkers.append import ListAppend
from raft_jepsen.harness.generator.core import PENDING, Context, Generator, invocation
from raft_jepsen.harness.history import Op
from raft_jepsen.workloads import registers

MODEL = None  # checked by checkers.append, not by the linearizability search
CLIENT_RETRIES = 3
APPEND_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Appends:
    """Appends of values no other op uses, and reads, over the live keys."""

    keys: registers.LiveKeys

    def op(self, ctx: Context):
        thread = ctx.next_thread()
        if thread is None:
            return PENDING
        key = self.keys.key(thread)
        if ctx.draws(thread).random() < APPEND_SHARE:
            template = {"f": "append", "key": key, "value": registers.unique_value(ctx, thread)}
        else:
            template = {"f": "read", "key": key, "value": None}
        return invocation(ctx, template, thread), self

    def update(self, ctx: Context, event: Op) -> Generator:
        if event.type == "invoke":
            return self
        return Appends(self.keys.after(ctx.thread_of(event.process), event))


def generator(spec) -> Generator:
    return Appends(registers.LiveKeys.for_spec(spec))


def final_reads(spec, nodes: list[str], keys: list) -> Generator:
    return registers.final_reads(nodes, keys)


def checkers(spec) -> dict:
    return {"append": ListAppend(), "availability": availability.for_spec(spec)}
