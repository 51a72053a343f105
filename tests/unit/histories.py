"""Test helpers: building histories by hand, a brute-force linearizability oracle, and
Hypothesis strategies for random histories (small, arbitrary) and for correct executions."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from raft_jepsen.checkers.linearizable import operations
from raft_jepsen.checkers.models import UNKNOWN, Model
from raft_jepsen.harness.history import Op, pair


def build(spec: list[tuple]) -> list[Op]:
    """Ops from (process, f, value, call, ret, type[, output[, error]]) tuples, one per op on its
    own process; ret None leaves the op open. Keys come from `key=` in a dict as last item."""
    events = []
    for process, (f, value, call, ret, type_, *rest) in enumerate(spec):
        output = rest[0] if rest else value
        error = rest[1] if len(rest) > 1 else None
        key = rest[2] if len(rest) > 2 else None
        events.append((call, 0, Op(index=0, type="invoke", process=process, f=f, key=key, value=value, time=call)))
        if ret is not None:
            done = Op(index=0, type=type_, process=process, f=f, key=key, value=output, time=ret, error=error)
            events.append((ret, 1, done))
    events.sort(key=lambda e: (e[0], e[1]))
    return [Op(**{**_fields(op), "index": i}) for i, (_, _, op) in enumerate(events)]


def _fields(op: Op) -> dict:
    return {name: getattr(op, name) for name in Op.__dataclass_fields__}


def oracle(history: list[Op], model: Model) -> bool:
    """Linearizable? By trying every order of every partition, no memo, no pruning.

    An op may go next when no other remaining op returned strictly before its call; an
    indeterminate op may also never happen (it can always go last)."""
    calls = pair(history)
    ops = operations(calls, model)
    parts = model.partition(ops) if model.partition else [ops]

    def search(state: Any, remaining: list) -> bool:
        if all(op.output is UNKNOWN for op in remaining):
            return True
        for op in remaining:
            if any(o.ret is not None and o.ret < op.call for o in remaining if o is not op):
                continue
            ok, new = model.step(state, op.input, op.output)
            if ok and search(new, [o for o in remaining if o is not op]):
                return True
        return False

    return all(search(model.init(), part) for part in parts)


VALUES = [1, 2, 3]
SMALL = [1, 2]  # few values: random histories are then often linearizable


@st.composite
def small_register_histories(
    draw: Any, max_ops: int = 8, keys: tuple = ("a", "b"), fs: tuple = ("read", "write", "cas"), values: list = SMALL
) -> list[Op]:
    """Arbitrary small cas-register histories: overlapping intervals on a tiny clock, reads of
    any value, indeterminate ops, observed cas mismatches and refusals."""
    n = draw(st.integers(1, max_ops))
    spec = []
    for _ in range(n):
        f = draw(st.sampled_from(fs))
        key = draw(st.sampled_from(keys))
        call = draw(st.integers(0, 12))
        ret = call + draw(st.integers(0, 6))
        if f == "read":
            spec.append((f, None, call, ret, "ok", draw(st.sampled_from([None] + values)), None, key))
            continue
        if f == "write":
            value = draw(st.sampled_from(values))
        else:
            value = [draw(st.sampled_from([None] + values)), draw(st.sampled_from(values))]
        outcomes = ["ok", "ok", "info", "open"] + (["mismatch", "refused"] if f == "cas" else [])
        outcome = draw(st.sampled_from(outcomes))
        if outcome == "open":
            spec.append((f, value, call, None, "info", value, None, key))
        elif outcome == "mismatch":
            spec.append((f, value, call, ret, "fail", value, "cas-mismatch", key))
        elif outcome == "refused":
            spec.append((f, value, call, ret, "fail", value, "not-leader", key))
        else:
            spec.append((f, value, call, ret, outcome, value, "timeout" if outcome == "info" else None, key))
    return build(spec)


@st.composite
def correct_executions(draw: Any, max_steps: int = 40, processes: int = 4) -> list[Op]:
    """Histories of a real execution: concurrent clients against one atomic cas-register store.

    Each op takes effect at one instant between its invoke and completion (or not at all when
    refused or lost); indeterminate ops may or may not take effect; so every such history is
    linearizable."""
    store: dict = {}
    ops: list[Op] = []
    clock = 0
    next_process = processes
    idle = list(range(processes))
    pending: dict[int, dict] = {}  # process -> {"op", "applied", "result"}

    def emit(**fields: Any) -> Op:
        nonlocal clock
        clock += 1
        op = Op(index=len(ops), time=clock, **fields)
        ops.append(op)
        return op

    for _ in range(draw(st.integers(1, max_steps))):
        actions = ["invoke"] * bool(idle) + ["apply"] * any(not p["applied"] for p in pending.values())
        actions += ["complete"] * bool(pending)
        action = draw(st.sampled_from(actions))
        if action == "invoke":
            process = draw(st.sampled_from(idle))
            idle.remove(process)
            f = draw(st.sampled_from(["read", "write", "cas"]))
            key = draw(st.sampled_from(["x", "y"]))
            value = None if f == "read" else draw(st.sampled_from(VALUES)) if f == "write" else [
                draw(st.sampled_from([None] + VALUES)), draw(st.sampled_from(VALUES))]
            pending[process] = {"op": emit(type="invoke", process=process, f=f, key=key, value=value), "applied": False}
        elif action == "apply":
            process = draw(st.sampled_from(sorted(p for p, v in pending.items() if not v["applied"])))
            entry = pending[process]
            op = entry["op"]
            current = store.get(op.key)
            if op.f == "read":
                entry["result"] = ("ok", current, None)
            elif op.f == "write":
                store[op.key] = op.value
                entry["result"] = ("ok", op.value, None)
            elif current == op.value[0]:
                store[op.key] = op.value[1]
                entry["result"] = ("ok", op.value, None)
            else:
                entry["result"] = ("fail", op.value, "cas-mismatch")
            entry["applied"] = True
        else:
            process = draw(st.sampled_from(sorted(pending)))
            entry = pending.pop(process)
            op = entry["op"]
            if entry["applied"]:
                type_, value, error = entry["result"]
                if draw(st.booleans()) and draw(st.booleans()):  # the reply was lost
                    type_, value, error = "info", op.value, "timeout"
            else:
                type_, value, error = draw(st.sampled_from([("fail", op.value, "not-leader"), ("info", op.value, "timeout")]))
            emit(type=type_, process=process, f=op.f, key=op.key, value=value, error=error)
            if type_ == "info":
                process, next_process = next_process, next_process + 1
            idle.append(process)
    return ops  # ops still pending stay open: they may or may not have happened
