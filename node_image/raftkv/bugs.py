"""The bug switches: each reproduces one flaw of a reference design (shared/DESIGN.md), and nothing
else, so that the harness can prove it finds it. All are off unless named with ``--bug``."""

BUGS = {
    "vote-ignores-log": "votes (and pre-votes) are granted without the log up-to-date check",
    "self-elect": "on election timeout a node makes itself leader of the next term without a vote",
    "commit-prior-term": "the commit index is the quorum match index even when that entry is "
                         "from an earlier term",
    "volatile-state": "log, term and vote are kept in memory only: a restart forgets them",
    "lazy-fsync": "the log is fsynced every 100 ms in the background; replies do not wait for it",
    "stale-read": "the leader answers reads from its local state without confirming leadership, "
                  "and has no check-quorum (steps down only on a higher term), as in Helios",
    "no-truncate": "a follower keeps conflicting entries and only appends beyond its last index",
    "fixed-timeout": "the election timeout is the same constant on every node, never randomized",
    "duplicate-apply": "no client session table: a retried command is applied again",
    "accept-stale-term": "AppendEntries from a leader of an older term is accepted",
    "truncate-on-match": "a follower deletes everything after prevLogIndex, even entries that match",
    "ack-before-commit": "the leader acknowledges a command as soon as it is appended to its log",
    "even-majority": "a quorum is count > (members - 1) / 2, for elections, commitment, "
                     "check-quorum and reads alike: 2 of 4",
    "optimistic-match": "the leader sets a follower's match index to what it sent, not what was "
                        "acknowledged",
}
