"""A minimal explanation of a non-linearizable key: the fewest operations that prove it.

The checker says a key has no linearization and shows the longest prefix it could build; a
person wants the handful of operations that cannot be reconciled. This module shrinks the key's
history to such a set by delta debugging (Zeller's ddmin), each step a call of the checker.

What "removing" an operation means matters. Linearizability is not monotone in a plain subset of
operations: dropping a write can break a history (a read of 1 with the write of 1 gone looks like
a read of a value never written), so the smallest failing plain subset can blame an operation
that is innocent in the full history. Here an operation outside the kept set S is *relaxed*, not
dropped: it becomes indeterminate (it may have taken effect at any time after its call, or
never), and an operation that only observed (a read, a cas that reported a mismatch) is dropped.
Relaxing only adds ways to linearize, so

- if the history with everything outside S relaxed (H_S) has no linearization, neither has the
  full history: S is a proof that stands in the full history, whatever the other operations did;
- the predicate "H_S has no linearization" is monotone in S, so the result is minimal outright:
  relaxing any one of its operations (hence any subset of them) gives a linearization.

Indeterminate operations are never in S (relaxing them changes nothing), as the issue puts it: a
1-minimal subset holds none.

Steps, each a checker call on H_S: for a register, a few guesses of the usual shapes (a stale
read) first; then the observations are narrowed with every update kept, then the updates with
those observations only; each narrowing is a binary search for the shortest failing prefix (in
call order), a galloping search from the end for the shortest failing suffix of that, then
ddmin. The time is bounded by a deadline; when it runs out (or a step's check ends `unknown`),
the smallest failing set found so far is returned, marked not proven minimal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raft_jepsen.checkers import plain_words
from raft_jepsen.checkers.models import Model, Operation, freeze
from raft_jepsen.harness.history import Call, Op

MIN_BUDGET_S = 1.0  # explanations may take max(this, the check's own time), within its deadline
MIN_CHECK_S = 0.1  # one step's check may take a quarter of the time left, or this
GUESS_CHECK_S = 0.15  # a guess's check: a guess that explodes is not worth more
MAX_GUESSES = 12

# history, timeout in seconds -> the checker's verdict on it: True, False or "unknown"
Recheck = Callable[[list[Op], float], Any]


@dataclass(frozen=True, slots=True)
class Minimal:
    indexes: list[int]  # invoke indexes of the kept operations, in call order
    proven: bool  # every operation was shown necessary (no deadline, no unknown step)
    checks: int  # checker calls made
    elapsed_s: float


class _OutOfTime(Exception):
    pass


def determinate(call: Call) -> bool:
    """Completed with a known outcome: ok, or a fail the model kept (a cas mismatch)."""
    return call.complete is not None and call.complete.type in ("ok", "fail")


def relaxed(calls: list[Call], keep: set[int], register: bool = False) -> list[Op]:
    """H_S: the calls whose invoke index is in `keep` as they happened, every other one left open
    (indeterminate), except a failed one: a failure the model keeps (a cas that saw another value)
    only observed, and an observation is relaxed by dropping it. Each call gets a process of its
    own, so the history is well formed whatever became of the originals' processes. An open call
    invoked after every kept call returned is left out: it can only take effect after all of
    them, or never, so it cannot matter (one invoked at the very instant the last returned stays:
    the checker orders calls before returns at equal times, so it counts as concurrent).

    For a register (`register`), open writes of one value beyond the len(keep) earliest are left
    out too (`calls` in call order): between two kept operations in a linearization a second
    write of v makes the open operations from the first one to it pointless (cut them: the state
    after it is v all the same), so a gap before a kept operation needs at most one write of v,
    and an earlier one can stand in for a later one wherever that one could go. (Not so for a
    cas: its effect depends on the state it meets.)"""
    last_return = max((c.complete.time for c in calls if c.invoke.index in keep), default=0)
    copies: dict[Any, int] = {}
    out: list[Op] = []
    for n, c in enumerate(calls):
        if c.invoke.index in keep:
            out.append(_as(c.invoke, n))
            out.append(_as(c.complete, n))
        elif c.invoke.time <= last_return and not (c.complete is not None and c.complete.type == "fail"):
            if register and c.invoke.f in ("write", "put"):
                alike = freeze(c.invoke.value)
                copies[alike] = copies.get(alike, 0) + 1
                if copies[alike] > len(keep):
                    continue
            out.append(_as(c.invoke, n))
    return out


def _as(op: Op, process: int) -> Op:
    return Op(index=op.index, type=op.type, process=process, f=op.f, key=op.key, value=op.value, time=op.time,
              error=op.error)


def shrink(calls: list[Call], recheck: Recheck, deadline: float, guesses: list[tuple[list[int], bool]] = (),
           register: bool = False) -> Minimal:
    """The smallest set of the key's determinate calls whose H_S the checker still finds not
    linearizable; `calls` (one key's, any order) must be so as a whole. `guesses` are small sets
    worth trying first, each with whether it fails by construction (else a short check decides):
    the first that fails replaces the narrowing. `register`: the key is a register's (see
    `relaxed`)."""
    start = time.monotonic()
    calls = sorted(calls, key=lambda c: (c.invoke.time, c.invoke.index))
    items = [c.invoke.index for c in calls if determinate(c)]
    by_index = {c.invoke.index: c for c in calls}
    rank = {index: n for n, index in enumerate(items)}
    if not items:  # cannot happen for a failing key: indeterminate ops alone always linearize
        return Minimal([], False, 0, 0.0)
    seen: dict[frozenset, bool] = {}
    undecided = False
    checks = 0

    def failing(kept: list[int], guess: bool = False) -> bool:
        """Whether H_kept fails; a guess gets a short check, and an undecided guess is no loss."""
        nonlocal undecided, checks
        key = frozenset(kept)
        if key not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _OutOfTime
            checks += 1  # no one check may take all the time left: it may be one that explodes
            cap = GUESS_CHECK_S if guess else max(MIN_CHECK_S, left / 4)
            verdict = recheck(relaxed(calls, set(kept), register), min(left, cap))
            if verdict == "unknown":
                if time.monotonic() >= deadline:
                    raise _OutOfTime
                if guess:
                    return False
                undecided = True
            seen[key] = verdict is False
        return seen[key]

    best = items  # always a failing set: the whole key fails

    def smaller(kept: list[int]) -> None:
        nonlocal best
        best = kept

    proven = False
    try:
        for guess, certain in guesses[:MAX_GUESSES]:
            kept = [i for i in items if i in set(guess)]
            if certain and kept:
                seen[frozenset(kept)] = True  # its failure is proven by the guess's own argument
            if kept and failing(kept, guess=True):
                smaller(kept)
                _ddmin(best, failing, smaller)
                return Minimal(best, not undecided, checks, round(time.monotonic() - start, 4))
        # Two phases. First the observations, every update kept as it happened (few open
        # operations: each check is quick); then the updates, with only those observations: the
        # values they saw are few, so the checker's pruning drops most of the open updates.
        # Relaxing more keeps a linearizable history linearizable, so the union stays minimal.
        observed = [i for i in items if _observes(by_index[i])]
        updates = [i for i in items if not _observes(by_index[i])]
        seen_ops = _narrow(observed, lambda sub: failing(sub + updates), lambda sub: smaller(sub + updates))
        _narrow(updates, lambda sub: failing(seen_ops + sub), lambda sub: smaller(sorted(seen_ops + sub, key=rank.get)))
        proven = not undecided
    except _OutOfTime:
        pass
    return Minimal(sorted(best, key=rank.get), proven, checks, round(time.monotonic() - start, 4))


def _observes(call: Call) -> bool:
    """A read, or a failure the model kept (a cas mismatch): it saw the state, changed nothing."""
    return call.complete.type == "fail" or call.invoke.f in ("read", "get")


def _narrow(items: list[int], failing: Callable[[list[int]], bool], progress: Callable[[list[int]], None]) -> list[int]:
    """A minimal failing sublist of `items` (which fails): the shortest failing prefix (bisected),
    the shortest failing suffix of that (galloping from the end: a long suffix leaves everything
    before it open, and many open operations can make a check explode), then ddmin."""
    if failing([]):
        progress([])
        return []
    lo, hi = 1, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if failing(items[:mid]):
            hi = mid
        else:
            lo = mid + 1
    items = items[:hi]
    progress(items)
    size, n = 1, len(items)
    while size < n and not failing(items[n - size:]):
        size *= 2
    lo, hi = max(n - size, 0), (n - size // 2 - 1 if size > 1 else n - 1)
    while lo < hi:  # items[lo:] fails, items[hi + 1:] does not
        mid = (lo + hi + 1) // 2
        if failing(items[mid:]):
            lo = mid
        else:
            hi = mid - 1
    items = items[lo:]
    progress(items)
    return _ddmin(items, failing, progress)


def _ddmin(items: list[int], failing: Callable[[list[int]], bool], progress: Callable[[list[int]], None]) -> list[int]:
    """Zeller's ddmin: try each of n chunks alone, then each complement; on success continue
    from there, else split finer, until the chunks are single operations."""
    n = 2
    while len(items) >= 2:
        size = len(items)
        chunks = [items[size * i // n: size * (i + 1) // n] for i in range(n)]
        for chunk in chunks:
            if failing(chunk):
                items, n = chunk, 2
                break
        else:
            for i in range(n):
                rest = [x for j, chunk in enumerate(chunks) if j != i for x in chunk]
                if failing(rest):
                    items, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= size:
                    break  # every single removal tested: 1-minimal
                n = min(2 * n, size)
                continue
        progress(items)
    return items


# The models whose operations read as a register's (read/get, write/put, cas), with the initial
# value of one key: the sentence can name their common shapes.
REGISTERS = {"register": None, "cas-register": None, "etcd": None, "kv": None, "string-kv": ""}
REGISTER_FS = {"read", "get", "write", "put", "cas"}  # a key with any other operation is no register


def budget(start: float, deadline: float | None) -> float:
    """When explanations must end: as long again as the check took (at least MIN_BUDGET_S), and
    never past the check's own deadline."""
    now = time.monotonic()
    end = now + max(MIN_BUDGET_S, now - start)
    return end if deadline is None else min(end, deadline)


