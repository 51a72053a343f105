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

import bisect

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
        self._free: set[Thread] = set(self.threads)
        # the free threads by (handed, position): next_thread's answer is the first that fits
        self._queue: list[tuple[int, int, Thread]] = [(0, i, t) for i, t in enumerate(self.threads)]
        self._position = {t: i for i, t in enumerate(self.threads)}
        self._owners: dict[object, Thread] = {t: t for t in self.threads}  # process -> thread
        self._snapshot: tuple | None = None  # the context's frozen parts, until the next change

    def context(self, now: int) -> Context:
        # Asked on every poll and completion: copy the state only when it changed since.
        if self._snapshot is None:
            self._snapshot = (frozenset(self._free), dict(self.processes), dict(self.handed), dict(self._owners),
                              tuple(self._queue))
        free, processes, handed, owners, queue = self._snapshot
        return Context(now, self.seed, self.threads, free, processes, handed, owners, queue)

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
        op = op.replace(time=now)
        self.busy[thread] = op
        self._free.discard(thread)
        del self._queue[bisect.bisect_left(self._queue, (self.handed[thread], self._position[thread], thread))]
        self.handed[thread] += 1
        self._snapshot = None
        self.gen = nxt.update(ctx, op)
        return thread, op

    def complete(self, thread: Thread, completion: Op, now: int) -> Op:
        """Record that `thread`'s outstanding op ended with `completion` (stamped `now`)."""
        del self.busy[thread]
        self._release(thread)
        self._snapshot = None
        completion = completion.replace(time=now)
        self.gen = self.gen.update(self.context(now), completion)
        if completion.type == "info" and thread != NEMESIS_THREAD:
            self.retire(thread)
        return completion

    def _release(self, thread: Thread) -> None:
        self._free.add(thread)
        bisect.insort(self._queue, (self.handed[thread], self._position[thread], thread))

    def retire(self, thread: Thread) -> None:
        del self._owners[self.processes[thread]]
        self.processes[thread] = self.processes[thread] + self.concurrency
        self._owners[self.processes[thread]] = thread
        self._snapshot = None

    def abandon(self, thread: Thread) -> Op:
        """Give up on `thread`'s outstanding op (the run is stopping): it stays unknown."""
        op = self.busy.pop(thread)
        self._release(thread)
        self._snapshot = None
        if thread != NEMESIS_THREAD:
            self.retire(thread)
        return op
