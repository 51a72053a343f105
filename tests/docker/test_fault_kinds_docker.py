"""The packet, clock and lose-unsynced faults on real containers: each measured in effect from
inside the nodes, then healed without a trace."""

import itertools
import json
import os
import random
import socket
import threading
import time

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import clock, grudges, lazyfs, packet, tools
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nemesis.prepare import prepared, privileges
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT, DATA_DIR, status

from .waits import wait_for_leader

pytestmark = pytest.mark.docker


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as c:
        yield c


def our_rules(node):
    """Our chains, their rules and the jumps to them: a host is left with the firewall it had."""
    saved = node.remote.exec("iptables-nft-save -t filter; iptables-legacy-save -t filter 2>/dev/null || true").stdout
    return [line for line in saved.splitlines()
            if line.startswith(("-A RJQ ", "-A RJL ", ":RJQ ", ":RJL ")) or line.endswith(("-j RJQ", "-j RJL"))]


def running(node, module):
    """Whether some process of the node runs `python3 -m module` (read from /proc: pgrep -f
    would match the shell that runs it)."""
    out = node.remote.exec("for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null; echo; done").stdout
    return any(line.startswith(f"python3 -m {module}") for line in out.splitlines())


@pytest.mark.parametrize("kind", list(packet.SHAPES))
def test_packet_fault_is_measured_between_the_nodes_then_healed(cluster, kind):
    nemesis = packet.PacketNemesis(cluster.nodes, [kind], random.Random(1), targets=["one"])
    nemesis.setup()
    try:
        value = nemesis.invoke(op("start-packet")).value
        assert value["verified_ms"] is not None, value
        assert value["mechanism"] in ("nfqueue", "netem", "iptables-statistic")
        measured = value["measured"].values()
        if kind == "delay":  # 80 ms each way
            assert all(m["rtt_ms"]["p50"] >= 2 * 80 * 0.8 for m in measured), value
        if kind == "latency":  # 100 ms each way, on every link whatever the targets
            assert value["nodes"] == [n.name for n in cluster.nodes] and len(value["measured"]) == 6, value
            assert all(m["rtt_ms"]["p50"] >= 2 * 100 * 0.8 for m in measured), value
        if kind == "loss":  # 20% at each end: about 36% of round trips
            assert sum(m["sent"] - m["received"] for m in measured) > 0
        stop = nemesis.invoke(op("stop-packet")).value
        assert stop["verified_ms"] is not None, stop
        assert all(m["received"] == m["sent"] and m["duplicates"] == 0 for m in stop["measured"].values()) or kind == "loss"
    finally:
        nemesis.teardown()
    assert not any(our_rules(n) for n in cluster.nodes)
    assert not any(running(n, "rjtools.netqueue") for n in cluster.nodes)


def test_clock_offsets_reach_raftkv_and_are_read_back(cluster):
    system = systems.make(systems.get("raftkv"), cluster.nodes)
    with prepared(["clock"], cluster.nodes, ()):
        for node in cluster.nodes:
            system.setup(node)
        try:
            nemesis = clock.ClockNemesis(cluster.nodes, ["bump"], random.Random(2), targets=["all"])
            nemesis.setup()
            value = nemesis.invoke(op("start-clock")).value
            assert value["verified_ms"] is not None, value
            for node in cluster.nodes:
                assert value["preloaded"][node.name] == ["python3"]  # the node itself has libfaketime
                seen = status(node)["time"] - time.time()  # raftkv's own time.time()
                assert abs(seen - value["offsets_s"][node.name]) < 0.5, (seen, value)
            assert nemesis.invoke(op("stop-clock")).value["verified_ms"] is not None
            assert all(abs(status(n)["time"] - time.time()) < 0.5 for n in cluster.nodes)

            strobe = clock.ClockNemesis(cluster.nodes, ["strobe"], random.Random(2), targets=["one"])
            value = strobe.invoke(op("start-clock")).value
            assert value["verified_ms"] is not None and len(value["measured_s"][value["nodes"][0]]) >= 2, value
            strobe.teardown()
            assert all(abs(status(n)["time"] - time.time()) < 0.5 for n in cluster.nodes)
        finally:
            for node in cluster.nodes:
                system.teardown(node)


@pytest.fixture(scope="module")
def fuse_cluster(docker_client, node_image):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("this host has no /dev/fuse to give the containers")
    caps, devices = privileges(["lose-unsynced"])
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT, cap_add=caps, devices=devices) as c:
        with prepared(["lose-unsynced"], c.nodes, (DATA_DIR,)):
            yield c


