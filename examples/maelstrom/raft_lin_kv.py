#!/usr/bin/env python3
"""A Maelstrom lin-kv node: Raft in one file, standard library only, state in memory only.

    raft-jepsen run --system maelstrom --bin examples/maelstrom/raft_lin_kv.py --nemesis partition,pause

It speaks Maelstrom's protocol (jepsen-io/maelstrom doc/protocol.md): JSON messages on stdin and
stdout, `init` first, then the lin-kv workload's `read`, `write` and `cas` from clients, and its
own Raft messages to the other nodes. Every client request, reads included, goes through the
log: it is answered once its entry is applied, by the node that appended it. A node that does not
lead forwards a request to the leader it knows, which answers the client directly (Maelstrom lets
any node reply to any client); without a known leader it answers error 11, definite: nothing was
done. A request whose entry is lost to a new leader is never answered: the client times out, and
its outcome stays unknown, as it should.

Raft here: randomized election timeouts, the log up-to-date check on votes, AppendEntries with a
conflict hint, commitment only by counting entries of the current term. What it leaves out: any
disk. A Maelstrom node keeps nothing across a crash, so a node killed and restarted comes back
empty, and a power cut of the whole cluster loses every acknowledged write: raft-jepsen's
`--nemesis power-cut` shows exactly that. Under partitions and pauses it is linearizable."""

import json
import os
import random
import select
import sys
import time

ELECTION_TIMEOUT_S = (0.6, 1.2)
HEARTBEAT_S = 0.05
BATCH = 200  # entries per AppendEntries


