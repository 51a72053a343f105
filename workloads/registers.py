"""What the register-shaped workloads share: random read / write / cas ops over small integer
values (few values, so reads often match writes and cas often succeeds), final reads of every
key through every node, and the linearizability checker per key."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable

from raft_jepsen.checkers.core import Checker
from raft_jepsen.checkers.linearizable import LinearizabilityChecker
from raft_jepsen.harness.generator.core import Context, Generator, Once, Seq
from raft_jepsen.harness.history import CAS_MISMATCH, Op

VALUES = 5  # values 0..4
OPS_PER_KEY = 100
CLIENTS_PER_KEY = 4  # this many threads contend for each live key


@dataclass(frozen=True, slots=True)
class LiveKeys:
    """Jepsen's independent keys: a few keys are live at a time, each shared by a group of
    `CLIENTS_PER_KEY` threads; each thread takes `per_thread` ops that reached the cluster on
    its group's key, then moves on to the group's next key (`k0`, `k1`, ... by group, then
    round). Short per-key histories keep the checkers' search small; many keys give many chances
    to catch an anomaly. A thread's key depends only on its own ops, so a replay gives every
    process the same keys. Refused ops do not count: while every node is down, clients would
    otherwise burn through their keys in a second or two, and the key that lost a write would be
    retired before anyone read it again."""

    per_thread: int
    groups: int
    # ops of each client thread (by its number) that reached the cluster: a tuple of counts,
    # since a tuple of pairs made into a dict on every op cost as much as the rest of the step
    reached: tuple[int, ...] = ()

    @classmethod
    def for_spec(cls, spec, per_key: int = OPS_PER_KEY) -> "LiveKeys":
        groups = max(1, spec.concurrency // CLIENTS_PER_KEY)
        return cls(max(1, -(-per_key // CLIENTS_PER_KEY)), groups)

    def key(self, thread: Any) -> str:
        if not isinstance(thread, int):
            return "k0"
        group = (thread // CLIENTS_PER_KEY) % self.groups
        round_ = (self.reached[thread] if thread < len(self.reached) else 0) // self.per_thread
        return f"k{group + self.groups * round_}"

    def after(self, thread: Any, event: Op) -> "LiveKeys":
        """The keys after `thread`'s completion `event`: one op more for that thread if it reached
        the cluster (ok, info, or a cas the cluster refused on its value)."""
        reached = event.type in ("ok", "info") or (event.type == "fail" and event.error == CAS_MISMATCH)
        if not reached or not isinstance(thread, int):
            return self
        counts = self.reached + (0,) * (thread + 1 - len(self.reached))
        return LiveKeys(self.per_thread, self.groups, counts[:thread] + (counts[thread] + 1,) + counts[thread + 1:])


CHECK_TIMEOUT_S = 60.0


def unique_value(ctx: Context, thread: Any) -> int:
    """A value no other op of the run uses, from the thread and its count alone (1, 2, ...)."""
    clients = len([t for t in ctx.threads if isinstance(t, int)]) or 1
    return ctx.handed.get(thread, 0) * clients + thread + 1


def random_op(rng: random.Random, key: Any) -> dict:
    f = rng.choice(("read", "write", "cas"))
    if f == "read":
        return {"f": "read", "key": key, "value": None}
    if f == "write":
        return {"f": "write", "key": key, "value": rng.randrange(VALUES)}
    return {"f": "cas", "key": key, "value": [rng.randrange(VALUES), rng.randrange(VALUES)]}


def final_reads(nodes: Iterable[str], keys: Iterable[Any]) -> Generator:
    keys = list(keys)
    return Seq(tuple(Once({"f": "read", "key": k, "node": n}) for n in nodes for k in keys))


def linearizable_checker(model: str) -> dict[str, Checker]:
    return {"linearizable": LinearizabilityChecker(model, CHECK_TIMEOUT_S)}
