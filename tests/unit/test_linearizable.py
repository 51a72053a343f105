"""The linearizability checker: hand-made cases, explanations, and agreement with a
brute-force oracle on random histories (with and without pruning)."""

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from raft_jepsen.checkers.core import Checker, NoopChecker, Safe, compose
from raft_jepsen.checkers.linearizable import (
    LinearizabilityChecker,
    check,
    entries_of,
    operations,
    search,
)
from raft_jepsen.checkers.models import MODELS, get_model, prune_register
from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import pair
from tests.unit.histories import (
    build,
    correct_executions,
    oracle,
    small_register_histories,
)

REGISTER = get_model("cas-register")


def test_empty_history_is_linearizable():
    assert check([], "cas-register")["valid"] is True


def test_stale_read_is_not_linearizable_and_explained():
    history = build([
        ("write", 1, 0, 1, "ok"),
        ("write", 2, 2, 3, "ok"),
        ("read", None, 4, 5, "ok", 1),
    ])
    # the search's explanation (the model's time-based contradictions would decide it first)
    result = check(history, replace(get_model("register"), contradictions=None))
    assert result["valid"] is False
    failure, = result["failures"]
    write2, read = history[2].index, history[4].index
    assert failure["linearized"] == [history[0].index, write2]
    assert failure["state"] == "2"
    assert failure["stuck"] == [read]
    assert "read → 1" in failure["message"] and "cannot take effect" in failure["message"]
    assert {op["index"] for op in failure["ops"]} == {0, write2, read}
    read_record = next(op for op in failure["ops"] if op["index"] == read)
    assert read_record == {"index": read, "process": 2, "f": "read", "value": None, "output": 1,
                           "type": "ok", "call": 4, "return": 5}


def test_stale_read_is_decided_without_search_with_the_read_as_minimal_explanation():
    history = build([
        ("write", 1, 0, 1, "ok"),
        ("write", 2, 2, 3, "ok"),
        ("read", None, 4, 5, "ok", 1),
    ])
    failure, = check(history, "register")["failures"]
    read = history[4].index
    assert failure["minimal"] == [read] and failure["stuck"] == [read] and failure["linearized"] == []
    assert "overwritten by the write of 2 (op 2)" in failure["message"]


@pytest.mark.parametrize("read, why", [(9, "a value no operation wrote"), (3, "before any write of 3 began")])
def test_reads_no_write_explains_are_decided_without_search(read, why):
    history = build([("write", 1, 0, 1, "ok"), ("read", None, 2, 3, "ok", read), ("write", 3, 4, 5, "ok")])
    result = check(history, "cas-register")
    assert result["valid"] is False
    failure, = result["failures"]
    assert failure["minimal"] == [history[2].index] and why in failure["message"]


def test_a_late_indeterminate_write_can_explain_a_read_that_looks_stale():
    history = build([
        ("write", 1, 0, None, "info"),
        ("write", 2, 2, 3, "ok"),
        ("read", None, 4, 5, "ok", 1),
    ])
    assert check(history, "register")["valid"] is True


def test_concurrent_ops_may_take_effect_in_either_order():
    history = build([("write", 1, 0, 10, "ok"), ("read", None, 1, 2, "ok", None), ("read", None, 3, 4, "ok", 1)])
    assert check(history, "register")["valid"] is True


def test_ops_touching_at_one_instant_are_concurrent():
    # the write returns at 5 and the read is called at 5: calls sort before returns
    history = build([("write", 1, 0, 5, "ok"), ("read", None, 5, 6, "ok", None)])
    assert check(history, "register")["valid"] is True


def test_indeterminate_write_may_take_effect_late_or_never():
    late = build([("write", 1, 0, None, "info"), ("read", None, 1, 2, "ok", None), ("read", None, 50, 51, "ok", 1)])
    never = build([("write", 1, 0, 3, "info", 1, "timeout"), ("read", None, 5, 6, "ok", None)])
    assert check(late, "register")["valid"] is True
    assert check(never, "register")["valid"] is True


