"""The System protocol (Jepsen's DB) and its optional abilities.

A system only has to set a node up and tear it down, and hand out clients. Everything else is an
optional ability a nemesis checks for (`isinstance(system, Killable)`) before using it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node


@runtime_checkable
class Client(Protocol):
    def open(self, node: Node) -> None: ...

    def invoke(self, op: Op) -> Op:
        """Perform `op` (an invoke) and return its completion: ok, fail (certainly not done) or
        info (unknown: timeout, lost connection). Never raises for a failed operation."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class System(Protocol):
    def setup(self, node: Node) -> None: ...

    def teardown(self, node: Node) -> None: ...

    def client(self, node: Node) -> Client: ...


@runtime_checkable
class Killable(Protocol):
    def kill(self, node: Node, at: float | None = None) -> None:
        """kill -9 the node's process; `at` (wall-clock epoch seconds) asks for that instant, so
        that several nodes die together, as in a power cut."""
        ...

    def start(self, node: Node) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    def pause(self, node: Node) -> None: ...

    def resume(self, node: Node) -> None: ...


@runtime_checkable
class HasPrimaries(Protocol):
    def primaries(self, nodes: list[Node]) -> list[str]:
        """Names of the nodes that currently believe they lead (the highest term wins)."""
        ...


@runtime_checkable
class HasLogs(Protocol):
    def log_files(self, node: Node) -> list[str]:
        """Paths on the node worth copying into the run folder."""
        ...


@runtime_checkable
class Membership(Protocol):
    def members(self, nodes: list[Node]) -> list[str]: ...

    def add(self, nodes: list[Node], node: Node) -> None: ...

    def remove(self, nodes: list[Node], node: Node) -> None: ...