def explain_failures(failures: list[dict], parts: list[list[Operation]], calls: dict[int, Call], model: Model,
                     recheck: Recheck, deadline: float) -> None:
    """Adds to each failure record its `minimal` (invoke indexes, in call order), whether that is
    proven minimal (`minimal_proven`) and `explanation`, the sentence. `parts[i]` are the model's
    operations of `failures[i]`'s key; the deadline is shared: half for the first failure (the
    one a one-line verdict shows), the rest in equal shares."""
    for n, (failure, ops) in enumerate(zip(failures, parts)):
        left = len(failures) - n  # the first is the one the CLI's line shows: it gets half
        share = (deadline - time.monotonic()) * (0.5 if n == 0 and left > 1 else 1 / left)
        key_calls = [calls[op.id] for op in ops]
        register = model.name in REGISTERS and all(c.invoke.f in REGISTER_FS for c in key_calls)
        guesses = register_guesses(key_calls, failure.get("stuck") or [], REGISTERS[model.name]) if register else []
        if isinstance(failure.get("minimal"), list):  # a contradiction the checker found without search:
            guesses.insert(0, (failure["minimal"], False))  # its op alone may not stand with the others relaxed
        found = shrink(key_calls, recheck, time.monotonic() + share, guesses, register)
        kept, proven = found.indexes, found.proven
        by_id = {op.id: op for op in ops}
        records = failure["ops"]
        chosen = set(kept)
        failure["minimal"] = kept
        failure["minimal_proven"] = proven
        failure["explanation"] = plain_words.sentence(
            [o for o in records if o["index"] in chosen], records,
            register=model.name in REGISTERS, initial=REGISTERS.get(model.name), model=model.name, proven=proven,
            describe=lambda o, by_id=by_id: model.describe_operation(by_id[o["index"]].input, by_id[o["index"]].output),
        )


