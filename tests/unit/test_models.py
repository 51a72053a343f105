"""Models: each step's sequential meaning, and how history calls read to it."""

import pytest

from raft_jepsen.checkers.linearizable import check
from raft_jepsen.checkers.models import (
    APPEND,
    CAS,
    DEQUEUE,
    ENQUEUE,
    INCR,
    READ,
    UNKNOWN,
    WRITE,
    get_model,
)
from raft_jepsen.harness.errors import HistoryError, UsageError
from tests.unit.histories import build


def steps(model_name, state, *ops):
    """Apply (input, output) pairs in order; the final state, or None at the first illegal one."""
    model = get_model(model_name)
    for inp, out in ops:
        ok, state = model.step(state, inp, out)
        if not ok:
            return None
    return state


@pytest.mark.parametrize("name", ["register", "cas-register", "etcd"])
def test_register_family(name):
    init = get_model(name).init()
    assert init is None
    assert steps(name, init, ((READ, None, None), 1)) is None  # nil until written
    assert steps(name, init, ((WRITE, 1, None), None), ((CAS, 1, 2), True)) == 2
    assert steps(name, 1, ((CAS, 2, 3), True)) is None
    assert steps(name, 1, ((CAS, 2, 3), False)) == 1  # mismatch observed: 1 != 2
    assert steps(name, 2, ((CAS, 2, 3), False)) is None
    assert steps(name, 2, ((CAS, 2, 3), UNKNOWN)) == 3  # may have happened: fires where it can
    assert steps(name, 1, ((CAS, 2, 3), UNKNOWN)) == 1


def test_partitioning():
    history = build([("write", 1, 0, 1, "ok", 1, None, "a"), ("write", 1, 0, 1, "ok", 1, None, "b")])
    assert check(history, "cas-register")["partitions"] == 2
    assert check(history, "register")["partitions"] == 1
    assert check(history, "kv")["partitions"] == 2


def test_kv_keeps_the_whole_map():
    state = steps("kv", frozenset(), (("a", (WRITE, 1, None)), None), (("b", (WRITE, 2, None)), None))
    assert state == frozenset({("a", 1), ("b", 2)})
    assert steps("kv", state, (("a", (READ, None, None)), 1)) == state
    assert steps("kv", state, (("c", (READ, None, None)), 1)) is None


def test_string_kv():
    assert steps("string-kv", "", ((APPEND, "x", None), None), ((APPEND, "y", None), None), ((READ, None, None), "xy")) == "xy"
    assert steps("string-kv", "xy", ((WRITE, "z", None), None)) == "z"
    assert steps("string-kv", "", ((READ, None, None), "x")) is None


def test_set_counter_queue_through_histories():
    assert check(build([("add", 1, 0, 1, "ok"), ("read", None, 2, 3, "ok", [1])]), "set")["valid"] is True
    assert check(build([("add", 1, 0, 1, "ok"), ("read", None, 2, 3, "ok", [])]), "set")["valid"] is False
    assert check(build([("add", 1, 0, None, "info"), ("read", None, 2, 3, "ok", [1])]), "set")["valid"] is True
    assert check(build([("incr", None, 0, 1, "ok"), ("incr", 2, 0, 1, "ok"), ("read", None, 2, 3, "ok", 3)]),
                 "counter")["valid"] is True
    assert check(build([("incr", None, 0, 1, "fail"), ("read", None, 2, 3, "ok", 1)]), "counter")["valid"] is False
    fifo = [("enqueue", 1, 0, 1, "ok"), ("enqueue", 2, 2, 3, "ok")]
    assert check(build(fifo + [("dequeue", None, 4, 5, "ok", 1)]), "fifo-queue")["valid"] is True
    assert check(build(fifo + [("dequeue", None, 4, 5, "ok", 2)]), "fifo-queue")["valid"] is False
    assert check(build([("dequeue", None, 0, 1, "ok", None)]), "fifo-queue")["valid"] is True


def test_describe():
    model = get_model("cas-register")
    assert model.describe_operation((CAS, 1, 2), False) == "cas 1→2 (mismatch)"
    assert model.describe_operation((WRITE, 3, None), UNKNOWN) == "write 3 (indeterminate)"
    assert model.describe_operation((READ, None, None), None) == "read → nil"
    assert get_model("set").describe_state(frozenset({2, 1})) == "[1 2]"


def test_unknown_names():
    with pytest.raises(UsageError, match="unknown model 'bogus'"):
        get_model("bogus")
    with pytest.raises(HistoryError, match="op 0: this model has no operation 'append'"):
        check(build([("append", "x", 0, 1, "ok")]), "cas-register")
    with pytest.raises(HistoryError, match=r"op 0: cas value must be \[old, new\]"):
        check(build([("cas", 3, 0, 1, "ok")]), "cas-register")


def test_describe_generic_models():
    assert get_model("counter").describe_operation((INCR, 1, None), None) == "incr 1"
    assert get_model("counter").describe_operation((READ, None, None), 3) == "read → 3"
    assert get_model("fifo-queue").describe_operation((DEQUEUE, None, None), UNKNOWN) == "dequeue (indeterminate)"
    assert get_model("fifo-queue").describe_operation((ENQUEUE, "a", None), UNKNOWN) == "enqueue 'a' (indeterminate)"
