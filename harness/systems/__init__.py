"""Systems under test, by name: the one table a spec's `system` is looked up in.

A spec's `system` is one of:

- a built-in system's name (`MODULES`): a module exposing `KIND` (a `base.SystemKind`: ports, bug
  switches, options, workloads, adapter and client), imported only when its system is asked for,
  so an adapter's dependencies cost nothing to runs of other systems;
- a system file's path (`*.yaml`, `*.yml`, or any name with a `/`): a system described in YAML,
  no Python (`described`, docs/own-raft.md);
- the name of an entry point in the group `raft_jepsen.systems` of an installed distribution (a
  plugin: `name = "package.module:KIND"`, or a module exposing `KIND`);
- a kind added at run time with `register` (tests).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from pathlib import Path

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Setup, System, SystemKind

# name -> the module holding its KIND
MODULES: dict[str, str] = {
    "raftkv": "raft_jepsen.harness.systems.raftkv",
    "maelstrom": "raft_jepsen.harness.systems.maelstrom",
    "etcd": "raft_jepsen.harness.systems.etcd",
}
ENTRY_POINTS = "raft_jepsen.systems"  # the entry-point group plugins add systems through
_REGISTERED: dict[str, SystemKind] = {}
_FILES: dict[tuple[str, int], SystemKind] = {}  # (absolute path, mtime) -> the kind it describes


def register(kind: SystemKind) -> None:
    """Make `kind` available by its name (replacing one of the same name)."""
    _REGISTERED[kind.name] = kind


def names() -> list[str]:
    return list(dict.fromkeys([*MODULES, *_REGISTERED, *(ep.name for ep in _plugins())]))


def is_file_name(name: str) -> bool:
    """Whether a spec's `system` names a system file rather than a system."""
    return name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name


def get(name: str) -> SystemKind:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in MODULES:
        return importlib.import_module(MODULES[name]).KIND
    if is_file_name(name):
        return _from_file(name)
    plugin = next((ep for ep in _plugins() if ep.name == name), None)
    if plugin is not None:
        return _from_plugin(plugin)
    raise UsageError(f"unknown system {name!r} (expected one of {', '.join(names())}, or a system file *.yaml)")


def make(kind: SystemKind, nodes: list[Node], *, bugs=(), options=None, client_retries: int = 0,
         bin: str | None = None) -> System:
    """`kind`'s adapter for a cluster of `nodes`. `options` are raw `--system-opt` texts
    (checked again here: a spec has checked them before)."""
    try:
        parsed = kind.parse_options(dict(options or {}))
    except ValueError as e:
        raise UsageError(f"--system-opt {e}") from None
    return kind.adapter(Setup(nodes=list(nodes), bugs=tuple(bugs), options=parsed, client_retries=client_retries,
                              bin=bin))


def _from_file(name: str) -> SystemKind:
    from raft_jepsen.harness.systems import described  # only runs that name a file need it

    path = Path(name).absolute()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as e:
        raise UsageError(f"system file {name}: cannot read ({e.strerror})") from None
    if (str(path), mtime) not in _FILES:
        _FILES[(str(path), mtime)] = described.load(path)
    return _FILES[(str(path), mtime)]


def _plugins() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINTS))


def _from_plugin(entry: importlib.metadata.EntryPoint) -> SystemKind:
    where = f"system {entry.name} (entry point {entry.value}" + (
        f" of {entry.dist.name})" if getattr(entry, "dist", None) else ")")
    try:
        loaded = entry.load()
    except Exception as e:
        raise UsageError(f"{where} cannot be loaded: {type(e).__name__}: {e}") from None
    kind = getattr(loaded, "KIND", loaded)
    if not isinstance(kind, SystemKind):
        raise UsageError(f"{where} is a {type(kind).__name__}, not a SystemKind")
    if kind.name != entry.name:
        raise UsageError(f"{where} calls itself {kind.name!r}: the entry point's name must be the system's")
    return kind
