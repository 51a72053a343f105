"""The health check before the first fault (STYLE.md 10): a test of an unhealthy cluster proves
nothing, so the run waits, up to a deadline, until every node answers a read and, when the
system can say, some node leads. Otherwise the verdict is unknown, with the reason."""

from __future__ import annotations

import time
from typing import Callable

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client, HasPrimaries, System

HEALTH_KEY = "rj-health"  # a key no workload uses: the probe never touches the data under test
RETRY_S = 0.5


def probe(node: Node, open_client: Callable[[Node], Client]) -> str | None:
    """None if `node` answers a read; else why not."""
    try:
        client = open_client(node)
    except Exception as e:
        return f"{node.name}: no client ({e})"
    try:
        done = client.invoke(Op(index=-1, type="invoke", process=-1, f="read", key=HEALTH_KEY))
    except Exception as e:
        return f"{node.name}: {type(e).__name__}: {e}"
    finally:
        try:
            client.close()
        except Exception:  # the probe's verdict stands whatever closing does
            pass
    return None if done.type == "ok" else f"{node.name}: read {done.type} ({done.error or 'no reason given'})"


def wait_healthy(
    system: System,
    nodes: list[Node],
    open_client: Callable[[Node], Client],
    *,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> str | None:
    """None once the cluster is healthy; else, at the deadline (or on `stop`), the last reason."""
    deadline = clock() + deadline_s
    while True:
        problems = [p for p in (probe(n, open_client) for n in nodes) if p]
        if not problems and isinstance(system, HasPrimaries) and not system.primaries(nodes):
            problems = ["no node leads"]
        if not problems:
            return None
        if stop() or clock() >= deadline:
            return f"cluster not healthy after {deadline_s:g} s: {'; '.join(problems)}"
        sleep(RETRY_S)
