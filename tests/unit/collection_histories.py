"""Test helpers for the append, set and availability checkers: hand-made histories, and
histories of a correct in-memory list store driven by a random (Hypothesis-drawn) schedule."""

from __future__ import annotations

from hypothesis import strategies as st

from raft_jepsen.harness.history import Op

S = 1_000_000_000  # ns per second


def history(*calls: tuple, faults: tuple = ()) -> list[Op]:
    """Ops from (f, key, value, call, ret, type[, output[, node]]) tuples, one process each;
    ret None leaves the op open. `faults`: (f, time) nemesis records. Times are in ns."""
    events = []
    for process, (f, key, value, call, ret, type_, *rest) in enumerate(calls):
        output = rest[0] if rest else value
        node = rest[1] if len(rest) > 1 else None
        events.append((call, 0, Op(index=0, type="invoke", process=process, f=f, key=key, value=value, time=call, node=node)))
        if ret is not None:
            events.append((ret, 1, Op(index=0, type=type_, process=process, f=f, key=key, value=output, time=ret, node=node)))
    for f, time in faults:
        events.append((time, 0, Op(index=0, type="info", process="nemesis", f=f, time=time)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [_with_index(op, i) for i, (_, _, op) in enumerate(events)]


def _with_index(op: Op, index: int) -> Op:
    return Op(**{**{name: getattr(op, name) for name in Op.__dataclass_fields__}, "index": index})


@st.composite
def correct_list_histories(draw, keys=("a", "b"), processes=3, steps=60, nodes=("n1", "n2")) -> list[Op]:
    """A correct list store (each append applied at most once, atomically, somewhere between
    its invocation and its ok; an info append maybe never, maybe even after it returned; a
    fail never), driven by a drawn schedule, then a final read of every key on every node."""
    store = {k: [] for k in keys}
    ops: list[Op] = []
    time, next_value, next_process = 0, 1, processes
    running: dict[int, dict] = {}  # process -> {"op": invoke, "applied": bool, "output": ...}
    late: list[tuple[str, int]] = []  # info appends that may still take effect
    idle = list(range(processes))

    def apply(state: dict) -> None:
        op = state["op"]
        if not state["applied"]:
            if op.f == "append":
                store[op.key].append(op.value)
            state["applied"], state["output"] = True, list(store[op.key]) if op.f == "read" else op.value

    def emit(op: Op) -> Op:
        nonlocal time
        time += 1
        op = Op(**{**{n: getattr(op, n) for n in Op.__dataclass_fields__}, "index": len(ops), "time": time})
        ops.append(op)
        return op

    for _ in range(draw(st.integers(steps // 4, steps))):
        action = draw(st.sampled_from(["invoke", "apply", "complete", "late"]))
        if action == "invoke" and idle:
            process = idle.pop(draw(st.integers(0, len(idle) - 1)))
            key = draw(st.sampled_from(keys))
            if draw(st.booleans()):
                op = emit(Op(index=0, type="invoke", process=process, f="append", key=key, value=next_value))
                next_value += 1
            else:
                op = emit(Op(index=0, type="invoke", process=process, f="read", key=key))
            running[process] = {"op": op, "applied": False, "output": None}
        elif action == "apply" and running:
            apply(running[draw(st.sampled_from(sorted(running)))])
        elif action == "complete" and running:
            process = draw(st.sampled_from(sorted(running)))
            state = running.pop(process)
            op = state["op"]
            if state["applied"]:
                kind = draw(st.sampled_from(["ok", "info"]))
            else:
                kind = draw(st.sampled_from(["ok", "fail", "info"]))
                if kind == "ok":  # it takes effect just before it returns
                    apply(state)
                elif kind == "info" and op.f == "append":
                    late.append((op.key, op.value))
            emit(Op(index=0, type=kind, process=process, f=op.f, key=op.key,
                    value=state["output"] if kind == "ok" else op.value))
            if kind == "info":
                idle.append(next_process)
                next_process += 1
            else:
                idle.append(process)
        elif action == "late" and late:
            key, value = late.pop(draw(st.integers(0, len(late) - 1)))
            if draw(st.booleans()):
                store[key].append(value)
    for process, state in running.items():  # still open at the end: never returned (info)
        if state["op"].f == "append" and not state["applied"]:
            late.append((state["op"].key, state["op"].value))
    for key, value in late:
        if draw(st.booleans()):
            store[key].append(value)
    final_process = next_process
    for node in nodes:
        for key in keys:
            emit(Op(index=0, type="invoke", process=final_process, f="read", key=key, node=node))
            emit(Op(index=0, type="ok", process=final_process, f="read", key=key, value=list(store[key]), node=node))
    return ops
