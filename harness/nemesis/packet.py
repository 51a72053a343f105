"""Packet faults between chosen nodes: delay with jitter, steady latency, reordering, duplication,
loss.

`start-packet` draws a shape (one of the configured kinds) and a node spec (`latency` always takes
every node: it stands for a cluster spread over regions, not one slow link); the links touched are
every link between a chosen node and any other node, in both directions. `stop-packet` heals.
How each shape is made depends on the kernel, detected on every node at setup:

- loss: `iptables -m statistic --mode random` DROP on INPUT at both ends of each link (dropping
  at the receiver: a sender's local drop is reported to TCP, which would just retry);
- delay, latency, reorder, duplicate: `tc netem` under an HTB class that only the peers' addresses are
  filtered into, when every node's kernel has `sch_netem`; otherwise `nfqueue`: the link's
  packets go from OUTPUT to an NFQUEUE that a userspace handler in the node holds and releases
  (`rjtools.netqueue`). Which one was used is recorded as `mechanism`.

Every start and stop is proven by measurement: from each chosen node, `rjtools.probe` sends
numbered UDP datagrams to every peer's echo server and reports round-trip times, losses,
reorderings and duplicates per link. The recorded value:

    {"kind": "delay", "target": "one", "nodes": ["n2"], "mechanism": "nfqueue",
     "params": {"delay_ms": 80, "jitter_ms": 20}, "baseline_rtt_ms": 0.3,
     "measured": {"n2->n1": {"sent": 40, "received": 40, "duplicates": 0, "reordered": 0,
                             "rtt_ms": {"p50": 171.2, "p90": 190.5, "max": 201.0}}, ...},
     "applied_ms": 320, "verified_ms": 1210}

A link whose measurement does not show the shape (the delay not in the round trip, no loss
seen, ...) leaves `verified_ms: null` and names it in `unproven`; a heal that leaves rules
behind names them in `leftover`. Packet faults on TCP reach a program only as delay and stalls:
TCP puts segments back in order and drops duplicates, so a reordered or duplicated packet never
reorders or duplicates a message of a TCP protocol (raftkv's or etcd's)."""

from __future__ import annotations

import json
import random
import shlex
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Mapping, Sequence

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import tools
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nemesis.targets import NoTarget, resolve
from raft_jepsen.harness.nodes import Node

QUEUE_CHAIN = "RJQ"  # OUTPUT -> NFQUEUE, for the queued shapes
LOSS_CHAIN = "RJL"  # INPUT -> random DROP
QUEUE_NUM = 7
MARK = 0x524A  # the handler's duplicates carry it, so they are not queued again
ECHO_PORT = 7999  # UDP, the probes' echo servers
TARGETS = ("one", "minority", "majority", "leader", "all")
WEIGHTS = {"leader": 2, "all": 2}
NFQUEUE, NETEM, STATISTIC = "nfqueue", "netem", "iptables-statistic"


@dataclass(frozen=True)
class Shape:
    delay_ms: float = 0
    jitter_ms: float = 0
    reorder: float = 0  # share of packets sent at once; the rest is held reorder_ms
    reorder_ms: float = 0
    duplicate: float = 0
    loss: float = 0  # dropped at each receiving end

    def params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}

    def hold_ms(self) -> float:
        """The longest one direction holds a packet, near enough."""
        return max(self.delay_ms + 3 * self.jitter_ms, self.reorder_ms)


# Jepsen's defaults in spirit (net.clj: delay 50 ms ± 10, 20% loss), scaled to raftkv's 300 ms
# election timeout: a round trip of ~2 x 80 ms slows replication without deposing a leader.
SHAPES: dict[str, Shape] = {
    "delay": Shape(delay_ms=80, jitter_ms=20),
    "reorder": Shape(reorder=0.5, reorder_ms=60),
    "duplicate": Shape(duplicate=0.3),
    "loss": Shape(loss=0.2),
    # A cluster spread over regions: every message takes ~100 ms each way, give or take a few.
    # Steady on purpose: followers that lose the same leader heard its last heartbeat at nearly the
    # same moment, and a split vote repeats while their timers fire closer together than a
    # message takes to arrive, so equal election timeouts (`fixed-timeout`) split round after
    # round, where randomized ones (300-600 ms) break the tie in a round or two. A heartbeat
    # (every 50 ms) still arrives well inside raftkv's 300 ms timeout, and the leader's lease is
    # kept by replies every 50 ms, however late each is: correct raftkv keeps its leader.
    "latency": Shape(delay_ms=100, jitter_ms=2),
}
# The node spec a shape always takes, instead of one drawn from the nemesis's targets.
TARGET_OF = {"latency": "all"}


