"""Minimal explanations (`checkers.explain`): the set the checker returns for a failing key is
checked against a brute-force search of linearizations, on small random register histories: with
every other operation relaxed (left open, or dropped when it only observed) it has no
linearization, and relaxing any one of its operations gives one."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from raft_jepsen.checkers import explain
from raft_jepsen.checkers.linearizable import LinearizabilityChecker
from raft_jepsen.harness.history import CAS_MISMATCH, Op, pair

VALUES = (0, 1, 2)


def _step(state, call):
    """Brute force's own register, on a call: (ok, new state); None = the call is dropped."""
    f, value, kind = call.invoke.f, call.invoke.value, call.type
    out = call.complete.value if call.complete is not None else None
    if kind == "fail" and not (f == "cas" and call.complete.error == CAS_MISMATCH):
        return None
    if f == "read":
        return None if kind != "ok" else (out == state, state)
    if f == "write":
        return True, value
    old, new = value
    if kind == "ok":
        return state == old, new
    if kind == "fail":
        return state != old, state
    return True, new if state == old else state  # open: takes effect only where it can


def brute_linearizable(history: list[Op]) -> bool:
    """Every order of the calls that respects real time, each open call taking effect or not."""
    calls = [c for c in pair(history) if _step(None, c) is not None]
    done_by = {id(c): (c.complete.time if c.type in ("ok", "fail") else None) for c in calls}

    def search(state, left: tuple) -> bool:
        if all(done_by[id(c)] is None for c in left):
            return True  # only open calls left: they need not take effect
        deadline = min(done_by[id(c)] for c in left if done_by[id(c)] is not None)
        for c in left:
            if c.invoke.time > deadline:
                continue  # a call that must come later: some op returned before it began
            rest = tuple(x for x in left if x is not c)
            ok, new = _step(state, c)
            if ok and search(new, rest):
                return True
            if done_by[id(c)] is None and search(state, rest):  # an open call that never happened
                return True
        return False

    return search(None, tuple(calls))


@st.composite
def histories(draw):
    n = draw(st.integers(1, 8))
    ops, events = [], []
    for p in range(n):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        start = draw(st.integers(0, 20))
        length = draw(st.integers(1, 8))
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        if f == "read":
            value, out = None, draw(st.sampled_from((None,) + VALUES))
            outcome = "ok" if outcome == "fail" else outcome
        elif f == "write":
            value = out = draw(st.sampled_from(VALUES))
            outcome = "ok" if outcome == "fail" else outcome
        else:
            value = out = [draw(st.sampled_from((None,) + VALUES)), draw(st.sampled_from(VALUES))]
        events.append((start, 0, p, f, value, None, "invoke", None))
        if outcome != "info" or draw(st.booleans()):
            error = CAS_MISMATCH if outcome == "fail" else None
            events.append((start + length, 1, p, f, out if outcome != "info" else None, None, outcome, error))
    for index, (t, _, p, f, value, _, kind, error) in enumerate(sorted(events, key=lambda e: (e[0], e[1], e[2]))):
        ops.append(Op(index=index, type=kind, process=p, f=f, key="k", value=value, time=t, error=error))
    return ops


@settings(max_examples=300, deadline=None)
@given(histories())
def test_the_explanation_is_minimal_by_brute_force(history):
    budget, explain.MIN_BUDGET_S = explain.MIN_BUDGET_S, 600.0  # a loaded machine must not cut it short
    try:
        result = LinearizabilityChecker("cas-register", timeout=None).check(history)
    finally:
        explain.MIN_BUDGET_S = budget
    assert result["valid"] is brute_linearizable(history)  # the checker itself, as a sanity check
    if result["valid"]:
        return
    failure = result["failures"][0]
    kept = set(failure["minimal"])
    assert failure["minimal_proven"] is True and kept
    calls = [c for c in pair(history) if c.invoke.index in {o["index"] for o in failure["ops"]}]
    assert all(explain.determinate(c) for c in calls if c.invoke.index in kept)  # never an open op
    assert not brute_linearizable(explain.relaxed(calls, kept))
    for x in kept:
        assert brute_linearizable(explain.relaxed(calls, kept - {x})), f"op {x} is not needed"
    assert failure["explanation"]


