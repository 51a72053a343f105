"""What the register-shaped workloads share: random read / write / cas ops over small integer
values (few values, so reads often match writes and cas often succeeds), final reads of every
key through every node, and the linearizability checker per key."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable

from raft_jepsen.checkers.core import Checker
from raft_jepsen.checkers.linearizable import LinearizabilityChecker
from raft_jepsen.harness.generator.core import Generator, Once, Seq
from raft_jepsen.harness.history import CAS_MISMATCH, Op

VALUES = 5  # values 0..4
OPS_PER_KEY = 100
CLIENTS_PER_KEY = 4  # about this many processes contend for each live key


@dataclass(frozen=True, slots=True)
class LiveKeys:
    """Jepsen's independent keys: a few keys are live at a time; each takes `per_key` ops that
    reached the cluster, then retires and the next key (`k0`, `k1`, ...) takes its place. Short
    per-key histories keep the checkers' search small; many keys give many chances to catch an
    anomaly. Refused ops do not count: while every node is down, clients would otherwise burn
    through the live keys in a second or two, and the key that lost a write would be retired
    before anyone read it again."""

    per_key: int
    live: tuple[tuple[str, int], ...]  # (key, ops left)
    next_key: int

    @classmethod
    def for_spec(cls, spec, per_key: int = OPS_PER_KEY) -> "LiveKeys":
        count = max(1, spec.concurrency // CLIENTS_PER_KEY)
        return cls(per_key, tuple((f"k{i}", per_key) for i in range(count)), count)

    def pick(self, rng: random.Random) -> str:
        return self.live[rng.randrange(len(self.live))][0]

    def after(self, event: Op) -> "LiveKeys":
        """The keys after a completion: one op fewer for its key if the op reached the cluster
        (ok, info, or a cas the cluster refused on its value)."""
        reached = event.type in ("ok", "info") or (event.type == "fail" and event.error == CAS_MISMATCH)
        if not reached:
            return self
        for i, (key, left) in enumerate(self.live):
            if key == event.key:
                live, next_key = list(self.live), self.next_key
                if left > 1:
                    live[i] = (key, left - 1)
                else:
                    live[i] = (f"k{next_key}", self.per_key)
                    next_key += 1
                return LiveKeys(self.per_key, tuple(live), next_key)
        return self  # a retired key's straggler

CHECK_TIMEOUT_S = 60.0


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