def kinds_named(names: Sequence[str]) -> list[str]:
    """The packet shapes a spec's nemesis names ask for (`packet` = all of them)."""
    return [k for k in SHAPES if "packet" in names or f"packet-{k}" in names]


def mechanism(kind: str, netem_everywhere: bool) -> str:
    if kind == "loss":
        return STATISTIC
    return NETEM if netem_everywhere else NFQUEUE


def peers_of(names: Sequence[str], chosen: Sequence[str]) -> dict[str, list[str]]:
    """For every node, the peers whose link to it is faulted: a chosen node's links to everyone,
    an unchosen node's links to the chosen ones."""
    chosen_set = set(chosen)
    return {n: sorted(p for p in names if p != n and (n in chosen_set or p in chosen_set)) for n in names}


def rules(shape: Shape, mech: str, peer_ips: Sequence[str]) -> str:
    """The iptables-restore input that makes this node's chains exactly this fault."""
    lines = ["*filter", f":{QUEUE_CHAIN} - [0:0]", f":{LOSS_CHAIN} - [0:0]"]
    if peer_ips and mech == NFQUEUE:
        lines.append(f"-A {QUEUE_CHAIN} -d {','.join(peer_ips)} -m mark ! --mark {MARK:#x}"
                     f" -j NFQUEUE --queue-num {QUEUE_NUM} --queue-bypass")
    if peer_ips and mech == STATISTIC:
        lines.append(f"-A {LOSS_CHAIN} -s {','.join(peer_ips)} -m statistic --mode random"
                     f" --probability {shape.loss:g} -j DROP")
    return "\n".join(lines + ["COMMIT", ""])


def iptables_command(restore: str) -> str:
    jumps = [("OUTPUT", QUEUE_CHAIN), ("INPUT", LOSS_CHAIN)]
    ensure = " && ".join(f"{{ iptables-nft -w -C {hook} -j {chain} 2>/dev/null || iptables-nft -w -I {hook} 1 -j {chain}; }}"
                         for hook, chain in jumps)
    return f"printf %s {shlex.quote(restore)} | iptables-nft-restore -w --noflush && {ensure}"


def _device(peer_ip: str) -> str:
    return f"dev=$(ip -o route get {peer_ip} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')"


def netem_args(shape: Shape) -> str:
    if shape.reorder_ms:
        return f"delay {shape.reorder_ms:g}ms reorder {shape.reorder * 100:g}%"
    if shape.delay_ms:
        return f"delay {shape.delay_ms:g}ms {shape.jitter_ms:g}ms distribution normal"
    return f"duplicate {shape.duplicate * 100:g}%"


def netem_command(shape: Shape, peer_ips: Sequence[str]) -> str:
    """An HTB root whose default class passes everything untouched, and a second class with a
    netem leaf that only the peers' addresses are filtered into (Jepsen's `shape!`, with HTB
    in place of prio)."""
    filters = "\n".join(f"tc filter add dev $dev parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid 1:2"
                        for ip in peer_ips)
    return f"""set -e
{_device(peer_ips[0])}
tc qdisc replace dev $dev root handle 1: htb default 1
tc class replace dev $dev parent 1: classid 1:1 htb rate 10gbit
tc class replace dev $dev parent 1: classid 1:2 htb rate 10gbit
tc qdisc replace dev $dev parent 1:2 handle 20: netem {netem_args(shape)}
{filters}"""


def detect_command(any_peer_ip: str) -> str:
    """Prints `netem` when this kernel can make a netem qdisc (probed with a zero delay, then
    removed), else `none`: the container cannot load the module itself."""
    return (f"{_device(any_peer_ip)}; if tc qdisc add dev $dev root netem delay 0ms 2>/dev/null;"
            " then tc qdisc del dev $dev root; echo netem; else echo none; fi")


def queue_args(shape: Shape) -> list[str]:
    return ["--queue", str(QUEUE_NUM), "--delay-ms", f"{shape.delay_ms:g}", "--jitter-ms", f"{shape.jitter_ms:g}",
            "--reorder", f"{shape.reorder:g}", "--reorder-ms", f"{shape.reorder_ms:g}",
            "--duplicate", f"{shape.duplicate:g}", "--mark", f"{MARK:#x}",
            "--stats", f"{tools.RUN_DIR}/netqueue.json", "--ready", tools.ready_file("netqueue")]


def heal_command(any_peer_ip: str | None) -> str:
    """Empty both chains, stop the handler, remove a netem root; then print every rule of ours
    still in either backend (rules added through iptables-legacy survive an nft flush)."""
    empty = rules(Shape(), NFQUEUE, ())
    qdisc = f"{_device(any_peer_ip)}; tc qdisc del dev $dev root 2>/dev/null || true" if any_peer_ip else ":"
    return f"""{tools.stop_command("netqueue")}
{iptables_command(empty)} || exit 1
{qdisc}
{{ iptables-nft-save -t filter; iptables-legacy-save -t filter 2>/dev/null; }} | grep -E '^-A ({QUEUE_CHAIN}|{LOSS_CHAIN}) ' || true"""


