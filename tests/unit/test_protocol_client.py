"""The raftkv wire client against tiny fake nodes on 127.0.0.1: what each outcome records."""

import json
import socket
import socketserver
import threading

import pytest

from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.control.base import NullRemote
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node

HOLD = object()  # do not answer (the client must time out)
HANG_UP = object()  # close the connection without answering
LAST = "last"  # a reply key: answer, then close the connection (a node restarting between ops)


class FakeNode:
    """Answers each request line with `respond(request)`; remembers every request."""

    def __init__(self, name, respond, status=lambda: {"ok": True, "role": "leader", "term": 1}):
        self.name = name
        self.requests = []  # every request but the handshakes
        self.connections = 0
        self.handshakes = 0
        self.status = status
        node = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                node.connections += 1
                for line in self.rfile:
                    request = json.loads(line)
                    if request["op"] == "status":  # the client's handshake on a new connection
                        node.handshakes += 1
                        reply = node.status()
                    else:
                        node.requests.append(request)
                        reply = respond(request)
                    if reply is HANG_UP:
                        return
                    if reply is not HOLD:
                        last = reply.pop(LAST, False)
                        self.wfile.write(json.dumps({"id": request["id"], **reply}).encode() + b"\n")
                        if last:
                            return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

            def shutdown_request(self, request):
                super().shutdown_request(request)
                node.hung_up.set()

        self.hung_up = threading.Event()  # set once the node has closed a connection
        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def node(self):
        return Node(self.name, "10.0.0.1", self.server.server_address, NullRemote(self.name))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nodes():
    made = []

    def make(name, respond, **kwargs):
        made.append(FakeNode(name, respond, **kwargs))
        return made[-1]

    yield make
    for n in made:
        n.close()


def client_for(home, *others, timeout=2.0):
    client = ProtocolClient({n.name: n.server.server_address for n in others}, timeout=timeout)
    client.open(home.node)
    return client


def op(f, value=None, key="k1"):
    return Op(index=-1, type="invoke", process=3, f=f, key=key, value=value)


def test_ok_replies_record_the_value_read_or_written_and_the_node(nodes):
    n1 = nodes("n1", lambda r: {"ok": True, "value": 4} if r["op"] == "read" else {"ok": True})
    client = client_for(n1)
    read, write = client.invoke(op("read")), client.invoke(op("write", 2))
    assert (read.type, read.value, read.node) == ("ok", 4, "n1")
    assert (write.type, write.value) == ("ok", 2)
    assert n1.requests[1] == {"id": 2, "client": n1.requests[0]["client"], "seq": 2, "op": "write", "key": "k1", "value": 2}
    assert (n1.connections, n1.handshakes) == (1, 1)  # one connection, reused


def test_a_definite_error_is_fail_and_keeps_the_error_name(nodes):
    n1 = nodes("n1", lambda r: {"ok": False, "error": "cas-mismatch", "definite": True, "value": 1})
    done = client_for(n1).invoke(op("cas", [0, 3]))
    assert (done.type, done.error, done.value) == ("fail", "cas-mismatch", [0, 3])


def test_an_error_that_may_have_taken_effect_is_info(nodes):
    n1 = nodes("n1", lambda r: {"ok": False, "error": "lost-leadership", "definite": False})
    assert client_for(n1).invoke(op("write", 1)).type == "info"


def test_not_leader_is_followed_to_the_leader_with_the_same_command(nodes):
    n2 = nodes("n2", lambda r: {"ok": True})
    n1 = nodes("n1", lambda r: {"ok": False, "error": "not-leader", "definite": True, "leader": "n2"})
    done = client_for(n1, n2).invoke(op("write", 7))
    assert (done.type, done.node) == ("ok", "n2")
    assert [(r["client"], r["seq"]) for r in n1.requests] == [(r["client"], r["seq"]) for r in n2.requests]


