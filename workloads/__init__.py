"""Workloads: generator of operations, final reads, and checker, one module each.

A workload module exposes `MODEL` (the linearizability model's name, None when it has its own
checker), `CLIENT_RETRIES` (how often a client resends a command of unknown outcome, with the
same identity), `generator(spec)` (the client operations, unbounded: the runner adds rate,
time limit and faults), `final_reads(spec, nodes, keys)` (reads of `keys` through every node,
after the heal) and `checkers(spec)` (name -> `raft_jepsen.checkers.core.Checker`)."""

from __future__ import annotations

import importlib
from types import ModuleType

from raft_jepsen.harness.errors import UsageError

WORKLOADS = {
    "register": "raft_jepsen.workloads.register",
    "kv": "raft_jepsen.workloads.kv",
    "append": "raft_jepsen.workloads.append",
    "set": "raft_jepsen.workloads.set",
}


def get(name: str) -> ModuleType:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r} (expected one of {', '.join(WORKLOADS)})")
    return importlib.import_module(WORKLOADS[name])
