"""Linearizability checking: Porcupine's algorithm (Wing & Gong's search with Lowe's memoisation).

The model reads each call of the history (a `fail` is dropped, as it certainly did not happen,
unless the model can observe it: a cas mismatch says "value != old"), splits the operations into
partitions (P-compositionality) and may prune indeterminate ones that cannot matter. A partition
with operations that no order can satisfy, found from the times alone (`Model.contradictions`:
a read of a value nobody wrote, or one overwritten before it began), is decided at once. Then,
per partition:

1. every operation becomes a call entry and a return entry, sorted by time, calls before
   returns on equal time (so operations that touch at one instant count as concurrent);
   an indeterminate operation's return is +infinity: it may take effect any time after its
   call, or never (taking effect after everything else is the same as never);
2. the entries form a doubly linked list; a depth-first search repeatedly takes the first
   call whose operation the model accepts in the current state, lifts the call and its return
   out of the list, and starts again from the head; reaching a return means that operation
   had to take effect by now, so the search backtracks (three reductions, see `search`);
3. a cache of (linearized set as an int bitset, state) skips any configuration seen before;
4. a deadline, or the memory bound for the whole check (all partitions together), gives the
   verdict "unknown" for the partition that blew up (the largest, when over the memory bound).

The search core, `search`, sees only integers (entry codes, operation ids, state ids) and a
`step` function on them, so it also exists in native code: `raft_jepsen.checkers._native` (the
Rust crate in `native/`, built by `pip install` where Rust is present) takes the same steps in
the same order, faster, and runs the register and kv models itself (`IntModel`). The checker
uses it when it is built, unless RAFT_JEPSEN_PURE_PYTHON=1; this module's `search` is the
fallback and the oracle it is tested against.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator

from raft_jepsen.checkers.models import READ, UNKNOWN, WRITE, IntModel, Model, Operation, get_model
from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import Call, Op, pair

try:
    from raft_jepsen.checkers._native import Search as NativeSearch
except ImportError:  # built only where Rust is present: the Python core is the fallback
    NativeSearch = None

DEFAULT_TIMEOUT_S = 60.0
MAX_MEMORY_MB = 1024  # the search's memory for the whole check, all partitions together
_SLICE = 256  # the search pauses every 256 backtracks: clock, memory, turn-taking
_MAX_TURN = 16  # slices a partition searches in a turn: 1 in the first round, doubling up to this
# The Python core's bytes per cached configuration, beyond the int itself: a set slot at the
# set's load factor, and about one memo entry of step's answers.
_PY_CONFIG_BYTES = 150

SearchResult = Generator[int, None, tuple[bool, list[int]]]


def search(
    entries: list[int],
    step: Callable[[int, int], int],
    read_only: list[bool] | None = None,
    twin: list[int] | None = None,
    meter: list[int] | None = None,
    needs: tuple[list[tuple[int, int]], list[list[int]]] | None = None,
) -> SearchResult:
    """The search core. `entries` lists operation ids in time order, `i` for the call of
    operation i and `~i` for its return; every id 0..n-1 appears once each way. `step(i, s)`
    is the model on integers: the state id after operation i in state id s, or -1 when i cannot
    take effect there (state 0 is the initial state), or -2 for a read-only op that cannot, and
    from that state only an op of its `needs` can make it fit; it is asked once per (i, s).

    Three reductions, each sound on its own, cut the configurations searched:
    - `read_only[i]`: op i never changes the state where it fits (a read). Where the search
      reaches a configuration and a pending read-only call (before the first return) fits, it
      takes effect at once, as no choice: moved to the front of any linearization from here it
      still fits, and nothing that follows it must precede it. So if the configuration after it
      fails, so does this one, and backtracking goes past both.
    - `twin[i]`: the id of an earlier-called indeterminate op with the same input and output as
      indeterminate op i (or -1). Once both are called they are interchangeable, so they take
      effect in call order: i only after its twin.
    - `needs` (`IntModel.needs` and `groups`): when a pending read-only call answers -2 and
      every op of its needs is linearized, nothing left can make it fit before it returns: the
      configuration fails at once, rather than when the search reaches that return.

    Resumable: after every 256 backtracks it pauses, yielding how many configurations it has
    cached (and setting meter[0] to its memory estimate in bytes), so that the caller can watch
    a clock and a memory bound or let other partitions take turns. Returns (linearizable, ids):
    a full linearization when True, else the longest prefix the search could linearize."""
    n_entries = len(entries)
    n = n_entries // 2
    head, tail = 0, n_entries + 1
    nxt = list(range(1, n_entries + 2)) + [tail]
    prv = [head] + list(range(n_entries + 1))
    # node k + 1 is entries[k]; match[node] is a call's return node (0 for return nodes and the tail)
    match = [0] * (n_entries + 2)
    op_of = [0] * (n_entries + 2)
    return_node: dict[int, int] = {}
    for k in range(n_entries - 1, -1, -1):
        e = entries[k]
        if e < 0:
            return_node[~e] = k + 1
            op_of[k + 1] = ~e
        else:
            match[k + 1] = return_node[e]
            op_of[k + 1] = e
    # per call node: its op's bit in the linearized set, step's answers for that op, whether it is
    # read-only, and its twin's bit (0: none)
    bit = [0] * (n_entries + 2)
    answers: list[dict[int, int] | None] = [None] * (n_entries + 2)  # None at return nodes
    ro = [False] * (n_entries + 2)
    after = [0] * (n_entries + 2)
    for node in range(1, n_entries + 1):
        if match[node]:
            op = op_of[node]
            bit[node] = 1 << op
            answers[node] = {}
            ro[node] = bool(read_only and read_only[op])
            after[node] = 1 << twin[op] if twin and twin[op] >= 0 else 0
    # per call node of a read with needs: the bits of the ops that may make it fit, latest first
    need: list[list[int] | None] = [None] * (n_entries + 2)
    if needs is not None:
        per_op, groups = needs
        for node in range(1, n_entries + 1):
            if match[node] and per_op[op_of[node]][0] >= 0:
                g, count = per_op[op_of[node]]
                need[node] = [1 << j for j in reversed(groups[g][:count])]
    config_bytes = 28 + 4 * ((n + 40) // 30) + _PY_CONFIG_BYTES

    # a configuration is (linearized set, state id), packed in one int: the state above n bits
    cache: set[int] = set()
    calls: list[tuple[int, int, bool]] = []  # (call node, state before it, taken as no choice)
    longest: list[int] = []
    linearized = 0
    state = 0
    backtracks = 0
    pause_at = _SLICE
    if nxt[head] == tail:
        return True, []
    fresh = True  # at a configuration just reached: read-only calls first
    node = head
    while True:
        if fresh:
            fresh = False
            k = nxt[head]
            dead = False
            while match[k]:  # the calls before the first return
                if ro[k]:
                    known = answers[k]
                    new_state = known.get(state)  # type: ignore[union-attr]
                    if new_state is None:
                        new_state = known[state] = step(op_of[k], state)  # type: ignore[index]
                    if new_state == state:
                        break
                    if new_state == -2 and need[k] is not None:
                        for b in need[k]:  # type: ignore[union-attr]
                            if not linearized & b:
                                break
                        else:
                            dead = True
                            break
                k = nxt[k]
            if dead:
                node = tail  # a read that nothing left can make fit: this configuration fails
            elif match[k]:
                lin = linearized | bit[k]
                seen = lin | (state << n)
                if seen in cache:
                    node = tail  # the configuration after it failed, so this one fails
                else:
                    cache.add(seen)
                    calls.append((k, state, True))
                    linearized = lin
                    p, q = prv[k], nxt[k]
                    nxt[p], prv[q] = q, p
                    ret = match[k]
                    p, q = prv[ret], nxt[ret]
                    nxt[p], prv[q] = q, p
                    if nxt[head] == tail:
                        return True, [op_of[c] for c, _, _ in calls]
                    fresh = True
                    continue
            else:
                node = nxt[head]
        known = answers[node]
        if known is not None:
            if not after[node] or linearized & after[node]:
                new_state = known.get(state)
                if new_state is None:
                    new_state = known[state] = step(op_of[node], state)
                if new_state >= 0:
                    lin = linearized | bit[node]
                    seen = lin | (new_state << n)
                    if seen not in cache:
                        cache.add(seen)
                        calls.append((node, state, False))
                        state, linearized = new_state, lin
                        # lift the call and its return out of the list
                        p, q = prv[node], nxt[node]
                        nxt[p], prv[q] = q, p
                        ret = match[node]
                        p, q = prv[ret], nxt[ret]
                        nxt[p], prv[q] = q, p
                        if nxt[head] == tail:
                            return True, [op_of[c] for c, _, _ in calls]
                        fresh = True
                        continue
            node = nxt[node]
        else:
            # a return: its operation should have taken effect by now; undo the last choice,
            # and the read-only calls taken after it
            if len(calls) > len(longest):
                longest = [op_of[c] for c, _, _ in calls]
            forced = True
            while forced:
                if not calls:
                    return False, longest
                node, state, forced = calls.pop()
                backtracks += 1
                linearized ^= bit[node]
                ret = match[node]  # put back in the reverse order of lifting
                nxt[prv[ret]] = ret
                prv[nxt[ret]] = ret
                nxt[prv[node]] = node
                prv[nxt[node]] = node
            node = nxt[node]
            if backtracks >= pause_at:
                pause_at = backtracks + _SLICE
                if meter is not None:
                    meter[0] = len(cache) * config_bytes
                yield len(cache)


def native_search(
    entries: list[int],
    step: Callable[[int, int], int] | None,
    read_only: list[bool] | None = None,
    twin: list[int] | None = None,
    meter: list[int] | None = None,
    ints: IntModel | None = None,
) -> SearchResult:
    """`search` in Rust: same arguments, same pauses, same result. With `ints` the model runs in
    Rust too and `step` is not called."""
    core = NativeSearch(entries, read_only, twin)
    if ints is not None:
        core.use_model(ints.kind, ints.f, ints.a, ints.b, ints.out, ints.texts or [], ints.needs, ints.groups)
    while (done := core.run(step, _SLICE)) is None:
        if meter is not None:
            meter[0] = core.memory
        yield core.states
    return done


def search_core() -> Callable[..., SearchResult]:
    """The native core when it is built, unless the environment sets RAFT_JEPSEN_PURE_PYTHON=1."""
    if NativeSearch is None or os.environ.get("RAFT_JEPSEN_PURE_PYTHON", "") not in ("", "0"):
        return search
    return native_search


class Interned:
    """A model on integers for `search`: states are numbered as they are first reached.
    `size` estimates the states' memory in bytes."""

    def __init__(self, model: Model, ops: list[Operation]):
        self.states: list[Any] = [model.init()]
        self._ids: dict[Any, int] = {self.states[0]: 0}
        self._model_step = model.step
        self._ops = ops
        self.size = 0

    def step(self, i: int, s: int) -> int:
        op = self._ops[i]
        ok, new = self._model_step(self.states[s], op.input, op.output)
        if not ok:
            return -1
        sid = self._ids.get(new)
        if sid is None:
            sid = self._ids[new] = len(self.states)
            self.states.append(new)
            self.size += sys.getsizeof(new) + 100  # the state, its list and dict slots
        return sid


