"""The packet, clock and lose-unsynced nemeses against simulated nodes: which commands they send,
what they record, and that a fault whose effect cannot be measured is never recorded as proven."""

from __future__ import annotations

import json
import random
import re
import shlex
from dataclasses import replace

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.generator.core import Context
from raft_jepsen.harness.generator.faults import fault_schedule
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import clock, lazyfs, packet, prepare
from raft_jepsen.harness.nemesis.package import package
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.spec import build
from raft_jepsen.harness.systems.raftkv import KIND as RAFTKV

from .fake_nodes import Result


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


class SimNode:
    """A node's Remote that understands the fault commands: it keeps the shape its chains and
    queue hold, the clock offset file, and answers probes and clock read-backs from that state."""

    def __init__(self, cluster, name, ip):
        self.cluster, self.name, self.ip = cluster, name, ip
        self.shape = None  # (kind, peer ips) once a fault's rules are in
        self.queue = False
        self.offset = 0.0
        self.commands = []
        self.inert = False  # rules accepted, never in effect

    def exec(self, cmd, check=True, timeout=None):
        self.commands.append(cmd)
        if "rjtools.probe measure" in cmd:
            return Result(0, json.dumps(self.cluster.measure(self, shlex.split(cmd.split("measure", 1)[1])[8:])))
        if "iptables-nft-restore" in cmd and "netqueue.pid" in cmd:  # a heal
            self.shape, self.queue = None, False
            return Result(0, "")
        if "iptables-nft-restore" in cmd:
            loss = re.search(r"-A RJL -s (\S+) .*--probability", cmd)
            queued = re.search(r"-A RJQ -d (\S+) ", cmd)
            if not self.inert and (loss or (queued and self.queue)):
                self.shape = ("loss" if loss else self.cluster.kind, (loss or queued).group(1).split(","))
            return Result(0, "")
        if "rjtools.netqueue" in cmd:
            self.queue = True
            return Result(0, "started")
        if "netem delay 0ms" in cmd:
            return Result(0, "none\n")
        if "offset $((" in cmd:  # clock read-back
            return Result(0, f"offset {round(self.offset * 1e9)}\npreloaded python3\n")
        if "faketime.tmp" in cmd and "printf" in cmd:
            self.offset = float(re.search(r"printf '%s\\n' ([-+][\d.]+)", cmd).group(1))
            return Result(0, "")
        return Result(0, "")

    def close(self):
        pass


class SimCluster:
    def __init__(self, n=3):
        self.hosts = [SimNode(self, f"n{i}", f"10.0.0.{i}") for i in range(1, n + 1)]
        self.nodes = [Node(h.name, h.ip, ("127.0.0.1", 9000 + i), h) for i, h in enumerate(self.hosts)]
        self.kind = None

    def measure(self, src, peers):
        out = {}
        for ip in peers:
            dst = next(h for h in self.hosts if h.ip == ip)
            shaped = [h.shape[0] for h, other in ((src, dst), (dst, src)) if h.shape and other.ip in h.shape[1]]
            out[ip] = {"sent": 40, "received": 30 if "loss" in shaped else 40,
                       "duplicates": 5 if "duplicate" in shaped else 0, "reordered": 9 if "reorder" in shaped else 0,
                       "rtt_ms": {"p50": 160.0 if "delay" in shaped else 200.0 if "latency" in shaped
                                  else 60.0 if "reorder" in shaped else 0.3,
                                  "p90": 0, "max": 0}}
        return out


def packet_nemesis(cluster, kind, inert=()):
    cluster.kind = kind
    for h in cluster.hosts:
        h.inert = h.name in inert
    n = packet.PacketNemesis(cluster.nodes, [kind], random.Random(3), targets=["one"])
    n.setup()
    return n


@pytest.mark.parametrize("kind", list(packet.SHAPES))
def test_each_packet_fault_is_measured_in_effect_then_healed(kind):
    cluster = SimCluster()
    n = packet_nemesis(cluster, kind)
    value = n.invoke(op("start-packet")).value
    assert value["kind"] == kind and value["verified_ms"] is not None and "unproven" not in value
    assert value["mechanism"] == ("iptables-statistic" if kind == "loss" else "nfqueue")  # no netem here
    # latency is on every link, whatever the nemesis's targets; the others on one node's links
    assert len(value["nodes"]) == (3 if kind == "latency" else 1)
    assert sorted(value["measured"]) == sorted(f"{chosen}->{p}" for chosen in value["nodes"]
                                               for p in ("n1", "n2", "n3") if p != chosen)
    stop = n.invoke(op("stop-packet")).value
    assert stop["verified_ms"] is not None and stop["kind"] == kind
    assert all(h.shape is None for h in cluster.hosts)


