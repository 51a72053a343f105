"""Workloads: generator of operations, final reads, and checker, one module each.

A workload module exposes `MODEL` (the linearizability model's name, None when it has its own
checker), `CLIENT_RETRIES` (how often a client resends a command of unknown outcome, with the
same identity), `generator(spec, rng)` (the client operations, unbounded: the runner adds rate,
time limit and faults), `final_reads(spec, nodes, keys)` (reads of `keys` through every node,
after the heal) and `checkers(spec)` (name -> `checkers.core.Checker`)."""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import UsageError

WORKLOADS = {
    "register": "workloads.register",
    "kv": "workloads.kv",
    "append": "workloads.append",
    "set": "workloads.set",
}


def get(name: str) -> ModuleType:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r} (expected one of {', '.join(WORKLOADS)})")
    return importlib.import_module(WORKLOADS[name])
