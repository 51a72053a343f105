"""The native search core (`raft_jepsen.checkers._native`, Rust) against the Python one, its oracle: the same
verdicts, linearizations, longest prefixes, pauses and calls to `step`, on random inputs and on
Porcupine's corpus. `.ci/run` fails when the extension is not built, so these skip only on a
machine that installed without Rust."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raft_jepsen.checkers import linearizable
from raft_jepsen.checkers.linearizable import (
    LinearizabilityChecker,
    native_search,
    search,
    search_core,
)
from raft_jepsen.harness.history.importers import load
from tests.unit.histories import build, small_register_histories
from tests.unit.test_porcupine_corpus import DATA, EXPECTED

pytestmark = pytest.mark.skipif(
    linearizable.NativeSearch is None,
    reason="raft_jepsen.checkers._native is not built: install with a Rust toolchain on PATH (pip install -e .)",
)


def drain(core: Callable, entries: list[int], step: Callable[[int, int], int]) -> tuple[list, list, tuple]:
    """Runs a core to the end: (its pauses, its calls to step in order, its result)."""
    asked: list[tuple[int, int]] = []

    def logged(i: int, s: int) -> int:
        asked.append((i, s))
        return step(i, s)

    pauses = []
    running = core(entries, logged)
    while True:
        try:
            pauses.append(next(running))
        except StopIteration as done:
            return pauses, asked, done.value


@st.composite
def entry_lists(draw: st.DrawFn) -> list[int]:
    """Any well-formed entry list: each op's first appearance is its call, the second its return."""
    n = draw(st.integers(0, 9))
    order = draw(st.permutations([i for i in range(n) for _ in (0, 1)]))
    called: set[int] = set()
    entries = []
    for i in order:
        entries.append(~i if i in called else i)
        called.add(i)
    return entries


@settings(max_examples=400, deadline=None)
@given(entry_lists(), st.integers(1, 4), st.data())
def test_same_search_on_random_entries_and_step_tables(entries, n_states, data):
    n = len(entries) // 2
    table = data.draw(st.lists(st.integers(-1, n_states - 1), min_size=n * n_states, max_size=n * n_states))

    def step(i: int, s: int) -> int:
        return table[i * n_states + s]

    assert drain(native_search, entries, step) == drain(search, entries, step)


def test_same_pauses_on_a_search_that_backtracks_thousands_of_times():
    # twelve concurrent writes, then a read of a value none wrote: every subset gets tried
    n = 12
    entries = list(range(n)) + [~i for i in range(n)] + [n, ~n]

    def step(i: int, s: int) -> int:
        return -1 if i == n else i + 1  # a write of i leads to state i + 1; the read never fits

    pauses, asked, result = drain(native_search, entries, step)
    assert len(pauses) > 5 and pauses == sorted(pauses)
    assert result[0] is False and len(result[1]) == n
    assert (pauses, asked, result) == drain(search, entries, step)


def test_a_step_that_raises_stops_the_search_with_its_error():
    def step(i: int, s: int) -> int:
        raise KeyError("model broke")

    with pytest.raises(KeyError, match="model broke"):
        drain(native_search, [0, ~0], step)


@pytest.mark.parametrize(
    "entries, why",
    [([0], "cannot pair"), ([0, ~1], "out of range"), ([~0, 0], "before its call"), ([0, 0], "called twice")],
)
def test_malformed_entries_are_refused(entries, why):
    with pytest.raises(ValueError, match=why):
        linearizable.NativeSearch(entries)


def test_a_budget_of_no_backtracks_is_refused():
    with pytest.raises(ValueError, match="budget"):
        linearizable.NativeSearch([0, ~0]).run(lambda i, s: 0, 0)


@pytest.mark.parametrize("answer", [-2, 2**40])
def test_a_step_answer_that_is_no_state_id_is_refused(answer):
    with pytest.raises(ValueError, match="not a state id"):
        drain(native_search, [0, ~0], lambda i, s: answer)


def test_the_environment_chooses_the_core(monkeypatch):
    monkeypatch.delenv("RAFT_JEPSEN_PURE_PYTHON", raising=False)
    assert search_core() is native_search
    monkeypatch.setenv("RAFT_JEPSEN_PURE_PYTHON", "1")
    assert search_core() is search


def check_with(core: str, monkeypatch, checker: LinearizabilityChecker, history) -> dict:
    """The checker's result with the core named, less its timing and memory estimate."""
    if core == "python":
        monkeypatch.setenv("RAFT_JEPSEN_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("RAFT_JEPSEN_PURE_PYTHON", raising=False)
    result = checker.check(history)
    del result["elapsed_s"], result["memory_peak_mb"]
    return result


def test_memory_bound_gives_the_same_unknown(monkeypatch):
    spec = [("write", v, 0, 10, "ok", v, None, "k") for v in range(10)] + [("read", None, 11, 12, "ok", 3, None, "k"), ("read", None, 13, 14, "ok", 4, None, "k")]
    checker = LinearizabilityChecker("cas-register", timeout=None, max_states=100)
    native = check_with("native", monkeypatch, checker, build(spec))
    assert native["valid"] == "unknown" and "memory bound" in native["unknown"][0]["reason"]
    assert native == check_with("python", monkeypatch, checker, build(spec))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_porcupine_corpus_gives_the_same_results(name, monkeypatch):
    etcd = name.startswith("jepsen/")
    history = load(DATA / name, "porcupine-etcd" if etcd else "porcupine-kv")
    checker = LinearizabilityChecker("etcd" if etcd else "string-kv", timeout=60)
    native = check_with("native", monkeypatch, checker, history)
    assert native["valid"] is EXPECTED[name]
    assert native == check_with("python", monkeypatch, checker, history)


@settings(max_examples=300, deadline=None)
@given(small_register_histories(max_ops=10, values=[1, 2, 3]))
def test_same_results_on_random_register_histories(history):
    # the register runs in Rust (IntModel) on one side and in Python on the other, with the
    # search's reductions (read-only calls, twins, needs) and the time-based contradictions
    checker = LinearizabilityChecker("cas-register", timeout=None)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert check_with("native", monkeypatch, checker, history) == check_with("python", monkeypatch, checker, history)