class Node:
    def __init__(self):
        self.id = None
        self.nodes = []
        self.next_msg_id = 0
        self.term = 0
        self.voted_for = None
        self.log = [(0, None)]  # (term, entry); index 0 is a sentinel
        self.commit = 0
        self.applied = 0
        self.kv = {}
        self.role = "follower"
        self.leader = None
        self.votes = set()
        self.next_index = {}
        self.match_index = {}
        self.pending = {}  # log index -> term of the entry this node appended there (it answers it)
        self.deadline = time.monotonic() + random.uniform(*ELECTION_TIMEOUT_S)
        self.next_heartbeat = 0.0

    # --- messages ---

    def send(self, dest, body):
        self.next_msg_id += 1
        sys.stdout.write(json.dumps({"src": self.id, "dest": dest, "body": {"msg_id": self.next_msg_id, **body}}) + "\n")

    def reply(self, request, body):
        self.send(request["src"], {**body, "in_reply_to": request["body"].get("msg_id")})

    def log_event(self, event, **fields):
        sys.stderr.write(json.dumps({"ts": time.time(), "node": self.id, "event": event, **fields}) + "\n")

    def handle(self, message):
        body = message["body"]
        kind = body.get("type")
        if kind == "init":
            self.id, self.nodes = body["node_id"], body["node_ids"]
            self.reply(message, {"type": "init_ok"})
            self.log_event("init", nodes=self.nodes)
        elif kind in ("read", "write", "cas"):
            self.client_request(message["src"], body)
        elif kind == "forward":
            self.client_request(body["client"], body["request"], forwarded=True)
        elif kind == "request_vote":
            self.on_request_vote(message["src"], body)
        elif kind == "vote":
            self.on_vote(message["src"], body)
        elif kind == "append_entries":
            self.on_append_entries(message["src"], body)
        elif kind == "append_reply":
            self.on_append_reply(message["src"], body)

    # --- clients ---

    def client_request(self, client, request, forwarded=False):
        if self.role == "leader":
            self.log.append((self.term, {"client": client, "request": request}))
            self.pending[len(self.log) - 1] = self.term
            self.replicate()
            self.advance_commit()
        elif self.leader is not None and not forwarded:
            self.send(self.leader, {"type": "forward", "client": client, "request": request})
        else:  # nothing was appended anywhere: a definite refusal
            self.send(client, {"type": "error", "code": 11, "in_reply_to": request.get("msg_id"),
                               "text": f"{self.id} does not lead and knows no leader"})

    def apply(self, index, entry):
        request = entry["request"]
        key, kind = request["key"], request["type"]
        if kind == "read":
            answer = {"type": "read_ok", "value": self.kv[key]} if key in self.kv else {"type": "error", "code": 20}
        elif kind == "write":
            self.kv[key] = request["value"]
            answer = {"type": "write_ok"}
        elif key not in self.kv:
            answer = {"type": "error", "code": 20}
        elif self.kv[key] != request["from"]:
            answer = {"type": "error", "code": 22, "text": f"expected {request['from']}, found {self.kv[key]}"}
        else:
            self.kv[key] = request["to"]
            answer = {"type": "cas_ok"}
        if self.pending.pop(index, None) == self.log[index][0]:
            self.send(entry["client"], {**answer, "in_reply_to": request.get("msg_id")})

    # --- Raft ---

    def last(self):
        return len(self.log) - 1, self.log[-1][0]

    def majority(self):
        return len(self.nodes) // 2 + 1

    def become(self, role, term, leader=None):
        if term > self.term:
            self.term, self.voted_for = term, None
        if (role, leader) != (self.role, self.leader):
            self.log_event("role", term=self.term, role=role, leader=leader)
        self.role, self.leader = role, leader

    def reset_timer(self):
        self.deadline = time.monotonic() + random.uniform(*ELECTION_TIMEOUT_S)

    def tick(self):
        now = time.monotonic()
        if self.role == "leader":
            if now >= self.next_heartbeat:
                self.replicate()
        elif now >= self.deadline and self.id is not None:
            self.become("candidate", self.term + 1)
            self.voted_for, self.votes = self.id, {self.id}
            self.reset_timer()
            last_index, last_term = self.last()
            for peer in self.peers():
                self.send(peer, {"type": "request_vote", "term": self.term, "last_index": last_index,
                                 "last_term": last_term})
            self.maybe_win()

    def peers(self):
        return [n for n in self.nodes if n != self.id]

    def on_request_vote(self, candidate, body):
        if body["term"] > self.term:
            self.become("follower", body["term"])
        last_index, last_term = self.last()
        up_to_date = (body["last_term"], body["last_index"]) >= (last_term, last_index)
        granted = body["term"] == self.term and self.voted_for in (None, candidate) and up_to_date
        if granted:
            self.voted_for = candidate
            self.reset_timer()
        self.send(candidate, {"type": "vote", "term": self.term, "granted": granted})

    def on_vote(self, voter, body):
        if body["term"] > self.term:
            self.become("follower", body["term"])
        elif self.role == "candidate" and body["term"] == self.term and body["granted"]:
            self.votes.add(voter)
            self.maybe_win()

    def maybe_win(self):
        if self.role == "candidate" and len(self.votes) >= self.majority():
            self.become("leader", self.term, self.id)
            self.next_index = {p: len(self.log) for p in self.peers()}
            self.match_index = {p: 0 for p in self.peers()}
            self.replicate()

    def replicate(self):
        for peer in self.peers():
            prev = self.next_index[peer] - 1
            self.send(peer, {"type": "append_entries", "term": self.term, "prev_index": prev,
                             "prev_term": self.log[prev][0], "entries": self.log[prev + 1:prev + 1 + BATCH],
                             "commit": self.commit})
        self.next_heartbeat = time.monotonic() + HEARTBEAT_S

    def on_append_entries(self, leader, body):
        if body["term"] < self.term:
            self.send(leader, {"type": "append_reply", "term": self.term, "success": False, "hint": 0})
            return
        self.become("follower", body["term"], leader)
        self.reset_timer()
        prev = body["prev_index"]
        if prev >= len(self.log):
            self.send(leader, {"type": "append_reply", "term": self.term, "success": False, "hint": len(self.log)})
            return
        if self.log[prev][0] != body["prev_term"]:
            conflict = self.log[prev][0]
            hint = prev
            while hint > 1 and self.log[hint - 1][0] == conflict:
                hint -= 1
            self.send(leader, {"type": "append_reply", "term": self.term, "success": False, "hint": hint})
            return
        for offset, (term, entry) in enumerate(body["entries"]):
            index = prev + 1 + offset
            if index < len(self.log) and self.log[index][0] != term:
                del self.log[index:]  # a conflicting suffix: never one that matches
                self.pending = {i: t for i, t in self.pending.items() if i < index}
            if index >= len(self.log):
                self.log.append((term, entry))
        match = prev + len(body["entries"])
        self.commit = max(self.commit, min(body["commit"], match))
        self.apply_committed()
        self.send(leader, {"type": "append_reply", "term": self.term, "success": True, "match": match})

    def on_append_reply(self, follower, body):
        if body["term"] > self.term:
            self.become("follower", body["term"])
            return
        if self.role != "leader" or body["term"] != self.term:
            return
        if body["success"]:
            self.match_index[follower] = max(self.match_index[follower], body["match"])
            self.next_index[follower] = max(self.next_index[follower], body["match"] + 1)
            self.advance_commit()
        else:
            self.next_index[follower] = max(1, min(self.next_index[follower] - 1, body["hint"]))

    def advance_commit(self):
        for index in range(len(self.log) - 1, self.commit, -1):
            if self.log[index][0] != self.term:
                break  # only entries of the current term are committed by counting
            if 1 + sum(1 for m in self.match_index.values() if m >= index) >= self.majority():
                self.commit = index
                break
        self.apply_committed()

    def apply_committed(self):
        while self.applied < self.commit:
            self.applied += 1
            self.apply(self.applied, self.log[self.applied][1])


def main():
    node = Node()
    buffer = b""
    stdin = sys.stdin.fileno()
    while True:
        wake = node.next_heartbeat if node.role == "leader" else node.deadline
        wait = None if node.id is None else max(0.0, wake - time.monotonic())  # before init: no timers
        readable, _, _ = select.select([stdin], [], [], wait)
        if readable:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    node.handle(json.loads(line))
        node.tick()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    main()