def test_lazyfs_loses_exactly_what_was_not_fsynced(fuse_cluster):
    node = fuse_cluster.nodes[0]
    node.remote.exec(f"""python3 -c '
import os
fd = os.open("{DATA_DIR}/probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"kept;"); os.fsync(fd); os.write(fd, b"lost"); os.close(fd)'""")
    assert node.remote.exec(f"cat {DATA_DIR}/probe").stdout == "kept;lost"
    assert lazyfs.drop(node, [DATA_DIR]) == {"bytes": 4, "files": 1}
    assert node.remote.exec(f"cat {DATA_DIR}/probe && rm {DATA_DIR}/probe").stdout == "kept;"
    mounts = node.remote.exec("findmnt -n -o FSTYPE " + DATA_DIR).stdout.strip()
    assert mounts == "fuse.rjlazyfs"


def test_power_cut_on_lazyfs_keeps_what_correct_raftkv_acknowledged(fuse_cluster):
    # Without its simulated page cache raftkv's writes go to the filesystem: only lazyfs loses them.
    system = systems.make(systems.get("raftkv"), fuse_cluster.nodes, options={"simulate-page-cache": "false"})
    for node in fuse_cluster.nodes:
        system.setup(node)
    try:
        peers = {n.name: n.client_addr for n in fuse_cluster.nodes}
        acked: list[int] = []
        cut_done = threading.Event()

        def write_until_the_cut() -> None:
            client = ProtocolClient(peers)
            client.open(fuse_cluster.nodes[0])
            for value in itertools.count():
                done = client.invoke(Op(index=0, type="invoke", process=0, f="write", key="pc", value=value))
                if done.type == "ok":
                    acked.append(value)
                elif cut_done.is_set():
                    break
            client.close()

        wait_for_leader(system, fuse_cluster.nodes)
        writer = threading.Thread(target=write_until_the_cut)
        writer.start()
        time.sleep(1.5)
        nemesis = lazyfs.LoseUnsyncedNemesis(system, fuse_cluster.nodes, random.Random(3), (DATA_DIR,))
        try:
            cut = nemesis.invoke(op("power-cut")).value
        finally:
            cut_done.set()
            writer.join()
        assert cut["filesystem"] == "lazyfs" and set(cut["lost"]) == {n.name for n in fuse_cluster.nodes}
        assert len(acked) > 10
        nemesis.invoke(op("power-on"))
        wait_for_leader(system, fuse_cluster.nodes)
        reader = ProtocolClient(peers, retries=3)
        reader.open(fuse_cluster.nodes[1])
        read = reader.invoke(Op(index=0, type="invoke", process=1, f="read", key="pc"))
        reader.close()
        assert read.type == "ok" and read.value >= acked[-1], (read, acked[-5:])
    finally:
        for node in fuse_cluster.nodes:
            system.teardown(node)


def ask(node, request: dict, timeout: float = 3.0) -> dict:
    """One request to `node` alone (no redirect), its reply."""
    with socket.create_connection(node.client_addr, timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(json.dumps({"id": 1, **request}).encode() + b"\n")
        return json.loads(sock.makefile("rb").readline())


@pytest.mark.parametrize("bug", ["lease-read", None])
def test_the_leaders_clock_jumping_back_lets_a_lease_read_leader_answer_stale_once_cut_off(cluster, bug):
    # The clock fault's own plumbing (node environment, offset file) and the partition's, in the
    # order that exposes the lease: the jump first, then the cut, then a write on the other side.
    system = systems.make(systems.get("raftkv"), cluster.nodes, bugs=(bug,) if bug else ())
    net = Net(cluster.nodes, port=7000)
    with prepared(["clock"], cluster.nodes, ()):
        for node in cluster.nodes:
            system.setup(node)
        try:
            wait_for_leader(system, cluster.nodes)
            old = next(n for n in cluster.nodes if n.name == system.primaries(cluster.nodes)[0])
            rest = [n for n in cluster.nodes if n is not old]
            assert ask(old, {"op": "write", "key": "k", "value": "old"})["ok"]
            tools.run(old, clock.write_offset(-10), "clock offset")
            net.drop(grudges.isolate([n.name for n in cluster.nodes], old.name))
            deadline = time.monotonic() + 10
            while not any(ask(n, {"op": "write", "key": "k", "value": "new"}).get("ok") for n in rest):
                assert time.monotonic() < deadline, "the majority never accepted a write"
                time.sleep(0.1)
            reply = ask(old, {"op": "read", "key": "k"})
            if bug:
                assert reply["ok"] and reply["value"] == "old", reply  # stale: the lease outlived the leadership
            else:
                assert not reply["ok"], reply
        finally:
            net.heal()
            on_each(cluster.nodes, lambda node: tools.run(node, clock.reset_command(), "clock reset"))
            for node in cluster.nodes:
                system.teardown(node)
