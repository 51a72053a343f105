"""The replicated key-value state machine, with at-most-once application of client commands.

Commands: read, write, cas(expected, new), append (the value becomes a list), incr (integer
delta). A command carrying `(client, seq)` is applied at most once: the session table remembers
each client's last `SESSION_WINDOW` results and answers a retry with the stored result; a retry
older than what it remembers gets a non-definite `stale-seq` error instead of a second
application. The table is part of the state, so it is in snapshots and survives restarts.
"""

from __future__ import annotations

import json

SESSION_WINDOW = 1024


def ok(value) -> dict:
    return {"ok": True, "value": value}


def refused(error: str, **extra) -> dict:
    return {"ok": False, "error": error, "definite": True, **extra}


def _execute(data: dict, cmd: dict) -> dict:
    op, key, value = cmd["op"], cmd.get("key"), cmd.get("value")
    current = data.get(key)
    if op == "read":
        return ok(current)
    if op == "write":
        data[key] = value
        return ok(value)
    if op == "cas":
        expected, new = value
        if current != expected:
            return refused("cas-mismatch", value=current)
        data[key] = new
        return ok(new)
    if op == "append":
        if current is not None and not isinstance(current, list):
            return refused("wrong-type", value=current)
        data[key] = (current or []) + [value]
        return ok(data[key])
    if op == "incr":
        if current is not None and (not isinstance(current, int) or isinstance(current, bool)):
            return refused("wrong-type", value=current)
        data[key] = (current or 0) + value
        return ok(data[key])
    raise ValueError(f"unknown command {op!r}")  # requests are validated before they are logged


class StateMachine:
    def __init__(self, dedup: bool = True):
        self.data: dict = {}
        # client -> {"floor": highest forgotten seq, "results": {str(seq): result}, oldest first}
        self.sessions: dict[str, dict] = {}
        self.dedup = dedup  # False is the duplicate-apply bug

    def apply(self, cmd: dict) -> dict:
        client, seq = cmd.get("client"), cmd.get("seq")
        if client is None or seq is None or not self.dedup:
            return _execute(self.data, cmd)
        session = self.sessions.setdefault(client, {"floor": -1, "results": {}})
        results = session["results"]
        done = results.get(str(seq))
        if done is not None:
            return done
        if seq <= session["floor"]:
            # Its result may have been forgotten after it was applied: never apply it again.
            return {"ok": False, "error": "stale-seq", "definite": False}
        result = _execute(self.data, cmd)
        results[str(seq)] = result
        if len(results) > SESSION_WINDOW:
            oldest = next(iter(results))
            del results[oldest]
            session["floor"] = max(session["floor"], int(oldest))
        return result

    def read(self, key):
        return self.data.get(key)

    def dump(self) -> dict:
        # A JSON round trip is a deep copy, twice as fast as copy.deepcopy on session tables.
        return json.loads(json.dumps({"data": self.data, "sessions": self.sessions}))

    def restore(self, state: dict) -> None:
        copied = json.loads(json.dumps(state))
        self.data, self.sessions = copied["data"], copied["sessions"]