def int_step(ints: IntModel) -> tuple[Callable[[int, int], int], list[int]]:
    """`IntModel` in Python, for the Python core: step on ids, and a one-item list holding the
    bytes of the texts it made (the text model's states)."""
    F, A, B, O = ints.f, ints.a, ints.b, ints.out  # the columns of the model's table
    size = [0]
    if ints.kind == "register":

        def register_step(i: int, s: int) -> int:
            f = F[i]
            if f == READ:
                return s if O[i] == s else -2  # only a write of O[i] can make it fit
            if f == WRITE:
                return A[i]
            o = O[i]
            if o == 1:
                return B[i] if s == A[i] else -1
            if o == 0:
                return s if s != A[i] else -1
            return B[i] if s == A[i] else s

        return register_step, size
    texts = list(ints.texts or [""])
    ids = {t: k for k, t in enumerate(texts)}

    def text_step(i: int, s: int) -> int:
        f = F[i]
        if f == READ:
            if O[i] == s:
                return s
            return -1 if texts[O[i]].startswith(texts[s]) else -2  # appends only lengthen a text
        if f == WRITE:
            return A[i]
        t = texts[s] + texts[A[i]]
        k = ids.get(t)
        if k is None:
            k = ids[t] = len(texts)
            texts.append(t)
            size[0] += sys.getsizeof(t) + 100
        return k

    return text_step, size


