"""Sequential specifications (models) for the linearizability checker.

A model is a small value of functions, as in Porcupine's `model.go`:

- `init()` the initial state; states are hashable (the search caches (linearized set, state));
- `step(state, input, output) -> (ok, new_state)` pure: may this operation, with this output,
  take effect in this state, and what state follows;
- `encode(call)` how a history call reads to this model: `(input, output)`, or None when the
  call certainly had no effect and told us nothing (it is dropped before the search);
- `partition` optional P-compositionality: the checker checks each part on its own;
- `prune` optional: removes indeterminate operations whose presence can never matter;
- `read_only(input, output)` optional: this operation never changes the state where it can take
  effect (a read, an observed cas mismatch); the search then lets it take effect as soon as it
  fits, with no choice to undo (see `linearizable.search`);
- `contradictions(ops)` optional: operations that no linearization can hold, found without
  search (a read of a value nobody wrote), each with the reason in words;
- `integers(ops)` optional: the operations as a small fixed model on integers that both search
  cores run without calling back into Python (see `IntModel`), or None when these ops do not fit;
- `describe_operation(input, output)`, `describe_state(state)` for explanations.

An indeterminate operation (completion `info`, or none) has output `UNKNOWN`: any output is
accepted, and the checker lets it take effect at any time after its call, or never.
Inputs are small tuples whose first element is an int opcode, so a step is a few comparisons.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.harness.history import CAS_MISMATCH, Call


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()  # the output of an operation that may or may not have happened

# A failed cas whose error is this one observed "the value was not `old`" (raftkv's
# `cas-mismatch`; imported Porcupine `:fail :cas` is recorded with it too). Any other failure
# is a definite refusal (not-leader, ...) that says nothing about the state.

READ, WRITE, CAS, APPEND, ADD, INCR, ENQUEUE, DEQUEUE = range(8)


@dataclass(frozen=True, slots=True)
class Operation:
    """One history call as the search sees it. `ret` None: it may take effect at any time after
    `call`, or never. `id` is the caller's handle (the invocation's index in the history)."""

    id: int
    key: Any
    input: Hashable
    output: Any
    call: int
    ret: int | None


@dataclass(frozen=True, kw_only=True)
class Model:
    name: str
    init: Callable[[], Hashable]
    step: Callable[[Any, Any, Any], tuple[bool, Any]]
    encode: Callable[[Call], tuple[Hashable, Any] | None]
    describe_operation: Callable[[Any, Any], str]
    describe_state: Callable[[Any], str]
    partition: Callable[[list[Operation]], list[list[Operation]]] | None = None
    prune: Callable[[list[Operation]], list[Operation]] | None = None
    read_only: Callable[[Any, Any], bool] | None = None
    contradictions: Callable[[list[Operation]], list[tuple[Operation, str]]] | None = None
    integers: Callable[[list[Operation]], IntModel | None] | None = None


@dataclass(frozen=True, slots=True)
class IntModel:
    """A partition's operations as one of the fixed models both search cores know (the Rust one
    runs it natively, with no call back into Python per step). Per op: `f` the opcode, `a` and
    `b` its arguments and `out` its output, as value ids.

    - kind "register": values are ids (0 is nil, the initial state) and a state is a value id.
      read: fits when out == state; write: state a; cas: out 1 ok (fits when state == a, then b),
      0 observed mismatch (fits when state != a), 2 indeterminate (b if state == a, else state).
    - kind "text" (Porcupine's kv): `texts` holds the strings, `a` and `out` index them; state 0
      is "". get (READ): fits when the state's text is texts[out]; put (WRITE): texts[a];
      append: the state's text + texts[a]. State ids are numbered as texts are first reached.

    A read that does not fit answers -2 rather than -1 when, from that state, only an op of its
    `needs` can make it fit: `needs[i]` is (g, k), the first k ops of `groups[g]` (op ids in call
    order: those called before the read returned), or (-1, 0). Register: the ops that may write
    the value read; text: the puts of a prefix of the text read, when the state's text is not a
    prefix of it (appends only lengthen a text). Once all k are linearized, such a read is dead
    and so is the configuration (see `linearizable.search`)."""

    kind: str
    f: list[int]
    a: list[int]
    b: list[int]
    out: list[int]
    texts: list[str] | None = None
    needs: list[tuple[int, int]] | None = None
    groups: list[list[int]] | None = None


def _needs(ops: list[Operation], wanted: dict[int, Any], makers: Callable[[Any], list[int]]) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """`IntModel.needs` and `groups`: for each read i in `wanted` (its target), the ops
    `makers(target)` (in call order) called no later than the read's return."""
    needs = [(-1, 0)] * len(ops)
    groups: list[list[int]] = []
    calls: list[list[Any]] = []  # per group, its members' call times
    group_of: dict[Any, int] = {}
    for i, target in wanted.items():
        g = group_of.get(target)
        if g is None:
            g = group_of[target] = len(groups)
            groups.append(sorted(makers(target), key=lambda j: (ops[j].call, j)))
            calls.append([ops[j].call for j in groups[g]])
        ret = ops[i].ret
        needs[i] = (g, len(groups[g]) if ret is None else bisect_right(calls[g], ret))
    return needs, groups


def freeze(value: Any) -> Hashable:
    """JSON values made hashable: lists become tuples, objects sorted item tuples."""
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    return value


def show(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (tuple, frozenset)):
        return "[" + " ".join(show(v) for v in (sorted(value, key=repr) if isinstance(value, frozenset) else value)) + "]"
    return str(value)


def by_key(ops: list[Operation]) -> list[list[Operation]]:
    """P-compositionality: one part per key, in order of first appearance."""
    parts: dict[Any, list[Operation]] = {}
    for op in ops:
        parts.setdefault(freeze(op.key), []).append(op)
    return list(parts.values())


# --- reading calls ----------------------------------------------------------------------------


def _where(call: Call) -> str:
    return f"op {call.invoke.index}"


def _pair_value(call: Call) -> tuple[Any, Any]:
    value = call.invoke.value
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise HistoryError(f"{_where(call)}: cas value must be [old, new], got {value!r}")
    return freeze(value[0]), freeze(value[1])


def _outcome(call: Call) -> str:
    """ok / fail / info / mismatch: how the call ended, as far as a model cares."""
    t = call.type
    if t == "fail" and call.invoke.f == "cas" and call.complete.error == CAS_MISMATCH:
        return "mismatch"
    return t


def _encoder(opcodes: dict[str, int], read_like: set[str]) -> Callable[[Call], tuple[Hashable, Any] | None]:
    """The common reading: `fail` is dropped (a cas mismatch kept), an indeterminate read is
    dropped (it changes nothing and saw nothing), an ok read's output is the value read."""

    def encode(call: Call) -> tuple[Hashable, Any] | None:
        f = call.invoke.f
        code = opcodes.get(f)
        if code is None:
            raise HistoryError(f"{_where(call)}: this model has no operation {f!r} (knows {', '.join(opcodes)})")
        outcome = _outcome(call)
        if outcome == "fail":
            return None
        if f in read_like:
            if outcome != "ok":
                return None
            return (code, None, None), freeze(call.complete.value)
        if code == CAS:
            old, new = _pair_value(call)
            out = {"ok": True, "mismatch": False}.get(outcome, UNKNOWN)
            return (CAS, old, new), out
        arg = freeze(call.invoke.value)
        if code == INCR and arg is None:
            arg = 1
        return (code, arg, None), (None if outcome == "ok" else UNKNOWN)

    return encode


def _typed(encode: Callable[[Call], tuple[Hashable, Any] | None], what: str,
           arg: Callable[[Any], bool], out: Callable[[Any], bool]) -> Callable[[Call], tuple[Hashable, Any] | None]:
    """`encode`, refusing values a model's step cannot compute with (a string added to a
    counter): one line naming the op, not a TypeError in the search or a false verdict."""

    def checked(call: Call) -> tuple[Hashable, Any] | None:
        encoded = encode(call)
        if encoded is not None:
            (code, a, _), output = encoded
            if code == READ:
                if output is not UNKNOWN and not out(output):
                    raise HistoryError(f"{_where(call)}: this model reads {what}, got {show(output)[:60]}")
            elif not arg(a):
                raise HistoryError(f"{_where(call)}: this model takes {what}, got {show(a)[:60]}")
        return encoded

    return checked


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- registers (register, cas-register, etcd) -------------------------------------------------


def _register_step(state: Any, inp: tuple, out: Any) -> tuple[bool, Any]:
    f, a, b = inp
    if f == READ:
        return out == state, state
    if f == WRITE:
        return True, a
    if out is UNKNOWN:  # a cas that may have happened: takes effect only where it could
        return True, (b if state == a else state)
    if out:
        return state == a, b
    return state != a, state  # observed mismatch


def _describe_register_op(inp: tuple, out: Any) -> str:
    f, a, b = inp
    tail = " (indeterminate)" if out is UNKNOWN else ""
    if f == READ:
        return f"read → {show(out)}"
    if f == WRITE:
        return f"write {show(a)}{tail}"
    verdict = {True: "", False: " (mismatch)"}.get(out, tail)
    return f"cas {show(a)}→{show(b)}{verdict}"


def prune_register(ops: list[Operation]) -> list[Operation]:
    """Drop indeterminate writes and cases that can never matter to the verdict.

    Any indeterminate op may be moved to the end of a linearization (its return is +infinity,
    and it is legal in any state), so dropping one only loses linearizations in which it sits
    somewhere earlier. Removing an effective write of v there turns the state v back into the
    previous state s until the next write. That is harmless when nothing can tell s from v:
    no ok read returns v, no cas has old == v (an ok one would need v; an indeterminate one that
    now fires is moved to the end), and no observed cas mismatch exists in the partition (a
    mismatch against old == s was explained by v; s is unknown statically). An indeterminate
    cas whose old is never a possible value never fires, so it goes too.
    """
    read = {op.output for op in ops if op.input[0] == READ}
    olds = {op.input[1] for op in ops if op.input[0] == CAS}
    mismatch = any(op.input[0] == CAS and op.output is False for op in ops)
    possible = {None} | {op.input[1] for op in ops if op.input[0] == WRITE}
    possible |= {op.input[2] for op in ops if op.input[0] == CAS}

    def invisible(v: Any) -> bool:
        return not mismatch and v not in read and v not in olds

    def keep(op: Operation) -> bool:
        if op.output is not UNKNOWN:
            return True
        f, a, b = op.input
        if f == WRITE:
            return not invisible(a)
        return a in possible and not invisible(b)

    return [op for op in ops if keep(op)]


_register_encode = _encoder({"read": READ, "write": WRITE, "cas": CAS}, {"read"})


def _register_read_only(inp: tuple, out: Any) -> bool:
    return inp[0] == READ or (inp[0] == CAS and out is False)


def register_contradictions(ops: list[Operation], init: Any = None) -> list[tuple[Operation, str]]:
    """Reads (and successful cases, which read `old`) that no order can satisfy, found by
    comparing times, without search:

    - the value was never written by any operation, or every write of it began after the read
      had completed (alone, the read is not linearizable: from the initial state it would read
      a value the register never held);
    - stale: every write of the value that could precede the read (the initial state counting
      as a write at the start) had completed before some completed write of another value
      began, and that write completed before the read began: the read must follow it, with
      nothing left to write the value again in between.
    """
    inf = float("inf")
    writers: dict[Any, list[tuple[Any, Any]]] = {}  # value -> (call, return or inf) of ops that may write it
    definite = []  # (call, return, value, op) of ops that certainly wrote: ok writes, ok cases
    for op in ops:
        f, a, b = op.input
        if f == WRITE or (f == CAS and op.output is not False):
            v = a if f == WRITE else b
            writers.setdefault(v, []).append((op.call, inf if op.ret is None else op.ret))
            if op.output is not UNKNOWN and op.ret is not None:
                definite.append((op.call, op.ret, v, op))
    # per value: writers by call, and the latest return among the first k of them
    latest: dict[Any, tuple[list[Any], list[Any]]] = {}
    for v, ws in writers.items():
        ws.sort(key=lambda w: w[0])
        rets, top = [], -inf
        for _, ret in ws:
            top = max(top, ret)
            rets.append(top)
        latest[v] = ([w[0] for w in ws], rets)
    # definite writes by call; from each position on, the one that returns first, and the one
    # that returns first among those of another value than that one's
    definite.sort(key=lambda d: d[0])
    first: list[tuple | None] = [None] * (len(definite) + 1)
    other: list[tuple | None] = [None] * (len(definite) + 1)
    for k in range(len(definite) - 1, -1, -1):
        d, best, second = definite[k], first[k + 1], other[k + 1]
        if best is None or d[1] < best[1]:
            if best is not None and d[2] != best[2]:
                second = best
            best = d
        elif d[2] != best[2] and (second is None or d[1] < second[1]):
            second = d
        first[k], other[k] = best, second
    definite_calls = [d[0] for d in definite]
    found = []
    for op in ops:
        f, a, _ = op.input
        if f == READ:
            seen, what = op.output, "read"
        elif f == CAS and op.output is True:
            seen, what = a, "cas"
        else:
            continue
        if op.ret is None:
            continue
        calls, rets = latest.get(seen, ([], []))
        k = bisect_right(calls, op.ret)  # the writes of `seen` that began before the read completed
        if seen != init:
            if not calls:
                found.append((op, f"{what} saw {show(seen)}, a value no operation wrote"))
                continue
            if k == 0:
                found.append((op, f"{what} saw {show(seen)} and completed at {op.ret}, before any write of "
                                  f"{show(seen)} began (the first at {calls[0]})"))
                continue
        last = rets[k - 1] if k else -inf
        if last == inf:
            continue
        j = bisect_right(definite_calls, last)
        over = first[j] if first[j] is not None and first[j][2] != seen else other[j]
        if over is not None and over[1] < op.call:
            _, ret, value, x = over
            found.append((op, f"{what} saw {show(seen)}, overwritten by the write of {show(value)} (op {x.id}) that "
                              f"began at {x.call}, after every write of {show(seen)} that could precede the {what} "
                              f"had completed, and completed at {ret}, before the {what} began at {op.call}"))
    return found


def register_integers(ops: list[Operation], inputs: list[tuple]) -> IntModel:
    """Register ops (`inputs` (f, a, b) of `ops`) on value ids, nil being 0."""
    outputs = [op.output for op in ops]
    ids: dict[Any, int] = {None: 0}

    def vid(v: Any) -> int:
        got = ids.get(v)
        if got is None:
            got = ids[v] = len(ids)
        return got

    f, a, b, out = [], [], [], []
    for (code, x, y), o in zip(inputs, outputs):
        f.append(code)
        a.append(vid(x) if code != READ else 0)
        b.append(vid(y) if code == CAS else 0)
        if code == READ:
            out.append(vid(o))
        elif code == CAS:
            out.append({True: 1, False: 0}.get(o, 2) if o is not UNKNOWN else 2)
        else:
            out.append(0)
    writers: dict[int, list[int]] = {}
    for j, code in enumerate(f):
        if code == WRITE:
            writers.setdefault(a[j], []).append(j)
        elif code == CAS and out[j] != 0:
            writers.setdefault(b[j], []).append(j)
    reads = {i: out[i] for i, code in enumerate(f) if code == READ}
    needs, groups = _needs(ops, reads, lambda v: writers.get(v, []))
    return IntModel("register", f, a, b, out, None, needs, groups)


def _register_ints(ops: list[Operation]) -> IntModel:
    return register_integers(ops, [op.input for op in ops])


def _register(name: str, partition: Callable | None) -> Model:
    return Model(
        name=name,
        init=lambda: None,
        step=_register_step,
        encode=_register_encode,
        describe_operation=_describe_register_op,
        describe_state=show,
        partition=partition,
        prune=prune_register,
        read_only=_register_read_only,
        contradictions=register_contradictions,
        integers=_register_ints,
    )


# --- multi-key kv: the whole map as one state (partitioning makes it one key per part) -------


def _kv_step(state: frozenset, inp: tuple, out: Any) -> tuple[bool, frozenset]:
    key, (f, a, b) = inp
    current = dict(state).get(key)
    ok, new = _register_step(current, (f, a, b), out)
    if new == current:
        return ok, state
    return ok, frozenset({**dict(state), key: new}.items())


def _kv_encode(call: Call) -> tuple[Hashable, Any] | None:
    encoded = _register_encode(call)
    if encoded is None:
        return None
    return (freeze(call.invoke.key), encoded[0]), encoded[1]


def _kv_ints(ops: list[Operation]) -> IntModel | None:
    """One key's ops are a register's (the whole map, several keys, stays in Python)."""
    if len({freeze(op.key) for op in ops}) > 1:
        return None
    return register_integers(ops, [op.input[1] for op in ops])


def _kv_contradictions(ops: list[Operation]) -> list[tuple[Operation, str]]:
    by: dict[Any, list[Operation]] = {}
    for op in ops:
        by.setdefault(op.input[0], []).append(op)
    found = []
    for key, mine in by.items():
        unwrapped = [Operation(op.id, op.key, op.input[1], op.output, op.call, op.ret) for op in mine]
        back = {op.id: op for op in mine}
        found += [(back[op.id], f"{show(key)}: {why}") for op, why in register_contradictions(unwrapped)]
    return found


def _describe_kv_state(state: frozenset) -> str:
    return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in sorted(state, key=repr)) + "}"