def test_redirects_stop_after_two_hops_as_a_definite_fail(nodes):
    def redirect_to(leader):
        return lambda r: {"ok": False, "error": "not-leader", "definite": True, "leader": leader}

    n3 = nodes("n3", redirect_to("n4"))
    n4 = nodes("n4", lambda r: {"ok": True})
    n2 = nodes("n2", redirect_to("n3"))
    n1 = nodes("n1", redirect_to("n2"))
    done = client_for(n1, n2, n3, n4).invoke(op("write", 1))
    assert (done.type, done.error, done.node) == ("fail", "not-leader", "n3")
    assert not n4.requests


def test_a_refused_connection_is_fail_since_nothing_was_sent():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        addr = s.getsockname()
    client = ProtocolClient()
    client.open(Node("n1", "10.0.0.1", addr, NullRemote()))
    done = client.invoke(op("write", 1))
    assert done.type == "fail" and "cannot connect" in done.error


def test_no_reply_in_time_is_info(nodes):
    n1 = nodes("n1", lambda r: HOLD)
    done = client_for(n1, timeout=0.2).invoke(op("write", 1))
    assert (done.type, done.error) == ("info", "timeout")


def test_after_a_timeout_a_late_reply_is_never_taken_for_the_next_answer(nodes):
    answers = iter([HOLD, {"ok": True, "value": 9}])
    n1 = nodes("n1", lambda r: next(answers))
    client = client_for(n1, timeout=0.2)
    assert client.invoke(op("read")).type == "info"
    done = client.invoke(op("read"))
    assert (done.type, done.value) == ("ok", 9)
    assert n1.connections == 2  # the timed-out connection was dropped


def test_a_connection_lost_after_sending_is_info(nodes):
    n1 = nodes("n1", lambda r: HANG_UP)
    done = client_for(n1).invoke(op("write", 1))
    assert done.type == "info" and "lost connection" in done.error


def test_after_a_lost_connection_the_next_op_reconnects(nodes):
    answers = iter([HANG_UP, {"ok": True}])
    n1 = nodes("n1", lambda r: next(answers))
    client = client_for(n1)
    assert client.invoke(op("write", 1)).type == "info"
    assert client.invoke(op("write", 2)).type == "ok"


def test_an_idle_connection_the_node_closed_is_replaced_before_sending(nodes):
    n1 = nodes("n1", lambda r: {"ok": True, LAST: True})
    client = client_for(n1)
    assert client.invoke(op("write", 1)).type == "ok"
    assert n1.hung_up.wait(5)
    done = client.invoke(op("write", 2))
    assert done.type == "ok"  # not info: nothing was sent into the dead connection
    assert n1.connections == 2


def test_a_port_that_accepts_but_no_node_answers_is_fail_since_nothing_was_sent(nodes):
    n1 = nodes("n1", lambda r: {"ok": True}, status=lambda: HANG_UP)  # Docker's proxy, node down
    done = client_for(n1).invoke(op("write", 1))
    assert (done.type, done.error) == ("fail", "node not answering")
    assert not n1.requests  # the command itself never left


def test_a_node_that_accepts_but_never_answers_is_fail_before_sending(nodes):
    n1 = nodes("n1", lambda r: {"ok": True}, status=lambda: HOLD)  # a paused node's kernel accepts
    done = client_for(n1, timeout=0.2).invoke(op("write", 1))
    assert (done.type, done.error) == ("fail", "node not answering")
    assert not n1.requests


# --- retries: what a client library does with a command of unknown outcome -----------------


def retrying_client(home, *others, retries=2, timeout=0.2):
    client = ProtocolClient({n.name: n.server.server_address for n in others}, timeout=timeout, retries=retries, backoff=0)
    client.open(home.node)
    return client


def ids(node):
    return [(r["client"], r["seq"]) for r in node.requests]


def test_by_default_an_unknown_outcome_is_not_retried(nodes):
    n1 = nodes("n1", lambda r: HOLD)
    assert client_for(n1, timeout=0.2).invoke(op("append", 5)).type == "info"
    assert len(n1.requests) == 1