def remove_command() -> str:
    """Take both chains and their jumps away (after a heal): a real host is left with the
    firewall it had. Prints whatever of them is still there."""
    parts = []
    for hook, chain in (("OUTPUT", QUEUE_CHAIN), ("INPUT", LOSS_CHAIN)):
        parts.append(f"while iptables-nft -w -C {hook} -j {chain} 2>/dev/null; do iptables-nft -w -D {hook} -j {chain} || exit 1; done")
        parts.append(f"if iptables-nft -w -n -L {chain} >/dev/null 2>&1; then iptables-nft -w -F {chain} && iptables-nft -w -X {chain} || exit 1; fi")
    check = f"iptables-nft-save -t filter | grep -E '^:({QUEUE_CHAIN}|{LOSS_CHAIN}) |-j ({QUEUE_CHAIN}|{LOSS_CHAIN})$' || true"
    return "; ".join(parts) + "; " + check


def probe_command(peer_ips: Sequence[str], wait_ms: float, count: int = 40) -> str:
    return ("PYTHONPATH=" + tools.TOOLS_DIR + " python3 -m rjtools.probe measure "
            + shlex.join(["--port", str(ECHO_PORT), "--count", str(count), "--interval-ms", "5",
                          "--wait-ms", f"{wait_ms:g}", *peer_ips]))


def shows(kind: str, shape: Shape, baseline_ms: float, m: Mapping) -> bool:
    """Whether one link's measurement shows the fault in effect."""
    if kind == "loss":
        return m["received"] < m["sent"]
    if kind == "duplicate":
        return m["duplicates"] > 0
    if kind == "reorder":
        return m["reordered"] > 0
    return m["rtt_ms"] is not None and m["rtt_ms"]["p50"] >= baseline_ms + shape.delay_ms


def healed(kind: str, shape: Shape, baseline_ms: float, m: Mapping) -> bool:
    """Whether one link's measurement after a heal shows the fault gone."""
    if kind in ("delay", "latency", "reorder"):
        return m["rtt_ms"] is not None and m["rtt_ms"]["p50"] < baseline_ms + max(shape.delay_ms, shape.reorder_ms) / 2
    if kind == "duplicate":
        return m["duplicates"] == 0
    return m["received"] > 0  # a loss of 20% at each end cannot be told from 0 in 20 datagrams; a cut can


