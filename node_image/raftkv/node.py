"""The Raft core: elections, replication, commitment, reads, membership, snapshots, transfer.

Raft as in the paper and Ongaro's thesis, written as message handlers on one asyncio loop:

- Elections: randomized timeouts in [T, 2T), pre-vote (§9.6) so that a node that was cut off
  does not disrupt a healthy leader, and leader stickiness: a node that heard from a leader
  within T ignores vote requests, unless the election follows a leader transfer (TimeoutNow).
- A leader appends a no-op at the start of its term, replicates with pipelined AppendEntries and
  backs up with conflict hints (conflict term + first index of that term), commits only by
  counting current-term entries, and steps down when it has not heard from a majority for T
  (check-quorum).
- Durability: term and vote are written before any reply that depends on them; log entries
  are fsynced in groups off the event loop (`_flush`), and replies and the leader's own match
  index wait for the fsync that covers them.
- Reads use ReadIndex: once the leader's no-op is committed, a read records the commit index,
  a heartbeat round confirms leadership, and the read is answered once that index is applied.
- Membership changes add or remove one server at a time and take effect when appended.

Every timeout runs on the loop's monotonic clock. The one use of the wall clock is the
lease-read switch's lease, as the designs it reproduces measure theirs: a jump of the wall clock
(a clock fault) is what breaks it.

Bug switches (bugs.py) are checked where the flaw lives, each in one place.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field

from . import quorum
from .bugs import Bugs
from .events import emit
from .raftlog import RaftLog
from .statemachine import StateMachine
from .storage import Snapshot
from .syncer import Syncer

MAX_BATCH = 256  # entries per AppendEntries
# lease-read: the share of an election timeout a lease lasts from the send time of the heartbeat
# a majority acknowledged, the margin for clock drift between nodes.
LEASE_SHARE = 0.9
COMMAND_OPS = ("write", "cas", "append", "incr")


class Refusal(Exception):
    """A client request the node refuses; `reply` is the error reply (without the id)."""

    def __init__(self, error: str, definite: bool, **extra):
        super().__init__(error)
        self.reply = {"ok": False, "error": error, "definite": definite, **extra}


@dataclass
class Options:
    id: str
    peers: dict[str, str]  # the initial configuration: id -> raft address
    election_timeout: float = 0.3  # seconds
    heartbeat: float = 0.05
    snapshot_every: int = 10000
    join: bool = False  # start outside the configuration, wait to be added
    bugs: Bugs = Bugs()


@dataclass
class Progress:
    """What the leader knows about one follower."""

    next: int
    match: int = 0
    probing: bool = True  # after a rejection: one message at a time until an acknowledgement
    last_heard: float = 0.0
    snapshot_sent: float = -1e9  # when an InstallSnapshot last went out
    read_ack: int = 0  # highest ReadIndex round this follower confirmed
    lease_ack: float = 0.0  # lease-read: the latest send time (leader's wall clock) it acknowledged


@dataclass
class ReadRound:
    seq: int
    index: int
    waiters: list = field(default_factory=list)


class Node:
    def __init__(self, opts: Options, storage, transport):
        self.opts = opts
        self.id = opts.id
        self.bugs = opts.bugs
        self.even_majority = self.bugs.even_majority  # every quorum counted the Helios way
        self.storage = storage
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.started = time.time()

        loaded = storage.load()
        self.term, self.voted_for = loaded.term, loaded.vote
        snap = loaded.snapshot
        self.snapshot = snap
        self.log = RaftLog(snap.index if snap else 0, snap.term if snap else 0, loaded.entries)
        self.sm = StateMachine(dedup=not self.bugs.duplicate_apply)
        if snap:
            self.sm.restore(snap.state)
        self.commit = self.applied = self.log.snap_index
        self.initial_members = {} if opts.join else dict(opts.peers)
        for peer, addr in opts.peers.items():
            transport.set_addr(peer, addr)
        self.role, self.leader = "follower", None
        self.members: dict[str, str] = {}
        self.config_index = 0
        self._reload_config()

        self._logged_role = None
        self.last_leader_contact = -1e9
        self.votes: set[str] = set()
        self.progress: dict[str, Progress] = {}
        self.durable_index = self.log.last_index
        self.waiters: dict[int, tuple[int, asyncio.Future]] = {}
        self.read_seq = 0
        self.lease_until = 0.0  # lease-read: wall-clock time until which reads need no quorum round
        self.term_start = 0  # a leader's last index when elected
        self.reads_unready: list[asyncio.Future] = []  # before the leader's no-op commits
        self.read_rounds: deque[ReadRound] = deque()
        self.reads_confirmed: list[tuple[int, asyncio.Future]] = []
        self.transfer_target: str | None = None
        self.transfer_deadline = 0.0
        self.transfer_waiter: asyncio.Future | None = None
        self._after_sync: list[tuple[str, dict]] = []  # replies waiting for the next fsync
        self._flush_scheduled = False
        self._syncing = False
        self._sync_target = self.log.last_index  # what the fsync in flight makes durable
        self.syncer = Syncer(self.loop)
        self._handlers = {"vote": self._on_vote, "vote_reply": self._on_vote_reply,
                          "append": self._on_append, "append_reply": self._on_append_reply,
                          "snap": self._on_snap, "snap_reply": self._on_snap_reply,
                          "timeout_now": self._on_timeout_now}
        self._election_timer = None
        self._heartbeat_timer = None
        self.current_timeout = 0.0

        self._log_role()
        emit(self.id, "start", term=self.term, last_index=self.log.last_index,
             snapshot_index=self.log.snap_index, members=sorted(self.members),
             bugs=self.bugs.names())
        self._reset_election_timer()

    # ---- configuration ------------------------------------------------------------------

    def _config_at(self, index: int) -> tuple[int, dict[str, str]]:
        """The configuration in effect at `index`: the latest config entry at or before it."""
        for entry in reversed(self.log.entries):
            if entry["i"] <= index and entry["k"] == "config":
                return entry["i"], entry["c"]["members"]
        if self.snapshot is not None:
            return self.snapshot.index, self.snapshot.members
        return 0, self.initial_members

    def _reload_config(self) -> None:
        self.config_index, members = self._config_at(self.log.last_index)
        if members != self.members:
            self.members = dict(members)
            for peer, addr in members.items():
                self.transport.set_addr(peer, addr)
            if self.role == "leader":
                self._sync_progress()

    def _sync_progress(self) -> None:
        now = self.loop.time()
        for peer in self.members:
            if peer != self.id and peer not in self.progress:
                self.progress[peer] = Progress(next=self.log.last_index + 1, last_heard=now)
        for peer in list(self.progress):
            if peer not in self.members:
                del self.progress[peer]

    # ---- roles and timers ---------------------------------------------------------------

    def _log_role(self) -> None:
        state = (self.term, self.role, self.leader)
        if state != self._logged_role:
            self._logged_role = state
            emit(self.id, "role", term=self.term, role=self.role, leader=self.leader)

    def _persist_meta(self) -> None:
        self.storage.save_meta(self.term, self.voted_for)

    def _election_timeout(self) -> float:
        base = self.opts.election_timeout
        return base if self.bugs.fixed_timeout else base * (1 + random.random())

    def _reset_election_timer(self) -> None:
        if self._election_timer is not None:
            self._election_timer.cancel()
        self.current_timeout = self._election_timeout()
        self._election_timer = self.loop.call_later(self.current_timeout, self._on_election_timeout)

    def _in_lease(self) -> bool:
        """Whether this node heard from a live leader recently enough to ignore elections."""
        if self.role == "leader":
            return True
        return (self.leader is not None
                and self.loop.time() - self.last_leader_contact < self.opts.election_timeout)

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.term, self.voted_for = term, None
            self._persist_meta()
        was_leader = self.role == "leader"
        self.role, self.leader = "follower", leader
        if leader is not None:
            self.last_leader_contact = self.loop.time()
        if was_leader:
            self._stop_leading()
        self._log_role()
        self._reset_election_timer()

    def _stop_leading(self) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None
        self.progress.clear()
        for _, fut in self.waiters.values():
            _fail(fut, Refusal("lost-leadership", False, leader=self.leader))
        self.waiters.clear()
        pending = self.reads_unready + [w for r in self.read_rounds for w in r.waiters]
        pending += [fut for _, fut in self.reads_confirmed]
        for fut in pending:
            _fail(fut, Refusal("not-leader", True, leader=self.leader))
        self.reads_unready, self.reads_confirmed = [], []
        self.read_rounds.clear()
        # A transfer in progress is done: we stepped down for a newer term (the target's, unless
        # some other node won the election the TimeoutNow started).
        self._finish_transfer(self.leader or self.transfer_target)

    def _on_election_timeout(self) -> None:
        self._election_timer = None
        if self.role == "leader":
            return
        if self.id not in self.members:
            self._reset_election_timer()  # not a voter (yet, or any more): never campaign
            return
        if self.bugs.self_elect:
            self.term += 1
            self.voted_for = self.id
            self._persist_meta()
            self._become_leader()
            return
        self._start_prevote()

    def _start_prevote(self) -> None:
        self.role, self.leader = "pre-candidate", None
        self._log_role()
        self.votes = {self.id}
        self._reset_election_timer()
        self._request_votes(pre=True, transfer=False)
        self._check_votes(pre=True)

    def _start_election(self, transfer: bool) -> None:
        self.term += 1
        self.voted_for = self.id
        self._persist_meta()
        self.role, self.leader = "candidate", None
        self._log_role()
        emit(self.id, "election", term=self.term, transfer=transfer)
        self.votes = {self.id}
        self._reset_election_timer()
        self._request_votes(pre=False, transfer=transfer)
        self._check_votes(pre=False)

    def _request_votes(self, pre: bool, transfer: bool) -> None:
        msg = {"type": "vote", "from": self.id, "term": self.term + 1 if pre else self.term,
               "pre": pre, "transfer": transfer,
               "last_index": self.log.last_index, "last_term": self.log.last_term}
        for peer in self.members:
            if peer != self.id:
                self.transport.send(peer, msg)

    def _check_votes(self, pre: bool) -> None:
        if quorum.wins(self.votes, self.members, self.even_majority):
            if pre:
                self._start_election(transfer=False)
            else:
                self._become_leader()

    def _become_leader(self) -> None:
        if self._election_timer is not None:
            self._election_timer.cancel()
            self._election_timer = None
        self.role, self.leader = "leader", self.id
        self._log_role()
        self.progress = {}
        self._sync_progress()
        self.read_seq = 0
        self.lease_until = 0.0
        self.term_start = self.log.last_index  # what it had when elected
        if not self.bugs.commit_prior_term:
            # The no-op commits the previous terms' entries by counting (§5.4.2); the reference
            # design of commit-prior-term has none, which is what opens figure 8's window: an
            # older-term entry committed by counting can be overwritten by a later leader.
            self._append_local("noop", None)
        for peer, p in self.progress.items():
            self._send_append(peer, p)  # probe every follower now, not a heartbeat later
        self._heartbeat_timer = self.loop.call_later(self.opts.heartbeat, self._on_heartbeat)

    # ---- messages ---------------------------------------------------------------------

    def handle(self, msg: dict) -> None:
        """Entry point for every peer message."""
        try:
            kind, term, sender = msg["type"], msg["term"], msg["from"]
        except KeyError:
            return
        if term > self.term:
            if kind == "vote" and self._in_lease() and not msg.get("transfer"):
                self.transport.send(sender, self._vote_reply(msg, False))
                return
            # A pre-vote (and its grant) carries a term the sender has not entered yet.
            pre_vote_traffic = msg.get("pre") and (kind == "vote" or msg.get("granted"))
            if not pre_vote_traffic:
                leader = sender if kind in ("append", "snap", "timeout_now") else None
                self._become_follower(term, leader)
        elif term < self.term:
            if kind == "vote":
                self.transport.send(sender, self._vote_reply(msg, False))
                return
            if kind == "snap" or (kind == "append" and not self.bugs.accept_stale_term):
                self.transport.send(sender, {"type": kind + "_reply", "from": self.id,
                                             "term": self.term, "success": False,
                                             "match": 0, "ctx": msg.get("ctx", 0)})
                return
            if kind != "append":
                return  # a stale reply
            # accept-stale-term: the footprint, for the node log (no client may ever see it)
            emit(self.id, "stale-term-append-accepted", leader=sender, its_term=term, term=self.term)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(msg)

    def _vote_reply(self, msg: dict, granted: bool) -> dict:
        term = msg["term"] if granted and msg["pre"] else self.term
        return {"type": "vote_reply", "from": self.id, "term": term, "pre": msg["pre"],
                "granted": granted}

    def _on_vote(self, msg: dict) -> None:
        candidate = msg["from"]
        log_ok = (self.bugs.vote_ignores_log
                  or self.log.up_to_date(msg["last_index"], msg["last_term"]))
        if not self.members:
            # A fresh machine that knows no configuration yet (started with --join) may be a
            # member's replacement under the same name, wiped: its earlier incarnation may have
            # voted in this very term, and a second vote lets a stale candidate win a term that
            # already has a leader (two leaders in one term, seen under the membership fault).
            grant = False
        elif msg["pre"]:
            grant = msg["term"] > self.term and log_ok
        else:
            grant = msg["term"] == self.term and self.voted_for in (None, candidate) and log_ok
            if grant:
                self.voted_for = candidate
                self._persist_meta()
                self._reset_election_timer()
        self.transport.send(candidate, self._vote_reply(msg, grant))

    def _on_vote_reply(self, msg: dict) -> None:
        pre = msg["pre"]
        if self.role != ("pre-candidate" if pre else "candidate") or not msg["granted"]:
            return
        if msg["term"] != (self.term + 1 if pre else self.term):
            return
        self.votes.add(msg["from"])
        self._check_votes(pre)

    def _on_timeout_now(self, msg: dict) -> None:
        if msg["term"] == self.term and self.id in self.members and self.role != "leader":
            self._start_election(transfer=True)

    def _on_append(self, msg: dict) -> None:
        leader = msg["from"]
        if self.role != "follower" or self.leader != leader:
            was_leader = self.role == "leader"
            self.role, self.leader = "follower", leader
            if was_leader:  # only the accept-stale-term bug lets a leader get here
                self._stop_leading()
            self._log_role()
        self.last_leader_contact = self.loop.time()
        self._reset_election_timer()
        if self.voted_for is None and msg["term"] == self.term:
            # This term has a leader, so no other candidate can win it: record the vote as the
            # leader's. Harmless in Raft, it keeps a wiped member that rejoined (and so
            # forgot the vote its earlier incarnation cast in this term) from voting twice.
            self.voted_for = leader
            self._persist_meta()

        prev, prev_term, entries = msg["prev_index"], msg["prev_term"], msg["entries"]
        if prev < self.log.snap_index:
            # Everything up to the snapshot is committed, hence in the leader's log too.
            entries = [e for e in entries if e["i"] > self.log.snap_index]
            prev, prev_term = self.log.snap_index, self.log.snap_term
        reply = {"type": "append_reply", "from": self.id, "term": self.term,
                 "ctx": msg.get("ctx", 0)}
        if "sent" in msg:
            reply["sent"] = msg["sent"]  # lease-read: which heartbeat this acknowledges
        if self.log.term_at(prev) != prev_term:
            reply.update(success=False, **self._conflict_hint(prev))
            self._reply_after_sync(leader, reply)
            return
        self._store_entries(prev, entries)
        last_new = prev + len(entries)
        if msg["commit"] > self.commit:
            self.commit = max(self.commit, min(msg["commit"], last_new))
            self._apply_committed()
        reply.update(success=True, match=last_new)
        self._reply_after_sync(leader, reply)

    def _conflict_hint(self, prev: int) -> dict:
        if prev > self.log.last_index:
            return {"hint_term": None, "hint_index": self.log.last_index + 1}
        term = self.log.term_at(prev)
        return {"hint_term": term, "hint_index": self.log.first_index_of_term(term, prev)}

    def _store_entries(self, prev: int, entries: list[dict]) -> None:
        """Append what the leader sent after `prev`, deleting a conflicting suffix first."""
        if self.bugs.truncate_on_match:
            if entries and self.log.last_index > prev:
                self._truncate(prev + 1)
            new = entries
        elif self.bugs.no_truncate:
            new = [e for e in entries if e["i"] > self.log.last_index]
            kept = [e["i"] for e in entries if e["i"] <= self.log.last_index and self.log.term_at(e["i"]) != e["t"]]
            if kept:  # the footprint, for the node log: conflicting entries this node keeps
                emit(self.id, "conflicting-entries-kept", first=kept[0], count=len(kept), commit=self.commit)
        else:
            new = []
            for pos, entry in enumerate(entries):
                existing = self.log.term_at(entry["i"])
                if existing == entry["t"]:
                    continue
                if existing is not None:
                    self._truncate(entry["i"])
                new = entries[pos:]
                break
        if new:
            for entry in new:
                self.log.append(entry)
            self.storage.append(new)
            if any(e["k"] == "config" for e in new):
                self._reload_config()
            self._schedule_flush()

    def _truncate(self, index: int) -> None:
        if index <= self.commit:
            emit(self.id, "committed-entries-truncated", from_index=index, commit=self.commit)
        self.log.truncate_from(index)
        self.storage.truncate_from(index)
        self.durable_index = min(self.durable_index, index - 1)
        self._sync_target = min(self._sync_target, index - 1)  # an fsync in flight covers less
        if self.config_index >= index:
            self._reload_config()

    def _reply_after_sync(self, peer: str, reply: dict) -> None:
        self._after_sync.append((peer, reply))
        self._schedule_flush()

    def _on_append_reply(self, msg: dict) -> None:
        p = self._progress_for(msg)
        if p is None:
            return
        if msg["success"]:
            if msg["match"] > p.match:
                p.match = msg["match"]
                self._advance_commit()
            p.next = max(p.next, p.match + 1)
            p.probing = False
            if p.next <= self.log.last_index:
                self._send_append(msg["from"], p)
            self._maybe_send_timeout_now(msg["from"], p)
        else:
            # Not floored at match + 1: a stale rejection only costs a resend, and under
            # optimistic-match the recorded match may be fiction.
            p.next = max(1, min(self._next_after_conflict(msg), self.log.last_index + 1))
            p.probing = True
            self._send_append(msg["from"], p)

    def _next_after_conflict(self, msg: dict) -> int:
        """Where to resume after a rejection: past our last entry of the follower's conflicting
        term if we have that term, else at the first index of that term (thesis §5.3)."""
        if msg.get("hint_term") is not None:
            last = self.log.last_index_of_term(msg["hint_term"])
            if last is not None:
                return last + 1
        return msg.get("hint_index", 1)

    def _on_snap(self, msg: dict) -> None:
        if self.role != "follower" or self.leader != msg["from"]:
            self.role, self.leader = "follower", msg["from"]
            self._log_role()
        self.last_leader_contact = self.loop.time()
        self._reset_election_timer()
        snap = Snapshot.from_json(msg["snapshot"])
        if snap.index > self.commit:
            self.log.compact(snap.index, snap.term)
            self.sm.restore(snap.state)
            self.snapshot = snap
            self.commit = self.applied = snap.index
            self.storage.save_snapshot(snap, self.log.entries)
            self.durable_index = self._sync_target = self.log.last_index
            self._reload_config()
            emit(self.id, "snapshot-installed", index=snap.index, term=snap.term)
        self.transport.send(msg["from"], {"type": "snap_reply", "from": self.id, "term": self.term,
                                          "success": True, "match": snap.index,
                                          "ctx": msg.get("ctx", 0)})

    def _on_snap_reply(self, msg: dict) -> None:
        p = self._progress_for(msg)
        if p is None:
            return
        if msg["match"] > p.match:
            p.match = msg["match"]
            self._advance_commit()
        p.next = max(p.next, p.match + 1)
        p.snapshot_sent = -1e9
        self._send_append(msg["from"], p)

    def _progress_for(self, msg: dict) -> Progress | None:
        """The sender's progress, after recording that it is alive and confirmed our reads."""
        if self.role != "leader" or msg["term"] != self.term:
            return None
        p = self.progress.get(msg["from"])
        if p is None:
            return None
        p.last_heard = self.loop.time()
        sent = msg.get("sent")
        if self.bugs.lease_read and isinstance(sent, (int, float)) and sent > p.lease_ack:
            p.lease_ack = sent
            self._extend_lease()
        if msg.get("ctx", 0) > p.read_ack:
            p.read_ack = msg["ctx"]
            self._confirm_reads()
        return p

    # ---- leader: replication and commitment --------------------------------------------

    def _append_local(self, kind: str, payload) -> int:
        entry = {"i": self.log.last_index + 1, "t": self.term, "k": kind, "c": payload}
        self.log.append(entry)
        self.storage.append([entry])
        if kind == "config":
            self._reload_config()
        self._schedule_flush()
        return entry["i"]

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Group commit: one fsync, run off the loop, makes everything appended so far durable;
        the replies that depend on it, and the leader's own match index, wait for it. Appends
        made while an fsync runs gather for the next one."""
        self._flush_scheduled = False
        if self.role == "leader":
            for peer, p in self.progress.items():
                if not p.probing and p.next <= self.log.last_index:
                    self._send_append(peer, p)
            self._release_unready_reads()
        if self._syncing:
            return  # _synced flushes again
        job = self.storage.sync_job()
        self._sync_target = self.log.last_index
        replies, self._after_sync = self._after_sync, []
        if job is None:
            self._synced(replies, None)
            return
        self._syncing = True
        self.syncer.submit(job, lambda error: self._synced(replies, error))

    def _synced(self, replies: list[tuple[str, dict]], error: OSError | None) -> None:
        if error is not None:
            raise error  # the disk failed us: fail-stop (__main__'s exception handler)
        again, self._syncing = self._syncing, False
        self.durable_index = self._sync_target
        if self.role == "leader":
            self._advance_commit()
        for peer, reply in replies:
            self.transport.send(peer, reply)
        if again:
            self._schedule_flush()

    def _send_append(self, peer: str, p: Progress) -> None:
        if p.next <= self.log.snap_index:
            self._send_snapshot(peer, p)
            return
        prev = p.next - 1
        entries = self.log.slice(p.next, MAX_BATCH)
        msg = {"type": "append", "from": self.id, "term": self.term, "prev_index": prev,
               "prev_term": self.log.term_at(prev), "entries": entries, "commit": self.commit,
               "ctx": self.read_seq}
        if self.bugs.lease_read:
            msg["sent"] = time.time()
        self.transport.send(peer, msg)
        if entries and not p.probing:
            p.next = entries[-1]["i"] + 1  # pipeline: assume delivery, rewind on rejection
        if entries and self.bugs.optimistic_match:
            p.match = max(p.match, entries[-1]["i"])
            self._advance_commit()

    def _send_snapshot(self, peer: str, p: Progress) -> None:
        now = self.loop.time()
        if now - p.snapshot_sent < 2 * self.opts.election_timeout:
            return  # one in flight: snapshots are large, don't resend on every heartbeat
        p.snapshot_sent = now
        emit(self.id, "snapshot-send", peer=peer, index=self.snapshot.index)
        self.transport.send(peer, {"type": "snap", "from": self.id, "term": self.term,
                                   "snapshot": self.snapshot.to_json(), "ctx": self.read_seq})

    def _on_heartbeat(self) -> None:
        self._heartbeat_timer = self.loop.call_later(self.opts.heartbeat, self._on_heartbeat)
        if not self._check_quorum():
            return
        for peer, p in self.progress.items():
            if not p.probing:
                p.next = p.match + 1  # resend anything in flight that may have been lost
            self._send_append(peer, p)
        if self.transfer_target is not None and self.loop.time() > self.transfer_deadline:
            self._finish_transfer(None)

    def _check_quorum(self) -> bool:
        """Step down if no majority was heard from within an election timeout."""
        if self.bugs.stale_read:
            # Helios has no check-quorum (a leader steps down only on seeing a higher term), and
            # without it a leader cut off from the majority keeps serving reads from local state
            # while a new leader commits writes: the window the stale read needs. With
            # check-quorum it would step down before any new leader could be elected.
            return True
        if self.bugs.lease_read and time.time() < self.lease_until:
            return True  # the lease is a promise of leadership: kept as long as it holds
        now = self.loop.time()
        alive = {peer for peer, p in self.progress.items()
                 if now - p.last_heard < self.opts.election_timeout}
        alive.add(self.id)
        if quorum.wins(alive & set(self.members), self.members, self.even_majority) or not self.members:
            return True
        emit(self.id, "step-down", reason="check-quorum", term=self.term)
        self._become_follower(self.term, None)
        return False

    def _voter_matches(self) -> list[int]:
        matches = [p.match for peer, p in self.progress.items() if peer in self.members]
        if self.id in self.members:
            matches.append(self.durable_index)
        return matches

    def _advance_commit(self) -> None:
        new = quorum.commit_index(self._voter_matches(), self.log.term_at, self.term,
                                  check_term=not self.bugs.commit_prior_term,
                                  even_majority=self.even_majority)
        if new > self.commit:
            if self.bugs.commit_prior_term and self.log.term_at(new) != self.term:
                # the footprint, for the node log: figure 8's window is open
                emit(self.id, "prior-term-committed-by-count", index=new, its_term=self.log.term_at(new),
                     term=self.term)
            self.commit = new
            self._apply_committed()
            if self.id not in self.members and self.config_index <= self.commit:
                emit(self.id, "step-down", reason="removed", term=self.term)
                self._become_follower(self.term, None)

    # ---- applying ---------------------------------------------------------------------

    def _apply_committed(self) -> None:
        while self.applied < self.commit and self.applied < self.log.last_index:
            index = self.applied + 1
            entry = self.log.entry(index)
            result = {"ok": True, "value": None}
            if entry["k"] == "cmd":
                result = self.sm.apply(entry["c"])
            elif entry["k"] == "config":
                result = {"ok": True, "value": sorted(entry["c"]["members"])}
            self.applied = index
            waiter = self.waiters.pop(index, None)
            if waiter is not None:
                term, fut = waiter
                if term == entry["t"] and not fut.done():
                    fut.set_result(result)
                elif not fut.done():
                    _fail(fut, Refusal("lost-leadership", False, leader=self.leader))
        if self.role == "leader":
            self._release_unready_reads()
            ready = [(i, f) for i, f in self.reads_confirmed if i <= self.applied]
            self.reads_confirmed = [(i, f) for i, f in self.reads_confirmed if i > self.applied]
            for _, fut in ready:
                if not fut.done():
                    fut.set_result(None)
        self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        every = self.opts.snapshot_every
        if not every or self.applied - self.log.snap_index < every:
            return
        index, term = self.applied, self.log.term_at(self.applied)
        snap = Snapshot(index, term, self._config_at(index)[1], self.sm.dump())
        self.log.compact(index, term)
        self.snapshot = snap
        self.storage.save_snapshot(snap, self.log.entries)
        emit(self.id, "snapshot-taken", index=index, term=term)

    # ---- reads (ReadIndex; the lease-read switch's lease) --------------------------------

    def _extend_lease(self) -> None:
        """lease-read: no other leader can be elected until an election timeout after a majority
        last heard from us, so reads are safe until a little before that, by our wall clock."""
        now = time.time()
        acks = sorted((now if m == self.id else getattr(self.progress.get(m), "lease_ack", 0.0)
                       for m in self.members), reverse=True)
        need = quorum.quorum_size(len(acks), self.even_majority)
        if acks and need <= len(acks):
            self.lease_until = max(self.lease_until, acks[need - 1] + LEASE_SHARE * self.opts.election_timeout)

    def _lease_holds(self) -> bool:
        return (time.time() < self.lease_until and self._term_committed()
                and self.applied >= self.commit)

    def _term_committed(self) -> bool:
        """Whether this leader knows its log is committed up to where its term began: its no-op
        committed. Under commit-prior-term there is no no-op, and the design takes the entries it
        had when elected as committed once the count says so (which is its flaw)."""
        if self.bugs.commit_prior_term:
            return self.commit >= self.term_start
        return self.log.term_at(self.commit) == self.term

    def _release_unready_reads(self) -> None:
        """Start a ReadIndex round for reads that waited for this term's first commit."""
        if not self.reads_unready or not self._term_committed():
            return
        self.read_seq += 1
        round_ = ReadRound(self.read_seq, self.commit, self.reads_unready)
        self.reads_unready = []
        self.read_rounds.append(round_)
        for peer, p in self.progress.items():
            self._send_append(peer, p)
        self._confirm_reads()

    def _confirm_reads(self) -> None:
        while self.read_rounds:
            round_ = self.read_rounds[0]
            acked = {peer for peer, p in self.progress.items() if p.read_ack >= round_.seq}
            acked.add(self.id)
            if not quorum.wins(acked & set(self.members), self.members, self.even_majority):
                return
            self.read_rounds.popleft()
            for fut in round_.waiters:
                if round_.index <= self.applied:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    self.reads_confirmed.append((round_.index, fut))

    # ---- client requests -----------------------------------------------------------------

    def _require_leader(self) -> None:
        if self.role != "leader":
            raise Refusal("not-leader", True, leader=self.leader)
        if self.transfer_target is not None:
            raise Refusal("transferring", True, leader=self.transfer_target)

    async def _await_entry(self, kind: str, payload) -> dict:
        index = self._append_local(kind, payload)
        fut = self.loop.create_future()
        self.waiters[index] = (self.term, fut)
        try:
            return await fut
        finally:
            self.waiters.pop(index, None)

    async def command(self, cmd: dict) -> dict:
        """Replicate a write, cas, append or incr; the reply is its result once applied."""
        self._require_leader()
        if self.bugs.ack_before_commit:
            self._append_local("cmd", cmd)
            value = cmd["value"][1] if cmd["op"] == "cas" else cmd.get("value")
            return {"ok": True, "value": value if cmd["op"] in ("write", "cas") else None}
        return await self._await_entry("cmd", cmd)

    async def read(self, key) -> dict:
        self._require_leader()
        if self.bugs.lease_read and self._lease_holds():
            return {"ok": True, "value": self.sm.read(key)}
        if not self.bugs.stale_read:
            fut = self.loop.create_future()
            self.reads_unready.append(fut)
            self._schedule_flush()  # reads arriving in one loop turn share a heartbeat round
            await fut
        return {"ok": True, "value": self.sm.read(key)}

    async def change_members(self, members: dict[str, str]) -> dict:
        self._require_leader()
        if self.bugs.config_before_commit:
            # The flaw: the next configuration goes in on top of one not yet committed, so two
            # single-server steps (C, C-x, C-x-y) are in use at once, and a majority of C-x-y
            # need not meet a majority of C; a fresh leader does not wait for its term's first
            # commit either (the 2015 fix), so an old leader's uncommitted change can be undone.
            pass
        elif self.config_index > self.commit or not self._term_committed():
            # One change at a time, and never before this term's no-op commits (the thesis's
            # fix for single-server changes racing with a leader change).
            raise Refusal("change-in-progress", True)
        emit(self.id, "member-change", members=sorted(members))
        return await self._await_entry("config", {"members": members})

    async def add(self, peer: str, addr: str) -> dict:
        self._require_leader()
        return await self.change_members({**self.members, peer: addr})

    async def remove(self, peer: str) -> dict:
        self._require_leader()
        if peer not in self.members:
            raise Refusal("not-a-member", True)
        return await self.change_members({k: v for k, v in self.members.items() if k != peer})

    async def transfer(self, target: str) -> dict:
        self._require_leader()
        if target == self.id:
            return {"ok": True, "value": self.id}
        if target not in self.progress:
            raise Refusal("not-a-member", True)
        self.transfer_target = target
        self.transfer_deadline = self.loop.time() + self.opts.election_timeout
        self.transfer_waiter = fut = self.loop.create_future()
        emit(self.id, "transfer", target=target, term=self.term)
        self._maybe_send_timeout_now(target, self.progress[target])
        new_leader = await fut
        if new_leader is None:
            raise Refusal("timeout", False)
        return {"ok": True, "value": new_leader}

    def _maybe_send_timeout_now(self, peer: str, p: Progress) -> None:
        if self.transfer_target == peer and p.match == self.log.last_index:
            self.transport.send(peer, {"type": "timeout_now", "from": self.id, "term": self.term})

    def _finish_transfer(self, new_leader: str | None) -> None:
        if self.transfer_waiter is not None and not self.transfer_waiter.done():
            self.transfer_waiter.set_result(new_leader)
        self.transfer_target = self.transfer_waiter = None

    def committed_terms(self) -> list:
        """The committed prefix of the log this node holds, as [first index, term] of each run of
        one term (from the snapshot's index): enough to compare two nodes' committed entries."""
        runs = [[self.log.snap_index, self.log.snap_term]] if self.log.snap_index else []
        for entry in self.log.slice(self.log.snap_index + 1, max(0, self.commit - self.log.snap_index)):
            if not runs or runs[-1][1] != entry["t"]:
                runs.append([entry["i"], entry["t"]])
        return runs

    def status(self, digest: bool = False, terms: bool = False) -> dict:
        """`commit_term` (the term of the entry at the commit index, when the log still has it)
        and `started` (when this process began) let the harness check that committed entries
        are never replaced, across restarts; `digest` (asked for: it costs a pass over the
        data) hashes the applied state at `last_applied`, for comparing replicas; `terms` (asked
        for: a pass over the committed log) adds `commit_terms`."""
        reply = {"node": self.id, "role": self.role, "term": self.term, "leader": self.leader,
                 "commit_index": self.commit, "commit_term": self.log.term_at(self.commit),
                 "last_applied": self.applied,
                 "last_index": self.log.last_index, "snapshot_index": self.log.snap_index,
                 "members": sorted(self.members), "config_index": self.config_index,
                 "time": time.time(), "started": self.started,
                 "election_timeout_ms": round(self.current_timeout * 1000, 3),
                 "bugs": self.bugs.names()}
        if terms:
            reply["commit_terms"] = self.committed_terms()
        if digest:
            data = json.dumps(self.sm.data, sort_keys=True, separators=(",", ":")).encode()
            reply["digest"] = hashlib.sha256(data).hexdigest()
        return reply

    def inspect(self) -> dict:
        """Test-only: the log's (index, term) pairs and the state machine's data."""
        return {"log": [[e["i"], e["t"]] for e in self.log.entries],
                "snapshot_index": self.log.snap_index, "commit_index": self.commit,
                "data": self.sm.data}

    def background_sync(self) -> None:
        """The lazy-fsync bug's periodic flush."""
        self.storage.background_sync()


def _fail(fut: asyncio.Future, exc: Exception) -> None:
    if not fut.done():
        fut.set_exception(exc)
