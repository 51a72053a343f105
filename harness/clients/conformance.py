"""Does a running node speak the raft-jepsen client protocol (docs/protocol.md) as the harness
needs? `probe(addresses)` talks to it the way the harness's client does, and a few ways more, and
says in plain words what it found: each finding is `ok`, a `mistake` (the harness would misread
the node: a missing field, a reply to the wrong request, a cas that ignores its old value, an
error that claims to be definite when it cannot be) or a `note` (something the node does not
offer, which only some tests need: who leads, append).

Every request carries an id of its own, drawn at random, so that a node that counts its own
replies, or answers an earlier request, is caught. Commands touch only a fresh key, `rj-probe-*`.
The node to command is the first address that accepts a write; a node that is not the leader
and says so (`not-leader`, definite) is no mistake."""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
TIMEOUT_S = 3.0
MAX_LINE = 1 << 20


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "mistake", "note"
    text: str


class _Broken(Exception):
    """The conversation cannot go on: no reply, a closed connection, a line that is not JSON."""


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Session:
    def __init__(self, addr: tuple[str, int], timeout: float, findings: list[Finding], rng: random.Random):
        self.addr = addr
        self.timeout = timeout
        self.findings = findings
        self.rng = rng
        self.sock: socket.socket | None = None
        self.reader = None

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=self.timeout)
        self.sock.settimeout(self.timeout)
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
            self.sock = None

    def mistake(self, text: str) -> None:
        self.findings.append(Finding("mistake", text))

    def raw(self, line: bytes, what: str) -> dict:
        """Send one line, read one reply line, parse it; _Broken when there is none to read."""
        if self.sock is None:
            self.connect()
        try:
            self.sock.sendall(line)
            reply = self.reader.readline(MAX_LINE)
        except socket.timeout:
            self.close()
            raise _Broken(f"no reply to {what} within {self.timeout:g} s") from None
        except OSError as e:
            self.close()
            raise _Broken(f"the connection broke on {what} ({e.strerror or type(e).__name__})") from None
        if not reply:
            self.close()
            raise _Broken(f"the node closed the connection instead of answering {what}")
        if not reply.endswith(b"\n"):
            self.close()
            raise _Broken(f"the reply to {what} is not one line ending in a newline: {_short(reply.decode(errors='replace'))}")
        try:
            parsed = json.loads(reply)
        except ValueError:
            self.close()
            raise _Broken(f"the reply to {what} is not JSON: {_short(reply.decode(errors='replace').strip())}") from None
        if not isinstance(parsed, dict):
            self.close()
            raise _Broken(f"the reply to {what} is not a JSON object: {_short(parsed)}")
        return parsed

    def request(self, request: dict, what: str) -> dict:
        """One request (its id drawn here unless given) and its checked reply."""
        request = {"id": self.rng.randrange(1, 2**31), **request} if "id" not in request else request
        reply = self.raw(json.dumps(request).encode() + b"\n", what)
        if "id" not in reply:
            self.close()
            raise _Broken(f"the reply to {what} has no `id`: every reply must carry its request's id")
        if reply["id"] != request["id"]:
            self.close()
            raise _Broken(f"the reply to {what} carries id {_short(reply['id'])}, but the request's id was "
                          f"{request['id']}: a reply to the wrong request (replies must echo the request's id)")
        if not isinstance(reply.get("ok"), bool):
            self.close()
            raise _Broken(f"the reply to {what} has no `ok` true or false: {_short(reply)}")
        if reply["ok"] is False:
            if not isinstance(reply.get("error"), str) or not reply["error"]:
                self.mistake(f"the error reply to {what} has no `error` name: {_short(reply)}")
            if not isinstance(reply.get("definite"), bool):
                self.mistake(f"the error reply to {what} ({reply.get('error')}) has no `definite` true or false: "
                             "the harness then records the outcome as unknown")
            if reply.get("error") == "not-leader" and "leader" not in reply:
                self.mistake(f"the not-leader reply to {what} has no `leader` (a node name, or null when unknown)")
        return reply


