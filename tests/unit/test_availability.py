"""The availability checker: windows without an ok, failover after faults, ok seconds."""

from raft_jepsen.checkers.availability import Availability, availability
from tests.unit.collection_histories import S, history


def steady(start_s, end_s, every_s=0.5):
    """An ok write every `every_s` seconds from `start_s` to `end_s`."""
    n = int((end_s - start_s) / every_s) + 1
    return [("write", "k", i, int((start_s + i * every_s) * S), int((start_s + i * every_s) * S) + 1000, "ok")
            for i in range(n)]


def test_a_steadily_available_cluster_is_valid():
    result = availability(history(*steady(0, 20)))
    assert result["valid"] is True
    assert result["longest_window_s"] == 0.5
    assert result["ok_seconds_share"] == 1.0
    assert "message" not in result


def test_a_window_longer_than_the_threshold_is_invalid_and_the_message_says_when_and_how_long():
    refused = [("write", "k", 9, int(t * S), int(t * S) + 1000, "fail") for t in range(6, 19)]
    result = availability(history(*steady(0, 5), *refused, *steady(19, 25)))
    assert result["valid"] is False
    assert result["windows"] == [{"from_s": 5.0, "to_s": 19.0, "length_s": 14.0}]
    assert result["message"] == "no operation succeeded for 14.0 s, from 5.0 s to 19.0 s (more than 10 s)"
    assert Availability(window_s=20).check(history(*steady(0, 5), *refused, *steady(19, 25)))["valid"] is True


def test_a_cluster_unavailable_until_the_end_of_the_main_phase_is_caught():
    refused = [("write", "k", 9, int(t * S), int(t * S) + 1000, "info") for t in range(3, 16)]
    result = availability(history(*steady(0, 2), *refused))
    assert result["windows"] == [{"from_s": 2.0, "to_s": 15.0, "length_s": 13.0}]


def test_the_final_reads_and_the_recovery_wait_before_them_do_not_count():
    final = [("read", "k", None, 40 * S, 40 * S + 1000, "ok", 1, "n1")]
    assert availability(history(*steady(0, 20), *final))["valid"] is True


def test_failover_is_measured_from_the_fault_to_the_first_ok_of_an_op_invoked_after_it():
    slow = ("write", "k", 7, int(4.9 * S), int(5.2 * S), "ok")  # in flight at the fault: proves nothing
    late = [("write", "k", 8, int(5.5 * S), int(8.0 * S), "ok")]
    result = availability(history(*steady(0, 4.5), slow, *late, *steady(9, 12), faults=(("kill", 5 * S),)))
    assert result["failovers"] == [{"index": result["failovers"][0]["index"], "f": "kill", "time_s": 5.0, "failover_s": 3.0}]
    assert result["max_failover_s"] == 3.0


def test_a_fault_never_followed_by_an_ok_has_no_failover():
    refused = [("write", "k", 9, int(t * S), int(t * S) + 1000, "fail") for t in (6, 7)]
    result = availability(history(*steady(0, 5), *refused, faults=(("start-partition", int(5.5 * S)),)))
    assert result["failovers"][0]["failover_s"] is None and result["max_failover_s"] is None


def test_the_share_of_seconds_with_an_ok():
    refused = [("write", "k", 9, int(t * S), int(t * S) + 1000, "fail") for t in range(4, 8)]
    result = availability(history(*steady(0, 3.5), *refused, *steady(8, 9.5)))
    assert result["ok_seconds_share"] == 0.6  # seconds 0-3 and 8, 9 of ten


def test_a_history_without_client_ops_is_unknown():
    assert availability(history(faults=(("kill", 1),)))["valid"] == "unknown"


def test_the_verdict_line_of_an_unavailable_run_is_the_message():
    from raft_jepsen.checkers import verdict

    refused = [("write", "k", 9, int(t * S), int(t * S) + 1000, "fail") for t in range(6, 19)]
    result = availability(history(*steady(0, 5), *refused, *steady(19, 25)))
    assert verdict.anomaly({"availability": result}) == f"availability: {result['message']}"
