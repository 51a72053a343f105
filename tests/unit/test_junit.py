"""JUnit XML: one test case per run; failures name the anomaly; unknown is an error."""

import json
import xml.etree.ElementTree as ET

from raft_jepsen.reports.junit import write_junit
from tests.unit.run_fixtures import make_run


def _results(run):
    return json.loads((run / "results.json").read_text())


def test_junit_carries_each_verdict(tmp_path):
    invalid = _results(make_run(tmp_path / "a", n_ops=1500, valid=False, seed=4))
    valid = _results(make_run(tmp_path / "b", n_ops=300, valid=True))
    unknown = {**valid, "valid": "unknown", "reason": "cluster never became healthy"}
    path = write_junit([invalid, valid, unknown], tmp_path / "junit.xml")

    suite = ET.parse(path).getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("testsuite", "3", "1", "1")
    cases = suite.findall("testcase")
    failure = cases[0].find("failure")
    lin = invalid["checkers"]["linearizable"]["failures"][0]
    stuck = lin["stuck"][0]
    bad_read = next(o for o in lin["ops"] if o["index"] == stuck)
    assert failure.get("message").startswith(f"linearizable: {lin['explanation']} (key {lin['key']}, ops ")  # CI's summary
    assert f"key {lin['key']}" in failure.get("message")
    assert f"op {stuck} (read → {bad_read['output']}" in failure.get("message")
    assert f"the model's state is {lin['state']}" in failure.get("message")  # what was expected instead
    assert cases[1].find("failure") is None and cases[1].find("error") is None
    assert "cluster never became healthy" in cases[2].find("error").get("message")
    assert f"re-run: raft-jepsen run --config {invalid['run_dir']}/test.yaml" in cases[0].find("system-out").text


def test_expected_invalid_turns_the_verdicts_around(tmp_path):
    invalid = {**_results(make_run(tmp_path / "a", n_ops=1500, valid=False, seed=4)), "expect": "invalid"}
    missed = {**_results(make_run(tmp_path / "b", n_ops=300, valid=True)), "expect": "invalid"}
    suite = ET.parse(write_junit([invalid, missed], tmp_path / "junit.xml")).getroot()
    found, not_found = suite.findall("testcase")
    assert found.find("failure") is None
    assert not_found.find("failure").get("type") == "missed"


def test_a_checker_without_failures_list_is_named(tmp_path):
    r = {"schema": 1, "valid": False, "test": "t", "checkers": {
        "set": {"valid": False, "message": "lost 3 acknowledged adds: [4, 9, 12]"}, "stats": {"valid": True}}}
    case = ET.parse(write_junit([r], tmp_path / "j.xml")).getroot().find("testcase")
    assert case.find("failure").get("message") == "set: lost 3 acknowledged adds: [4, 9, 12]"
