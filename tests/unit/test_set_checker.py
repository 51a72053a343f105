"""The set checker: lost, unexpected, duplicated, recovered, on hand-made histories; correct
stores pass."""

from hypothesis import given, settings

from raft_jepsen.checkers.sets import check
from tests.unit.collection_histories import correct_list_histories, history


def anomalies(result):
    return [(f["anomaly"], f["key"], f["indexes"]) for f in result["failures"]]


def test_a_clean_history_is_valid_and_counts_recovered_unknown_adds():
    h = history(("append", "s", 1, 0, 1, "ok"), ("append", "s", 2, 0, 1, "info"), ("append", "s", 3, 0, 1, "info"),
                ("read", "s", None, 2, 3, "ok", [1, 2], "n1"), ("read", "s", None, 2, 3, "ok", [1, 2], "n2"))
    result = check(h)
    assert result["valid"] is True
    assert result["keys"]["s"] == {"valid": True, "final_reads": 2, "ok": 1, "recovered": 1,
                                   "lost": 0, "unexpected": 0, "duplicated": 0}


def test_an_acknowledged_add_missing_from_a_final_read_is_lost():
    h = history(("append", "s", 1, 0, 1, "ok"), ("append", "s", 2, 0, 1, "ok"),
                ("read", "s", None, 2, 3, "ok", [1, 2], "n1"), ("read", "s", None, 2, 3, "ok", [2], "n2"))
    result = check(h)
    assert anomalies(result) == [("lost", "s", [0, 5])]
    assert result["failures"][0]["message"] == "lost: acknowledged add 1 (op 0) is missing from the final read on n2"


def test_a_read_element_never_added_or_definitely_failed_is_unexpected():
    h = history(("append", "s", 1, 0, 1, "fail"), ("read", "s", None, 2, 3, "ok", [1, 7]),
                ("read", "s", None, 4, 5, "ok", [], "n1"))
    assert anomalies(check(h)) == [("unexpected", "s", [0, 2]), ("unexpected", "s", [2])]


def test_an_element_read_twice_is_duplicated():
    h = history(("append", "s", 1, 0, 1, "ok"), ("read", "s", None, 2, 3, "ok", [1, 1], "n1"))
    result = check(h)
    assert anomalies(result) == [("duplicated", "s", [0, 2])]
    assert result["valid"] is False


def test_without_a_successful_final_read_the_verdict_is_unknown():
    h = history(("append", "s", 1, 0, 1, "ok"), ("read", "s", None, 2, 3, "ok", [1]),
                ("read", "s", None, 4, 5, "fail", None, "n1"))
    result = check(h)
    assert result["valid"] == "unknown" and result["error"] == "no final read of key 's' succeeded"


@settings(max_examples=150, deadline=None)
@given(correct_list_histories())
def test_histories_of_a_correct_set_store_are_valid(h):
    result = check(h)
    assert result["valid"] is True, result["failures"]
