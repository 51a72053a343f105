"""Nodes at the same point of their history must hold the same state (checkers.state), and the
runner asks a system that can say (HasDigests) once the cluster is healed."""

import pytest

from raft_jepsen.checkers.state import StateAgreement
from raft_jepsen.harness import fakes, runner, systems
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.history.roles import Digest
from raft_jepsen.harness.systems.base import SystemKind
from tests.unit.test_small_system import DictKV


def test_nodes_at_the_same_point_must_agree():
    result = StateAgreement({"n1": Digest(7, "aa"), "n2": Digest(7, "bb"), "n3": Digest(7, "aa"),
                             "n4": Digest(5, "cc"), "n5": None}).check([])
    assert result["valid"] is False and result["silent"] == ["n5"]
    (failure,) = result["failures"]
    assert failure["at"] == 7 and failure["groups"] == {"aa": ["n1", "n3"], "bb": ["n2"]}
    assert result["message"] == "nodes disagree on their state at 7: n1, n3: aa; n2: bb"


def test_agreement_and_nodes_at_other_points_are_valid():
    result = StateAgreement({"n1": Digest(7, "aa"), "n2": Digest(7, "aa"), "n3": Digest(9, "zz")}).check([])
    assert (result["valid"], result["compared"]) == (True, 2)


class DigestingKV(DictKV):
    divergent = "n2"

    def digests(self, nodes):
        return {n.name: Digest(len(self.data), "bad" if n.name == self.divergent else repr(sorted(self.data.items())))
                for n in nodes}


@pytest.fixture
def digesting():
    systems.register(SystemKind(name="digesting", about="", adapter=DigestingKV, client_port=1, peer_port=2,
                                workloads=("register",)))
    yield
    systems._REGISTERED.pop("digesting")


@pytest.mark.slow  # a whole run, in real time
def test_a_divergent_replica_makes_the_run_invalid_though_no_client_read_it(tmp_path, digesting):
    spec = specs.build({"system": "digesting", "nodes": 3, "concurrency": 4, "time-limit": 0.5, "rate": 200,
                        "nemesis": "none", "recovery-time": 0, "seed": 1, "store": str(tmp_path)})
    result = runner.run(spec, backend=fakes.backend())
    assert result.valid is False and result.anomaly.startswith("nodes disagree on their state at ")
    assert "(invariants: divergent-state" in result.anomaly
    assert result.results["digests"]["n2"]["digest"] == "bad"
    assert result.results["checkers"]["linearizable"]["valid"] is True
