"""Node specs: which nodes a fault hits, named the way Jepsen names them.

`one`, `minority`, `majority`, `all` pick nodes through the seeded rng; `leader` and `primaries`
ask the system who currently leads (`primaries`: every node that believes it leads at the highest
term; `leader`: one of them). When nobody leads, those two resolve to no node at all, and the
fault records that it hit nothing rather than picking someone else."""

from __future__ import annotations

import random
from typing import Callable

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nemesis.grudges import majority

SPECS = ("one", "minority", "majority", "leader", "primaries", "all")
LEADER_SPECS = frozenset({"leader", "primaries"})


def resolve(spec: str, nodes: list[str], rng: random.Random, primaries: Callable[[], list[str]]) -> list[str]:
    """The node names `spec` designates now, sorted."""
    pool = sorted(nodes)
    if spec == "one":
        return [rng.choice(pool)]
    if spec == "minority":
        return sorted(rng.sample(pool, majority(len(pool)) - 1))
    if spec == "majority":
        return sorted(rng.sample(pool, majority(len(pool))))
    if spec == "all":
        return pool
    if spec in LEADER_SPECS:
        leaders = sorted(n for n in primaries() if n in pool)
        if spec == "primaries" or not leaders:
            return leaders
        return [rng.choice(leaders)]
    raise UsageError(f"unknown node spec {spec!r} (expected one of {', '.join(SPECS)})")
