"""A client of etcd's v3 API through its JSON gateway (grpc-gateway: `POST /v3/kv/range`, `/v3/kv/put`,
`/v3/kv/txn`; keys and values base64, 64-bit integers as JSON strings, zero values left out).

One client per logical process, one HTTP connection to its home node (etcd forwards proposals to
its leader itself), explicit timeouts, and the header `Grpc-Metadata-Hasleader: true`, so that a
member without a leader refuses at once ("etcdserver: no leader") rather than holding the request
for etcd's request timeout (not on serializable reads, which need no leader). docs/etcd.md gives the outcome of every error and the etcd source
that says so; in short:

- a read's error of any kind → `fail`: a read changes nothing;
- an error etcd raises before it proposes anything, or for a request its apply rejects whole
  (gRPC InvalidArgument, NotFound, ResourceExhausted, FailedPrecondition, OutOfRange; Unavailable
  "no leader" and "unhealthy cluster") → `fail`;
- any other error (Unavailable "request timed out", "leader changed", "server stopped", Unknown,
  DeadlineExceeded, a status without etcd's error body), a timeout, a connection lost after the
  request left → `info`: it may have been or may yet be applied;
- nothing sent (connection refused, connect timeout) → `fail`. A connection is only trusted once
  etcd has answered on it: a port Docker publishes accepts connections while the member is down
  (its proxy then hangs up), so a write on a new connection is preceded by a status request.

Values are JSON texts (an int for the register, a list for append and set). `cas [old, new]` is a
txn comparing the value; `append v` is a read, then a txn that puts the list with `v` added if the
key's `mod_revision` is still the one read: retried on conflict, and after an unknown outcome it
is retried only while a fresh read does not show `v` (unique in the run). Two attempts guarded by
the same `mod_revision` cannot both apply, and an older guard can never hold again, so `v` is in
the list at most once. Puts and cas are never resent."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node

TIMEOUT_S = 5.0  # below etcd's own request timeout (5 s + 2 election timeouts): ours fires first
CONNECT_TIMEOUT_S = 1.0
MAX_CONFLICTS = 20  # an append's attempts lost to other appends before it gives up (definitely)
APPEND_BUDGET_S = 3 * TIMEOUT_S  # no new attempt of an append after this long: an op must end
RETRY_BACKOFF_S = 0.25
HEADERS = {"Grpc-Metadata-Hasleader": "true"}  # gateway → gRPC metadata hasleader=true

# gRPC codes etcd uses only for requests it did not apply and never will (docs/etcd.md cites each).
DEFINITE_CODES = {3: "InvalidArgument", 5: "NotFound", 8: "ResourceExhausted", 9: "FailedPrecondition",
                  11: "OutOfRange"}
UNAVAILABLE = 14
# Unavailable is mostly indeterminate ("request timed out"); these two are raised before proposing.
DEFINITE_UNAVAILABLE = ("etcdserver: no leader", "etcdserver: unhealthy cluster")


class EtcdError(Exception):
    """A request that did not succeed: `definite` when it certainly was not and will not be applied."""

    def __init__(self, message: str, definite: bool):
        super().__init__(message)
        self.definite = definite


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def encode_value(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")))


def decode_value(text: str | None) -> Any:
    """A stored value as the workload wrote it (JSON); what is not our JSON comes back as its raw
    text, so that a checker sees the garbage rather than the client hiding it."""
    raw = unb64(text or "")
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def as_int(value: Any) -> int:
    """A gateway int64 (a JSON string; absent = 0)."""
    return int(value or 0)


def classify(status: int, body: Any) -> EtcdError:
    """The error of a gateway reply with a status other than 200."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        return EtcdError(f"http {status}", definite=False)
    code, message = body["code"], str(body.get("message") or body.get("error") or "")
    if code in DEFINITE_CODES:
        return EtcdError(message or DEFINITE_CODES[code], definite=True)
    if code == UNAVAILABLE and message in DEFINITE_UNAVAILABLE:
        return EtcdError(message, definite=True)
    return EtcdError(message or f"grpc code {code}", definite=False)


def transport_error(e: httpx.HTTPError) -> EtcdError:
    """Nothing left us (refused, connect timeout, no connection free) → definite; else unknown."""
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return EtcdError(f"cannot connect ({type(e).__name__})", definite=True)
    if isinstance(e, httpx.TimeoutException):
        return EtcdError("timeout", definite=False)
    return EtcdError(f"lost connection ({type(e).__name__})", definite=False)


