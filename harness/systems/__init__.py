"""Systems under test: the System protocol, its optional abilities, and adapters by name."""

from __future__ import annotations

from typing import Sequence

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import System
from raft_jepsen.harness.systems.raftkv import RaftKV

SYSTEMS = {"raftkv": RaftKV}


def make_system(name: str, nodes: Sequence[Node], *, bugs: Sequence[str] = (), client_retries: int = 0) -> System:
    """The adapter called `name`, for a cluster of `nodes`, started with the given bug switches,
    whose clients resend a command of unknown outcome `client_retries` times."""
    if name not in SYSTEMS:
        raise UsageError(f"unknown system {name!r} (expected one of {', '.join(SYSTEMS)})")
    return SYSTEMS[name](nodes, bugs=bugs, client_retries=client_retries)
