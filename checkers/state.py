"""State agreement: once the cluster is healed and has recovered, nodes that have applied the same
prefix of the log must hold the same state (etcd's robustness tests compare HashKV this way).

The system's adapter reports each node's digest at a point of its history (`harness.history.roles.
Digest`: raftkv's applied index, etcd's revision); nodes at the same point must agree. A mismatch
is an anomaly no client read needs to have seen: a divergent replica."""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.roles import Digest


class StateAgreement:
    def __init__(self, digests: Mapping[str, Digest | None]):
        self.digests = dict(digests)

    def check(self, history: list[Op]) -> dict:
        by_point: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for node, d in sorted(self.digests.items()):
            if d is not None:
                by_point[d.at][d.digest].append(node)
        failures = []
        for at, groups in sorted(by_point.items()):
            if len(groups) > 1:
                sides = "; ".join(f"{', '.join(nodes)}: {digest[:12]}" for digest, nodes in groups.items())
                failures.append({"anomaly": "divergent-state", "at": at, "groups": {d: n for d, n in groups.items()},
                                 "message": f"nodes disagree on their state at {at}: {sides}"})
        compared = sum(len(nodes) for groups in by_point.values() if sum(map(len, groups.values())) > 1
                       for nodes in groups.values())
        silent = sorted(n for n, d in self.digests.items() if d is None)
        result = {"valid": not failures, "compared": compared, "failures": failures, "silent": silent}
        if failures:
            result["message"] = failures[0]["message"]
        return result