# --- string kv (Porcupine's kvModel): get / put / append, "" initially ------------------------


def _string_kv_step(state: str, inp: tuple, out: Any) -> tuple[bool, str]:
    f, a, _ = inp
    if f == READ:
        return out == state, state
    if f == WRITE:
        return True, a
    return True, state + a


def _string_kv_ints(ops: list[Operation]) -> IntModel:
    texts: dict[str, int] = {"": 0}

    def tid(t: str) -> int:
        got = texts.get(t)
        if got is None:
            got = texts[t] = len(texts)
        return got

    f = [op.input[0] for op in ops]
    a = [tid(op.input[1]) if op.input[0] != READ else 0 for op in ops]
    out = [tid(op.output) if op.input[0] == READ else 0 for op in ops]
    puts = [j for j, code in enumerate(f) if code == WRITE]
    reads = {i: op.output for i, op in enumerate(ops) if op.input[0] == READ}
    if len(puts) * len(set(reads.values())) > 2_000_000:  # finding the groups would take long
        return IntModel("text", f, a, [0] * len(ops), out, list(texts))
    needs, groups = _needs(ops, reads, lambda t: [j for j in puts if t.startswith(ops[j].input[1])])
    return IntModel("text", f, a, [0] * len(ops), out, list(texts), needs, groups)