def probe(addrs: list[tuple[str, int]], *, timeout: float = TIMEOUT_S, seed: int | None = None) -> list[Finding]:
    """Check the nodes at `addrs` (one is enough; give every node's to check commands through
    whichever leads). Raises OSError when the first address cannot be connected to at all."""
    findings: list[Finding] = []
    rng = random.Random(seed)
    sessions = [_Session(addr, timeout, findings, rng) for addr in addrs]
    try:
        sessions[0].connect()
        for session in sessions:
            if not _status(session, findings):
                return findings
        _commands(sessions, findings, rng)
    finally:
        for session in sessions:
            session.close()
    return findings


def _status(s: _Session, findings: list[Finding]) -> bool:
    where = f"{s.addr[0]}:{s.addr[1]}"
    try:
        # The harness's own handshake, byte for byte: id 0, on every new connection.
        reply = s.request({"id": 0, "op": "status"}, "status")
    except _Broken as e:
        s.mistake(f"{where}: {e} (the harness sends {{\"id\": 0, \"op\": \"status\"}} on every new connection "
                  "and trusts the connection only once it is answered)")
        return False
    except OSError as e:
        s.mistake(f"{where}: cannot connect ({e.strerror or type(e).__name__})")
        return False
    if reply["ok"] is not True:
        s.mistake(f"{where}: status answered with an error ({reply.get('error')}): status must always succeed")
        return True
    said = ", ".join(f"{k} {_short(reply[k])}" for k in ("node", "role", "term", "leader", "protocol") if k in reply)
    findings.append(Finding("ok", f"{where}: status answered ({said or 'no details'})"))
    if not isinstance(reply.get("term"), int) or reply.get("role") not in ("leader", "follower", "candidate", "pre-candidate"):
        findings.append(Finding("note", f"{where}: status gives no `role` and integer `term`: a system file cannot "
                                        "use `leader: status` to learn who leads (partition-leader, leader targets)"))
    if "protocol" in reply and reply["protocol"] != PROTOCOL_VERSION:
        findings.append(Finding("note", f"{where}: speaks protocol {reply['protocol']}; this probe knows {PROTOCOL_VERSION}"))
    return True


def _commands(sessions: list[_Session], findings: list[Finding], rng: random.Random) -> None:
    key = f"rj-probe-{rng.randrange(16**8):08x}"
    client = f"probe-{rng.randrange(16**8):08x}"
    seqs = iter(range(1, 10**6))
    s = None
    try:
        for candidate in sessions:
            reply = candidate.request({"op": "read", "key": key}, "a read of a key never written")
            if reply["ok"] or reply.get("error") != "not-leader":
                s = candidate
                break
        if s is None:
            leader = reply.get("leader")
            findings.append(Finding("note", f"every address given refuses commands as not-leader (leader: {leader}): "
                                            "give the leader's address, or every node's, to check commands"))
            return
        _expect_value(s, findings, reply, None, "a read of a key never written")
        v1, v2, wrong = rng.sample(range(1, 1000), 3)
        _write(s, findings, key, v1, client, next(seqs))
        _expect_value(s, findings, s.request({"op": "read", "key": key}, "a read"), v1,
                      f"a read after an acknowledged write of {v1}")
        _cas_mismatch(s, findings, key, v1, wrong, v2, client, next(seqs))
        reply = s.request({"op": "cas", "key": key, "value": [v1, v2], "client": client, "seq": next(seqs)},
                          f"cas [{v1}, {v2}]")
        if reply["ok"]:
            findings.append(Finding("ok", f"cas [{v1}, {v2}] with the right old value succeeded"))
            _expect_value(s, findings, s.request({"op": "read", "key": key}, "a read"), v2,
                          f"a read after an acknowledged cas to {v2}")
        else:
            s.mistake(f"cas [{v1}, {v2}] was refused ({reply.get('error')}) although the value is {v1}")
        _unknown_op(s, findings)
        _append(s, findings, key + "-list", client, next(seqs))
    except _Broken as e:
        s = s or sessions[0]
        s.mistake(str(e))
    except OSError as e:
        findings.append(Finding("mistake", f"cannot connect again ({e.strerror or type(e).__name__})"))


