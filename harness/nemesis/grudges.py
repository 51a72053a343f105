"""Grudges: who refuses to hear from whom during a partition.

A grudge maps every node's name to the set of node names whose packets it drops (Jepsen's
`complete-grudge` shape). The net layer turns it into iptables rules on the receiving side.
Every function here is pure: the random choices come from the `rng` the caller passes, so the
same seed gives the same partitions. Every grudge built here is symmetric, because a one-sided
INPUT drop still breaks TCP both ways (the ACKs are lost) and would claim an asymmetry it does not
deliver.

Only node names ever appear, never the harness's own addresses (the bridge gateway, the SSH
control host): the harness must keep reaching every node through any partition."""

from __future__ import annotations

import random
from typing import Iterable, Mapping

from raft_jepsen.harness.errors import UsageError

Grudge = dict[str, frozenset[str]]


def majority(n: int) -> int:
    return n // 2 + 1


def complete(components: Iterable[Iterable[str]]) -> Grudge:
    """Each node drops every node outside its own component: the components cannot talk."""
    comps = [frozenset(c) for c in components]
    everyone = frozenset().union(*comps)
    return {n: everyone - comp for comp in comps for n in comp}


def isolate(nodes: list[str], node: str) -> Grudge:
    """`node` alone on one side, everyone else on the other."""
    if node not in nodes:
        raise UsageError(f"cannot isolate {node!r}: not one of {', '.join(nodes)}")
    return complete([[node], [n for n in nodes if n != node]])


def isolate_one(nodes: list[str], rng: random.Random) -> Grudge:
    _need(nodes, 2, "isolating a node")
    return isolate(nodes, rng.choice(sorted(nodes)))


def halves(nodes: list[str], rng: random.Random) -> Grudge:
    """A random minority (floor(n/2) nodes) against the majority."""
    _need(nodes, 2, "halves")
    shuffled = _shuffled(nodes, rng)
    cut = len(shuffled) // 2
    return complete([shuffled[:cut], shuffled[cut:]])


def majorities_ring(nodes: list[str], rng: random.Random) -> Grudge:
    """Every node sees a majority, and no two nodes see the same one (Jepsen's majorities ring).

    Nodes sit on a random ring and hear only their neighbours within distance d, the smallest
    distance that makes each view a majority. With fewer than 4 nodes that view is everyone, so
    no symmetric ring exists."""
    _need(nodes, 4, "a majorities ring")
    ring = _shuffled(nodes, rng)
    n = len(ring)
    d = majority(n) // 2  # ceil((majority - 1) / 2): neighbours needed on each side
    grudge: Grudge = {}
    for i, node in enumerate(ring):
        grudge[node] = frozenset(ring[j] for j in range(n) if min((i - j) % n, (j - i) % n) > d)
    return grudge


def bridge(nodes: list[str], rng: random.Random) -> Grudge:
    """Two sides that cannot talk, joined by one node that hears both (Jepsen's bridge)."""
    _need(nodes, 3, "a bridge")
    shuffled = _shuffled(nodes, rng)
    cut = len(shuffled) // 2
    left, bridge_node, right = shuffled[:cut], shuffled[cut], shuffled[cut + 1 :]
    grudge = complete([left, right])
    grudge[bridge_node] = frozenset()
    return grudge


def symmetric(grudge: Mapping[str, Iterable[str]]) -> Grudge:
    """The cuts a grudge causes over TCP: a drop on either end cuts the pair both ways."""
    out: dict[str, set[str]] = {n: set(peers) for n, peers in grudge.items()}
    for n, peers in grudge.items():
        for p in peers:
            out.setdefault(p, set()).add(n)
    return {n: frozenset(peers) for n, peers in out.items()}


def to_json(grudge: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The history's form: only nodes that drop someone, peers sorted."""
    return {n: sorted(peers) for n, peers in sorted(grudge.items()) if peers}


def _shuffled(nodes: list[str], rng: random.Random) -> list[str]:
    # Sort first so the result depends on the seed only, not on the caller's order.
    out = sorted(nodes)
    rng.shuffle(out)
    return out


def _need(nodes: list[str], n: int, what: str) -> None:
    if len(nodes) < n:
        raise UsageError(f"{what} needs at least {n} nodes, the cluster has {len(nodes)}")