def _describe_string_kv_op(inp: tuple, out: Any) -> str:
    f, a, _ = inp
    if f == READ:
        return f"get → {show(out)}"
    tail = " (indeterminate)" if out is UNKNOWN else ""
    return f"{'put' if f == WRITE else 'append'} {show(a)}{tail}"


# --- set, counter, queue ----------------------------------------------------------------------


def _set_step(state: frozenset, inp: tuple, out: Any) -> tuple[bool, frozenset]:
    f, a, _ = inp
    if f == READ:
        return frozenset(out or ()) == state, state
    return True, state | {a}


def _counter_step(state: int, inp: tuple, out: Any) -> tuple[bool, int]:
    f, a, _ = inp
    if f == READ:
        return out == state, state
    return True, state + a


def _queue_step(state: tuple, inp: tuple, out: Any) -> tuple[bool, tuple]:
    f, a, _ = inp
    if f == ENQUEUE:
        return True, state + (a,)
    if out is UNKNOWN:
        return True, state[1:]
    if not state:
        return out is None, state
    return out == state[0], state[1:]


def _queue_encode(call: Call) -> tuple[Hashable, Any] | None:
    outcome = _outcome(call)
    f = call.invoke.f
    if f not in ("enqueue", "dequeue"):
        raise HistoryError(f"{_where(call)}: this model has no operation {f!r} (knows enqueue, dequeue)")
    if outcome == "fail":
        return None
    if f == "enqueue":
        return (ENQUEUE, freeze(call.invoke.value), None), (None if outcome == "ok" else UNKNOWN)
    return (DEQUEUE, None, None), (freeze(call.complete.value) if outcome == "ok" else UNKNOWN)


