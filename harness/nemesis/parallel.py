"""Doing one thing on many nodes at once.

Faults must land on every node at nearly the same moment (a partition applied node by node is a
sequence of different partitions), and each step is a round trip to a node, so the steps run in
parallel threads, one per node."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

from raft_jepsen.harness.nodes import Node

T = TypeVar("T")


def on_each(nodes: Iterable[Node], fn: Callable[[Node], T]) -> dict[str, T]:
    """`fn(node)` for every node in parallel, by node name; the first exception is re-raised
    once every call has finished, so no node is left half-done behind the caller's back."""
    nodes = list(nodes)
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {n.name: pool.submit(fn, n) for n in nodes}
    return {name: f.result() for name, f in futures.items()}