def twins(ops: list[Operation]) -> list[int]:
    """Per op: the latest earlier-called indeterminate op with the same input, for indeterminate
    ops (-1: none, or a completed op). See `search`."""
    last: dict[Any, int] = {}
    out = [-1] * len(ops)
    order = sorted(range(len(ops)), key=lambda k: ops[k].call)
    for k in order:
        op = ops[k]
        if op.output is UNKNOWN:
            out[k] = last.get(op.input, -1)
            last[op.input] = k
    return out


def operations(calls: list[Call], model: Model) -> list[Operation]:
    """The calls the model cares about, with their call and return times."""
    ops = []
    for call in calls:
        encoded = model.encode(call)
        if encoded is None:
            continue
        inp, out = encoded
        ret = None
        if out is not UNKNOWN:
            ret = call.complete.time
            if ret < call.invoke.time:
                raise HistoryError(f"op {call.invoke.index}: completes at {ret}, before its invocation at {call.invoke.time}")
        ops.append(Operation(call.invoke.index, call.invoke.key, inp, out, call.invoke.time, ret))
    return ops


def entries_of(ops: list[Operation]) -> list[int]:
    """Entry codes in time order: calls before returns at equal time, open returns last."""
    timed = [(op.call, 0, k, k) for k, op in enumerate(ops)]
    timed += [(op.ret, 1, k, ~k) for k, op in enumerate(ops) if op.ret is not None]
    timed.sort()
    return [e for *_, e in timed] + [~k for k, op in enumerate(ops) if op.ret is None]


