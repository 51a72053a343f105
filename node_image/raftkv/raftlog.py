"""The in-memory Raft log: entries after the last snapshot, indexed from 1.

An entry is ``{"i": index, "t": term, "k": kind, "c": payload}`` with kind ``noop`` (the
entry each leader appends at the start of its term), ``cmd`` (a client command) or ``config``
(``{"members": {id: addr}}``, a membership change). Entries up to `snap_index` are compacted
into the snapshot; only their last index and term are kept.
"""

from __future__ import annotations


class RaftLog:
    def __init__(self, snap_index: int = 0, snap_term: int = 0, entries: list[dict] | None = None):
        self.snap_index = snap_index
        self.snap_term = snap_term
        self.entries = entries or []

    @property
    def last_index(self) -> int:
        return self.snap_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1]["t"] if self.entries else self.snap_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`; None if it is compacted away or not there."""
        if index == self.snap_index:
            return self.snap_term
        if self.snap_index < index <= self.last_index:
            return self.entries[index - self.snap_index - 1]["t"]
        return None

    def entry(self, index: int) -> dict:
        return self.entries[index - self.snap_index - 1]

    def slice(self, start: int, limit: int) -> list[dict]:
        """Up to `limit` entries from `start` (which must be after the snapshot)."""
        lo = start - self.snap_index - 1
        return self.entries[lo:lo + limit]

    def append(self, entry: dict) -> None:
        self.entries.append(entry)

    def truncate_from(self, index: int) -> None:
        del self.entries[index - self.snap_index - 1:]

    def compact(self, index: int, term: int) -> None:
        """Drop entries up to `index` (now in a snapshot); keep the rest if they continue it."""
        if self.term_at(index) == term:
            self.entries = self.entries[index - self.snap_index:]
        else:
            self.entries = []
        self.snap_index, self.snap_term = index, term

    def up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as up to date as this one."""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def first_index_of_term(self, term: int, at_or_before: int) -> int:
        """The first index of the run of `term` entries that contains `at_or_before`."""
        index = at_or_before
        while index - 1 > self.snap_index and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int | None:
        """The last index holding an entry of `term`, if this log has one."""
        for entry in reversed(self.entries):
            if entry["t"] == term:
                return entry["i"]
            if entry["t"] < term:
                return None
        return None
