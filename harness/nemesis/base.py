"""The Nemesis protocol: faults as operations.

A nemesis receives an op such as `Op(type="info", process="nemesis", f="start-partition",
value=None)` and returns the op describing what it actually did (which nodes, which grudge,
how long verification took). `teardown` heals everything and is safe to call twice."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from raft_jepsen.harness.history import Op


@runtime_checkable
class Nemesis(Protocol):
    fs: frozenset[str]  # the op names this nemesis handles, e.g. {"start-partition", "stop-partition"}

    def setup(self) -> None: ...

    def invoke(self, op: Op) -> Op: ...

    def teardown(self) -> None: ...


class NoopNemesis:
    fs: frozenset[str] = frozenset()

    def setup(self) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        return op

    def teardown(self) -> None:
        pass
