"""The append and set workloads end to end through the runner, against the in-memory atom-db."""

import pytest

from raft_jepsen.harness import fakes, runner
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.history import read_jsonl
from raft_jepsen.reports import html

pytestmark = pytest.mark.slow  # whole runs in real time, about a second each


def run(tmp_path, workload, flaw=None):
    config = {"nodes": 3, "concurrency": 6, "time-limit": 1, "rate": 300, "nemesis-interval": 0.25,
              "recovery-time": 0.1, "seed": 5, "store": str(tmp_path / "store"), "workload": workload,
              "nemesis": ["partition"]}  # the in-memory store can only be partitioned
    return runner.run(specs.build(config), backend=fakes.backend(fakes.AtomDB(flaw)))


@pytest.mark.parametrize("workload, checker", [("append", "append"), ("set", "set")])
def test_a_correct_store_is_valid(tmp_path, workload, checker):
    result = run(tmp_path, workload)
    assert (result.valid, result.reason) == (True, None)
    checkers = result.results["checkers"]
    assert set(checkers) == {checker, "availability", "coverage", "liveness", "stats"}
    assert checkers["stats"]["by_f"]["append"]["ok"] > 20
    history = list(read_jsonl(result.run_dir / "history.jsonl"))
    final = {(op.node, op.key) for op in history if op.type == "ok" and op.node and op.f == "read"}
    assert {node for node, _ in final} == {"n1", "n2", "n3"}


def test_the_append_workload_rotates_keys_and_never_reuses_a_value(tmp_path):
    history = list(read_jsonl(run(tmp_path, "append").run_dir / "history.jsonl"))
    values = [op.value for op in history if op.type == "invoke" and op.f == "append"]
    assert len(values) == len(set(values))
    assert len({op.key for op in history if op.is_client}) >= 2  # at least one key retired


@pytest.mark.parametrize("workload, anomaly", [("append", "duplicate"), ("set", "duplicated")])
def test_appends_applied_twice_are_found(tmp_path, workload, anomaly):
    result = run(tmp_path, workload, "duplicate-apply")
    assert (result.valid, result.exit_code) == (False, 1)
    failures = result.results["checkers"][workload]["failures"]
    f = failures[0]  # the line leads with the plain sentence, the anomaly's name after it
    assert result.anomaly.startswith(f"{f['message'].removeprefix(f['anomaly'] + ': ')} ({workload}: {f['anomaly']}, key ")
    assert anomaly in {f["anomaly"] for f in failures}
    page = html.write_report(result.run_dir).read_text()
    assert f"<li>key &#39;{failures[0]['key']}&#39;: {failures[0]['message']}</li>" in page  # told, not just raw JSON