def test_a_timed_out_command_is_resent_to_the_next_node_with_the_same_identity_and_its_ok_counts(nodes):
    n1 = nodes("n1", lambda r: HOLD)
    n2 = nodes("n2", lambda r: {"ok": True, "value": [5]})
    done = retrying_client(n1, n2).invoke(op("append", 5))
    assert (done.type, done.node, done.value) == ("ok", "n2", 5)
    assert ids(n1) == ids(n2) and len(ids(n1)) == 1


def test_a_lost_connection_is_retried_on_a_new_connection(nodes):
    answers = iter([HANG_UP, {"ok": True}])
    n1 = nodes("n1", lambda r: next(answers))
    done = retrying_client(n1).invoke(op("append", 1))
    assert done.type == "ok"
    assert n1.connections == 2 and len(set(ids(n1))) == 1


def test_a_command_still_unknown_after_every_retry_is_info(nodes):
    n1 = nodes("n1", lambda r: {"ok": False, "error": "timeout", "definite": False})
    done = retrying_client(n1, retries=3).invoke(op("append", 1))
    assert (done.type, done.error) == ("info", "timeout (retry 3 of 3)")
    assert len(n1.requests) == 4 and len(set(ids(n1))) == 1


def test_a_definite_refusal_of_a_retry_does_not_make_an_unknown_first_attempt_a_fail(nodes):
    answers = iter([{"ok": False, "error": "lost-leadership", "definite": False},
                    {"ok": False, "error": "not-leader", "definite": True}])
    n1 = nodes("n1", lambda r: next(answers))
    done = retrying_client(n1, retries=1).invoke(op("append", 1))
    assert (done.type, done.error) == ("info", "not-leader (retry 1 of 1)")


def test_a_definite_refusal_of_the_first_attempt_is_fail_without_retrying(nodes):
    n1 = nodes("n1", lambda r: {"ok": False, "error": "not-leader", "definite": True})
    done = retrying_client(n1).invoke(op("append", 1))
    assert done.type == "fail" and len(n1.requests) == 1


def test_reads_are_never_retried(nodes):
    n1 = nodes("n1", lambda r: HOLD)
    assert retrying_client(n1).invoke(op("read")).type == "info"
    assert len(n1.requests) == 1


def test_the_next_command_after_a_retried_one_has_a_new_identity(nodes):
    answers = iter([HOLD, {"ok": True}, {"ok": True}])
    n1 = nodes("n1", lambda r: next(answers))
    client = retrying_client(n1, retries=1)
    assert client.invoke(op("append", 1)).type == "ok"
    assert client.invoke(op("append", 2)).type == "ok"
    assert [seq for _, seq in ids(n1)] == [1, 1, 2]


def test_a_silent_node_is_given_up_before_the_timeout_but_a_busy_one_is_not(nodes):
    """A paused node answers nothing, status included: the client gives up once a status on a
    fresh connection goes unanswered too (info: the command may still apply), long before its
    timeout. A node that answers status but holds the command is waited for to the timeout."""
    answered = []

    def paused_status():
        answered.append(1)
        return {"ok": True, "role": "leader", "term": 1} if len(answered) == 1 else HOLD  # the handshake only

    paused = nodes("n1", lambda r: HOLD, status=paused_status)
    client = ProtocolClient(timeout=30.0)
    client.open(paused.node)
    done = client.invoke(op("write", 1))
    assert (done.type, done.node) == ("info", "n1") and "silent" in done.error
    assert len(answered) == 2  # the handshake, then the probe nobody answered

    busy = nodes("n2", lambda r: HOLD)
    client = ProtocolClient(timeout=1.2)
    client.open(busy.node)
    done = client.invoke(op("write", 1))
    assert (done.type, done.error) == ("info", "timeout") and busy.handshakes == 2  # handshake, probe
