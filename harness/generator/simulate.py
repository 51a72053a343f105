"""Run a generator on a virtual clock, with no cluster (Jepsen's generator/test.clj `simulate`).

Every client op completes `latency_ns` after its invocation with the type `outcome(op)` chooses
(ok by default); sleeps last their value; fault ops complete as the nemesis's single `info`
record. The result is the history a perfect interpreter would have written, which lets tests
check a generator's schedule exactly: the same seed gives the same history.
"""

from __future__ import annotations

import heapq
from typing import Callable

from raft_jepsen.harness.generator.core import NEMESIS_THREAD, PENDING, SLEEP, Generator
from raft_jepsen.harness.generator.scheduler import Scheduler
from raft_jepsen.harness.history import Op


def simulate(
    gen: Generator,
    *,
    concurrency: int = 3,
    seed: int = 0,
    latency_ns: int = 1_000_000,
    outcome: Callable[[Op], str] = lambda op: "ok",
    max_events: int = 1_000_000,
) -> list[Op]:
    scheduler = Scheduler(gen, concurrency=concurrency, seed=seed)
    history: list[Op] = []
    running: list[tuple[int, int, object]] = []  # heap of (completion time, tiebreak, thread)
    now = 0

    def record(op: Op) -> None:
        history.append(op.completed(op.type, index=len(history)))

    def finish_next() -> None:
        nonlocal now
        now, _, thread = heapq.heappop(running)
        invoke = scheduler.busy[thread]
        if invoke.f == SLEEP:
            scheduler.complete(thread, invoke.completed("ok"), now)
        elif thread == NEMESIS_THREAD:
            record(scheduler.complete(thread, invoke.completed("info"), now))
        else:
            record(scheduler.complete(thread, invoke.completed(outcome(invoke)), now))

    for tiebreak in range(max_events):
        answer = scheduler.ask(now)
        if answer is None or answer is PENDING:
            if not running:
                if answer is PENDING:
                    raise RuntimeError("generator is pending with nothing running: it can never proceed")
                return history
            finish_next()
            continue
        op = answer[0]
        if running and running[0][0] <= op.time:
            finish_next()  # a completion comes first and may change the generator's answer
            continue
        now = max(now, op.time)
        thread, op = scheduler.dispatch(answer, now)
        if op.f != SLEEP and thread != NEMESIS_THREAD:
            record(op)
        duration = op.value if op.f == SLEEP else latency_ns
        heapq.heappush(running, (now + duration, tiebreak, thread))
    raise RuntimeError(f"generator still running after {max_events} events: is it unbounded?")
