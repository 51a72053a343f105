"""The scheduler: the bookkeeping between a generator and whatever executes its operations.

It knows which threads are busy with which op, which process each thread currently runs, and the
generator's current value. The interpreter (real threads, real clock) and `simulate` (virtual
clock) both drive one, so the rules below are the same in tests and in real runs:

- an invocation takes the thread of its process until its completion arrives;
- a client op that ends `info` retires its process: the thread carries on as process
  `process + concurrency` (Jepsen), so a history never reuses a process whose op may still act;
- the generator sees every invocation and completion through `update`.
"""

from __future__ import annotations

from dataclasses import replace

from raft_jepsen.harness.generator.core import (
    NEMESIS_THREAD,
    Context,
    Generator,
    Thread,
)
from raft_jepsen.harness.history import Op


class Scheduler:
    def __init__(self, gen: Generator, *, concurrency: int, seed: int):
        self.gen = gen
        self.concurrency = concurrency
        self.seed = seed
        self.threads: tuple[Thread, ...] = tuple(range(concurrency)) + (NEMESIS_THREAD,)
        self.processes: dict[Thread, object] = {t: t for t in self.threads}
        self.busy: dict[Thread, Op] = {}  # thread -> its outstanding invocation
        self.handed: dict[Thread, int] = {t: 0 for t in self.threads}  # ops dispatched to each thread

    def context(self, now: int) -> Context:
        free = frozenset(t for t in self.threads if t not in self.busy)
        return Context(time=now, seed=self.seed, threads=self.threads, free=free, processes=dict(self.processes),
                       handed=dict(self.handed))

    def ask(self, now: int):
        """The generator's answer now: None, PENDING or (op, next generator); commits nothing."""
        return self.gen.op(self.context(now))

    def dispatch(self, answer: tuple[Op, Generator], now: int) -> tuple[Thread, Op]:
        """Adopt an answer of `ask`: the op is invoked now, by its process's thread."""
        op, nxt = answer
        ctx = self.context(now)
        thread = ctx.thread_of(op.process)
        if thread is None or thread in self.busy:
            raise RuntimeError(f"generator chose process {op.process!r}, which is not free")  # a generator bug
        op = replace(op, time=now)
        self.busy[thread] = op
        self.handed[thread] += 1
        self.gen = nxt.update(ctx, op)
        return thread, op

    def complete(self, thread: Thread, completion: Op, now: int) -> Op:
        """Record that `thread`'s outstanding op ended with `completion` (stamped `now`)."""
        del self.busy[thread]
        completion = replace(completion, time=now)
        self.gen = self.gen.update(self.context(now), completion)
        if completion.type == "info" and thread != NEMESIS_THREAD:
            self.retire(thread)
        return completion

    def retire(self, thread: Thread) -> None:
        self.processes[thread] = self.processes[thread] + self.concurrency

    def abandon(self, thread: Thread) -> Op:
        """Give up on `thread`'s outstanding op (the run is stopping): it stays unknown."""
        op = self.busy.pop(thread)
        if thread != NEMESIS_THREAD:
            self.retire(thread)
        return op