def test_a_packet_fault_that_never_takes_effect_is_recorded_unproven():
    cluster = SimCluster()
    n = packet_nemesis(cluster, "delay", inert={"n1", "n2", "n3"})
    value = n.invoke(op("start-packet")).value
    assert value["verified_ms"] is None and value["unproven"]


def test_faulted_links_are_those_touching_a_chosen_node():
    assert packet.peers_of(["n1", "n2", "n3"], ["n2"]) == {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]}
    assert packet.peers_of(["n1", "n2"], []) == {"n1": [], "n2": []}


def test_rules_queue_on_output_and_drop_at_the_receiver():
    queued = packet.rules(packet.SHAPES["delay"], packet.NFQUEUE, ["10.0.0.2", "10.0.0.3"])
    assert ("-A RJQ -d 10.0.0.2,10.0.0.3 -m mark ! --mark 0x524a -j NFQUEUE --queue-num 7 --queue-bypass"
            in queued.splitlines())
    lossy = packet.rules(packet.SHAPES["loss"], packet.STATISTIC, ["10.0.0.2"])
    assert "-A RJL -s 10.0.0.2 -m statistic --mode random --probability 0.2 -j DROP" in lossy.splitlines()
    assert [line for line in packet.rules(packet.Shape(), packet.NFQUEUE, []).splitlines() if line.startswith("-A")] == []


def test_netem_is_used_only_where_every_node_has_it_and_never_for_loss():
    assert packet.mechanism("delay", True) == "netem" and packet.mechanism("delay", False) == "nfqueue"
    assert packet.mechanism("loss", True) == "iptables-statistic"
    cmd = packet.netem_command(packet.SHAPES["reorder"], ["10.0.0.2"])
    assert "netem delay 60ms reorder 50%" in cmd and "match ip dst 10.0.0.2/32 flowid 1:2" in cmd
    assert "htb default 1" in cmd  # everything else passes through the untouched class


def test_packet_kinds_named():
    assert packet.kinds_named(["packet"]) == list(packet.SHAPES)
    assert packet.kinds_named(["kill", "packet-loss", "packet-delay"]) == ["delay", "loss"]


# ---- clock ------------------------------------------------------------------------------------


def test_a_clock_bump_is_read_back_from_inside_each_chosen_node():
    cluster = SimCluster()
    n = clock.ClockNemesis(cluster.nodes, ["bump"], random.Random(5), targets=["all"])
    n.setup()
    value = n.invoke(op("start-clock")).value
    assert value["verified_ms"] is not None and value["nodes"] == ["n1", "n2", "n3"]
    for name, offset in value["offsets_s"].items():
        assert 0.25 <= abs(offset) <= 16.4 and value["measured_s"][name] == [offset]
        assert value["preloaded"][name] == ["python3"]
    stop = n.invoke(op("stop-clock")).value
    assert stop["verified_ms"] is not None and all(h.offset == 0 for h in cluster.hosts)


def test_a_clock_the_node_does_not_see_is_unproven():
    assert not clock._shows("bump", -2.0, [0.0], ["python3"])  # the offset never reached libc
    assert not clock._shows("bump", -2.0, [-2.0], [])  # no process of the node has libfaketime
    assert clock._shows("bump", -2.0, [-1.99], ["python3"])
    assert not clock._shows("strobe", 1.0, [1.0, 1.0], ["java"])  # a strobe must be seen flipping
    assert clock._shows("strobe", 1.0, [0.0, 1.0], ["java"])


def test_clock_readback_parses_offsets_and_preloaded_processes():
    assert clock.parse_readback("offset -2048000123\noffset 1000000\npreloaded python3\npreloaded python3\n") == (
        [-2.048, 0.001], ["python3"])


def test_clock_environment_moves_only_the_wall_clock():
    env = clock.environment()
    assert env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1" and "FAKETIME" not in env  # the file, not a fixed offset
    assert "$LIB" in env["LD_PRELOAD"]
    assert clock.write_offset(-0.25).startswith("printf '%s\\n' -0.250 >/run/rj/faketime.tmp && mv -f")


def test_clock_faults_run_on_their_own_cycle_overlapping_the_others():
    pkg = package(["partition", "clock"], nodes=SimCluster(5).nodes, system=object(), rng=random.Random(0),
                  interval=3, probe_port=7000)
    assert pkg.faults == (("start-partition", "stop-partition"),)
    assert pkg.background == (("start-clock", "stop-clock"),) and "stop-clock" in pkg.final
    clock_first = pairs = 0
    for seed in range(20):
        times = _schedule(seed, 3, 40)
        partitions, clocks = times["start-partition"], times["start-clock"]
        assert partitions == [3.0 + 6 * j for j in range(len(partitions))]
        assert [round(stop - start, 6) for start, stop in zip(clocks, times["stop-clock"])] == [3.0] * len(clocks)
        for j, start in enumerate(clocks):  # within half an interval of the partition it overlaps
            assert abs(start - partitions[j]) <= 1.5
        clock_first += sum(c < p for c, p in zip(clocks, partitions))
        pairs += min(len(clocks), len(partitions))
    assert 0.3 < clock_first / pairs < 0.7  # either order happens (some bugs need the clock fault first)
    assert _schedule(7, 3, 40) == _schedule(7, 3, 40)  # a replayed run has the same timetable


