"""Workloads: generator of operations, final reads, and checker, one module each.

A workload module exposes `MODEL` (the linearizability model's name), `generator(spec, rng)`
(the client operations, unbounded: the runner adds rate, time limit and faults),
`final_reads(spec, nodes, keys)` (reads of `keys` through every node, after the heal) and
`checkers(spec)` (name -> `checkers.core.Checker`)."""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import UsageError

WORKLOADS = {
    "register": "workloads.register",
    "kv": "workloads.kv",
}


def get(name: str) -> ModuleType:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r} (expected one of {', '.join(WORKLOADS)})")
    return importlib.import_module(WORKLOADS[name])
