"""The etcd client against a scripted gateway (httpx.MockTransport): what goes on the wire (base64,
proto field names, the has-leader header), and which outcome each error gets (docs/etcd.md)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from raft_jepsen.harness.clients import etcd
from raft_jepsen.harness.clients.etcd import EtcdClient
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def error(code: int, message: str, status: int = 503) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "message": message, "code": code})


class Gateway:
    """Answers by path from a script (a callable per path, or a list of replies used in turn);
    records every request's path, body and headers."""

    def __init__(self, **script):
        self.script = {"/v3/maintenance/status": [httpx.Response(200, json={"header": {"member_id": "1"}})] * 100,
                       **{"/v3/" + k.replace("_", "/"): v for k, v in script.items()}}
        self.requests: list[tuple[str, dict, httpx.Headers]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.requests.append((request.url.path, body, request.headers))
        answer = self.script[request.url.path]
        if callable(answer):
            answer = answer(body)
        elif isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self, path: str) -> list[dict]:
        return [b for p, b, _ in self.requests if p == path]


def client(gateway: Gateway, **options) -> EtcdClient:
    c = EtcdClient(transport=httpx.MockTransport(gateway), backoff=0, **options)
    c.open(Node(name="n1", ip="10.0.0.1", client_addr=("127.0.0.1", 2379), remote=None))
    return c


def op(f: str, key="k1", value=None) -> Op:
    return Op(index=0, type="invoke", process=0, f=f, key=key, value=value)


def kv(value: str, mod: int = 7) -> dict:
    return {"kvs": [{"key": b64("k1"), "value": b64(value), "mod_revision": str(mod)}], "count": "1"}


# -- encoding ------------------------------------------------------------------------------------


def test_keys_and_values_are_base64_of_json_texts():
    assert etcd.encode_value(3) == b64("3")
    assert etcd.encode_value([1, 2]) == b64("[1,2]")
    assert etcd.decode_value(b64("[1,2]")) == [1, 2]
    assert etcd.decode_value(b64("not json")) == "not json"  # garbage is shown, not hidden
    assert etcd.b64("k1") == b64("k1")
    assert etcd.as_int("57") == 57 and etcd.as_int(None) == 0  # int64s are strings; zero is left out


def test_a_put_is_sent_in_base64_with_the_has_leader_header():
    gw = Gateway(kv_put=[httpx.Response(200, json={"header": {"revision": "2"}})])
    done = client(gw).invoke(op("write", value=4))
    assert done.type == "ok" and done.node == "n1"
    _, body, headers = gw.requests[-1]
    assert body == {"key": b64("k1"), "value": b64("4")}
    assert headers["grpc-metadata-hasleader"] == "true"


def test_a_read_decodes_the_value_and_an_absent_key_is_none():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("5")), httpx.Response(200, json={"header": {}})])
    c = client(gw)
    assert c.invoke(op("read")).value == 5
    assert c.invoke(op("read")).value is None  # no kvs, no count: zero values are left out
    assert gw.bodies("/v3/kv/range")[0] == {"key": b64("k1")}


def test_serializable_reads_say_so():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("5"))])
    client(gw, serializable=True).invoke(op("read"))
    assert gw.bodies("/v3/kv/range") == [{"key": b64("k1"), "serializable": True}]
    assert "grpc-metadata-hasleader" not in gw.requests[-1][2]  # a cut-off member answers them too


def test_cas_is_a_txn_comparing_the_value_and_a_missing_succeeded_is_a_mismatch():
    gw = Gateway(kv_txn=[httpx.Response(200, json={"succeeded": True}), httpx.Response(200, json={"header": {}})])
    c = client(gw)
    assert c.invoke(op("cas", value=[1, 2])).type == "ok"
    mismatch = c.invoke(op("cas", value=[1, 2]))
    assert (mismatch.type, mismatch.error) == ("fail", "cas-mismatch")
    txn = gw.bodies("/v3/kv/txn")[0]
    assert txn["compare"] == [{"key": b64("k1"), "target": "VALUE", "result": "EQUAL", "value": b64("1")}]
    assert txn["success"] == [{"request_put": {"key": b64("k1"), "value": b64("2")}}]


# -- error mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize("code, message, outcome", [
    (14, "etcdserver: no leader", "fail"),
    (14, "etcdserver: unhealthy cluster", "fail"),
    (3, "etcdserver: duplicate key given in txn request", "fail"),
    (3, "etcdserver: request is too large", "fail"),
    (8, "etcdserver: too many requests", "fail"),
    (8, "etcdserver: mvcc: database space exceeded", "fail"),
    (11, "etcdserver: mvcc: required revision has been compacted", "fail"),
    (9, "etcdserver: re-configuration failed due to not enough started members", "fail"),
    (5, "etcdserver: member not found", "fail"),
    (14, "etcdserver: request timed out", "info"),
    (14, "etcdserver: request timed out, possibly due to previous leader failure", "info"),
    (14, "etcdserver: leader changed", "info"),
    (14, "etcdserver: server stopped", "info"),
    (2, "raft proposal dropped", "info"),
    (4, "context deadline exceeded", "info"),
    (1, "context canceled", "info"),
])
def test_each_gateway_error_of_a_write_is_definite_only_when_etcd_says_nothing_was_proposed(code, message, outcome):
    gw = Gateway(kv_put=[error(code, message)])
    done = client(gw).invoke(op("write", value=1))
    assert (done.type, done.error) == (outcome, message)


