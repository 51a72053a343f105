"""raftkv, the Raft key-value node bundled with raft-jepsen (node_image/raftkv): everything the
harness knows of it, in one module.

The node runs inside its container (or on an SSH host) as one process under a pid file
(`Daemon`), never as PID 1. It is started with `--simulate-page-cache`, so a `kill -9` loses
exactly what a power cut would: what the node wrote but never fsynced. Its clients speak the
raft-jepsen client protocol (`clients.protocol`); its bug switches are the node's own list
(`raftkv/bugs.py`, shipped with this package); its node log is one JSON object per line, of
which the `role` events give the report's leader lane."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

from raft_jepsen.harness.clients import protocol
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.history import roles
from raft_jepsen.harness.history.roles import ROLES, Digest, NodeStatus, RoleChange
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client, Setup, SystemKind, SystemOption
from raft_jepsen.harness.systems.daemon import Daemon
from raft_jepsen.node_image.raftkv.bugs import BUGS

RAFT_PORT = 7000
CLIENT_PORT = 8000
PID_FILE = "/run/rj/node.pid"
LOG_FILE = "/var/log/rj/node.log"
DATA_DIR = "/var/lib/raftkv"
CODE_DIR = "/opt/raftkv"
DIGEST_WAIT_S = 5.0  # for the nodes to reach one applied index once healed and recovered
SNAPSHOT_EVERY = 10000  # the node's own default: compact the log after this many applied entries


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"expected a whole number of entries (0: never), got {text!r}")
    return int(text)
# How long one membership change may take, refusals (`change-in-progress`, no leader) retried
# meanwhile: a few elections' worth.
CHANGE_DEADLINE_S = 5.0
# Replies that say the change did not happen yet, and may once the cluster settles.
_RETRYABLE = ("change-in-progress", "not-leader", "transferring", "timeout", "lost-leadership")


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


class RaftKV:
    """System adapter for raftkv: Killable, Pausable, HasPrimaries, HasSnapshots, HasLogs,
    HasRoleLog, HasStatus, HasDigests, HasMembership."""

    def __init__(self, setup: Setup):
        self.nodes = list(setup.nodes)
        self.bugs = list(setup.bugs)
        self.client_retries = setup.client_retries
        self.simulate_page_cache = setup.options.get("simulate-page-cache", True)
        self.snapshot_every = setup.options.get("snapshot-every", SNAPSHOT_EVERY)
        self.daemon = Daemon(name="raftkv", pid_file=PID_FILE, log_file=LOG_FILE, port=CLIENT_PORT,
                             env={"PYTHONPATH": CODE_DIR})

    def setup(self, node: Node) -> None:
        """A fresh node: no process, no data, an empty log; then start it."""
        self.teardown(node)
        node.remote.exec(f"mkdir -p {DATA_DIR} /run/rj /var/log/rj && : > {LOG_FILE}")
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.daemon.forget(node)  # SIGKILL ends a stopped process too; then its pid files go
        # Emptied, not removed: it may be a mount point (the lose-unsynced fault's filesystem).
        node.remote.exec(f"mkdir -p {DATA_DIR} && find {DATA_DIR} -mindepth 1 -delete")

    def client(self, node: Node) -> Client:
        return ProtocolClient({n.name: n.client_addr for n in self.nodes}, retries=self.client_retries)

    def kill(self, node: Node, at: float | None = None) -> None:
        self.daemon.kill(node, at)

    def start(self, node: Node) -> None:
        self.daemon.start(node, self.command(node))

    def pause(self, node: Node) -> None:
        self.daemon.pause(node)

    def resume(self, node: Node) -> None:
        self.daemon.resume(node)

    def primaries(self, nodes: list[Node]) -> list[str]:
        """The nodes reporting role leader at the highest term any leader reports. Nodes that do
        not answer (killed, paused, cut off) simply do not count."""
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            statuses = list(pool.map(status, nodes))
        leaders = [(s["term"], n.name) for n, s in zip(nodes, statuses) if s and s.get("role") == "leader"]
        if not leaders:
            return []
        top = max(term for term, _ in leaders)
        return sorted(name for term, name in leaders if term == top)

    def log_position(self, node: Node) -> tuple[int, int] | None:
        s = status(node)
        if not s or not isinstance(s.get("last_index"), int) or not isinstance(s.get("snapshot_index"), int):
            return None
        return s["last_index"], s["snapshot_index"]

    def status(self, node: Node) -> NodeStatus | None:
        return _node_status(node.name, protocol.status(node.client_addr, 1.0, terms=True))

    def digests(self, nodes: list[Node]) -> dict[str, Digest | None]:
        """Waits (up to DIGEST_WAIT_S) until every answering node has applied all it knows
        committed, at one index, then asks each for the digest of its state: nodes caught up
        with each other must agree. A node that does not answer, or is at another index, is
        still reported at its own point (the checker compares only nodes at the same one)."""
        deadline = time.monotonic() + DIGEST_WAIT_S
        while True:
            with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
                seen = list(pool.map(status, nodes))
            points = {(s.get("last_applied"), s.get("commit_index")) for s in seen if s}
            settled = len(points) == 1 and len({a for a, c in points if a == c}) == 1
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            replies = list(pool.map(lambda n: protocol.status(n.client_addr, 1.0, digest=True), nodes))
        out: dict[str, Digest | None] = {}
        for node, reply in zip(nodes, replies):
            ok = reply and isinstance(reply.get("digest"), str) and isinstance(reply.get("last_applied"), int)
            out[node.name] = Digest(at=reply["last_applied"], digest=reply["digest"]) if ok else None
        return out

    def members(self, nodes: list[Node]) -> list[str]:
        """The voting members as the leader of the highest term says: its latest configuration
        entry, committed or not (`members_committed` tells which)."""
        return self.members_committed(nodes)[0]

    def members_committed(self, nodes: list[Node]) -> tuple[list[str], bool]:
        """(members, committed): the leader's latest configuration and whether it has committed
        it. EnvironmentProblem when no node leads."""
        leader = self._leader_status(nodes)
        if leader is None:
            raise EnvironmentProblem("no leader to say what the configuration is")
        return sorted(leader["members"]), leader.get("config_index", 0) <= leader.get("commit_index", 0)

    def remove_member(self, nodes: list[Node], node: Node) -> None:
        """Remove `node` through the leader; done once the leader says the configuration without
        it is committed. The node is left running: one that learns of its removal never
        campaigns, one cut off from it still believes it is a member, as in a real cluster."""
        self._change(nodes, {"op": "remove", "value": node.name}, lambda members: node.name not in members)

    def add_member(self, nodes: list[Node], node: Node) -> None:
        """The removed machine brought back with its disk (started if it is not running), then
        added through the leader; done once the configuration with it is committed.

        Not a wiped machine under the same name: raftkv names a server by its id, and a wiped
        server forgets the vote it cast in the current term, so a stale candidate could win a term
        that already has a leader with its second vote (seen: two leaders in term 19 on correct
        raftkv); and while it waits, wiped, for a leader to send it a configuration it cannot help
        elect one (seen: 79 s without a leader when two re-added servers were in the latest
        configuration). Real clusters give a replaced machine a new identity (etcd: a new member
        id); raftkv has none to give."""
        self.start(node)
        if node.name in self._committed_members(nodes):
            return  # its removal never committed: it is still a member
        self._change(nodes, {"op": "add", "value": {"id": node.name, "addr": f"{node.ip}:{RAFT_PORT}"}},
                     lambda members: node.name in members)

    def _committed_members(self, nodes: list[Node]) -> list[str]:
        deadline = time.monotonic() + CHANGE_DEADLINE_S
        while time.monotonic() < deadline:
            leader = self._leader_status(nodes)
            if leader is not None and leader.get("config_index", 0) <= leader.get("commit_index", 0):
                return sorted(leader["members"])
            time.sleep(0.1)
        raise EnvironmentProblem(f"no leader with a committed configuration within {CHANGE_DEADLINE_S:g} s")

    def _change(self, nodes: list[Node], req: dict, done) -> None:
        """Send `req` to the leader until the leader's committed configuration satisfies `done`;
        EnvironmentProblem after CHANGE_DEADLINE_S (the change may still happen)."""
        deadline = time.monotonic() + CHANGE_DEADLINE_S
        last = "no leader"
        while time.monotonic() < deadline:
            leader = self._leader_status(nodes)
            if leader is None:
                time.sleep(0.1)
                continue
            committed = leader.get("config_index", 0) <= leader.get("commit_index", 0)
            if done(leader["members"]) and committed:
                return
            if done(leader["members"]):
                time.sleep(0.05)  # appended, not yet committed
                continue
            addr = next(n.client_addr for n in nodes if n.name == leader["node"])
            reply = protocol.request(addr, req, timeout=3.0)
            if reply is None or reply.get("ok"):
                continue  # read the outcome back from the leader
            last = str(reply.get("error"))
            if last not in _RETRYABLE and last != "not-a-member":
                raise EnvironmentProblem(f"raftkv {req['op']} refused: {last}")
            time.sleep(0.1)
        raise EnvironmentProblem(f"raftkv {req['op']} not committed within {CHANGE_DEADLINE_S:g} s (last: {last})")

    def _leader_status(self, nodes: list[Node]) -> dict | None:
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            statuses = list(pool.map(status, nodes))
        leaders = [s for s in statuses if s and s.get("role") == "leader" and isinstance(s.get("members"), list)]
        return max(leaders, key=lambda s: s["term"]) if leaders else None

    def log_files(self, node: Node) -> list[str]:
        return [LOG_FILE]

    def role_changes(self, node: str, lines: Iterable[str]) -> Iterator[RoleChange]:
        """The node log's `role` events: `{"ts": <epoch s>, "node": "n1", "event": "role",
        "term": 3, "role": "leader", "leader": "n1"}`. A node killed mid-write leaves a torn last
        line, which is skipped."""
        for line in lines:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if not isinstance(d, dict) or d.get("event") != "role" or not isinstance(d.get("ts"), (int, float)):
                continue
            role = d.get("role")
            yield RoleChange(
                time=round(d["ts"] * 1e9),
                node=str(d.get("node", node)),
                role=role if role in ROLES else "follower",
                term=d.get("term") if isinstance(d.get("term"), int) else None,
                leader=d.get("leader") if isinstance(d.get("leader"), str) else None,
            )

    def command(self, node: Node) -> list[str]:
        """The node's command line. Peers are addressed by IP: container hostnames are not
        necessarily resolvable by other containers, and grudges are IP based anyway."""
        peers = ",".join(f"{n.name}={n.ip}:{RAFT_PORT}" for n in self.nodes)
        cmd = ["python3", "-m", "raftkv", "--id", node.name, "--peers", peers, "--data", DATA_DIR]
        cmd += ["--client-port", str(CLIENT_PORT)]
        for bug in self.bugs:
            cmd += ["--bug", bug]
        if self.simulate_page_cache:
            cmd.append("--simulate-page-cache")
        if self.snapshot_every != SNAPSHOT_EVERY:
            cmd += ["--snapshot-every", str(self.snapshot_every)]
        return cmd


def status(node: Node, timeout: float = 1.0) -> dict | None:
    """The node's `status` reply fields, or None when it does not answer in time."""
    return protocol.status(node.client_addr, timeout)


def _node_status(name: str, reply: dict | None) -> NodeStatus | None:
    if reply is None:
        return None

    def integer(key: str) -> int | None:
        v = reply.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    started = reply.get("started")
    return NodeStatus(
        time=time.time_ns(),  # the harness's clock, as the history's: the node's may be faked
        node=name,
        role=reply.get("role") if reply.get("role") in ROLES else None,
        term=integer("term"),
        leader=reply.get("leader") if isinstance(reply.get("leader"), str) else None,
        commit_index=integer("commit_index"),
        applied_index=integer("last_applied"),
        commit_term=integer("commit_term"),
        last_index=integer("last_index"),
        started=round(started * 1e9) if isinstance(started, (int, float)) and not isinstance(started, bool) else None,
        commit_terms=roles.term_runs(reply.get("commit_terms")),
    )


KIND = SystemKind(
    name="raftkv",
    about="the bundled Raft key-value node, with switches that reproduce real designs' flaws (--bug)",
    adapter=RaftKV,
    client_port=CLIENT_PORT,
    peer_port=RAFT_PORT,
    workloads=("register", "kv", "append", "set"),
    bugs=BUGS,
    data_dirs=(DATA_DIR,),
    pre_vote=True,
    options={
        "simulate-page-cache": SystemOption(
            _flag, True, "keep unsynced writes in memory, so that kill -9 loses them as a power cut would"),
        "snapshot-every": SystemOption(
            _count, SNAPSHOT_EVERY, "snapshot and compact the log after this many applied entries (0: never); "
            "partition-snapshot needs it low enough for the run's writes, e.g. 200"),
    },
)