def test_relaxing_never_drops_a_write_and_drops_observations():
    history = [
        Op(index=0, type="invoke", process=0, f="write", key="k", value=1, time=0),
        Op(index=1, type="ok", process=0, f="write", key="k", value=1, time=1),
        Op(index=2, type="invoke", process=1, f="cas", key="k", value=[2, 3], time=2),
        Op(index=3, type="fail", process=1, f="cas", key="k", value=[2, 3], time=3, error=CAS_MISMATCH),
        Op(index=4, type="invoke", process=0, f="read", key="k", time=4),
        Op(index=5, type="ok", process=0, f="read", key="k", value=2, time=5),
    ]
    relaxed = explain.relaxed(pair(history), {4})
    # the write is left open, the mismatch (an observation) dropped, the kept read as it was
    assert [(o.index, o.type) for o in relaxed] == [(0, "invoke"), (4, "invoke"), (5, "ok")]


def test_a_deadline_gives_a_failing_set_not_proven_minimal():
    history = []
    for i in range(40):  # writes of 0 and 1 in turn, then a read of a value nobody wrote
        history += [Op(index=2 * i, type="invoke", process=0, f="write", key="k", value=i % 2, time=10 * i),
                    Op(index=2 * i + 1, type="ok", process=0, f="write", key="k", value=i % 2, time=10 * i + 5)]
    history += [Op(index=80, type="invoke", process=1, f="read", key="k", time=400),
                Op(index=81, type="ok", process=1, f="read", key="k", value=7, time=405)]
    calls = pair(history)

    def never_decides(h, timeout):
        return "unknown"

    found = explain.shrink(calls, never_decides, time.monotonic() + 5)
    assert not found.proven and found.indexes == [c.invoke.index for c in calls]  # the whole key: it fails
    found = explain.shrink(calls, lambda h, t: False, time.monotonic() - 1)  # no time at all
    assert not found.proven and len(found.indexes) == 41


def test_a_read_of_a_value_never_written_is_one_operation():
    history = [Op(index=0, type="invoke", process=0, f="write", key="k", value=1, time=0),
               Op(index=1, type="ok", process=0, f="write", key="k", value=1, time=1),
               Op(index=2, type="invoke", process=1, f="read", key="k", time=2),
               Op(index=3, type="ok", process=1, f="read", key="k", value=7, time=3)]
    failure = LinearizabilityChecker("cas-register").check(history)["failures"][0]
    assert failure["minimal"] == [2] and failure["minimal_proven"] is True
    assert failure["explanation"] == "read → 7 at time 2 returned 7, a value no operation wrote"


def test_explanations_can_be_switched_off():
    history = [Op(index=0, type="invoke", process=1, f="read", key="k", time=2),
               Op(index=1, type="ok", process=1, f="read", key="k", value=7, time=3)]
    failure = LinearizabilityChecker("cas-register", explain=False).check(history)["failures"][0]
    assert "explanation" not in failure and "minimal_proven" not in failure


def test_appends_are_not_read_as_a_register():
    # put "a", append "b", then a get that returns "ab" before the append began: the value was
    # built by an append, so no sentence may say it was "never written"; the set lists them
    ops = [("put", "a", 0, 1), ("get", "ab", 2, 3), ("append", "b", 4, 5)]
    history = []
    for n, (f, v, t0, t1) in enumerate(ops):
        history += [Op(index=2 * n, type="invoke", process=n, f=f, key="k", value=None if f == "get" else v, time=t0),
                    Op(index=2 * n + 1, type="ok", process=n, f=f, key="k", value=v, time=t1)]
    failure = LinearizabilityChecker("string-kv").check(history)["failures"][0]
    assert explain.register_guesses(pair(history), failure["stuck"], "") == []
    assert failure["minimal"] == [2]  # the append began after the get ended: it cannot help
    assert failure["explanation"] == ("this operation cannot take effect at any moment within its time in the "
                                      "string-kv model: get → 'ab' (time 2–3)")