def test_a_status_without_etcds_error_body_is_unknown():
    gw = Gateway(kv_put=[httpx.Response(502, text="bad gateway")])
    assert client(gw).invoke(op("write", value=1)).type == "info"


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("t"), httpx.RemoteProtocolError("gone"), httpx.ReadError("reset"),
                                 httpx.WriteError("broken pipe")])
def test_a_write_lost_after_it_left_is_unknown(exc):
    gw = Gateway(kv_put=[exc])
    assert client(gw).invoke(op("write", value=1)).type == "info"


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("t")])
def test_a_write_never_sent_fails(exc):
    gw = Gateway(kv_put=[exc])
    assert client(gw).invoke(op("write", value=1)).type == "fail"


def test_a_write_on_a_new_connection_waits_for_etcd_to_answer_on_it():
    """A Docker-published port accepts connections with the member down: the status handshake
    failing means the write was never sent."""
    gw = Gateway(maintenance_status=[httpx.RemoteProtocolError("proxy hung up")], kv_put=[])
    done = client(gw).invoke(op("write", value=1))
    assert done.type == "fail" and gw.bodies("/v3/kv/put") == []


def test_an_error_reply_to_the_handshake_is_still_an_answer():
    gw = Gateway(maintenance_status=[error(14, "etcdserver: no leader")], kv_put=[error(14, "etcdserver: no leader")])
    done = client(gw).invoke(op("write", value=1))
    assert (done.type, done.error) == ("fail", "etcdserver: no leader") and len(gw.bodies("/v3/kv/put")) == 1


def test_any_read_error_fails_a_read():
    for exc in (httpx.ReadTimeout("t"), error(14, "etcdserver: request timed out"), error(2, "x", 500)):
        gw = Gateway(kv_range=[exc])
        assert client(gw).invoke(op("read")).type == "fail"


# -- append -------------------------------------------------------------------------------------


def test_an_append_puts_the_list_guarded_by_the_mod_revision_read():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("[1]", mod=7))],
                 kv_txn=[httpx.Response(200, json={"succeeded": True})])
    assert client(gw).invoke(op("append", value=2)).type == "ok"
    txn = gw.bodies("/v3/kv/txn")[0]
    assert txn["compare"] == [{"key": b64("k1"), "target": "MOD", "result": "EQUAL", "mod_revision": "7"}]
    assert txn["success"] == [{"request_put": {"key": b64("k1"), "value": b64("[1,2]")}}]


def test_an_append_to_an_absent_key_compares_mod_revision_zero_and_retries_on_conflict():
    gw = Gateway(kv_range=[httpx.Response(200, json={}), httpx.Response(200, json=kv("[9]", mod=3))],
                 kv_txn=[httpx.Response(200, json={}), httpx.Response(200, json={"succeeded": True})])
    assert client(gw).invoke(op("append", value=2)).type == "ok"
    first, second = gw.bodies("/v3/kv/txn")
    assert first["compare"][0]["mod_revision"] == "0"
    assert second["success"][0]["request_put"]["value"] == b64("[9,2]")


def test_an_unknown_append_is_ok_once_a_read_shows_it_and_is_never_put_twice():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("[1]", mod=7)), httpx.Response(200, json=kv("[1,2]", mod=8))],
                 kv_txn=[httpx.ReadTimeout("t")])
    done = client(gw, retries=3).invoke(op("append", value=2))
    assert done.type == "ok" and len(gw.bodies("/v3/kv/txn")) == 1


def test_an_unknown_append_stays_unknown_when_the_retries_run_out():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("[1]", mod=7))] * 5, kv_txn=[httpx.ReadTimeout("t")] * 5)
    done = client(gw, retries=2).invoke(op("append", value=2))
    assert done.type == "info" and len(gw.bodies("/v3/kv/txn")) == 3


def test_an_unknown_append_whose_next_read_fails_is_unknown_not_failed():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("[1]")), httpx.ConnectError("refused")],
                 kv_txn=[httpx.ReadTimeout("t")])
    assert client(gw, retries=3).invoke(op("append", value=2)).type == "info"


def test_an_append_refused_definitely_fails():
    gw = Gateway(kv_range=[httpx.Response(200, json=kv("[1]"))], kv_txn=[error(14, "etcdserver: no leader")])
    assert client(gw).invoke(op("append", value=2)).type == "fail"


def test_an_append_losing_every_race_fails_definitely():
    gw = Gateway(kv_range=lambda body: httpx.Response(200, json=kv("[1]")), kv_txn=lambda body: httpx.Response(200, json={}))
    done = client(gw).invoke(op("append", value=2))
    assert done.type == "fail" and len(gw.bodies("/v3/kv/txn")) == etcd.MAX_CONFLICTS


def test_an_append_stops_trying_after_its_time_budget(monkeypatch):
    monkeypatch.setattr(etcd, "APPEND_BUDGET_S", -1.0)
    gw = Gateway(kv_range=lambda body: httpx.Response(200, json=kv("[1]")), kv_txn=lambda body: httpx.Response(200, json={}))
    done = client(gw).invoke(op("append", value=2))
    assert done.type == "fail" and gw.bodies("/v3/kv/txn") == []