@dataclass
class _Partition:
    key: Any
    ops: list[Operation]  # as the history has them
    searched: list[Operation]  # after pruning, numbered as the search knows them
    entries: list[int]
    search: SearchResult | None
    meter: list[int]  # the search's memory estimate in bytes, set at each pause
    made: list[int]  # the bytes of the model states it made (Python-side states)
    fixed: int  # the bytes of its fixed structures (entry list, per-op tables)
    states: int = 0  # configurations cached so far
    counted: int = 0  # bytes counted towards the check's memory total

    def memory(self) -> int:
        return self.fixed + self.meter[0] + self.made[0]


class LinearizabilityChecker:
    """`check(history)` against a model, with a deadline in seconds (None: no deadline) and a
    memory bound in MB for the search of the whole history, all partitions together (None: no
    bound); `max_states` optionally bounds the configurations cached, all partitions together."""

    def __init__(
        self,
        model: Model | str,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        prune: bool = True,
        max_states: int | None = None,
        max_memory_mb: float | None = MAX_MEMORY_MB,
    ):
        self.model = get_model(model) if isinstance(model, str) else model
        self.timeout = timeout
        self.prune = prune
        self.max_states = max_states
        self.max_memory_mb = max_memory_mb

    def _start(self, part: list[Operation], core: Callable[..., SearchResult]) -> _Partition:
        model = self.model
        searched = model.prune(part) if self.prune and model.prune else part
        entries = entries_of(searched)
        key = part[0].key if model.partition else None
        read_only = None
        if model.read_only:
            read_only = [op.output is not UNKNOWN and model.read_only(op.input, op.output) for op in searched]
        twin = twins(searched)
        meter, made = [0], [0]
        ints = model.integers(searched) if model.integers else None
        if core is native_search:
            if ints is None:
                interned = Interned(model, searched)
                step, made = interned.step, _SizeOf(interned)  # type: ignore[assignment]
            else:
                step = None
            running = native_search(entries, step, read_only, twin, meter, ints)
        else:
            if ints is None:
                interned = Interned(model, searched)
                step, made = interned.step, _SizeOf(interned)  # type: ignore[assignment]
            else:
                step, made = int_step(ints)
            needs = None if ints is None or ints.needs is None else (ints.needs, ints.groups or [])
            running = search(entries, step, read_only, twin, meter, needs)
        return _Partition(key, part, searched, entries, running, meter, made, _FIXED_BYTES_PER_OP * len(searched))

    def check(self, history: list[Op]) -> dict:
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        model = self.model
        calls = pair(history)
        by_index = {call.invoke.index: call for call in calls}
        ops = operations(calls, model)
        parts = model.partition(ops) if model.partition else [ops]
        failures: list[dict] = []
        unknown: list[dict] = []
        bound = None if self.max_memory_mb is None else int(self.max_memory_mb * 2**20)
        total = peak = 0  # bytes held by the running searches, all partitions together
        # contradictions that need no search decide their partitions at once
        undecided = []
        for part in parts:
            key = part[0].key if model.partition else None
            found = model.contradictions(part) if model.contradictions else []
            if found:
                failures.append(contradiction(model, key, part, found, by_index))
            else:
                undecided.append((key, part))
        # the others are searched as usual: one round of turns when a contradiction settled the
        # verdict already, so that keys quick to decide are still decided
        core = search_core()
        running = [self._start(part, core) for _, part in undecided]
        for p in running:
            p.counted = p.memory()
            total += p.counted
        peak = total

        def give_up(p: _Partition, reason: str) -> None:
            nonlocal total
            total -= p.counted
            p.counted = 0
            if p.search is not None:
                p.search.close()  # frees its cache now
                p.search = None
            unknown.append({"key": p.key, "reason": reason})

        # Partitions take turns, a few slices of search each (one in the first round, then
        # doubling), so that one that explodes does not hide another that fails fast (Porcupine
        # searches them in parallel and stops at the first failure). After the round that finds
        # a failure, the verdict is settled.
        turn = 1
        while running:
            for p in running:
                try:
                    for _ in range(turn):
                        if p.search is None:
                            break
                        if deadline is not None and time.monotonic() > deadline:
                            give_up(p, f"deadline of {self.timeout:g} s exceeded after {p.states} states")
                            break
                        p.states = next(p.search)
                        now = p.memory()
                        total += now - p.counted
                        p.counted = now
                        # over a bound, the largest searches go, so that the others can finish
                        while (bound is not None and total > bound) or (self.max_states and self._states(running) > self.max_states):
                            largest = max((q for q in running if q.search is not None), key=lambda q: (q.counted, q.states))
                            give_up(largest, self._over(largest, bound))
                        peak = max(peak, total)
                except StopIteration as done:
                    total -= p.counted
                    p.counted = 0
                    p.search = None
                    ok, ids = done.value
                    if not ok:
                        failures.append(explain(model, p.key, p.ops, p.searched, p.entries, ids, by_index))
            still = [p for p in running if p.search is not None]
            if failures:
                for p in still:
                    give_up(p, "not searched to the end: another key is not linearizable")
                break
            running = still
            turn = min(2 * turn, _MAX_TURN)
        valid: bool | str = False if failures else ("unknown" if unknown else True)
        return {
            "valid": valid,
            "model": model.name,
            "partitions": len(parts),
            "op_count": len(ops),
            "elapsed_s": round(time.monotonic() - start, 4),
            "memory_bound_mb": self.max_memory_mb,
            "memory_peak_mb": round(peak / 2**20, 1),
            "failures": failures,
            "unknown": unknown,
        }

    @staticmethod
    def _states(running: list[_Partition]) -> int:
        return sum(q.states for q in running if q.search is not None)

    def _over(self, p: _Partition, bound: int | None) -> str:
        if self.max_states and (bound is None or p.counted <= bound):
            return (f"gave up after {p.states} states: the memory bound of {self.max_states} "
                    f"configurations for the whole check was reached")
        return (f"gave up after {p.states} states: the memory bound of {self.max_memory_mb:g} MB for the "
                f"whole check (all keys together) was reached, this key's search holding "
                f"{p.counted / 2**20:.0f} MB")