def register_guesses(calls: list[Call], stuck: list[int], initial: Any = None) -> list[tuple[list[int], bool]]:
    """Small sets that often prove a register key wrong, with whether each fails by construction,
    built around an operation V the search could not place (a read, or a cas that succeeded,
    that saw v):

    - V alone: certain when no call that could write v began before V ended (and v is not the
      initial value); V and O (below) when v is the initial value and nothing could write it;
    - V, the latest update O that left another value and completed before V began, and the
      latest write of v that completed before O began (a stale read);
    - V, O and every call that could write v and began before V ended, when each of them is
      completed and completed before O began: certain, since no write of v can then fall between
      O and V whatever the other operations did (relaxed, none of them writes v)."""
    if any(c.invoke.f not in REGISTER_FS for c in calls):
        return []  # an append (string-kv) builds values: a register's reasoning does not hold
    done = [c for c in calls if determinate(c) and c.type == "ok"]
    by_index = {c.invoke.index: c for c in calls}
    guesses: list[tuple[list[int], bool]] = []
    for i in stuck:
        v_call = by_index.get(i)
        if v_call is None or not determinate(v_call):
            continue
        seen = _saw(v_call)
        if seen is _NOTHING:
            continue
        writers = [c for c in calls if c is not v_call and c.type != "fail" and _left(c) == seen
                   and c.invoke.time <= v_call.complete.time and not _same(c)]  # equal: concurrent
        guesses.append(([i], not writers and seen != freeze(initial)))
        overwrites = sorted((c for c in done if c.complete.time < v_call.invoke.time and _left(c) not in (_NOTHING, seen)),
                            key=lambda c: -c.complete.time)
        for o in overwrites[:3]:
            if not writers and seen == freeze(initial):  # the initial value, after another one
                guesses.append((sorted({i, o.invoke.index}), True))
            if writers and all(determinate(c) and c.complete.time < o.invoke.time for c in writers):
                guesses.append((sorted({i, o.invoke.index, *(c.invoke.index for c in writers)}), True))
            writes = sorted((c for c in done if _left(c) == seen and c.complete.time < o.invoke.time),
                            key=lambda c: -c.complete.time)
            guesses.append((sorted({i, o.invoke.index, *(c.invoke.index for c in writes[:1])}), False))
    return guesses


_NOTHING = object()


def _saw(call: Call) -> Any:
    """The value a read returned or a successful cas expected."""
    if call.invoke.f in ("read", "get") and call.type == "ok":
        return freeze(call.complete.value)
    if call.invoke.f == "cas" and call.type == "ok" and isinstance(call.invoke.value, list) and len(call.invoke.value) == 2:
        return freeze(call.invoke.value[0])
    return _NOTHING


def _same(call: Call) -> bool:
    """A cas from a value to itself: it cannot bring a value back."""
    v = call.invoke.value
    return call.invoke.f == "cas" and isinstance(v, list) and len(v) == 2 and freeze(v[0]) == freeze(v[1])


def _left(call: Call) -> Any:
    """The value a successful write or cas left in the register."""
    if call.invoke.f in ("write", "put"):
        return freeze(call.invoke.value)
    if call.invoke.f == "cas" and isinstance(call.invoke.value, list) and len(call.invoke.value) == 2:
        return freeze(call.invoke.value[1])
    return _NOTHING
