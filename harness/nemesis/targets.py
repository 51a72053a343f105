"""Node specs: which nodes a fault hits, named the way Jepsen names them, plus the Raft roles.

`one`, `minority`, `majority`, `all` pick nodes through the seeded rng; `leader` and `primaries`
ask the system who currently leads (`primaries`: every node that believes it leads at the highest
term; `leader`: one of them). The Raft-aware specs (OpenRaft's leader-killed / leader-survives)
are chosen around the leader: `follower` (one node that does not lead: the leader survives),
`majority-with-leader` and `majority-without-leader`. When no node fits (nobody leads, too few
followers), `resolve` raises `NoTarget` with why: the fault is recorded as skipped, never aimed
at someone else."""

from __future__ import annotations

import random
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nemesis.grudges import majority

SPECS = ("one", "minority", "majority", "leader", "primaries", "all", "follower", "majority-with-leader",
         "majority-without-leader")
LEADER_SPECS = frozenset({"leader", "primaries", "follower", "majority-with-leader", "majority-without-leader"})


class NoTarget(Exception):
    """No node fits the spec now; the message says why (recorded as the fault's `skipped`)."""


def resolve(spec: str, nodes: list[str], rng: random.Random, primaries: Callable[[], list[str]],
            held: AbstractSet[str] = frozenset()) -> list[str]:
    """The node names `spec` designates now, sorted; NoTarget when none fits. `held`: nodes another
    fault holds down (a timed fault's paused leader), never chosen as the followers of a
    Raft-aware spec: the leader survives, or a majority of live nodes goes down, as named."""
    pool = sorted(nodes)
    if spec == "one":
        return [rng.choice(pool)]
    if spec == "minority":
        return sorted(rng.sample(pool, majority(len(pool)) - 1))
    if spec == "majority":
        return sorted(rng.sample(pool, majority(len(pool))))
    if spec == "all":
        return pool
    if spec not in LEADER_SPECS:
        raise UsageError(f"unknown node spec {spec!r} (expected one of {', '.join(SPECS)})")
    leaders = sorted(n for n in primaries() if n in pool)
    if not leaders:
        raise NoTarget("no leader")
    if spec == "primaries":
        return leaders
    leader = rng.choice(leaders)
    followers = [n for n in pool if n not in leaders and n not in held]
    # (followers to take, whether the leader is taken too)
    need, with_leader = {"leader": (0, True), "follower": (1, False),
                         "majority-with-leader": (majority(len(pool)) - 1, True),
                         "majority-without-leader": (majority(len(pool)), False)}[spec]
    if len(followers) < need:
        raise NoTarget(f"{len(followers)} follower(s) answer, {spec} needs {need}")
    return sorted(([leader] if with_leader else []) + rng.sample(followers, need))