_FIXED_BYTES_PER_OP = 400  # entry list, linked list, per-op tables and memo dicts (Python core)


class _SizeOf:
    """`made` for an Interned model: reads its running size."""

    def __init__(self, interned: Interned):
        self.interned = interned

    def __getitem__(self, _: int) -> int:
        return self.interned.size


def check(history: list[Op], model: Model | str, timeout: float | None = DEFAULT_TIMEOUT_S) -> dict:
    return LinearizabilityChecker(model, timeout).check(history)


def contradiction(
    model: Model, key: Any, part: list[Operation], found: list[tuple[Operation, str]], calls: dict[int, Call]
) -> dict:
    """The failure record of a partition with operations that no order can satisfy: the first
    one alone is not linearizable, so it is the minimal explanation (`minimal`)."""
    op, why = found[0]
    name = f"{model.describe_operation(op.input, op.output)} (op {op.id})"
    more = f" (and {len(found) - 1} more such operation{'s' if len(found) > 2 else ''})" if len(found) > 1 else ""
    return {
        "key": key,
        "ops": [_op_record(calls[o.id], o) for o in part],
        "linearized": [],
        "state": model.describe_state(model.init()),
        "stuck": [o.id for o, _ in found],
        "minimal": [op.id],
        "message": f"no linearization: {name} cannot take effect in any order: {why}{more}",
    }


