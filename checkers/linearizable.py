"""Linearizability checking: Porcupine's algorithm (Wing & Gong's search with Lowe's memoisation).

The model reads each call of the history (a `fail` is dropped, as it certainly did not happen,
unless the model can observe it: a cas mismatch says "value != old"), splits the operations into
partitions (P-compositionality) and may prune indeterminate ones that cannot matter. Then, per
partition:

1. every operation becomes a call entry and a return entry, sorted by time, calls before
   returns on equal time (so operations that touch at one instant count as concurrent);
   an indeterminate operation's return is +infinity: it may take effect any time after its
   call, or never (taking effect after everything else is the same as never);
2. the entries form a doubly linked list; a depth-first search repeatedly takes the first
   call whose operation the model accepts in the current state, lifts the call and its return
   out of the list, and starts again from the head; reaching a return means that operation
   had to take effect by now, so the search backtracks;
3. a cache of (linearized set as an int bitset, state) skips any configuration seen before;
4. a deadline (or the cache's memory bound) gives the verdict "unknown" for the partition
   that blew up.

The search core, `search`, sees only integers (entry codes, operation ids, state ids) and a
`step` function on them, so it also exists in native code: `raft_jepsen.checkers._native` (the Rust crate in
`native/`, built by `pip install` where Rust is present) takes the same steps in the same order,
faster. The checker uses it when it is built, unless RAFT_JEPSEN_PURE_PYTHON=1; this module's
`search` is the fallback and the oracle it is tested against.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator

from raft_jepsen.checkers import explain as minimal
from raft_jepsen.checkers.models import UNKNOWN, Model, Operation, get_model
from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import Call, Op, pair

try:
    from raft_jepsen.checkers._native import Search as NativeSearch
except ImportError:  # built only where Rust is present: the Python core is the fallback
    NativeSearch = None

DEFAULT_TIMEOUT_S = 60.0
MAX_STATES = 10_000_000  # cached configurations per partition: about 750 MB
_SLICE = 1023  # the search pauses every 1024 backtracks (a mask): clock, turn-taking
_TURN = 4  # slices a partition searches before the next one has its turn (see check())


def search(entries: list[int], step: Callable[[int, int], int]) -> Generator[int, None, tuple[bool, list[int]]]:
    """The search core. `entries` lists operation ids in time order, `i` for the call of
    operation i and `~i` for its return; every id 0..n-1 appears once each way. `step(i, s)`
    is the model on integers: the state id after operation i in state id s, or -1 when i cannot
    take effect there (state 0 is the initial state); it is asked once per (i, s).

    Resumable: every 1024 backtracks it pauses, yielding how many configurations it has seen,
    so that the caller can watch a clock or let other partitions take a turn. Returns
    (linearizable, ids): a full linearization when True, else the longest prefix the search
    could linearize."""
    n_entries = len(entries)
    n = n_entries // 2
    head, tail = 0, n_entries + 1
    nxt = list(range(1, n_entries + 2)) + [tail]
    prv = [head] + list(range(n_entries + 1))
    # node k + 1 is entries[k]; match[node] is a call's return node (0 for return nodes)
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
    # per call node: its op's bit in the linearized set, and step's answers for that op
    bit = [0] * (n_entries + 2)
    answers: list[dict[int, int] | None] = [None] * (n_entries + 2)  # None at return nodes
    for node in range(1, n_entries + 1):
        if match[node]:
            bit[node] = 1 << op_of[node]
            answers[node] = {}

    # a configuration is (linearized set, state id), packed in one int: the state above n bits
    cache: set[int] = set()
    calls: list[tuple[int, int]] = []  # (call node, state before it)
    longest: list[int] = []
    linearized = 0
    state = 0
    backtracks = 0
    node = nxt[head]
    while node != tail:  # the list is empty only right after a lift: all ops linearized
        known = answers[node]
        if known is not None:
            new_state = known.get(state, -2)
            if new_state == -2:
                new_state = known[state] = step(op_of[node], state)
            if new_state >= 0:
                lin = linearized | bit[node]
                seen = lin | (new_state << n)
                if seen not in cache:
                    cache.add(seen)
                    calls.append((node, state))
                    state, linearized = new_state, lin
                    # lift the call and its return out of the list
                    p, q = prv[node], nxt[node]
                    nxt[p], prv[q] = q, p
                    ret = match[node]
                    p, q = prv[ret], nxt[ret]
                    nxt[p], prv[q] = q, p
                    node = nxt[head]
                    continue
            node = nxt[node]
        else:
            # a return: its operation should have taken effect by now; undo the last choice
            if not calls:
                return False, longest
            backtracks += 1
            if not backtracks & _SLICE:
                yield len(cache)
            if len(calls) > len(longest):
                longest = [op_of[c] for c, _ in calls]
            node, state = calls.pop()
            linearized ^= bit[node]
            ret = match[node]  # put back in the reverse order of lifting
            nxt[prv[ret]] = ret
            prv[nxt[ret]] = ret
            nxt[prv[node]] = node
            prv[nxt[node]] = node
            node = nxt[node]
    return True, [op_of[c] for c, _ in calls]


def native_search(entries: list[int], step: Callable[[int, int], int]) -> Generator[int, None, tuple[bool, list[int]]]:
    """`search` in Rust: same arguments, same pauses, same result."""
    core = NativeSearch(entries)
    while (done := core.run(step, _SLICE + 1)) is None:
        yield core.states
    return done


def search_core() -> Callable[..., Generator[int, None, tuple[bool, list[int]]]]:
    """The native core when it is built, unless the environment sets RAFT_JEPSEN_PURE_PYTHON=1."""
    if NativeSearch is None or os.environ.get("RAFT_JEPSEN_PURE_PYTHON", "") not in ("", "0"):
        return search
    return native_search


class Interned:
    """A model on integers for `search`: states are numbered as they are first reached."""

    def __init__(self, model: Model, ops: list[Operation]):
        self.states: list[Any] = [model.init()]
        self._ids: dict[Any, int] = {self.states[0]: 0}
        self._model_step = model.step
        self._ops = ops

    def step(self, i: int, s: int) -> int:
        op = self._ops[i]
        ok, new = self._model_step(self.states[s], op.input, op.output)
        if not ok:
            return -1
        sid = self._ids.get(new)
        if sid is None:
            sid = self._ids[new] = len(self.states)
            self.states.append(new)
        return sid


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
    search: Generator[int, None, tuple[bool, list[int]]]
    states: int = 0  # configurations seen so far


class LinearizabilityChecker:
    """`check(history)` against a model, with a deadline in seconds (None: no deadline) and a
    bound on the configurations cached per partition (each costs about 75 bytes). With `explain`,
    each failure also gets its minimal set of operations and a sentence (`checkers.explain`)."""

    def __init__(
        self,
        model: Model | str,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        prune: bool = True,
        max_states: int = MAX_STATES,
        explain: bool = True,
    ):
        self.model = get_model(model) if isinstance(model, str) else model
        self.timeout = timeout
        self.prune = prune
        self.max_states = max_states
        self.explain = explain

    def check(self, history: list[Op]) -> dict:
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        model = self.model
        calls = pair(history)
        by_index = {call.invoke.index: call for call in calls}
        ops = operations(calls, model)
        parts = model.partition(ops) if model.partition else [ops]
        failures: list[dict] = []
        failed: list[list[Operation]] = []  # the model's ops of each failure's key
        unknown: list[dict] = []
        running = []
        core = search_core()
        for part in parts:
            searched = model.prune(part) if self.prune and model.prune else part
            entries = entries_of(searched)
            key = part[0].key if model.partition else None
            running.append(_Partition(key, part, searched, entries, core(entries, Interned(model, searched).step)))
        # Partitions take turns, a few slices of search each, so that one that explodes does
        # not hide another that fails fast (Porcupine searches them in parallel and stops at
        # the first failure). After the turn that finds a failure, the verdict is settled.
        while running:
            still = []
            for p in running:
                try:
                    for _ in range(_TURN):
                        if deadline is not None and time.monotonic() > deadline:
                            reason = f"deadline of {self.timeout:g} s exceeded after {p.states} states"
                            unknown.append({"key": p.key, "reason": reason})
                            break
                        p.states = next(p.search)
                        if p.states > self.max_states:
                            reason = f"gave up after {p.states} states (the cache's memory bound)"
                            unknown.append({"key": p.key, "reason": reason})
                            break
                    else:
                        still.append(p)
                except StopIteration as done:
                    ok, ids = done.value
                    if not ok:
                        failures.append(explain(model, p.key, p.ops, p.searched, p.entries, ids, by_index))
                        failed.append(p.ops)
            if failures:
                for p in still:
                    unknown.append({"key": p.key, "reason": "not searched to the end: another key is not linearizable"})
                break
            running = still
        explain_s = 0.0
        if failures and self.explain:
            explaining = time.monotonic()
            minimal.explain_failures(failures, failed, by_index, model, self._recheck, minimal.budget(start, deadline))
            explain_s = round(time.monotonic() - explaining, 4)
        valid: bool | str = False if failures else ("unknown" if unknown else True)
        return {
            "valid": valid,
            "model": model.name,
            "partitions": len(parts),
            "op_count": len(ops),
            "elapsed_s": round(time.monotonic() - start, 4),
            "explain_s": explain_s,  # of elapsed_s: the minimal explanations
            "failures": failures,
            "unknown": unknown,
        }

    def _recheck(self, history: list[Op], timeout: float) -> bool | str:
        """The verdict on a shrunken history, for `checkers.explain`."""
        again = LinearizabilityChecker(self.model, timeout, self.prune, self.max_states, explain=False)
        return again.check(history)["valid"]


def check(history: list[Op], model: Model | str, timeout: float | None = DEFAULT_TIMEOUT_S) -> dict:
    return LinearizabilityChecker(model, timeout).check(history)


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