def test_indeterminate_write_read_by_nobody_can_explain_a_cas_mismatch():
    history = build([
        ("write", 0, 0, 1, "ok"),
        ("write", 5, 2, None, "info"),
        ("cas", [0, 1], 3, 4, "fail", [0, 1], "cas-mismatch"),
    ])
    assert check(history, "register")["valid"] is True
    without_it = build([("write", 0, 0, 1, "ok"), ("cas", [0, 1], 3, 4, "fail", [0, 1], "cas-mismatch")])
    assert check(without_it, "register")["valid"] is False


def test_a_refused_cas_says_nothing_about_the_value():
    refused = build([("write", 0, 0, 1, "ok"), ("cas", [0, 1], 3, 4, "fail", [0, 1], "not-leader")])
    assert check(refused, "register")["valid"] is True


def test_failures_per_key_and_valid_keys_are_independent():
    history = build([
        ("write", 1, 0, 1, "ok", 1, None, "a"),
        ("read", None, 2, 3, "ok", 2, None, "a"),
        ("write", 1, 0, 1, "ok", 1, None, "b"),
        ("read", None, 2, 3, "ok", 1, None, "b"),
    ])
    result = check(history, "cas-register")
    assert result["valid"] is False
    assert result["partitions"] == 2
    assert [f["key"] for f in result["failures"]] == ["a"]


def test_deadline_gives_unknown_naming_the_partition():
    history = build([("write", v, 0, 10, "ok", v, None, "k9") for v in range(6)])
    result = LinearizabilityChecker("cas-register", timeout=0).check(history)
    assert result["valid"] == "unknown"
    assert [u["key"] for u in result["unknown"]] == ["k9"]
    assert "deadline" in result["unknown"][0]["reason"]


def test_memory_bound_gives_unknown():
    # ten concurrent writes, then reads that no order explains: the search must try them all
    spec = [("write", v, 0, 10, "ok", v, None, "k") for v in range(10)] + [("read", None, 11, 12, "ok", 3, None, "k"), ("read", None, 13, 14, "ok", 4, None, "k")]
    result = LinearizabilityChecker("cas-register", timeout=None, max_states=100).check(build(spec))
    assert result["valid"] == "unknown"
    assert "memory bound" in result["unknown"][0]["reason"]
    assert LinearizabilityChecker("cas-register", timeout=None).check(build(spec))["valid"] is False


def test_completion_before_invocation_is_a_history_error():
    history = build([("write", 1, 5, 6, "ok")])
    history = [history[0], history[1].completed("ok", time=2, index=1)]
    with pytest.raises(HistoryError, match="before its invocation"):
        check(history, "register")


def test_search_core_on_integers():
    # state 0 is nil, 1 is "1"; op 0 writes 1, op 1 reads 1
    def step(i, s):
        return 1 if i == 0 or s == 1 else -1

    def run(entries):
        running = search(entries, step)
        while True:
            try:
                next(running)
            except StopIteration as done:
                return done.value

    assert run([0, 1, ~1, ~0]) == (True, [0, 1])  # concurrent: the write goes first
    assert run([1, ~1, 0, ~0]) == (False, [])  # the read returned before the write began


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(correct_executions())
def test_real_executions_are_linearizable(history):
    assert check(history, "cas-register", timeout=None)["valid"] is True
    assert check(history, "kv", timeout=None)["valid"] is True


def test_checker_agrees_with_brute_force_oracle():
    verdicts = Counter()

    @settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(small_register_histories())
    def agree(history):
        expected = oracle(history, REGISTER)
        assert LinearizabilityChecker(REGISTER, None, prune=False).check(history)["valid"] is expected
        assert LinearizabilityChecker(REGISTER, None, prune=True).check(history)["valid"] is expected
        verdicts[expected] += 1

    agree()
    assert verdicts[True] >= 100 and verdicts[False] >= 100, verdicts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_register_histories(keys=("a",), fs=("write", "cas"), values=[1, 2, 3]))
