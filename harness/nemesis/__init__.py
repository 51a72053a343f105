"""Nemeses: one small class per fault kind, packages that compose them.

`NEMESES` is the registry of the names a test spec may list (`--nemesis partition,kill`);
`raft_jepsen.harness.nemesis.package.package` turns such a list into one nemesis with its schedule."""

NEMESES: dict[str, str] = {
    "partition": "a partition of a random kind each time: halves, one, leader, ring or bridge",
    "partition-halves": "a random minority against the majority",
    "partition-one": "one random node alone",
    "partition-leader": "the current leader alone",
    "partition-ring": "every node sees a majority, no two the same one (needs 4 nodes)",
    "partition-bridge": "two halves joined by one node that hears both (needs 3 nodes)",
    "kill": "kill -9 some nodes (one, minority, majority, leader, all), then restart them",
    "pause": "SIGSTOP some nodes (one, minority, majority, leader, all), then SIGCONT them",
    "power-cut": "kill -9 every node at one instant, then restart them all: unsynced writes are lost",
}
