"""Quorum arithmetic: who wins an election, and how far the leader may commit.

Pure functions, so that the rules (and the bug switches that break them) are tested directly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection


def majority(size: int) -> int:
    return size // 2 + 1


def quorum_size(size: int, even_majority: bool = False) -> int:
    """How many of `size` members make a quorum.

    even_majority is the Helios flaw: ``count > len(peers) / 2`` with peers excluding the node
    itself, i.e. ``count > (size - 1) / 2``: 2 of 4, so two disjoint halves each have a quorum.
    Helios counts every quorum that way (votes, replication), so the switch applies to all.
    """
    return (size - 1) // 2 + 1 if even_majority else majority(size)


def wins(votes: Collection[str], members: Collection[str], even_majority: bool = False) -> bool:
    """Whether `votes` (the node's own included) are a quorum of `members`: an election won,
    a majority heard from (check-quorum), a read's leadership confirmed."""
    granted = sum(1 for v in votes if v in members)
    return granted >= quorum_size(len(members), even_majority)


def commit_index(matches: list[int], term_at: Callable[[int], int | None], current_term: int,
                 check_term: bool = True, even_majority: bool = False) -> int:
    """The highest index a leader may commit, given every voter's match index (its own too).

    The entry at the quorum's match index is committed only if it is from the current term
    (Raft §5.4.2): an older entry on a majority can still be overwritten (figure 8).
    check_term=False is the commit-prior-term flaw, even_majority the quorum flaw of
    `quorum_size`. Returns 0 when nothing can be committed.
    """
    if not matches:
        return 0
    candidate = sorted(matches, reverse=True)[quorum_size(len(matches), even_majority) - 1]
    if check_term and term_at(candidate) != current_term:
        return 0
    return candidate
