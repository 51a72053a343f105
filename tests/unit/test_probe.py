"""`raft-jepsen probe`: a node that speaks the client protocol right passes; a deliberately broken
node gets its mistakes in plain words (a missing field, a reply to the wrong request, a cas that
ignores its old value, ...); and raftkv itself, the reference, has none."""

from __future__ import annotations

import json
import socketserver
import threading

import pytest

from raft_jepsen.harness.cli import main as cli_main
from raft_jepsen.harness.clients.conformance import probe

FLAWS = (
    "wrong-id",  # answers with the id of the previous request
    "no-id",
    "no-ok",
    "cas-ignores-old",  # a cas always applies
    "mismatch-indefinite",  # a mismatched cas says definite: false
    "mismatch-name",  # a mismatched cas calls itself precondition-failed
    "no-definite",  # error replies lack `definite`
    "closes-on-unknown-op",
    "duplicate-append",  # no (client, seq) de-duplication
    "silent-status",  # never answers status
    "not-json",
    "read-zero",  # a never-written key reads as 0
    "stale-read",  # reads answer the value before the last write
    "no-append",  # append is unknown (a note, not a mistake)
)


class BrokenNode:
    """A one-process key-value node speaking the protocol, with one flaw switched on (or none)."""

    def __init__(self, flaw: str | None = None, leader: bool = True, name: str = "n1"):
        self.flaw, self.leader, self.name = flaw, leader, name
        self.data: dict = {}
        self.previous: dict = {}
        self.seen: dict = {}
        self.lock = threading.Lock()
        node = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                last_id = None
                for line in self.rfile:
                    try:
                        request = json.loads(line)
                    except ValueError:
                        self.wfile.write(b'{"id": null, "ok": false, "error": "bad-request", "definite": true}\n')
                        continue
                    reply = node.answer(request)
                    if reply is None:
                        return
                    if reply == "hold":
                        continue
                    if node.flaw == "not-json":
                        self.wfile.write(b"OK\n")
                        continue
                    reply = {"id": request.get("id"), **reply}
                    if node.flaw == "wrong-id" and request.get("id") != 0:
                        reply["id"] = last_id
                    if node.flaw == "no-id" and request.get("id") != 0:
                        del reply["id"]
                    if node.flaw == "no-ok" and request.get("op") != "status":
                        del reply["ok"]
                    if node.flaw == "no-definite":
                        reply.pop("definite", None)
                    last_id = request.get("id")
                    self.wfile.write(json.dumps(reply).encode() + b"\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def addr(self):
        return self.server.server_address

    def answer(self, request):
        op, key, value = request.get("op"), request.get("key"), request.get("value")
        if op == "status":
            if self.flaw == "silent-status":
                return "hold"
            return {"ok": True, "node": self.name, "role": "leader" if self.leader else "follower", "term": 1,
                    "leader": "n1"}
        if op not in ("read", "write", "cas", "append"):
            return None if self.flaw == "closes-on-unknown-op" else {"ok": False, "error": "bad-request", "definite": True}
        if not self.leader:
            return {"ok": False, "error": "not-leader", "definite": True, "leader": "n1"}
        with self.lock:
            if op == "read":
                if self.flaw == "stale-read":
                    return {"ok": True, "value": self.previous.get(key)}
                default = 0 if self.flaw == "read-zero" else None
                return {"ok": True, "value": self.data.get(key, default)}
            if op == "write":
                self.previous[key] = self.data.get(key)
                self.data[key] = value
                return {"ok": True, "value": value}
            if op == "cas":
                old, new = value
                if self.data.get(key) != old and self.flaw != "cas-ignores-old":
                    name = "precondition-failed" if self.flaw == "mismatch-name" else "cas-mismatch"
                    return {"ok": False, "error": name, "definite": self.flaw != "mismatch-indefinite",
                            "value": self.data.get(key)}
                self.previous[key] = self.data.get(key)
                self.data[key] = new
                return {"ok": True, "value": new}
            if self.flaw == "no-append":
                return {"ok": False, "error": "bad-request", "definite": True}
            command = (request.get("client"), request.get("seq"))
            if command in self.seen and self.flaw != "duplicate-append":
                return self.seen[command]
            self.data.setdefault(key, []).append(value)
            self.seen[command] = {"ok": True, "value": list(self.data[key])}
            return self.seen[command]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node():
    made = []

    def make(flaw=None, **kwargs):
        made.append(BrokenNode(flaw, **kwargs))
        return made[-1]

    yield make
    for n in made:
        n.close()


def mistakes(findings):
    return [f.text for f in findings if f.level == "mistake"]


def test_a_node_that_speaks_the_protocol_has_no_mistakes(node):
    findings = probe([node().addr], timeout=1, seed=1)
    assert mistakes(findings) == [] and [f.level for f in findings].count("ok") >= 8


@pytest.mark.parametrize("flaw, words", [
    ("wrong-id", "a reply to the wrong request (replies must echo the request's id)"),
    ("no-id", "has no `id`: every reply must carry its request's id"),
    ("no-ok", "has no `ok` true or false"),
    ("cas-ignores-old", "succeeded: a cas that ignores its old value"),
    ("mismatch-indefinite", "was refused, but it is not definite: true"),
    ("mismatch-name", "its error is precondition-failed, not cas-mismatch"),
    ("no-definite", "has no `definite` true or false"),
    ("closes-on-unknown-op", "closed the connection instead of answering an unknown op"),
    ("duplicate-append", "a retried command was applied twice"),
    ("silent-status", "no reply to status within 1 s (the harness sends"),
    ("not-json", "is not JSON: OK"),
    ("read-zero", "a read of a key never written returned 0, not null"),
    ("stale-read", "a read after an acknowledged write of"),
])
def test_a_broken_node_is_told_what_is_wrong_in_words(node, flaw, words):
    found = mistakes(probe([node(flaw).addr], timeout=1, seed=1))
    assert any(words in text for text in found), found


def test_a_node_without_append_gets_a_note_not_a_mistake(node):
    findings = probe([node("no-append").addr], timeout=1, seed=1)
    assert mistakes(findings) == []
    assert any(f.level == "note" and "append refused" in f.text for f in findings)


def test_commands_go_to_whichever_address_leads(node):
    follower, leader = node(leader=False, name="n2"), node(name="n1")
    assert mistakes(probe([follower.addr, leader.addr], timeout=1)) == []
    alone = probe([follower.addr], timeout=1)
    assert mistakes(alone) == [] and any("refuses commands as not-leader (leader: n1)" in f.text for f in alone)


def test_the_command_says_it_and_exits_by_what_it_found(node, capsys):
    good, bad = node(), node("cas-ignores-old")
    assert cli_main(["probe", "--timeout", "1", f"127.0.0.1:{good.addr[1]}"]) == 0
    assert "no mistakes: the harness can test this node" in capsys.readouterr().out
    assert cli_main(["probe", "--timeout", "1", f"127.0.0.1:{bad.addr[1]}"]) == 1
    out = capsys.readouterr().out
    assert "MISTAKE  cas [" in out and "the cas changed the value" in out
    assert "2 mistakes: the harness would misread this node" in out
    assert cli_main(["probe", "nowhere"]) == 3
    assert "'nowhere' is not HOST:PORT" in capsys.readouterr().err
    closed = node()
    port = closed.addr[1]
    closed.close()
    assert cli_main(["probe", f"127.0.0.1:{port}"]) == 3
    assert "cannot connect to 127.0.0.1" in capsys.readouterr().err


@pytest.mark.slow
def test_raftkv_the_reference_node_has_no_mistakes(tmp_path):
    from tests.unit.raftkv_cluster import LocalCluster

    with LocalCluster(tmp_path, 3) as c:
        c.wait_leader()
        findings = probe([("127.0.0.1", n.client_port) for n in c.nodes.values()], timeout=3)
    assert mistakes(findings) == []
    assert not [f for f in findings if f.level == "note"], findings  # raftkv offers everything
