"""etcd 3.4 (Debian's etcd-server, in the node image) as a system under test: `raft-jepsen run
--system etcd`. The first system here that raft-jepsen did not write. docs/etcd.md is its guide.

Each node runs one etcd member under a pid file (`Daemon`), a static cluster of all the nodes
with a token of its own (member IDs are a hash of the peer URLs and the token, so a token per run
keeps runs apart). A member keeps its data directory across kill -9 and restarts with the same
command line: etcd ignores the `--initial-*` flags once it has a WAL. Timeouts suit a loaded
2-core machine: heartbeat 200 ms, election 2000 ms (etcd's defaults are 100 and 1000), so etcd's
request timeout is 5 s + 2 × 2 s = 9 s, above the client's 5 s.

What the harness reads of it:
- who leads: `/v3/maintenance/status` of every member, the highest raft term's word (Jepsen's
  way: a member's `leader` is only its local view);
- the leader lane: raft's own log lines ("… became leader at term 3", "raft.node: … elected
  leader … at term 3"), member IDs mapped to node names;
- state agreement: `HashKV` of every member at one revision (the lowest any member is at), as
  etcd's robustness tests compare them;
- membership: member remove → kill → wipe; wipe → member add → start with `existing`
  (runtime-configuration.md, "Replace a failed machine").

etcd is a Go binary: it reads the clock through the vDSO, so libfaketime (the clock faults)
cannot reach it."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shlex
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from raft_jepsen.harness.clients.etcd import EtcdClient, EtcdError, as_int
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.history.roles import Digest, NodeStatus, RoleChange
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client, Setup, SystemKind, SystemOption, choice
from raft_jepsen.harness.systems.daemon import Daemon

CLIENT_PORT = 2379
PEER_PORT = 2380
PID_FILE = "/run/rj/node.pid"
LOG_FILE = "/var/log/rj/etcd.log"
DATA_DIR = "/var/lib/etcd"  # the lose-unsynced fault mounts here: emptied, never removed
MEMBER_DIR = f"{DATA_DIR}/member-data"  # etcd's --data-dir, inside it
ELECTION_MS = 2000
SNAPSHOT_COUNT = 100  # Jepsen's: raft snapshots (and log compaction) happen often, and are exercised
# etcd 3.5 and later turn --pre-vote on by default (CHANGELOG-3.5, v3.5.0: "Turned on --pre-vote by
# default", etcd-io/etcd#12770); Debian's 3.4.23 still has it off, and without it lagging members on
# a partition's majority side keep resetting the up-to-date one with higher terms, and nobody leads
# until the heal (2 of 5 default runs failed the availability checker so). `pre-vote=false` keeps 3.4's.
PRE_VOTE = True
ASK_TIMEOUT_S = 1.0  # status, member list: a member that cannot say within this does not count
# Member add / remove, one attempt: above etcd's request timeout (9 s with our election timeout).
# A change etcd dropped never answers; its outcome is then read back (SETTLE_S).
CHANGE_TIMEOUT_S = 10.0
SETTLE_S = 60.0  # a membership change proposed again while its outcome reads back as not done
UNHEALTHY_WAIT_S = 15.0  # a membership change waits this long for etcd's 5 s of every voter connected
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WORKLOADS = ("register", "kv", "append", "set")


def _election_ms(text: str) -> int:
    """etcd accepts election timeouts up to 50 s (embed/config.go); the heartbeat is a tenth."""
    if not text.isdigit() or not 50 <= int(text) <= 50000:
        raise ValueError(f"expected milliseconds from 50 to 50000, got {text!r}")
    return int(text)


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def _count(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return int(text)


def member_id(peer_url: str, token: str) -> int:
    """The ID etcd gives a member of the initial cluster: the first 8 bytes of sha1(peer URLs +
    cluster token), big-endian (etcdserver/api/membership/member.go, newMember)."""
    return int.from_bytes(hashlib.sha1((peer_url + token).encode()).digest()[:8], "big")


def peer_url(node: Node) -> str:
    return f"http://{node.ip}:{PEER_PORT}"


class Etcd:
    """Killable, Pausable, HasPrimaries, HasStatus, HasLogs, HasRoleLog, HasDigests, HasMembership."""

    def __init__(self, setup: Setup):
        self.nodes = list(setup.nodes)
        self.options = dict(setup.options)
        self.client_retries = setup.client_retries
        self.election_ms = self.options.get("election-ms", ELECTION_MS)
        # A tenth of it, as etcd's tuning guide suggests (etcd wants at least 5 heartbeats per election).
        self.heartbeat_ms = max(1, self.election_ms // 10)
        self.token = f"rj-{secrets.token_hex(8)}"
        self.ids: dict[int, str] = {member_id(peer_url(n), self.token): n.name for n in self.nodes}
        # A member that joined a running cluster starts with that cluster's members: name -> flags.
        self.joined: dict[str, tuple[str, str]] = {}
        self.removed: set[str] = set()  # taken out of the configuration, data wiped: not to be started
        # etcd 3.4 refuses to start on arm64 unless told it may (etcdmain/etcd.go checkSupportArch);
        # on amd64 the variable is ignored.
        self.daemon = Daemon(name="etcd", pid_file=PID_FILE, log_file=LOG_FILE, port=CLIENT_PORT,
                             env={"ETCD_UNSUPPORTED_ARCH": "arm64"})

    # -- System --------------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """A fresh member: no process, no data, an empty log; then start it."""
        self.teardown(node)
        node.remote.exec(f"mkdir -p {DATA_DIR} /run/rj /var/log/rj && : > {LOG_FILE}")
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.daemon.forget(node)
        self._wipe(node)

    def client(self, node: Node) -> Client:
        return EtcdClient(serializable=self.options.get("reads") == "serializable", retries=self.client_retries)

    def command(self, node: Node) -> list[str]:
        """The member's command line, the same at every start (etcd ignores `--initial-*` once its
        data directory holds a WAL). Listen on every address; advertise the node's IP."""
        cluster, state = self.joined.get(node.name) or (
            ",".join(f"{n.name}={peer_url(n)}" for n in self.nodes), "new")
        return ["etcd", "--name", node.name, "--data-dir", MEMBER_DIR,
                "--listen-peer-urls", f"http://0.0.0.0:{PEER_PORT}",
                "--initial-advertise-peer-urls", peer_url(node),
                "--listen-client-urls", f"http://0.0.0.0:{CLIENT_PORT}",
                "--advertise-client-urls", f"http://{node.ip}:{CLIENT_PORT}",
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
                "--snapshot-count", str(self.options.get("snapshot-count", SNAPSHOT_COUNT)),
                "--pre-vote=" + ("true" if self.options.get("pre-vote", PRE_VOTE) else "false"),
                "--logger", "zap", "--log-outputs", "stderr"]

    # -- Killable, Pausable --------------------------------------------------------------------

    def kill(self, node: Node, at: float | None = None) -> None:
        self.daemon.kill(node, at)

    def start(self, node: Node) -> None:
        """Start the member; a removed one stays down (started on its wiped data it would try to
        bootstrap a cluster of its own) until `add_member` brings it back."""
        if node.name not in self.removed:
            self.daemon.start(node, self.command(node))

    def pause(self, node: Node) -> None:
        self.daemon.pause(node)

    def resume(self, node: Node) -> None:
        self.daemon.resume(node)

    # -- HasPrimaries, HasStatus ---------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[str]:
        """The members that say they lead, at the highest raft term any of them reports. Members
        that do not answer (killed, paused, cut off) do not count."""
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            replies = list(pool.map(lambda n: (n.name, ask(n, "/v3/maintenance/status")), nodes))
        # Ranked by the term of the last applied entry (all etcd 3.4 tells): a deposed leader that
        # still believes it leads has not applied the new leader's entries.
        leaders = [(as_int(r.get("raftTerm")), name) for name, r in replies
                   if r and as_int(r.get("leader")) and as_int(r.get("leader")) == as_int(r.get("header", {}).get("member_id"))]
        if not leaders:
            return []
        top = max(term for term, _ in leaders)
        return sorted(name for term, name in leaders if term == top)

    def status(self, node: Node) -> NodeStatus | None:
        reply = ask(node, "/v3/maintenance/status")
        if reply is None:
            return None
        me, leader = as_int(reply.get("header", {}).get("member_id")), as_int(reply.get("leader"))
        if me:
            self.ids.setdefault(me, node.name)
        return NodeStatus(
            time=time.time_ns(), node=node.name,
            role="leader" if leader and leader == me else "follower",
            # No term: etcd 3.4's `raftTerm` is the term of the last *applied* entry (server.go,
            # apply(): s.setTerm(e.Term)), not the current one, so it lags a leader change and
            # would pair a new leader with the old term (seen: "two leaders in term 2" on correct
            # etcd). The terms the invariants need come from raft's own log lines (role_changes).
            term=None,
            leader=self.ids.get(leader) if leader else None,
            commit_index=as_int(reply.get("raftIndex")),
            applied_index=as_int(reply.get("raftAppliedIndex")),
        )

    # -- HasLogs, HasRoleLog -------------------------------------------------------------------

    def log_files(self, node: Node) -> list[str]:
        return [LOG_FILE]

    def role_changes(self, node: str, lines: Iterable[str]) -> Iterator[RoleChange]:
        """Raft's own lines in the member's zap log (JSON, `ts` ISO 8601 to the ms, `msg`)."""
        for line in lines:
            try:
                d = json.loads(line)
                when = (datetime.fromisoformat(d["ts"]) - EPOCH) // timedelta(microseconds=1) * 1000
                msg = d["msg"]
            except (ValueError, KeyError, TypeError):
                continue
            change = _role_change(msg, node, self.ids)
            if change is not None:
                yield RoleChange(time=when, node=node, role=change[0], term=change[1], leader=change[2])

    # -- HasDigests ----------------------------------------------------------------------------

    def digests(self, nodes: list[Node]) -> dict[str, Digest | None]:
        """Every member's HashKV at the lowest revision any answering member is at (etcdctl in
        the node: the gateway has no HashKV route in 3.4). None for a member that cannot say."""
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            revisions = dict(zip((n.name for n in nodes), pool.map(_revision, nodes)))
            known = [r for r in revisions.values() if r is not None]
            if not known:
                return {n.name: None for n in nodes}
            at = min(known)
            hashes = dict(zip((n.name for n in nodes), pool.map(lambda n: _hashkv(n, at), nodes)))
        return {name: (Digest(at=at, digest=str(h)) if h is not None else None) for name, h in hashes.items()}

    # -- HasMembership -------------------------------------------------------------------------

    def members(self, nodes: list[Node]) -> list[str]:
        """The voting members, as the leader lists them, by node name (matched on peer URL)."""
        listing = self._member_list(nodes)
        by_url = {peer_url(n): n.name for n in nodes}
        return sorted(by_url.get((m.get("peerURLs") or [""])[0], m.get("name") or "?")
                      for m in listing if not m.get("isLearner"))

    def remove_member(self, nodes: list[Node], node: Node) -> None:
        """member remove (through a member other than `node`), then kill it and wipe its data:
        it may only come back as a new member."""
        listing = self._member_list(nodes)
        ours = [m for m in listing if peer_url(node) in (m.get("peerURLs") or [])]
        if not ours:
            raise EnvironmentProblem(f"{node.name}: not a member of the etcd cluster")
        reply = self._settle(nodes, node, "/v3/cluster/member/remove", {"ID": ours[0]["ID"]}, present=False)
        if any(peer_url(node) in (m.get("peerURLs") or []) for m in reply.get("members") or []):
            raise EnvironmentProblem(f"{node.name}: still listed after member remove")
        self.removed.add(node.name)
        self.daemon.forget(node)
        self._wipe(node)

    def add_member(self, nodes: list[Node], node: Node) -> None:
        """Wipe `node`, member add it (through the leader), start it with `--initial-cluster`
        naming every member and `--initial-cluster-state existing`."""
        self.daemon.forget(node)
        self._wipe(node)
        reply = self._settle(nodes, node, "/v3/cluster/member/add", {"peerURLs": [peer_url(node)]}, present=True)
        added = as_int((reply.get("member") or {}).get("ID"))
        if added:
            self.ids[added] = node.name
        by_url = {peer_url(n): n.name for n in self.nodes}
        entries = []
        for m in reply.get("members") or []:
            url = (m.get("peerURLs") or [""])[0]
            entries.append(f"{by_url.get(url) or m.get('name')}={url}")
        self.joined[node.name] = (",".join(sorted(entries)), "existing")
        self.removed.discard(node.name)
        self.start(node)

    def _settle(self, nodes: list[Node], node: Node, path: str, body: dict, *, present: bool) -> dict:
        """One membership change, its outcome read back when unknown. etcd's raft silently drops a
        conf change proposed while another is not yet applied (a new leader counts its whole log
        as such), and the request then waits out its timeout: the member list says whether it
        happened, and a change that did not is proposed again, until SETTLE_S."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                return self._change(self._via(nodes, besides=node), path, body)
            except EnvironmentProblem as e:
                if "outcome unknown" not in str(e) or time.monotonic() > deadline:
                    raise
            listing = self._member_list(nodes)
            ours = [m for m in listing if peer_url(node) in (m.get("peerURLs") or [])]
            if bool(ours) == present:  # it happened after all: answer as etcd would have
                return {"member": ours[0] if ours else {}, "members": listing}

    def _member_list(self, nodes: list[Node]) -> list[dict]:
        via = self._via(nodes)
        reply = ask(via, "/v3/cluster/member/list", timeout=CHANGE_TIMEOUT_S)
        if reply is None:
            raise EnvironmentProblem(f"{via.name}: no member list")
        return reply.get("members") or []

    def _via(self, nodes: list[Node], besides: Node | None = None) -> Node:
        """The leader when it is not `besides`, else some other member that answers."""
        candidates = [n for n in nodes if besides is None or n.name != besides.name]
        leaders = set(self.primaries(candidates))
        ordered = sorted(candidates, key=lambda n: n.name not in leaders)
        for n in ordered:
            if n.name in leaders or ask(n, "/v3/maintenance/status") is not None:
                return n
        raise EnvironmentProblem("no etcd member answers")

    def _change(self, via: Node, path: str, body: dict) -> dict:
        """A membership change through `via`. "unhealthy cluster" (the member has not been
        connected to every voter for 5 s: etcd's strict reconfiguration check) is definite, and
        passes once a restarted or healed member has been back a while: asked again until then."""
        client = EtcdClient(timeout=CHANGE_TIMEOUT_S)
        client.open(via)
        deadline = time.monotonic() + UNHEALTHY_WAIT_S
        try:
            while True:
                try:
                    return client.call(path, body)
                except EtcdError as e:
                    if e.definite and str(e) == "etcdserver: unhealthy cluster" and time.monotonic() < deadline:
                        time.sleep(0.5)
                        continue
                    sure = "refused" if e.definite else "outcome unknown"
                    raise EnvironmentProblem(f"{via.name}: {path.rsplit('/', 1)[-1]} {sure}: {e}") from None
        finally:
            client.close()

    def _wipe(self, node: Node) -> None:
        # Emptied, not removed: it may be a mount point (the lose-unsynced fault's filesystem).
        node.remote.exec(f"mkdir -p {DATA_DIR} && find {DATA_DIR} -mindepth 1 -delete")


_BECAME = re.compile(r"^([0-9a-f]+) became (follower|pre-candidate|candidate|leader) at term (\d+)$")
_LEADER = re.compile(r"^raft\.node: ([0-9a-f]+) (elected|lost) leader ([0-9a-f]+) at term (\d+)$")


def _role_change(msg: str, node: str, ids: dict[int, str]) -> tuple[str, int, str | None] | None:
    """(role, term, leader) said by one raft log line, or None."""
    if m := _BECAME.match(msg):
        role, term = m.group(2), int(m.group(3))
        return role, term, node if role == "leader" else None
    if m := _LEADER.match(msg):
        me, what, leader, term = int(m.group(1), 16), m.group(2), int(m.group(3), 16), int(m.group(4))
        if what == "lost":
            return "follower", term, None
        if leader == me:
            return None  # "became leader" said it already
        return "follower", term, ids.get(leader, f"{leader:x}")
    return None


def ask(node: Node, path: str, body: dict | None = None, timeout: float = ASK_TIMEOUT_S) -> dict | None:
    """A read-only gateway request's reply, or None when the member does not answer in time."""
    host, port = node.client_addr
    try:
        response = httpx.post(f"http://{host}:{port}{path}", json=body or {}, timeout=timeout)
        reply = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return reply if response.status_code == 200 and isinstance(reply, dict) else None


def _etcdctl(node: Node, args: str) -> Any:
    result = node.remote.exec(f"ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:{CLIENT_PORT} "
                              f"--command-timeout=5s {args} -w json", check=False, timeout=15)
    if result.exit_code != 0:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _revision(node: Node) -> int | None:
    reply = ask(node, "/v3/maintenance/status")
    return as_int(reply.get("header", {}).get("revision")) if reply else None


def _hashkv(node: Node, revision: int) -> int | None:
    out = _etcdctl(node, f"endpoint hashkv --rev={shlex.quote(str(revision))}")
    try:
        return int(out[0]["HashKV"]["hash"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None


KIND = SystemKind(
    name="etcd",
    about="etcd 3.4 (Debian's etcd-server), through its v3 JSON gateway",
    adapter=Etcd,
    client_port=CLIENT_PORT,
    peer_port=PEER_PORT,
    workloads=WORKLOADS,
    data_dirs=(DATA_DIR,),
    clock_via_libc=False,  # a Go binary: time through the vDSO, out of libfaketime's reach
    pre_vote=lambda options: options.get("pre-vote", PRE_VOTE),
    options={
        "reads": SystemOption(choice("linearizable", "serializable"), "linearizable",
                              "linearizable (ReadIndex through the leader) or serializable (the member's local state)"),
        "election-ms": SystemOption(_election_ms, ELECTION_MS,
                                    "etcd's --election-timeout; the heartbeat interval is a tenth of it"),
        "snapshot-count": SystemOption(_count, SNAPSHOT_COUNT, "etcd's --snapshot-count"),
        "pre-vote": SystemOption(_flag, PRE_VOTE, "etcd's --pre-vote (on by default from etcd 3.5, off in 3.4): a "
                                 "cut-off member does not disrupt the cluster with a higher term when it comes back"),
    },
)
