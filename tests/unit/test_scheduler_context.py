"""The scheduler's contexts carry shortcuts (`owners`, `queue`) that keep each ask cheap with
hundreds of clients; whatever happens, they must answer exactly what the plain fields answer."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from raft_jepsen.harness.generator.core import EXHAUSTED, NEMESIS_THREAD, clients
from raft_jepsen.harness.generator.scheduler import Scheduler
from raft_jepsen.harness.history import Op


def _plain(ctx):
    return replace(ctx, owners=None, queue=None)


def _agree(ctx):
    plain = _plain(ctx)
    for view, plain_view in ((ctx, plain), (ctx.restrict(lambda t: t != NEMESIS_THREAD),
                                            plain.restrict(lambda t: t != NEMESIS_THREAD)),
                             (ctx.restrict(lambda t: t == NEMESIS_THREAD), plain.restrict(lambda t: t == NEMESIS_THREAD))):
        assert view.next_thread() == plain_view.next_thread()
        assert view.free_threads() == plain_view.free_threads()
        for process in list(view.processes.values()) + [-1, 10_000]:
            assert view.thread_of(process) == plain_view.thread_of(process)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32), st.integers(1, 200))
def test_shortcuts_answer_what_the_plain_fields_answer(concurrency, seed, steps):
    rng = random.Random(seed)
    s = Scheduler(EXHAUSTED, concurrency=concurrency, seed=seed)
    for now in range(steps):
        ctx = s.context(now)
        _agree(ctx)
        free = ctx.free_threads()
        if free and (not s.busy or rng.random() < 0.6):  # invoke on a free thread
            thread = rng.choice(free)
            op = Op(index=-1, type="invoke", process=ctx.process(thread), f="read", time=now)
            s.dispatch((op, EXHAUSTED), now)
        else:  # complete a busy one, sometimes info (its process retires)
            thread = rng.choice(list(s.busy))
            kind = "info" if rng.random() < 0.2 else "ok"
            s.complete(thread, s.busy[thread].completed(kind), now)


def test_next_thread_takes_the_least_handed_then_the_first():
    s = Scheduler(clients(EXHAUSTED), concurrency=3, seed=1)
    ctx = s.context(0)
    assert ctx.next_thread() == 0
    op = Op(index=-1, type="invoke", process=0, f="read")
    s.dispatch((op, EXHAUSTED), 0)
    s.complete(0, op.completed("ok"), 1)
    assert s.context(2).next_thread() == 1  # thread 0 was handed one op, 1 and 2 none