class EtcdClient:
    def __init__(self, *, serializable: bool = False, retries: int = 0, timeout: float = TIMEOUT_S,
                 backoff: float = RETRY_BACKOFF_S, transport: httpx.BaseTransport | None = None):
        """`serializable`: reads answered from the member's local state (possibly stale).
        `retries`: how often an append of unknown outcome is attempted again. `transport`: for
        tests (httpx.MockTransport)."""
        self._serializable = serializable
        self._retries = retries
        self._timeout = timeout
        self._backoff = backoff
        self._transport = transport
        self._http: httpx.Client | None = None
        self._trusted = False  # etcd has answered on the current connection
        self._node: str | None = None

    def open(self, node: Node) -> None:
        host, port = node.client_addr
        self._node = node.name
        # verify=False: the gateway is plain HTTP, and a default client loads the CA bundle anyway,
        # 35-96 ms of CPU per client (at 200 clients: etcd measured at 42 ops/s instead of 460).
        self._http = httpx.Client(base_url=f"http://{host}:{port}", transport=self._transport, verify=False,
                                  timeout=httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT_S),
                                  limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "read":
                return op.completed("ok", node=self._node, value=self.get(op.key)[0])
            if op.f == "write":
                self._trust()
                self.call("/v3/kv/put", {"key": b64(op.key), "value": encode_value(op.value)})
                return op.completed("ok", node=self._node)
            if op.f == "cas":
                return self._cas(op)
            if op.f == "append":
                return self._append(op)
        except EtcdError as e:
            failed = op.f == "read" or e.definite  # a read changes nothing, whatever happened
            return op.completed("fail" if failed else "info", node=self._node, error=str(e))
        return op.completed("fail", node=self._node, error=f"unsupported op {op.f!r}")

    # -- operations ----------------------------------------------------------------------------

    def get(self, key: Any) -> tuple[Any, int]:
        """The key's value (None when absent) and its mod_revision (0 when absent)."""
        request: dict[str, Any] = {"key": b64(key)}
        if self._serializable:
            request["serializable"] = True
        # A serializable read is the member's local state whether it has a leader or not: asking
        # for a leader would refuse exactly the reads (a cut-off member's) the option is about.
        kvs = self.call("/v3/kv/range", request, require_leader=not self._serializable).get("kvs") or []
        if not kvs:
            return None, 0
        return decode_value(kvs[0].get("value")), as_int(kvs[0].get("mod_revision"))

    def _cas(self, op: Op) -> Op:
        old, new = op.value
        self._trust()
        reply = self.call("/v3/kv/txn", {
            "compare": [{"key": b64(op.key), "target": "VALUE", "result": "EQUAL", "value": encode_value(old)}],
            "success": [{"request_put": {"key": b64(op.key), "value": encode_value(new)}}],
        })
        if reply.get("succeeded") is True:  # absent when false: zero values are left out
            return op.completed("ok", node=self._node)
        return op.completed("fail", node=self._node, error="cas-mismatch")

    def _append(self, op: Op) -> Op:
        unknown: str | None = None  # the error of an earlier attempt that may yet apply
        unknowns = 0
        deadline = time.monotonic() + APPEND_BUDGET_S
        for _ in range(MAX_CONFLICTS):
            if time.monotonic() > deadline:
                break
            try:
                current, revision = self.get(op.key)
            except EtcdError as e:  # this attempt sent nothing that writes
                return op.completed("info" if unknown else "fail", node=self._node,
                                    error=f"{e}" + (f" (after {unknown})" if unknown else ""))
            current = [] if current is None else current
            if unknown is not None and op.value in current:
                return op.completed("ok", node=self._node)  # the unknown attempt did apply
            if not isinstance(current, list):
                return op.completed("fail", node=self._node, error="wrong-type")
            try:
                reply = self.call("/v3/kv/txn", {
                    "compare": [{"key": b64(op.key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}],
                    "success": [{"request_put": {"key": b64(op.key), "value": encode_value([*current, op.value])}}],
                })
            except EtcdError as e:
                if e.definite and unknown is None:
                    return op.completed("fail", node=self._node, error=str(e))
                if not e.definite:
                    unknown, unknowns = str(e), unknowns + 1
                if unknowns > self._retries:
                    return op.completed("info", node=self._node, error=unknown)
                time.sleep(self._backoff)
                continue
            if reply.get("succeeded") is True:
                return op.completed("ok", node=self._node)
            # compare failed: another append came first; read again
        if unknown is not None:
            return op.completed("info", node=self._node, error=f"{unknown}, then conflicts")
        return op.completed("fail", node=self._node, error="conflicting appends won every attempt")

    # -- transport -----------------------------------------------------------------------------

    def _trust(self) -> None:
        """Make sure etcd answers on the connection a write is about to use: until it has, a
        failure cannot tell "never arrived" from "lost on the way back"."""
        if not self._trusted:
            try:
                self.call("/v3/maintenance/status", {}, definite=True)
            except EtcdError as e:
                if not self._trusted:  # any reply of etcd's, even an error, is an answer on it
                    raise EtcdError(f"not sent: member not answering ({e})", definite=True) from None

    def call(self, path: str, body: dict, *, definite: bool = False, require_leader: bool = True) -> dict:
        """POST `body` to `path`; the reply's JSON. Raises EtcdError; `definite` makes every
        failure definite (a request that changes nothing); `require_leader` sends the has-leader
        header."""
        if self._http is None:
            raise EtcdError("client not open", definite=True)
        try:
            response = self._http.post(path, json=body, headers=HEADERS if require_leader else None)
            reply = response.json() if response.content else {}
        except httpx.HTTPError as e:
            self._trusted = False
            error = transport_error(e)
            raise EtcdError(str(error), definite=definite or error.definite) from None
        except ValueError:
            self._trusted = False
            raise EtcdError(f"malformed reply (http {response.status_code})", definite=definite) from None
        self._trusted = True
        if response.status_code != 200:
            error = classify(response.status_code, reply)
            raise EtcdError(str(error), definite=definite or error.definite)
        if not isinstance(reply, dict):
            raise EtcdError("malformed reply", definite=definite)
        return reply
