"""The report's "Raft invariants and liveness" section: each violation with its nodes, term and
time; a run only slow says so in its header, apart from one that lost data."""

import json

from raft_jepsen.reports.html import write_report
from tests.unit.run_fixtures import make_run

TWO_LEADERS = {"invariant": "one-leader-per-term", "nodes": ["n1", "n3"], "term": 4, "time_s": 2.5,
               "message": "one-leader-per-term: two leaders in term 4: n1 (it said so at 1.0 s) and n3 (it said so at 2.5 s)"}


def _with(run, **checkers):
    path = run / "results.json"
    results = json.loads(path.read_text())
    results["checkers"].update(checkers)
    results.update(safety=all(r["valid"] is True for n, r in results["checkers"].items() if n != "liveness"),
                   liveness=checkers.get("liveness", {}).get("valid", True))
    path.write_text(json.dumps(results))
    return write_report(run).read_text()


def test_invariant_violations_are_listed_with_nodes_term_and_time(tmp_path):
    html = _with(make_run(tmp_path, n_ops=200, valid=True, seed=1),
                 invariants={"valid": False, "checked": {"status_polls": 40, "role_changes": 6, "terms": 3, "digests": 5},
                             "violations": {"one-leader-per-term": 1}, "failures": [TWO_LEADERS]})
    assert 'id="raft"' in html and "<code>one-leader-per-term</code>" in html
    assert "<td>n1, n3</td><td>4</td>" in html and "2.50 s" in html
    assert "Invalid for liveness only" not in html


def test_a_run_only_slow_says_no_data_was_lost(tmp_path):
    liveness = {"valid": False, "kind": "liveness", "deadline_s": 5.0,
                "after_heal": {"heal_s": 30.0, "write_s": None, "read_s": 0.2},
                "longest_write_gap": {"length_s": 1.0, "from_s": 3.0, "to_s": 4.0}, "lone_faults": [],
                "failures": [{"check": "after-heal", "time_s": 30.0,
                              "message": "no update succeeded within 5 s of the final heal at 30.0 s (none succeeded)"}]}
    html = _with(make_run(tmp_path, n_ops=200, valid=True, seed=1), liveness=liveness)
    assert "Invalid for liveness only: no data lost" in html
    assert "update none in time, read after 0.2 s" in html and "deadline of 5 s" in html


def test_violations_are_marked_on_the_leader_lane():
    from raft_jepsen.reports.perf_graphs import leadership_svg
    from raft_jepsen.reports.raft_checks import raft_marks
    from raft_jepsen.reports.timeline import LeaderChange

    marks = raft_marks({"checkers": {"invariants": {"failures": [TWO_LEADERS]}}})
    assert marks == [(2_500_000_000, TWO_LEADERS["message"])]
    svg = leadership_svg([LeaderChange(time=0, leader="n1", term=4)], [], 5_000_000_000, marks)
    assert svg.count('class="violation"') == 1 and "two leaders in term 4" in svg
