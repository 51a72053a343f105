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
    "packet": "a packet fault of a random kind each time between some nodes: delay, reorder, duplicate or loss",
    "packet-delay": "delay packets between some nodes by 80 ms +- 20 ms (netem, or an NFQUEUE handler without it)",
    "packet-reorder": "send half of the packets between some nodes at once and hold the rest 60 ms",
    "packet-duplicate": "send 30% of the packets between some nodes twice",
    "packet-loss": "drop 20% of the packets each node receives from some nodes (iptables statistic)",
    "clock": "jump or strobe the wall clock of some nodes (libfaketime: programs whose time goes through libc, "
             "not Go), on a schedule of its own that overlaps the other faults",
    "clock-bump": "each chosen node's wall clock jumps by its own offset, from 0.25 to 16 s either way",
    "clock-strobe": "each chosen node's wall clock flips between an offset and the true time every 100-400 ms",
    "lose-unsynced": "power-cut with the system's data directories on a FUSE write-back filesystem: every node "
                     "loses what it wrote but never fsynced, whatever the system (containers get SYS_ADMIN, /dev/fuse)",
    "membership": "remove one or two members at once and add them back (fresh) while the workload runs, on a "
                  "schedule of its own that overlaps the other faults; the original membership is restored",
}
