"""The list-append checker: each anomaly on a hand-made history, and correct stores pass."""

from hypothesis import given, settings

from raft_jepsen.checkers.append import check
from tests.unit.collection_histories import correct_list_histories, history


def anomalies(result):
    return [(f["anomaly"], f["key"], f["indexes"]) for f in result["failures"]]


def test_a_clean_history_is_valid():
    h = history(("append", "k", 1, 0, 2, "ok"), ("append", "k", 2, 1, 3, "ok"),
                ("read", "k", None, 4, 5, "ok", [1, 2]), ("read", "k", None, 6, 7, "ok", [1, 2], "n1"))
    result = check(h)
    assert result["valid"] is True and result["failures"] == [] and result["read_count"] == 2


def test_a_value_read_twice_is_a_duplicate():
    h = history(("append", "k", 1, 0, 1, "ok"), ("read", "k", None, 2, 3, "ok", [1, 1]))
    result = check(h)
    assert result["valid"] is False
    assert ("duplicate", "k", [0, 2]) in anomalies(result)
    assert result["anomaly_counts"]["duplicate"] == 1
    assert result["failures"][0]["message"].startswith("duplicate: read (op 2) holds 1 2 times")


def test_a_value_never_appended_or_definitely_failed_is_garbage():
    h = history(("append", "k", 1, 0, 1, "fail"), ("read", "k", None, 2, 3, "ok", [1, 9]))
    assert [a for a in anomalies(check(h)) if a[0] == "garbage"] == [("garbage", "k", [0, 2]), ("garbage", "k", [2])]


def test_an_acknowledged_append_missing_from_a_final_read_is_lost():
    h = history(("append", "k", 1, 0, 1, "ok"), ("append", "k", 2, 0, 2, "ok"),
                ("read", "k", None, 5, 6, "ok", [1], "n3"))
    result = check(h)
    lost = [f for f in result["failures"] if f["anomaly"] == "lost"]
    assert [(f["indexes"], f["final"]) for f in lost] == [([1, 4], True)]
    assert "final read on n3" in lost[0]["message"]


def test_a_read_that_began_before_the_append_returned_may_miss_it():
    h = history(("append", "k", 1, 0, 5, "ok"), ("read", "k", None, 4, 6, "ok", []))
    assert check(h)["valid"] is True


def test_an_unknown_append_may_or_may_not_appear():
    h = history(("append", "k", 1, 0, 1, "info"), ("append", "k", 2, 0, 1, "info"),
                ("read", "k", None, 2, 3, "ok", [2]), ("read", "k", None, 4, 5, "ok", [2, 1]))
    assert check(h)["valid"] is True


def test_reads_that_are_not_prefixes_of_each_other_diverge():
    h = history(("append", "k", 1, 0, 1, "ok"), ("append", "k", 2, 0, 1, "info"), ("append", "k", 3, 0, 1, "info"),
                ("read", "k", None, 2, 3, "ok", [1, 2]), ("read", "k", None, 2, 4, "ok", [1, 3]))
    result = check(h)
    assert anomalies(result) == [("divergence", "k", [6, 7])]
    assert result["failures"][0]["message"] == "divergence: reads op 6 and op 7 disagree at position 1: 2 vs 3"


def test_keys_are_checked_independently():
    h = history(("append", "a", 1, 0, 1, "ok"), ("read", "b", None, 2, 3, "ok", [1]))
    assert anomalies(check(h)) == [("garbage", "b", [2])]


@settings(max_examples=150, deadline=None)
@given(correct_list_histories())
def test_histories_of_a_correct_list_store_are_valid(h):
    result = check(h)
    assert result["valid"] is True, result["failures"]