def _describe_generic(names: dict[int, str]) -> Callable[[Any, Any], str]:
    def describe(inp: tuple, out: Any) -> str:
        f, a, _ = inp
        if out is UNKNOWN:
            return f"{names[f]}{'' if a is None else ' ' + show(a)} (indeterminate)"
        if f in (READ, DEQUEUE):
            return f"{names[f]} → {show(out)}"
        return f"{names[f]} {show(a)}"

    return describe


def _read_and_update(name: str, init: Callable[[], Hashable], step: Callable, update: str, code: int,
                     types: tuple[str, Callable[[Any], bool], Callable[[Any], bool]]) -> Model:
    """A model of one object with a read and one update operation (`types`: what its values are,
    the update's and the read's checks)."""
    return Model(
        name=name,
        init=init,
        step=step,
        encode=_typed(_encoder({update: code, "read": READ}, {"read"}), *types),
        describe_operation=_describe_generic({code: update, READ: "read"}),
        describe_state=show,
        read_only=lambda inp, out: inp[0] == READ,
    )


MODELS: dict[str, Model] = {
    "register": _register("register", None),  # one register, keys ignored
    "cas-register": _register("cas-register", by_key),  # one register per key: the register workload
    "etcd": _register("etcd", None),  # Porcupine's etcdModel: one register, nil initially
    "kv": Model(  # read/write/cas on a map; partitioned, but checkable whole (partition=None)
        name="kv",
        init=frozenset,
        step=_kv_step,
        encode=_kv_encode,
        describe_operation=lambda inp, out: f"{show(inp[0])}: {_describe_register_op(inp[1], out)}",
        describe_state=_describe_kv_state,
        partition=by_key,
        read_only=lambda inp, out: _register_read_only(inp[1], out),
        contradictions=_kv_contradictions,
        integers=_kv_ints,
    ),
    "string-kv": Model(  # Porcupine's kvModel: get/put/append, "" initially
        name="string-kv",
        init=str,
        step=_string_kv_step,
        encode=_typed(_encoder({"get": READ, "put": WRITE, "append": APPEND}, {"get"}), "strings",
                      lambda a: isinstance(a, str), lambda out: isinstance(out, str)),
        describe_operation=_describe_string_kv_op,
        describe_state=show,
        partition=by_key,
        read_only=lambda inp, out: inp[0] == READ,
        integers=_string_kv_ints,
    ),
    # read returns the whole set
    "set": _read_and_update("set", frozenset, _set_step, "add", ADD,
                            ("lists (the whole set)", lambda a: True, lambda out: out is None or isinstance(out, tuple))),
    # incr by value (1 if null)
    "counter": _read_and_update("counter", int, _counter_step, "incr", INCR,
                                ("integers", _is_int, lambda out: out is None or _is_int(out))),
    "fifo-queue": Model(
        name="fifo-queue",
        init=tuple,
        step=_queue_step,
        encode=_queue_encode,
        describe_operation=_describe_generic({ENQUEUE: "enqueue", DEQUEUE: "dequeue"}),
        describe_state=show,
    ),
}


def get_model(name: str) -> Model:
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r} (choose from {', '.join(MODELS)})") from None
