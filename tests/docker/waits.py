"""Waiting on a real cluster, shared by the Docker tests."""

from __future__ import annotations

import time

import pytest


def wait_for_leader(system, nodes, deadline_s: float = 20) -> str:
    """The one node that `system` says leads among `nodes`, once exactly one does."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        leaders = system.primaries(nodes)
        if len(leaders) == 1:
            return leaders[0]
        time.sleep(0.2)
    pytest.fail(f"no single leader among {[n.name for n in nodes]} within {deadline_s} s")
