"""The synthetic run folders tell the truth: the real linearizability checker agrees with the
failure a fixture claims (same key, same stuck op), and finds nothing in a valid one."""

import json

import pytest

from raft_jepsen.checkers import linearizable
from raft_jepsen.harness.history import read_jsonl
from tests.unit.run_fixtures import make_run


@pytest.mark.parametrize("seed, valid", [(2, True), (3, False), (4, False)])
def test_fixture_verdicts_match_the_checker(tmp_path, seed, valid):
    run = make_run(tmp_path, n_ops=1000, valid=valid, seed=seed)
    claimed = json.loads((run / "results.json").read_text())["checkers"]["linearizable"]
    found = linearizable.check(list(read_jsonl(run / "history.jsonl")), "cas-register", timeout=30)
    assert found["valid"] == claimed["valid"] == valid
    assert [(f["key"], f["stuck"]) for f in found["failures"]] == [(f["key"], f["stuck"]) for f in claimed["failures"]]
