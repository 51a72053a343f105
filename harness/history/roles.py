"""What the nodes say of themselves: role changes, status, state digests.

A system adapter that can read its nodes' logs turns them into `RoleChange`s; the runner writes
them to the run folder (`roles.jsonl`, times on the history's axis), where the report's leader
lane and the Raft invariants read them without knowing which system wrote the logs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

ROLES = ("leader", "candidate", "follower", "pre-candidate", "learner")


@dataclass(frozen=True, slots=True)
class RoleChange:
    time: int  # ns: since the run began in roles.jsonl; epoch ns as a system adapter reports it
    node: str
    role: str  # one of ROLES (a system's own names are mapped onto them)
    term: int | None = None
    leader: str | None = None  # whom the node follows (itself when it leads), when it says


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What a node says of itself when asked (a system's `status`), for the Raft invariants."""

    time: int  # epoch ns when it answered
    node: str
    role: str | None = None
    term: int | None = None
    leader: str | None = None
    commit_index: int | None = None  # highest log index it knows committed
    applied_index: int | None = None  # highest log index applied to its state
    commit_term: int | None = None  # the term of the entry at commit_index, when it says
    last_index: int | None = None  # its log's last index
    started: int | None = None  # epoch ns when its process began: a change means a restart
    # The committed prefix of its log: (first index, term) of each run of one term, up to
    # commit_index (from its snapshot's index, when it has one).
    commit_terms: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest of a node's applied state at a point of its history that every node can reach
    (raftkv: an applied index; etcd: a revision): two nodes at the same point must agree."""

    at: int
    digest: str


def write_jsonl(path: str | os.PathLike, changes: Iterable[RoleChange]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for change in changes:
            f.write(json.dumps(asdict(change)) + "\n")


def read_jsonl(path: str | os.PathLike) -> Iterator[RoleChange]:
    """The role changes of a run folder; lines that are not well-formed are skipped (a report
    must still render when one is damaged)."""
    for d in _records(path):
        role, term, leader = d.get("role"), d.get("term"), d.get("leader")
        yield RoleChange(
            time=d["time"],
            node=d["node"],
            role=role if isinstance(role, str) else "follower",
            term=term if _is_int64(term) else None,
            leader=leader if isinstance(leader, str) else None,
        )


def write_status(path: str | os.PathLike, statuses: Iterable[NodeStatus]) -> None:
    """status.jsonl: what the status monitor heard, one poll answer a line, times on the
    history's axis (ns since the run began)."""
    with open(path, "w", encoding="utf-8") as f:
        for status in statuses:
            f.write(json.dumps({k: v for k, v in asdict(status).items() if v is not None}) + "\n")


def read_status(path: str | os.PathLike) -> Iterator[NodeStatus]:
    """The status answers of a run folder; damaged lines and fields are skipped."""
    for d in _records(path):
        ints = {k: d[k] if _is_int64(d.get(k)) else None
                for k in ("term", "commit_index", "applied_index", "commit_term", "last_index", "started")}
        role, leader = d.get("role"), d.get("leader")
        yield NodeStatus(time=d["time"], node=d["node"], role=role if isinstance(role, str) else None,
                         leader=leader if isinstance(leader, str) else None,
                         commit_terms=term_runs(d.get("commit_terms")), **ints)


def term_runs(value: object) -> tuple[tuple[int, int], ...] | None:
    """`[[first index, term], ...]` as a node reports it, or None when it is not that shape."""
    if not isinstance(value, list) or not all(isinstance(r, list) and len(r) == 2 and all(map(_is_int64, r))
                                              for r in value):
        return None
    return tuple((r[0], r[1]) for r in value)


def _is_int64(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < 1 << 63


def _records(path: str | os.PathLike) -> Iterator[dict]:
    """The well-formed lines of a JSONL file of node records: objects with an integer `time` and
    a string `node`; the rest skipped."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and _is_int64(d.get("time")) and isinstance(d.get("node"), str):
                yield d