class PacketNemesis:
    fs = frozenset({"start-packet", "stop-packet"})

    def __init__(self, nodes: list[Node], kinds: Sequence[str], rng: random.Random,
                 primaries: Callable[[], list[str]] = list, targets: Sequence[str] = TARGETS):
        unknown = [k for k in kinds if k not in SHAPES]
        if unknown or not kinds:
            raise UsageError(f"unknown packet fault {unknown[0] if unknown else None!r} (expected {', '.join(SHAPES)})")
        self.nodes = {n.name: n for n in nodes}
        self.ips = {n.name: n.ip for n in nodes}
        self.kinds = list(kinds)
        self.rng = rng
        self.primaries = primaries
        self.targets = list(targets)
        self.weights = [WEIGHTS.get(t, 1) for t in self.targets]
        self.netem = False
        self.baseline_ms = 0.0
        self.current: dict | None = None  # the fault in force: kind, shape, peers per node

    def setup(self) -> None:
        self._heal_all()
        any_ip = self._any_peer_ip()
        found = on_each(self.nodes.values(), lambda node: tools.run(node, detect_command(any_ip[node.name]),
                                                                    "netem probe").strip())
        self.netem = len(found) > 1 and all(v == "netem" for v in found.values())
        on_each(self.nodes.values(), lambda node: tools.run(node, tools.start_command(
            "probe-echo", "probe", ["echo", "--port", str(ECHO_PORT), "--ready", tools.ready_file("probe-echo")]),
            "probe echo server"))
        baseline = self._measure(peers_of(list(self.ips), list(self.ips)), 200, count=10)
        p50s = sorted(m["rtt_ms"]["p50"] for m in baseline.values() if m["rtt_ms"])
        self.baseline_ms = p50s[len(p50s) // 2] if p50s else 0.0

    def invoke(self, op: Op) -> Op:
        started = time.monotonic()
        if op.f == "start-packet":
            value = self._start(started)
        elif op.f == "stop-packet":
            value = self._stop(started)
        else:
            raise UsageError(f"the packet nemesis cannot do {op.f!r}")
        return replace(op, value=value)

    def teardown(self) -> None:
        leftover = self._heal_all()
        on_each(self.nodes.values(), lambda node: tools.run(node, tools.stop_command("probe-echo"), "probe echo stop"))
        removed = on_each(self.nodes.values(), lambda node: tools.run(node, remove_command(), "iptables chain removal"))
        leftover.update({n: out.split("\n") for n, out in removed.items() if out.strip()})
        if leftover:
            raise EnvironmentProblem(f"packet fault heal not verified: rules left {leftover}")

    # ---- the fault ----------------------------------------------------------------------

    def _start(self, started: float) -> dict:
        if self.current is not None:
            self._heal_all()
        kind = self.rng.choice(self.kinds)
        shape = SHAPES[kind]
        spec = TARGET_OF.get(kind) or self.rng.choices(self.targets, self.weights)[0]
        mech = mechanism(kind, self.netem)
        value: dict = {"kind": kind, "target": spec, "mechanism": mech, "params": shape.params(),
                       "baseline_rtt_ms": self.baseline_ms}
        try:
            chosen = value["nodes"] = resolve(spec, list(self.nodes), self.rng, self.primaries)
        except NoTarget as e:
            return {**value, "nodes": [], "skipped": str(e)}
        peers = peers_of(list(self.nodes), chosen)
        on_each([self.nodes[n] for n in peers if peers[n]], lambda node: self._install(node, shape, mech, peers[node.name]))
        self.current = {"kind": kind, "shape": shape, "peers": peers, "chosen": chosen}
        value["applied_ms"] = _elapsed_ms(started)
        measured = self._measure({n: peers[n] for n in chosen}, 2 * shape.hold_ms() + 300)
        value["measured"] = measured
        unproven = sorted(link for link, m in measured.items() if not shows(kind, shape, self.baseline_ms, m))
        if unproven:
            return {**value, "verified_ms": None, "unproven": unproven}
        return {**value, "verified_ms": _elapsed_ms(started)}

    def _stop(self, started: float) -> dict:
        current, self.current = self.current, None
        leftover = self._heal_all()
        value: dict = {"applied_ms": _elapsed_ms(started)}
        if leftover:
            value["leftover"] = leftover
        if current is None:
            return {**value, "verified_ms": _elapsed_ms(started)}
        kind, shape = current["kind"], current["shape"]
        measured = self._measure({n: current["peers"][n] for n in current["chosen"]}, 300, count=20)
        value.update(kind=kind, nodes=current["chosen"], measured=measured)
        unhealed = sorted(link for link, m in measured.items() if not healed(kind, shape, self.baseline_ms, m))
        if unhealed or leftover:
            return {**value, "verified_ms": None, "unproven": unhealed}
        return {**value, "verified_ms": _elapsed_ms(started)}

    def _install(self, node: Node, shape: Shape, mech: str, peers: list[str]) -> None:
        ips = [self.ips[p] for p in peers]
        if mech == NFQUEUE:
            tools.run(node, tools.start_command("netqueue", "netqueue", queue_args(shape)), "packet queue")
        elif mech == NETEM:
            tools.run(node, netem_command(shape, ips), "tc netem")
        tools.run(node, iptables_command(rules(shape, mech, ips)), "iptables")

    def _heal_all(self) -> dict[str, list[str]]:
        any_ip = self._any_peer_ip()
        left = on_each(self.nodes.values(), lambda node: tools.run(
            node, heal_command(any_ip[node.name] if self.netem else None), "packet heal").split("\n"))
        return {n: [line for line in lines if line] for n, lines in left.items() if any(lines)}

    def _any_peer_ip(self) -> dict[str, str]:
        return {n: next((ip for p, ip in self.ips.items() if p != n), "127.0.0.1") for n in self.ips}

    def _measure(self, peers: Mapping[str, list[str]], wait_ms: float, count: int = 40) -> dict[str, dict]:
        """Each node probes its peers, all at once; by link `a->b`."""
        by_ip = {ip: n for n, ip in self.ips.items()}
        probing = [self.nodes[n] for n in peers if peers[n]]

        def probe(node: Node) -> dict:
            out = tools.run(node, probe_command([self.ips[p] for p in peers[node.name]], wait_ms, count), "probe")
            try:
                return json.loads(out)
            except ValueError:
                raise EnvironmentProblem(f"{node.name}: probe printed {out.strip()[:200]!r}") from None

        results = on_each(probing, probe)
        return {f"{n}->{by_ip[ip]}": m for n, per_ip in sorted(results.items()) for ip, m in sorted(per_ip.items())}


def _elapsed_ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)
