"""One sentence in plain words over a minimal non-linearizable set of operations.

`sentence(minimal, ops, ...)` names the shape when it recognises one of a register's common
ones, each stated only after its timing is checked on the operations themselves:

- a read (or a cas's expected value) of a value no operation wrote, or before any write of it
  began;
- a stale read: the value had been overwritten by a write that completed before the read began;
- two cas that both succeeded from one value that was written once (a lost update);
- a cas that reported a mismatch though the value it expected was there;
- a read that returned an older value than an earlier read had already seen;
- a value that came back after another was seen, though every write of it that began in time
  had to take effect before that;

and otherwise lists the operations in time order. The ops are the failure's records
(`checkers.linearizable` `_op_record`: index, f, value, output, type, call, return).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raft_jepsen.checkers.models import freeze, show

LOGICAL_TIME = 10**6  # below this the times are a line number (an imported Porcupine log), not ns
_LISTED = 8  # operations listed by the generic sentence


class _Words:
    """Naming and timing of operations for one key."""

    def __init__(self, ops: list[dict], describe: Callable[[dict], str]):
        times = [t for o in ops for t in (o.get("call"), o.get("return")) if isinstance(t, int)]
        self.logical = bool(times) and max(times) < LOGICAL_TIME
        self.describe = describe
        self.digits = 2

    def tell_apart(self, ops: list[dict]) -> None:
        """Enough decimals that different times of these ops read differently (up to µs)."""
        times = {t for o in ops for t in (o.get("call"), o.get("return")) if isinstance(t, int)}
        while self.digits < 6 and len({f"{t / 1e9:.{self.digits}f}" for t in times}) < len(times):
            self.digits += 1

    def at(self, t: int) -> str:
        return f"time {t}" if self.logical else f"{t / 1e9:.{self.digits}f} s"

    def span(self, o: dict) -> str:
        if self.logical:
            return f"time {o['call']}–{o['return']}"
        return f"{o['call'] / 1e9:.{self.digits}f}–{o['return'] / 1e9:.{self.digits}f} s"


def _kind(o: dict) -> tuple[str, Any, Any] | None:
    """A register operation as (what, a, b): read v, write v, cas old new, mismatch old new, or
    None for anything else (that shape is not a register's)."""
    f, t = o.get("f"), o.get("type")
    if f in ("read", "get") and t == "ok":
        return "read", freeze(o.get("output")), None
    if f in ("write", "put") and t == "ok":
        return "write", freeze(o.get("value")), None
    if f == "cas" and isinstance(o.get("value"), list) and len(o["value"]) == 2:
        old, new = freeze(o["value"][0]), freeze(o["value"][1])
        if t == "ok":
            return "cas", old, new
        if t == "fail":
            return "mismatch", old, new
    return None


def _sets(o: dict, kind: tuple, value: Any) -> bool:
    """Does this operation (ok) leave `value` in the register?"""
    return (kind[0] == "write" and kind[1] == value) or (kind[0] == "cas" and kind[2] == value)


def _observes(kind: tuple) -> Any:
    """The value an operation saw: a read's result, a successful cas's expected value."""
    return kind[1] if kind[0] in ("read", "cas") else _NONE


_NONE = object()


def sentence(minimal: list[dict], ops: list[dict], *, register: bool, initial: Any, model: str,
             describe: Callable[[dict], str], proven: bool = True) -> str:
    """The sentence for `minimal` (records, any order) among the key's `ops`. `register`: the
    model is a register (read, write, cas) whose initial value is `initial`."""
    words = _Words(ops, describe)
    # an append (string-kv) builds values out of others: the register's shapes would not hold
    register = register and all(o.get("f") in ("read", "get", "write", "put", "cas") for o in ops)
    m = sorted(minimal, key=lambda o: (o.get("call") or 0, o.get("index") or 0))
    words.tell_apart(m)
    text = None
    if register and m and all(_kind(o) is not None and o.get("return") is not None for o in m):
        for shape in (_unwritten, _stale, _two_cas, _mismatch, _went_back, _came_back):
            text = shape(m, ops, words, freeze(initial))
            if text:
                break
    if text is None:
        text = _listed(m, words, model)
    if not proven:
        text += " (not proven minimal: the explanation's time ran out first)"
    return text


def _unwritten(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """One operation alone: it saw a value nothing could have written by then."""
    if len(m) != 1:
        return None
    o = m[0]
    kind = _kind(o)
    name = w.describe(o)
    if kind[0] == "mismatch":
        if kind[1] != init:
            return None
        return (f"{name} at {w.at(o['call'])} failed, reporting a mismatch, but no write could have changed the "
                f"initial value {show(init)} by then")
    v = _observes(kind)
    if v is _NONE or v == init:
        return None
    what = f"{name} at {w.at(o['call'])} {'returned' if kind[0] == 'read' else 'succeeded from'} {show(v)}"
    writers = [x for x in ops if x is not o and _writes(x, v)]
    if not writers:
        return f"{what}, a value no operation wrote"
    first = min(writers, key=lambda x: x.get("call") or 0)
    if first["call"] > o["return"]:
        return f"{what} before any write of it began (the first, {w.describe(first)}, began at {w.at(first['call'])})"
    return f"{what}, a value no operation could have written by then"


def _writes(o: dict, value: Any) -> bool:
    """Whether this op wrote or may have written `value` (ok or indeterminate); a cas from the
    value to itself cannot bring it back."""
    if o.get("type") not in ("ok", "info"):
        return False
    if o.get("f") in ("write", "put"):
        return freeze(o.get("value")) == value
    return (o.get("f") == "cas" and isinstance(o.get("value"), list) and len(o["value"]) == 2
            and freeze(o["value"][1]) == value != freeze(o["value"][0]))


def _writer_before(rest: list[dict], value: Any, init: Any, before: int) -> tuple[bool, dict | None]:
    """(ok, writer): `rest` is exactly the one op that set `value` and completed before `before`,
    or empty when `value` is the initial value."""
    if not rest:
        return value == init, None
    if len(rest) == 1 and _sets(rest[0], _kind(rest[0]), value) and rest[0]["return"] < before:
        return True, rest[0]
    return False, None


def _stale(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """V saw v though O, which leaves another value, had completed before V began; and v's own
    write completed before O began (or is the initial value, or is not among them: then no
    write of v could come in between, or the set would not fail)."""
    if len(m) not in (2, 3):
        return None
    for v_op in m:
        v = _observes(_kind(v_op))
        if v is _NONE:
            continue
        for o_op in m:
            ko = _kind(o_op)
            if o_op is v_op or ko[0] not in ("write", "cas") or _sets(o_op, ko, v) or o_op["return"] >= v_op["call"]:
                continue
            rest = [x for x in m if x is not v_op and x is not o_op]
            ok, writer = _writer_before(rest, v, init, o_op["call"])
            if not ok and (rest or ko[0] != "cas" or ko[1] != v):
                continue  # without v's write among them, only a cas from v says v was there
            verb = "returned" if _kind(v_op)[0] == "read" else "succeeded from"
            began = "the read" if _kind(v_op)[0] == "read" else "the cas"
            head = f"{w.describe(v_op)} at {w.at(v_op['call'])} {verb}"
            if not ok:  # v's write is not among them: it came before O, and no other one after
                return (f"{head} {show(v)}, though {w.describe(o_op)} had replaced it at {w.at(o_op['return'])}, before "
                        f"{began} began, and no other write of {show(v)} could have come in between")
            what = "a value" if writer else f"the initial value {show(v)},"
            text = (f"{head} {what} overwritten at {w.at(o_op['return'])} by {w.describe(o_op)}, which had completed "
                    f"before {began} began")
            if writer:
                text += f" ({w.describe(writer)} had completed at {w.at(writer['return'])}, before {w.describe(o_op)} began)"
            return text
    return None


def _two_cas(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """Two cas both succeeded from a value that was set once."""
    cases = [o for o in m if _kind(o)[0] == "cas"]
    if len(m) not in (2, 3) or len(cases) < 2:
        return None
    for i, c1 in enumerate(cases):
        for c2 in cases[i + 1:]:
            (_, a1, b1), (_, a2, b2) = _kind(c1), _kind(c2)
            if a1 != a2 or a1 == b1 or a2 == b2:
                continue
            ok, writer = _writer_before([x for x in m if x is not c1 and x is not c2], a1, init,
                                        min(c1["return"], c2["return"]))
            if not ok:
                continue
            source = (f"{show(a1)}, which only {w.describe(writer)} (completed at {w.at(writer['return'])}) could have set"
                      if writer else f"the initial value {show(a1)}, which nothing could have set again")
            return (f"{w.describe(c1)} at {w.at(c1['call'])} and {w.describe(c2)} at {w.at(c2['call'])} both succeeded "
                    f"from {source}: one of them should have seen the other's value (a lost update)")
    return None


def _mismatch(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """A cas reported a mismatch though the value it expected had been written just before."""
    if len(m) != 2:
        return None
    for x in m:
        kind = _kind(x)
        if kind[0] != "mismatch":
            continue
        ok, writer = _writer_before([y for y in m if y is not x], kind[1], init, x["call"])
        if ok and writer:
            return (f"{w.describe(x)} at {w.at(x['call'])} failed, reporting a mismatch, though {w.describe(writer)} "
                    f"had completed at {w.at(writer['return'])}, before it began, and no other write could have "
                    f"changed the value in time")
    return None


def _went_back(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """A read returned an older value than a read that had completed before it began."""
    if len(m) not in (3, 4):
        return None
    reads = [o for o in m if _kind(o)[0] == "read"]
    for r1 in reads:
        for r2 in reads:
            u, v = _kind(r1)[1], _kind(r2)[1]
            if r1 is r2 or u == v or r1["return"] >= r2["call"]:
                continue
            rest = [x for x in m if x is not r1 and x is not r2]
            wu = [x for x in rest if _sets(x, _kind(x), u)]
            if len(wu) != 1 or u == init:
                continue
            ok, wv = _writer_before([x for x in rest if x is not wu[0]], v, init, wu[0]["call"])
            if not ok:
                continue
            if wv is None:
                return (f"{w.describe(r2)} at {w.at(r2['call'])} returned the initial value {show(v)} after "
                        f"{w.describe(r1)} had returned {show(u)} at {w.at(r1['return'])}, before it began")
            return (f"{w.describe(r2)} at {w.at(r2['call'])} returned an older value than {w.describe(r1)}, which had "
                    f"completed at {w.at(r1['return'])}, before it began ({w.describe(wv)} had completed before "
                    f"{w.describe(wu[0])} began)")
    return None


def _came_back(m: list[dict], ops: list[dict], w: _Words, init: Any) -> str | None:
    """V saw v after O (completed before V began) saw or left another value, and no write of v
    could have taken effect between them: each one that began before V ended had completed
    before O began, or the only one was needed by P, which saw v and completed before O began."""
    for v_op in m:
        v = _observes(_kind(v_op))
        if v is _NONE:
            continue
        for o_op in m:
            other = _other_value(o_op, v, w)
            if o_op is v_op or other is None or o_op["return"] >= v_op["call"]:
                continue
            writers = [x for x in ops if x is not v_op and _writes(x, v) and (x.get("call") or 0) <= v_op["return"]]
            pinned = [x for x in writers if x.get("type") == "ok" and x.get("return") is not None
                      and x["return"] < o_op["call"]]
            loose = [x for x in writers if x not in pinned]
            head = (f"{w.describe(v_op)} at {w.at(v_op['call'])} {'returned' if _kind(v_op)[0] == 'read' else 'succeeded from'}"
                    f" {show(v)}, though {other} at {w.at(o_op['return'])}, before it began")
            if not writers and v == init:
                return f"{head}, and nothing wrote {show(v)} again"
            if writers and not loose:
                named = ", ".join(w.describe(x) for x in pinned[:2]) + (f" and {len(pinned) - 2} more" if len(pinned) > 2 else "")
                return f"{head}, and every write of {show(v)} that began in time ({named}) had completed before that"
            seen = [p for p in m if p is not v_op and p is not o_op and _observes(_kind(p)) == v
                    and p["return"] < o_op["call"]]
            if len(loose) == 1 and not pinned and seen and v != init:
                return (f"{head}, and the only write of {show(v)} that began in time, {w.describe(loose[0])}, had to take "
                        f"effect before {w.describe(seen[0])} returned at {w.at(seen[0]['return'])}")
    return None


def _other_value(o: dict, v: Any, w: _Words) -> str | None:
    """How `o` showed that the register held something other than v, in words, or None."""
    kind = _kind(o)
    if kind[0] == "read" and kind[1] != v:
        return f"{w.describe(o)} had returned"
    if (kind[0] == "write" and kind[1] != v) or (kind[0] == "cas" and kind[2] != v):
        return f"{w.describe(o)} had completed"
    if kind[0] == "mismatch" and kind[1] == v:
        return f"{w.describe(o)} had found another value"
    return None


def _listed(m: list[dict], w: _Words, model: str) -> str:
    shown = "; ".join(f"{w.describe(o)} ({w.span(o) if o.get('return') is not None else 'from ' + w.at(o['call'])})"
                      for o in m[:_LISTED])
    more = f"; and {len(m) - _LISTED} more" if len(m) > _LISTED else ""
    if len(m) == 1:
        return f"this operation cannot take effect at any moment within its time in the {model} model: {shown}"
    return f"no order of these operations fits both their times and the {model} model: {shown}{more}"
