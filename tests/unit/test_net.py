"""The iptables net over fake Remotes: rules replaced, healed, proven; plus the real probe script
against sockets on 127.0.0.1."""

import re
import shlex
import socket
import subprocess

import pytest

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.nemesis.net import PROBE_NAME, Matrix, Net, parse_probe, probe_command
from tests.unit.fake_nodes import FakeCluster, Result

PEER_PORT = 7000  # what the partition probe connects to (raftkv's Raft port)

HALVES = {
    "n1": ["n3", "n4", "n5"],
    "n2": ["n3", "n4", "n5"],
    "n3": ["n1", "n2"],
    "n4": ["n1", "n2"],
    "n5": ["n1", "n2"],
}


@pytest.fixture
def cluster():
    return FakeCluster(5)


def test_drop_installs_exactly_the_grudge(cluster):
    Net(cluster.nodes, port=PEER_PORT).drop(HALVES)
    assert cluster.drops() == {n: set(p) for n, p in HALVES.items()}


def test_a_second_drop_replaces_the_first(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop(HALVES)
    net.drop({"n1": ["n2"], "n2": ["n1"]})
    assert cluster.drops() == {"n1": {"n2"}, "n2": {"n1"}, "n3": set(), "n4": set(), "n5": set()}


def test_iptables_calls_use_nft_explicitly_wait_for_the_lock_and_stay_in_the_rj_chain(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop(HALVES)
    net.heal()
    commands = cluster.commands()
    calls = [c for cmd in commands for c in re.findall(r"\biptables[\w-]*[^|;&{}]*", cmd)]
    assert calls
    for call in calls:
        assert call.startswith(("iptables-nft", "iptables-legacy-save")), call
        if not call.startswith(("iptables-nft-save", "iptables-legacy-save")):
            assert " -w" in call, call
        assert "nat" not in call and " -X" not in call and " -F" not in call, call
    assert all(":RJ - [0:0]" in cmd for cmd in commands if "iptables-nft-restore" in cmd)


def test_a_grudge_naming_anything_but_a_node_is_refused(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    with pytest.raises(UsageError, match="172.20.0.1"):
        net.drop({"n1": ["172.20.0.1"]})
    with pytest.raises(UsageError, match="n9"):
        net.drop({"n9": ["n1"]})
    assert cluster.commands() == []


def test_verify_sees_the_partition(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop(HALVES)
    matrix = net.verify(HALVES)
    assert matrix.matches(HALVES)
    assert matrix.to_json() == {n: sorted(p) for n, p in HALVES.items()}
    assert not matrix.matches({})


def test_a_one_sided_drop_is_expected_to_cut_both_ways(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop({"n1": ["n2"]})
    matrix = net.probe()
    assert matrix.cut["n2"] == {"n1"}
    assert matrix.matches({"n1": ["n2"]})


def test_verify_reports_a_partition_that_did_not_take_effect(cluster):
    cluster.host("n3").inert = True
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop({"n3": ["n4"]})
    matrix = net.verify({"n3": ["n4"]}, attempts=2)
    assert not matrix.matches({"n3": ["n4"]})
    assert matrix.cut["n3"] == set()
    assert sum(PROBE_NAME in cmd for cmd in cluster.host("n3").commands) == 2


def test_a_false_cut_on_a_loaded_host_clears_when_the_probe_waits_longer(cluster):
    cluster.host("n2").slow_probe_s = 0.5
    net = Net(cluster.nodes, port=PEER_PORT, probe_timeout=0.15)
    net.drop(HALVES)
    assert net.verify(HALVES).matches(HALVES)
    timeouts = [shlex.split(cmd)[5] for cmd in cluster.host("n2").commands if PROBE_NAME in cmd]
    assert timeouts == ["0.15", "0.6"]  # the second probe waited four times longer and agreed


def test_heal_empties_every_chain_and_restores_connectivity(cluster):
    net = Net(cluster.nodes, port=PEER_PORT)
    net.drop(HALVES)
    assert net.heal() == {n.name: [] for n in cluster.nodes}
    assert all(not drops for drops in cluster.drops().values())
    assert net.verify({}).matches({})


def test_heal_reports_rules_left_in_the_legacy_backend(cluster):
    cluster.host("n2").legacy_rules = ["-A RJ -s 10.9.0.4/32 -j DROP"]
    assert Net(cluster.nodes, port=PEER_PORT).heal()["n2"] == ["-A RJ -s 10.9.0.4/32 -j DROP"]


def test_a_failing_iptables_is_one_line_naming_the_node(cluster):
    denied = Result(4, "", "x\niptables: Permission denied\n")
    cluster.nodes[1].remote.exec = lambda cmd, check=True, timeout=None: denied
    with pytest.raises(EnvironmentProblem, match=r"^n2: iptables failed \(exit 4\): iptables: Permission denied$"):
        Net(cluster.nodes, port=PEER_PORT).drop(HALVES)


def test_a_garbled_probe_is_an_environment_problem(cluster):
    cluster.nodes[0].remote.exec = lambda cmd, check=True, timeout=None: Result(0, "sh: 1: bash: not found\n")
    with pytest.raises(EnvironmentProblem, match="n1: connectivity probe printed"):
        Net(cluster.nodes, port=PEER_PORT).probe()


def test_matrix_matches_only_the_exact_cut():
    m = Matrix({"n1": frozenset({"n2"}), "n2": frozenset({"n1"}), "n3": frozenset()})
    assert m.matches({"n1": ["n2"], "n2": ["n1"]})
    assert not m.matches({"n1": ["n2", "n3"]})
    assert not m.matches({})


def run_probe(port, timeout, *peers):
    out = subprocess.run(probe_command(port, timeout, peers), shell=True, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return parse_probe(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_probe_counts_a_listening_port_and_a_refused_one_as_reachable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert run_probe(port, 0.5, "127.0.0.1") == {"127.0.0.1": True}
    assert run_probe(free_port(), 0.5, "127.0.0.1") == {"127.0.0.1": True}


def test_probe_counts_a_connect_that_never_completes_as_cut():
    # A listener whose accept queue is full drops new SYNs: the connect hangs as behind a DROP.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        assert run_probe(port, 0.3, "127.0.0.1") == {"127.0.0.1": False}
    finally:
        for s in fillers:
            s.close()
        listener.close()
