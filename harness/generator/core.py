"""Generators: pure, seeded schedules of operations (the ideas of Jepsen's generator.clj).

A generator is an immutable value with two methods:

- `op(ctx)` answers `None` (exhausted), `PENDING` (nothing now: ask again after the next
  completion) or `(op, next_generator)`, where `op` is an invocation for a free process of `ctx`
  at `op.time`, which may lie in the future. The caller adopts `next_generator` only if it
  actually dispatches `op`; otherwise it simply asks again later, so asking never commits.
- `update(ctx, event)` returns the generator after an event (an invocation it emitted, or a
  completion).

Time and the seed live in the `Context`, and every random draw is made per operation handed out
(`Context.draws`); nothing here reads the real clock, so the same seed gives the same schedule, and `raft_jepsen.harness.generator.simulate` can run any generator on a
virtual clock with no cluster. Threads are the workers of a run: `0 .. concurrency-1` for clients
and `NEMESIS_THREAD` for faults; each thread runs one process at a time (the interpreter replaces
a process whose op ended `info`). As in Jepsen, a generator may use every thread it is shown:
wrap client generators in `clients` and fault generators in `nemesis` (`with_nemesis` does both).

Op templates are plain dicts with the `Op` fields a generator chooses: `f`, `key`, `value` and
optionally `node` (send through that node, for final reads on every node).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol, Union

from raft_jepsen.harness.history import NEMESIS, Op

NEMESIS_THREAD = NEMESIS
SLEEP = "sleep"  # f of an op that only occupies its thread for `value` ns; never recorded
NS = 1_000_000_000


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


PENDING = _Pending()
Thread = Union[int, str]


@dataclass(frozen=True, slots=True)
class Context:
    """What a generator may know: the time, who is free, and the run's seed.

    Randomness is drawn per operation handed out, never per ask: `draws(thread)` is a random
    source seeded by (seed, thread, how many ops that thread has been handed), so asking again
    (the interpreter asks on every poll and completion) draws the same numbers, and each
    thread's ops are a function of the seed alone, whatever the timing (a replay of a run gives
    every process the same operations; a real cluster's outcomes may still steer them)."""

    time: int  # ns since the run began (virtual in simulations)
    seed: int
    threads: tuple[Thread, ...]  # the threads this generator may use (routing narrows them)
    free: frozenset[Thread]  # threads idle right now
    processes: Mapping[Thread, Any] = field(default_factory=dict)  # thread -> its current process
    handed: Mapping[Thread, int] = field(default_factory=dict)  # thread -> ops handed to it so far
    # process -> its thread, for every current process (the scheduler's inverse of `processes`);
    # None: worked out from `processes`. With 200 clients, scanning for a process on every
    # event was most of the generator's cost.
    owners: Mapping[Any, Thread] | None = None
    # the free threads as (ops handed, position in the scheduler's threads, thread), sorted: what
    # `next_thread` picks from without looking at every thread; None: worked out from the rest
    queue: tuple[tuple[int, int, Thread], ...] | None = None

    def free_threads(self) -> list[Thread]:
        if len(self.free) * 4 < len(self.threads):  # few free (a busy run): order them, not scan all
            pos = _positions(self.threads)
            return sorted((t for t in self.free if t in pos), key=pos.__getitem__)
        return [t for t in self.threads if t in self.free]

    def all_free(self) -> bool:
        return all(t in self.free for t in self.threads)

    def next_thread(self) -> Thread | None:
        """The free thread that has been handed the fewest ops (the first of equals), or None:
        ops spread evenly over threads, so keys stay concurrent, without a random draw."""
        if self.queue is not None:
            pos = _positions(self.threads)
            return next((t for _, _, t in self.queue if t in pos), None)
        free = self.free_threads()
        if not free:
            return None
        get = self.handed.get
        counts = [get(t, 0) for t in free]  # min with a key function cost 1 µs a thread
        return free[counts.index(min(counts))]

    def draws(self, thread: Thread, purpose: str = "op") -> random.Random:
        """The random source of `thread`'s next op (`purpose` separates independent draws)."""
        return random.Random(f"{self.seed}/{thread}/{self.handed.get(thread, 0)}/{purpose}")

    def process(self, thread: Thread) -> Any:
        return self.processes.get(thread, thread)

    def thread_of(self, process: Any) -> Thread | None:
        """The thread running `process`, or None for a retired process."""
        if self.owners is not None:
            thread = self.owners.get(process)
            return thread if thread is not None and thread in _positions(self.threads) else None
        for thread in self.threads:
            if self.process(thread) == process:
                return thread
        return None

    def restrict(self, keep: Callable[[Thread], bool]) -> "Context":
        return Context(self.time, self.seed, _restricted(self.threads, keep), self.free, self.processes, self.handed,
                       self.owners, self.queue)


# Routing narrows the same few thread tuples by the same few predicates on every ask: remember
# the answers (a small bound, since EachThread's per-thread predicates are new every time).
@functools.lru_cache(maxsize=256)
def _restricted(threads: tuple[Thread, ...], keep: Callable[[Thread], bool]) -> tuple[Thread, ...]:
    return tuple(t for t in threads if keep(t))


