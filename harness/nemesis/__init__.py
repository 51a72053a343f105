"""Nemeses: one small class per fault kind, packages that compose them.

`NEMESES` is the registry of the names a test spec may list (`--nemesis partition,kill`);
`raft_jepsen.harness.nemesis.package.package` turns such a list into one nemesis with its schedule.
The Raft-aware names (`partition-leader-*`, `kill-leader`, `pause-follower`, ...) aim at the
leader the system names (HasPrimaries); when no node fits they record the fault as skipped."""

NEMESES: dict[str, str] = {
    "partition": "a partition of a random kind each time: halves, one, leader, ring or bridge",
    "partition-halves": "a random minority against the majority",
    "partition-one": "one random node alone",
    "partition-leader": "the current leader alone",
    "partition-ring": "every node sees a majority, no two the same one (needs 4 nodes)",
    "partition-bridge": "two halves joined by one node that hears both (needs 3 nodes)",
    "partition-leader-minority": "the current leader on the minority side, alone or with some followers (needs 3 nodes)",
    "partition-leader-majority": "the current leader on the majority side, some followers cut off (needs 3 nodes)",
    "partition-snapshot": "one follower cut off until every other node has compacted its log past the follower's last "
                          "entry: healed, it must be sent a snapshot (needs 3 nodes and a system that reports its "
                          "log positions; raftkv: lower --system-opt snapshot-every)",
    "kill": "kill -9 some nodes (one, minority, majority, leader, all), then restart them",
    "pause": "SIGSTOP some nodes (one, minority, majority, leader, all), then SIGCONT them",
    "kill-leader": "kill -9 the current leader, then restart it",
    "kill-follower": "kill -9 one node that does not lead (the leader survives), then restart it",
    "kill-majority-with-leader": "kill -9 a majority that includes the leader, then restart them",
    "kill-majority-without-leader": "kill -9 a majority of followers, the leader left running alone, then restart them",
    "pause-leader": "SIGSTOP the current leader, then SIGCONT it: it comes back a stale leader",
    "pause-follower": "SIGSTOP one node that does not lead (the leader survives), then SIGCONT it",
    "pause-majority-with-leader": "SIGSTOP a majority that includes the leader, then SIGCONT them",
    "pause-majority-without-leader": "SIGSTOP a majority of followers, then SIGCONT them",
    "pause-all": "SIGSTOP every node, then SIGCONT them all at one instant: every election timer has run out, so "
                 "every node times out at once",
    "power-cut": "kill -9 every node at one instant, then restart them all: unsynced writes are lost",
    "packet": "a packet fault of a random kind each time between some nodes: delay, reorder, duplicate, loss or "
              "latency; combined with other kinds, on a schedule of its own that overlaps them",
    "packet-delay": "delay packets between some nodes by 80 ms +- 20 ms (netem, or an NFQUEUE handler without it)",
    "packet-reorder": "send half of the packets between some nodes at once and hold the rest 60 ms",
    "packet-duplicate": "send 30% of the packets between some nodes twice",
    "packet-loss": "drop 20% of the packets each node receives from some nodes (iptables statistic)",
    "packet-latency": "delay every packet between every two nodes by 100 ms +- 2 ms, steadily, as in a cluster "
                      "spread over regions (heartbeats still arrive well inside raftkv's election timeout)",
    "clock": "jump or strobe the wall clock of some nodes (libfaketime: programs whose time goes through libc, "
             "not Go), on a schedule of its own that overlaps the other faults",
    "clock-bump": "each chosen node's wall clock jumps by its own offset, from 0.25 to 16 s either way",
    "clock-strobe": "each chosen node's wall clock flips between an offset and the true time every 100-400 ms",
    "lose-unsynced": "power-cut with the system's data directories on a FUSE write-back filesystem: every node "
                     "loses what it wrote but never fsynced, whatever the system (containers get SYS_ADMIN, /dev/fuse)",
    "membership": "remove one or two members at once and add them back (fresh) while the workload runs, on a "
                  "schedule of its own that overlaps the other faults; the original membership is restored",
}
# The names that aim at the leader the system names (HasPrimaries): refused up front for a system
# that cannot name one.
RAFT_NAMES = frozenset(
    ["partition-leader", "partition-leader-minority", "partition-leader-majority", "partition-snapshot"]
    + [f"{f}-{t}" for f in ("kill", "pause") for t in ("leader", "follower", "majority-with-leader", "majority-without-leader")]
)