def explain(
    model: Model,
    key: Any,
    part: list[Operation],
    searched: list[Operation],
    entries: list[int],
    prefix: list[int],
    calls: dict[int, Call],
) -> dict:
    """The failure record of one partition: its ops, the longest linearizable prefix, the state
    after it, and the operations that could not take effect next."""
    state = model.init()
    for i in prefix:
        _, state = model.step(state, searched[i].input, searched[i].output)
    done = set(prefix)
    # the candidates: calls pending before the first return still in the list
    candidates = []
    for e in entries:
        if e < 0 and ~e not in done:
            break
        if e >= 0 and e not in done:
            candidates.append(e)
    illegal = [i for i in candidates if not model.step(state, searched[i].input, searched[i].output)[0]]
    dead_ends = [i for i in candidates if i not in illegal]

    def name(i: int) -> str:
        op = searched[i]
        return f"{model.describe_operation(op.input, op.output)} (op {op.id})"

    where = f"after {name(prefix[-1])}" if prefix else "from the initial state"
    message = f"no linearization: {where} the state is {model.describe_state(state)}"
    if illegal:
        message += f"; {', '.join(name(i) for i in illegal)} cannot take effect"
    if dead_ends:
        message += f"; {', '.join(name(i) for i in dead_ends)} can, but lead{'s' if len(dead_ends) == 1 else ''} to dead ends"
    return {
        "key": key,
        "ops": [_op_record(calls[op.id], op) for op in part],
        "linearized": [searched[i].id for i in prefix],
        "state": model.describe_state(state),
        "stuck": [searched[i].id for i in illegal + dead_ends],
        "message": message,
    }


def _op_record(call: Call, op: Operation) -> dict:
    return {
        "index": op.id,
        "process": call.invoke.process,
        "f": call.invoke.f,
        "value": call.invoke.value,
        "output": call.complete.value if call.complete is not None else None,
        "type": call.type,
        "call": op.call,
        "return": op.ret,
    }