@functools.lru_cache(maxsize=64)
def _positions(threads: tuple[Thread, ...]) -> dict[Thread, int]:
    return {t: i for i, t in enumerate(threads)}


class Generator(Protocol):
    def op(self, ctx: Context) -> "None | _Pending | tuple[Op, Generator]": ...

    def update(self, ctx: Context, event: Op) -> "Generator": ...


def invocation(ctx: Context, template: Mapping[str, Any], thread: Thread | None = None) -> "Op | _Pending":
    """An invocation of `template` now, by `thread` or else the next free thread."""
    thread = ctx.next_thread() if thread is None else thread
    if thread is None:
        return PENDING
    return Op(index=-1, type="invoke", process=ctx.process(thread), time=ctx.time, **template)


def _is_op(result: object) -> bool:
    return isinstance(result, tuple)


# --- leaves --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Once:
    """One invocation of a template, then exhausted."""

    template: Mapping[str, Any]

    def op(self, ctx: Context):
        op = invocation(ctx, self.template)
        return op if op is PENDING else (op, EXHAUSTED)

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


@dataclass(frozen=True, slots=True)
class _Exhausted:
    def op(self, ctx: Context):
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


EXHAUSTED = _Exhausted()


@dataclass(frozen=True, slots=True)
class Repeatedly:
    """Invocations of `make(rng)` forever: the usual source of a workload's random ops, `rng`
    being the random source of the thread that will run it."""

    make: Callable[[random.Random], Mapping[str, Any]]

    def op(self, ctx: Context):
        thread = ctx.next_thread()
        if thread is None:
            return PENDING
        return invocation(ctx, self.make(ctx.draws(thread)), thread), self

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def sleep(seconds: float) -> Generator:
    """Occupy one thread for `seconds` (a recovery wait between phases); never recorded."""
    return Once({"f": SLEEP, "value": int(seconds * NS)})


# --- combinators ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seq:
    """Each generator in turn, moving on when one is exhausted."""

    gens: tuple[Generator, ...]

    def op(self, ctx: Context):
        for i, gen in enumerate(self.gens):
            result = gen.op(ctx)
            if result is None:
                continue
            if result is PENDING:
                return PENDING
            op, nxt = result
            return op, Seq((nxt,) + self.gens[i + 1 :])
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        if not self.gens:
            return self
        return Seq((self.gens[0].update(ctx, event),) + self.gens[1:])