def test_pruning_agrees_with_oracle_where_it_bites(history):
    # no reads, so indeterminate writes are often unread: pruning decides on cas olds and mismatches
    expected = oracle(history, REGISTER)
    assert LinearizabilityChecker(REGISTER, None, prune=True).check(history)["valid"] is expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_register_histories(keys=("a",)))
def test_partitioned_and_whole_map_models_agree(history):
    whole_map = MODELS["kv"].__class__(**{**vars(MODELS["kv"]), "partition": None})
    assert check(history, whole_map, None)["valid"] == check(history, "cas-register", None)["valid"]


def test_pruning_keeps_what_can_matter():
    history = build([
        ("write", 7, 0, None, "info"),                 # never read, no cas, no mismatch: dropped
        ("write", 8, 0, None, "info"),                 # read below: kept
        ("cas", [9, 1], 0, None, "info"),               # 9 is never a value: dropped
        ("cas", [8, 2], 0, None, "info"),               # 8 may be a value, 2 is read: kept
        ("read", None, 1, 2, "ok", 8),
        ("read", None, 3, 4, "ok", 2),
    ])
    kept = prune_register(operations(pair(history), REGISTER))
    assert [op.input for op in kept] == [(1, 8, None), (2, 8, 2), (0, None, None), (0, None, None)]
    with_mismatch = build([("write", 7, 0, None, "info"), ("cas", [3, 1], 1, 2, "fail", [3, 1], "cas-mismatch")])
    assert len(prune_register(operations(pair(with_mismatch), REGISTER))) == 2


def test_entries_sort_calls_before_returns_and_open_returns_last():
    history = build([("write", 1, 0, 5, "ok"), ("read", None, 5, 6, "ok", 1), ("write", 2, 1, None, "info")])
    ops = operations(pair(history), REGISTER)
    # ops in invocation order: write 1, the open write 2 (called at 1), the read (called at 5)
    assert entries_of(ops) == [0, 1, 2, ~0, ~2, ~1]


class _Crashes:
    def check(self, history):
        raise ValueError("boom")


class _Says:
    def __init__(self, valid):
        self.valid = valid

    def check(self, history):
        return {"valid": self.valid}


def test_checker_protocol_and_composition():
    assert isinstance(LinearizabilityChecker("cas-register"), Checker)
    assert isinstance(NoopChecker(), Checker) and NoopChecker().check([]) == {"valid": True}
    assert Safe(_Crashes()).check([]) == {"valid": "unknown", "error": "ValueError: boom"}
    both = compose({"a": _Says(True), "b": _Says("unknown")}).check([])
    assert both == {"valid": "unknown", "a": {"valid": True}, "b": {"valid": "unknown"}}
    assert compose({"a": _Says(False), "b": _Crashes(), "c": _Says(True)}).check([])["valid"] is False
    assert compose({"b": _Crashes(), "c": _Says(True)}).check([])["valid"] == "unknown"
    assert compose({}).check([]) == {"valid": True}


def _explosive(key: str) -> list[tuple]:
    # thirteen concurrent writes, then two reads no order explains: the search tries every subset
    return [("write", v, 0, 10, "ok", v, None, key) for v in range(13)] + [
        ("read", None, 11, 12, "ok", 3, None, key), ("read", None, 13, 14, "ok", 4, None, key)]


def test_memory_bound_holds_for_all_keys_together():
    alone = LinearizabilityChecker("cas-register", None, max_memory_mb=None).check(build(_explosive("a")))
    assert alone["valid"] is False and alone["memory_peak_mb"] > 0
    # each key fits the bound alone, the two together do not: one gives up, the other is decided
    bound = alone["memory_peak_mb"] * 1.5
    both = LinearizabilityChecker("cas-register", None, max_memory_mb=bound).check(build(_explosive("a") + _explosive("b")))
    assert both["memory_bound_mb"] == bound
    assert [f["key"] for f in both["failures"]] and len(both["unknown"]) == 1
    assert "for the whole check (all keys together)" in both["unknown"][0]["reason"]
    assert both["memory_peak_mb"] <= bound * 1.1
