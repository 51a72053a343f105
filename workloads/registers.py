"""What the register-shaped workloads share: random read / write / cas ops over small integer
values (few values, so reads often match writes and cas often succeeds), final reads of every
key through every node, and the linearizability checker per key."""

from __future__ import annotations

import random
from typing import Any, Iterable

from checkers.core import Checker
from checkers.linearizable import LinearizabilityChecker
from harness.generator.core import Generator, Once, Seq

VALUES = 5  # values 0..4
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