def test_packet_faults_lag_half_an_interval_behind_while_clock_faults_move_around():
    gen = fault_schedule([({"f": "start-partition"}, {"f": "stop-partition"})], 2, random.Random(3),
                         background=[({"f": "start-packet"}, {"f": "stop-packet"}),
                                     ({"f": "start-clock"}, {"f": "stop-clock"})])
    times: dict[str, list[float]] = {}
    for _ in range(30):
        o, gen = gen.op(Context(time=0, seed=0, threads=("nemesis",), free=frozenset({"nemesis"})))
        times.setdefault(o.f, []).append(o.time / 1e9)
    assert times["start-packet"][:3] == [3.0, 7.0, 11.0] and times["stop-packet"][:3] == [5.0, 9.0, 13.0]
    assert times["start-clock"][:3] != [3.0, 7.0, 11.0]  # its own random phase


def _schedule(seed: int, interval: float, n: int) -> dict[str, list[float]]:
    gen = fault_schedule([({"f": "start-partition"}, {"f": "stop-partition"})], interval, random.Random(seed),
                         background=[({"f": "start-clock"}, {"f": "stop-clock"})])
    times: dict[str, list[float]] = {}
    for _ in range(n):
        o, gen = gen.op(Context(time=0, seed=0, threads=("nemesis",), free=frozenset({"nemesis"})))
        times.setdefault(o.f, []).append(o.time / 1e9)
    return times


# ---- lose-unsynced ------------------------------------------------------------------------------


class LazyNode(SimNode):
    def __init__(self, *a):
        super().__init__(*a)
        self.drops = 0

    def exec(self, cmd, check=True, timeout=None):
        self.commands.append(cmd)
        if "kill -USR1" in cmd:
            self.drops += 1
            return Result(0, json.dumps({"drops": self.drops, "last_bytes": 100, "last_files": 1}) + "\n")
        return Result(0, "")


class KillRecorder:
    def __init__(self):
        self.calls = []

    def kill(self, node, at=None):
        self.calls.append(("kill", node.name))

    def start(self, node):
        self.calls.append(("start", node.name))


def test_a_power_cut_on_lazyfs_drops_each_node_after_killing_it_and_records_the_loss():
    cluster = SimCluster()
    cluster.hosts = [LazyNode(cluster, h.name, h.ip) for h in cluster.hosts]
    nodes = [Node(h.name, h.ip, ("127.0.0.1", 9000 + i), h) for i, h in enumerate(cluster.hosts)]
    system = KillRecorder()
    n = lazyfs.LoseUnsyncedNemesis(system, nodes, random.Random(1), ["/var/lib/raftkv"])
    value = n.invoke(op("power-cut")).value
    assert value["filesystem"] == "lazyfs" and value["together"] is True
    assert value["lost"] == {h.name: {"bytes": 100, "files": 1} for h in cluster.hosts}
    for h in cluster.hosts:
        (drop,) = [c for c in h.commands if "kill -USR1" in c]
        assert "/run/rj/lazyfs-0.pid" in drop
    assert sorted(system.calls) == [("kill", "n1"), ("kill", "n2"), ("kill", "n3")]
    assert "lost" not in n.invoke(op("power-on")).value


def test_only_lose_unsynced_asks_for_fuse_privileges():
    assert prepare.privileges(["power-cut", "clock"]) == ((), ())
    assert prepare.privileges(["lose-unsynced"]) == (("SYS_ADMIN",), ("/dev/fuse",))


def test_lose_unsynced_needs_data_directories():
    with pytest.raises(UsageError, match="data directories"):
        lazyfs.LoseUnsyncedNemesis(KillRecorder(), SimCluster().nodes, random.Random(1), [])


def test_the_spec_refuses_a_clock_fault_for_a_system_libfaketime_cannot_reach(monkeypatch):
    go_like = replace(RAFTKV, name="go-like", clock_via_libc=False, data_dirs=())
    monkeypatch.setitem(systems._REGISTERED, "go-like", go_like)
    with pytest.raises(UsageError, match="libfaketime cannot reach"):
        build({"system": "go-like", "nemesis": "clock"})
    with pytest.raises(UsageError, match="names no data directories"):
        build({"system": "go-like", "nemesis": "lose-unsynced"})
    build({"system": "raftkv", "nemesis": "clock,lose-unsynced,packet"})  # raftkv can take them all