def seq(*gens: Generator) -> Generator:
    return Seq(tuple(gens))


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `remaining` invocations of `gen`."""

    remaining: int
    gen: Generator

    def op(self, ctx: Context):
        if self.remaining <= 0:
            return None
        result = self.gen.op(ctx)
        if not _is_op(result):
            return result
        op, nxt = result
        return op, Limit(self.remaining - 1, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        return Limit(self.remaining, self.gen.update(ctx, event))


@dataclass(frozen=True, slots=True)
class Stagger:
    """Spaces invocations by a random delay in [0, 2*mean_ns): on average one per `mean_ns`, over
    all threads together (Jepsen's stagger; `rate` is its inverse)."""

    mean_ns: int
    gen: Generator
    next_time: int | None = None

    def op(self, ctx: Context):
        result = self.gen.op(ctx)
        if not _is_op(result):
            return result
        op, nxt = result
        due = max(op.time, self.next_time if self.next_time is not None else ctx.time)
        thread = ctx.thread_of(op.process)
        gap = int(ctx.draws(thread, "stagger").uniform(0, 2 * self.mean_ns))
        return op.replace(time=due), Stagger(self.mean_ns, nxt, due + gap)

    def update(self, ctx: Context, event: Op) -> Generator:
        return replace(self, gen=self.gen.update(ctx, event))


def rate(per_second: float, gen: Generator) -> Generator:
    return Stagger(int(NS / per_second), gen)


@dataclass(frozen=True, slots=True)
class Delay:
    """Invocations of `gen` on a fixed timetable: at `next_time`, then every `interval_ns` (times
    since the run began), so the timetable does not drift with how long operations take."""

    interval_ns: int
    gen: Generator
    next_time: int

    def op(self, ctx: Context):
        result = self.gen.op(ctx)
        if not _is_op(result):
            return result
        op, nxt = result
        due = max(op.time, self.next_time)
        return op.replace(time=due), Delay(self.interval_ns, nxt, self.next_time + self.interval_ns)

    def update(self, ctx: Context, event: Op) -> Generator:
        return replace(self, gen=self.gen.update(ctx, event))


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """`gen` until `limit_ns` after the first time it is asked; then exhausted."""

    limit_ns: int
    gen: Generator
    deadline: int | None = None

    def op(self, ctx: Context):
        deadline = self.deadline if self.deadline is not None else ctx.time + self.limit_ns
        if ctx.time >= deadline:
            return None
        result = self.gen.op(ctx)
        if not _is_op(result):
            return result
        op, nxt = result
        if op.time >= deadline:
            return None
        return op, TimeLimit(self.limit_ns, nxt, deadline)

    def update(self, ctx: Context, event: Op) -> Generator:
        return replace(self, gen=self.gen.update(ctx, event))


def time_limit(seconds: float, gen: Generator) -> Generator:
    return TimeLimit(int(seconds * NS), gen)


@dataclass(frozen=True, slots=True)
class Synchronize:
    """Waits until every thread it may use is idle, then behaves as `gen`: a barrier."""

    gen: Generator

    def op(self, ctx: Context):
        if not ctx.all_free():
            return PENDING
        return self.gen.op(ctx)

    def update(self, ctx: Context, event: Op) -> Generator:
        return self  # nothing of ours is running before the barrier opens


def phases(*gens: Generator) -> Generator:
    """Each generator in turn, each starting only once every operation of the previous one has
    completed."""
    return Seq(tuple(Synchronize(g) for g in gens))


@dataclass(frozen=True, slots=True)
class Mix:
    """Each invocation from a randomly chosen generator; exhausted ones drop out. Completions are
    not forwarded (as in Jepsen): mix is for stateless sources."""

    gens: tuple[Generator, ...]

    def op(self, ctx: Context):
        gens = self.gens
        thread = ctx.next_thread()
        if thread is None:
            return PENDING if gens else None
        rng = ctx.draws(thread, "mix")
        while gens:
            i = rng.randrange(len(gens))
            result = gens[i].op(ctx)
            if result is None:
                gens = gens[:i] + gens[i + 1 :]
                continue
            if result is PENDING:
                return PENDING
            op, nxt = result
            return op, Mix(gens[:i] + (nxt,) + gens[i + 1 :])
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def mix(*gens: Generator) -> Generator:
    return Mix(tuple(gens))


@dataclass(frozen=True, slots=True)
class EachThread:
    """A separate copy of `gen` for every thread (Jepsen's each-thread): `EachThread(Once(read))`
    is one read per thread."""

    gen: Generator
    copies: Mapping[Thread, Generator] = field(default_factory=dict)

    def op(self, ctx: Context):
        ops, pending = [], not ctx.all_free()  # a busy thread's copy may still have more to do
        for pos, thread in enumerate(ctx.free_threads()):
            result = self.copies.get(thread, self.gen).op(ctx.restrict(lambda t: t == thread))
            if result is PENDING:
                pending = True
            elif result is not None:
                ops.append((result[0].time, pos, thread, result))
        if not ops:
            return PENDING if pending else None
        _, _, thread, (op, nxt) = min(ops, key=lambda x: (x[0], x[1]))
        return op, EachThread(self.gen, {**self.copies, thread: nxt})

    def update(self, ctx: Context, event: Op) -> Generator:
        thread = ctx.thread_of(event.process)
        if thread is None:
            return self
        return EachThread(self.gen, {**self.copies, thread: self.copies.get(thread, self.gen).update(ctx, event)})


@dataclass(frozen=True, slots=True)
class OnThreads:
    """`gen`, seeing only the threads `keep` accepts, and only their events."""

    keep: Callable[[Thread], bool]
    gen: Generator

    def op(self, ctx: Context):
        result = self.gen.op(ctx.restrict(self.keep))
        if not _is_op(result):
            return result
        op, nxt = result
        return op, OnThreads(self.keep, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        thread = ctx.thread_of(event.process)
        if thread is None or not self.keep(thread):
            return self
        return OnThreads(self.keep, self.gen.update(ctx.restrict(self.keep), event))


def _is_client_thread(thread: Thread) -> bool:
    return thread != NEMESIS_THREAD


def _is_nemesis_thread(thread: Thread) -> bool:
    return thread == NEMESIS_THREAD


def clients(gen: Generator) -> Generator:
    return OnThreads(_is_client_thread, gen)


def nemesis(gen: Generator) -> Generator:
    return OnThreads(_is_nemesis_thread, gen)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Whichever generator has the soonest invocation; exhausted when all are."""

    gens: tuple[Generator, ...]

    def op(self, ctx: Context):
        results = [g.op(ctx) for g in self.gens]
        ops = [(r[0].time, i) for i, r in enumerate(results) if _is_op(r)]
        if not ops:
            return PENDING if any(r is PENDING for r in results) else None
        _, i = min(ops)  # the soonest; ties go to the first generator
        op, nxt = results[i]
        return op, AnyOf(self.gens[:i] + (nxt,) + self.gens[i + 1 :])

    def update(self, ctx: Context, event: Op) -> Generator:
        return AnyOf(tuple(g.update(ctx, event) for g in self.gens))


def with_nemesis(nemesis_gen: Generator, client_gen: Generator) -> Generator:
    """Client ops on the client threads and fault ops on the nemesis thread, each on its own
    schedule (Jepsen's `nemesis` routing)."""
    return AnyOf((nemesis(nemesis_gen), clients(client_gen)))
