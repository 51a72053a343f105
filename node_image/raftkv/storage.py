"""Durable Raft state: term and vote, the write-ahead log, the snapshot.

Files in the data directory:

- ``meta``: ``{"term", "vote"}``, replaced atomically on every change, before any reply that
  depends on it.
- ``wal``: one record per line, ``<crc32 hex> <json>``; a record is a log entry or a
  ``{"trunc": i}`` marker (entries from index i on are discarded). Appends are buffered and
  made durable together by one fsync (`sync_job`: group commit). At start-up the first record
  that is torn or fails its checksum ends the log: the file is cut there, so a crash mid-write
  never causes a crash loop.
- ``snapshot``: ``<crc32 hex> <json>`` of the state machine up to an index; after it is saved the
  WAL is rewritten to the entries that follow it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .disk import Disk
from .events import emit

META, WAL, SNAPSHOT = "meta", "wal", "snapshot"


def encode_record(obj: dict) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode_records(data: bytes) -> tuple[list[dict], int]:
    """The valid records at the head of `data`, and the byte length they cover."""
    records, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break  # torn: the last write never finished
        line = data[pos:end]
        try:
            crc, body = int(line[:8], 16), line[9:]
            if line[8:9] != b" " or zlib.crc32(body) != crc:
                break
            records.append(json.loads(body))
        except ValueError:
            break
        pos = end + 1
    return records, pos


@dataclass
class Snapshot:
    index: int
    term: int
    members: dict[str, str]
    state: dict  # StateMachine.dump()

    def to_json(self) -> dict:
        return {"index": self.index, "term": self.term, "members": self.members, "state": self.state}

    @classmethod
    def from_json(cls, obj: dict) -> "Snapshot":
        return cls(obj["index"], obj["term"], obj["members"], obj["state"])


@dataclass
class Loaded:
    term: int = 0
    vote: str | None = None
    snapshot: Snapshot | None = None
    entries: list[dict] = field(default_factory=list)


def _replay(records: list[dict]) -> list[dict]:
    entries: list[dict] = []
    for rec in records:
        cut = rec["trunc"] if "trunc" in rec else rec["i"]
        while entries and entries[-1]["i"] >= cut:
            entries.pop()
        if "trunc" in rec:
            continue
        if entries and rec["i"] != entries[-1]["i"] + 1:
            break  # a gap cannot be written by this code: stop at the last contiguous entry
        entries.append(rec)
    return entries


def _after_snapshot(entries: list[dict], snap: Snapshot | None) -> list[dict]:
    """The WAL entries that continue `snap`'s history (the rest predate an installed snapshot)."""
    if snap is None:
        return entries
    at = [e for e in entries if e["i"] == snap.index]
    follows = [e for e in entries if e["i"] > snap.index]
    continues = at[0]["t"] == snap.term if at else bool(follows) and follows[0]["i"] == snap.index + 1
    return follows if continues else []


class Storage:
    """Term, vote, log and snapshot on a `Disk`; `lazy` is the lazy-fsync bug switch."""

    def __init__(self, disk: Disk, node_id: str, lazy: bool = False):
        self.disk = disk
        self.node_id = node_id
        self.lazy = lazy
        self._wal = None
        self._dirty = False

    def load(self) -> Loaded:
        loaded = Loaded()
        meta = self.disk.read(META)
        if meta is not None:
            records, _ = decode_records(meta)
            if records:
                loaded.term, loaded.vote = records[0]["term"], records[0]["vote"]
        snap = self.disk.read(SNAPSHOT)
        if snap is not None:
            records, _ = decode_records(snap)
            if records:
                loaded.snapshot = Snapshot.from_json(records[0])
        wal = self.disk.read(WAL) or b""
        records, valid = decode_records(wal)
        if valid < len(wal):
            emit(self.node_id, "wal-truncated", at_byte=valid, dropped_bytes=len(wal) - valid)
            self.disk.truncate(WAL, valid)
        loaded.entries = _after_snapshot(_replay(records), loaded.snapshot)
        self._wal = self.disk.open_append(WAL)
        return loaded

    def save_meta(self, term: int, vote: str | None) -> None:
        self.disk.replace(META, encode_record({"term": term, "vote": vote}))

    def append(self, entries: list[dict]) -> None:
        self._wal.write(b"".join(encode_record(e) for e in entries))
        self._dirty = True

    def truncate_from(self, index: int) -> None:
        self._wal.write(encode_record({"trunc": index}))
        self._dirty = True

    def sync_job(self) -> Callable[[], None] | None:
        """Group commit: the one fsync that makes every record appended so far durable, to run
        off the event loop; None when nothing needs it (or under lazy-fsync, which never waits)."""
        if self.lazy or not self._dirty:
            return None
        self._dirty = False
        return self._wal.sync_job()

    def background_sync(self) -> None:
        """The lazy-fsync bug's periodic flush, on the event loop."""
        if self._dirty:
            self._dirty = False
            self._wal.sync()

    def save_snapshot(self, snap: Snapshot, entries_after: list[dict]) -> None:
        """Save `snap` durably, then rewrite the WAL to the entries that follow it."""
        self.disk.replace(SNAPSHOT, encode_record(snap.to_json()))
        self._wal.close()
        self.disk.replace(WAL, b"".join(encode_record(e) for e in entries_after))
        self._wal = self.disk.open_append(WAL)
        self._dirty = False


class VolatileStorage:
    """The volatile-state bug: log, term and vote live in memory only, so a restart forgets."""

    lazy = False

    def load(self) -> Loaded:
        return Loaded()

    def save_meta(self, term: int, vote: str | None) -> None:
        pass

    def append(self, entries: list[dict]) -> None:
        pass

    def truncate_from(self, index: int) -> None:
        pass

    def sync_job(self) -> None:
        return None

    def background_sync(self) -> None:
        pass

    def save_snapshot(self, snap: Snapshot, entries_after: list[dict]) -> None:
        pass
