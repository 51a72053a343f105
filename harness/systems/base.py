"""What a system under test is: the System protocol (Jepsen's DB), its optional abilities, and the
`SystemKind` each system module registers.

A system only has to set a node up and tear it down, and hand out clients. Everything else is an
optional ability a nemesis or the runner checks for (`isinstance(system, Killable)`) before using
it. A `SystemKind` carries what is known of a system before any container starts: its ports, its
bug switches, its options (`--system-opt KEY=VALUE`), the workloads it can run and which
abilities its adapter has, so that a spec it cannot serve is refused up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, runtime_checkable

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.roles import Digest, NodeStatus, RoleChange
from raft_jepsen.harness.image import ImageLayer
from raft_jepsen.harness.nodes import Node


@runtime_checkable
class Client(Protocol):
    def open(self, node: Node) -> None: ...

    def invoke(self, op: Op) -> Op:
        """Perform `op` (an invoke) and return its completion: ok, fail (certainly not done) or
        info (unknown: timeout, lost connection). Never raises for a failed operation."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class System(Protocol):
    def setup(self, node: Node) -> None: ...

    def teardown(self, node: Node) -> None: ...

    def client(self, node: Node) -> Client: ...


@runtime_checkable
class Killable(Protocol):
    def kill(self, node: Node, at: float | None = None) -> None:
        """kill -9 the node's process; `at` (wall-clock epoch seconds) asks for that instant, so
        that several nodes die together, as in a power cut."""
        ...

    def start(self, node: Node) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    def pause(self, node: Node) -> None: ...

    def resume(self, node: Node) -> None: ...


@runtime_checkable
class HasPrimaries(Protocol):
    def primaries(self, nodes: list[Node]) -> list[str]:
        """Names of the nodes that currently believe they lead (the highest term wins)."""
        ...


@runtime_checkable
class HasLogs(Protocol):
    def log_files(self, node: Node) -> list[str]:
        """Paths on the node worth copying into the run folder."""
        ...


@runtime_checkable
class HasRoleLog(Protocol):
    def role_changes(self, node: str, lines: Iterable[str]) -> Iterator[RoleChange]:
        """The role and term changes in one of `node`'s copied log files (times in epoch ns);
        lines that say nothing of roles, or cannot be read, are skipped."""
        ...


@runtime_checkable
class HasStatus(Protocol):
    def status(self, node: Node) -> NodeStatus | None:
        """What `node` says of its role, term, leader, commit and applied index now; None when
        it does not answer within a second."""
        ...


@runtime_checkable
class HasSnapshots(Protocol):
    def log_position(self, node: Node) -> tuple[int, int] | None:
        """(the last index of `node`'s log, the index its snapshot covers, 0 for none), as it says
        now; None when it does not answer within a second. The `partition-snapshot` fault holds
        a follower apart until the others' snapshots pass its last index."""
        ...


@runtime_checkable
class HasDigests(Protocol):
    def digests(self, nodes: list[Node]) -> dict[str, Digest | None]:
        """Each node's digest of its applied state at a point all of them have reached, once the
        cluster is healed and has recovered; None for a node that cannot say (down, behind)."""
        ...


@runtime_checkable
class HasMembership(Protocol):
    """Membership changes, for the membership fault (one server at a time, each verified)."""

    def members(self, nodes: list[Node]) -> list[str]:
        """The voting members of the current configuration, as the leader says (sorted)."""
        ...

    def remove_member(self, nodes: list[Node], node: Node) -> None:
        """Take `node` out of the configuration (through the leader); done once the change is
        committed. The node may be left running, as a decommissioned machine is until someone
        turns it off (raftkv), or stop itself on learning of its removal (etcd)."""
        ...

    def add_member(self, nodes: list[Node], node: Node) -> None:
        """Bring `node` back as a fresh member: its data wiped, started to join, then added
        (through the leader), as a replaced machine would be."""
        ...


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What a system adapter is built from, once the nodes exist."""

    nodes: list[Node]
    bugs: tuple[str, ...] = ()  # switch names, already checked against the kind's `bugs`
    options: Mapping[str, Any] = field(default_factory=dict)  # parsed `--system-opt`s, defaults filled in
    client_retries: int = 0  # how often a client resends a command of unknown outcome (the workload's choice)
    bin: str | None = None  # `--bin PATH`: the program to run in each node, for kinds that take one


@dataclass(frozen=True)
class SystemOption:
    """One `--system-opt KEY=VALUE`: `parse` turns the text into a value (ValueError names what
    is wrong); `default` is used when the option is not given."""

    parse: Callable[[str], Any]
    default: Any
    help: str


def choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"expected one of {', '.join(values)}, got {text!r}")
        return text

    return parse


@dataclass(frozen=True, kw_only=True)
class SystemKind:
    """A system under test as a spec names it (`--system NAME`)."""

    name: str
    about: str  # one line, for --help
    adapter: Callable[[Setup], System]  # a System class (its abilities are read off it) or a factory
    client_port: int  # inside each node; published on 127.0.0.1 for the clients
    peer_port: int  # the port nodes reach each other on: partitions are proven by probing it
    workloads: tuple[str, ...]  # the workloads its clients can run
    bugs: Mapping[str, str] = field(default_factory=dict)  # bug switch -> what it breaks
    options: Mapping[str, SystemOption] = field(default_factory=dict)
    # `--bin PATH`: what it means for this kind (a line for --help), None when it takes none;
    # `check_bin(path, parsed options)` raises ValueError naming what is wrong with a given path.
    bin: str | None = None
    check_bin: Callable[[str, dict[str, Any]], None] | None = None
    image: ImageLayer | None = None  # what its nodes need beyond the node image
    # Where a node keeps its state: `lose-unsynced` mounts a write-back filesystem on each before
    # the system starts, so the adapter's teardown must empty them, never remove them.
    data_dirs: tuple[str, ...] = ()
    # Whether the node reads the wall clock through libc, so that libfaketime (the clock faults)
    # reaches it; False for Go binaries (etcd), which read it through the vDSO.
    clock_via_libc: bool = True
    # Whether its nodes pre-vote (Raft thesis §9.6), always or as its parsed options say: then one
    # node cut off and back must not disrupt the others' leader and term, and the liveness
    # checker holds it to that.
    pre_vote: bool | Callable[[Mapping[str, Any]], bool] = False

    def can(self, ability: type) -> bool:
        """Whether this kind's adapter has `ability` (Killable, Pausable, HasPrimaries, ...)."""
        return isinstance(self.adapter, type) and issubclass(self.adapter, ability)

    def pre_votes(self, options: Mapping[str, Any]) -> bool:
        """Whether its nodes pre-vote with these parsed options."""
        return bool(self.pre_vote(options) if callable(self.pre_vote) else self.pre_vote)

    def parse_options(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Every option with its value: given ones parsed, the rest at their defaults.
        ValueError names the first unknown or bad option."""
        values = {key: option.default for key, option in self.options.items()}
        for key, text in raw.items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise ValueError(f"system {self.name} has no option {key!r} (its options: {known})")
            try:
                values[key] = self.options[key].parse(text)
            except ValueError as e:
                raise ValueError(f"{key}: {e}") from None
        return values