def _write(s: _Session, findings: list[Finding], key: str, value: int, client: str, seq: int) -> None:
    reply = s.request({"op": "write", "key": key, "value": value, "client": client, "seq": seq}, f"write {value}")
    if reply["ok"]:
        findings.append(Finding("ok", f"write {value} acknowledged"))
    else:
        raise _Broken(f"write {value} was refused ({reply.get('error')}): cannot check more")


def _expect_value(s: _Session, findings: list[Finding], reply: dict, expected: Any, what: str) -> None:
    if not reply["ok"]:
        s.mistake(f"{what} failed ({reply.get('error')}) on a node that accepts commands")
    elif "value" not in reply:
        s.mistake(f"{what} answered ok without a `value` (a read's reply carries the value, null if never written)")
    elif reply["value"] != expected:
        s.mistake(f"{what} returned {_short(reply['value'])}, not {_short(expected)}")
    else:
        findings.append(Finding("ok", f"{what} returned {_short(expected)}"))


def _cas_mismatch(s: _Session, findings: list[Finding], key: str, current: int, wrong: int, new: int, client: str,
                  seq: int) -> None:
    what = f"cas [{wrong}, {new}] while the value is {current}"
    reply = s.request({"op": "cas", "key": key, "value": [wrong, new], "client": client, "seq": seq}, what)
    if reply["ok"]:
        s.mistake(f"{what} succeeded: a cas that ignores its old value (it must refuse with cas-mismatch, "
                  "definite: true)")
    else:
        problems = []
        if reply.get("error") != "cas-mismatch":
            problems.append(f"its error is {_short(reply.get('error'))}, not cas-mismatch (the checkers know a "
                            "refused cas by that name)")
        if reply.get("definite") is not True:
            problems.append("it is not definite: true (a mismatched cas certainly did nothing; otherwise the "
                            "harness records it as unknown)")
        if "value" in reply and reply["value"] != current:
            problems.append(f"it says the current value is {_short(reply['value'])}, not {current}")
        if problems:
            s.mistake(f"{what} was refused, but {'; '.join(problems)}")
        else:
            findings.append(Finding("ok", f"{what} refused: cas-mismatch, definite"))
    after = s.request({"op": "read", "key": key}, "a read")
    if after["ok"] and after.get("value") != current:
        s.mistake(f"after {what}, a read returned {_short(after.get('value'))}: the cas changed the value")


def _unknown_op(s: _Session, findings: list[Finding]) -> None:
    what = "an unknown op (`no-such-op`)"
    try:
        reply = s.request({"op": "no-such-op", "key": "rj-probe"}, what)
    except _Broken as e:
        s.mistake(f"{e}: answer bad-request (definite: true) and keep the connection open")
        return
    if reply["ok"]:
        s.mistake(f"{what} was answered ok: refuse it with bad-request, definite: true")
    elif reply.get("definite") is True:
        findings.append(Finding("ok", f"{what} refused ({reply.get('error')}), definite"))


def _append(s: _Session, findings: list[Finding], key: str, client: str, seq: int) -> None:
    """append (the append and set workloads) and the (client, seq) de-duplication they rely on:
    the same command sent twice is applied once."""
    request = {"op": "append", "key": key, "value": 7, "client": client, "seq": seq}
    first = s.request(request, "append 7")
    if not first["ok"]:
        if first.get("definite") is True:
            findings.append(Finding("note", f"append refused ({first.get('error')}): the append and set workloads "
                                            "need it; register and kv do not"))
        else:
            s.mistake(f"append 7 failed indefinitely ({first.get('error')})")
        return
    again = s.request(dict(request), "the same append sent again (same client and seq)")
    read = s.request({"op": "read", "key": key}, "a read of the appended list")
    if not again["ok"]:
        s.mistake(f"a resent append (same client and seq) was refused ({again.get('error')}): a retry must get "
                  "the first attempt's result")
    elif not read["ok"] or not isinstance(read.get("value"), list):
        s.mistake(f"a read of an appended key returned {_short(read.get('value'))}, not a list")
    elif read["value"].count(7) != 1:
        s.mistake(f"append 7 sent twice with the same client and seq left {_short(read['value'])}: a retried "
                  "command was applied twice (the append and set workloads will report duplicates)")
    else:
        findings.append(Finding("ok", "append, resent with the same client and seq, applied once"))
