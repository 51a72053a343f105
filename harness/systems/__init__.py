"""Systems under test, by name: the one table a spec's `system` is looked up in.

Each system is one module exposing `KIND` (a `base.SystemKind`: ports, bug switches, options,
workloads, adapter and client). Modules are imported only when their system is asked for, so an
adapter's dependencies cost nothing to runs of other systems. `register` adds a kind at run time
(tests, plugins)."""

from __future__ import annotations

import importlib

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Setup, System, SystemKind

# name -> the module holding its KIND
MODULES: dict[str, str] = {
    "raftkv": "raft_jepsen.harness.systems.raftkv",
}
_REGISTERED: dict[str, SystemKind] = {}


def register(kind: SystemKind) -> None:
    """Make `kind` available by its name (replacing one of the same name)."""
    _REGISTERED[kind.name] = kind


def names() -> list[str]:
    return list(dict.fromkeys([*MODULES, *_REGISTERED]))


def get(name: str) -> SystemKind:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in MODULES:
        return importlib.import_module(MODULES[name]).KIND
    raise UsageError(f"unknown system {name!r} (expected one of {', '.join(names())})")


def make(kind: SystemKind, nodes: list[Node], *, bugs=(), options=None, client_retries: int = 0) -> System:
    """`kind`'s adapter for a cluster of `nodes`. `options` are raw `--system-opt` texts
    (checked again here: a spec has checked them before)."""
    try:
        parsed = kind.parse_options(dict(options or {}))
    except ValueError as e:
        raise UsageError(f"--system-opt {e}") from None
    return kind.adapter(Setup(nodes=list(nodes), bugs=tuple(bugs), options=parsed, client_retries=client_retries))
