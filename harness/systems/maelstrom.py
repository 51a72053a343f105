"""A program written for Maelstrom (jepsen-io/maelstrom), run in real containers under real faults:
`raft-jepsen run --system maelstrom --bin PATH`.

PATH (a file, or a folder holding the program and what it needs) is copied into every node and
run as given: a script with a shebang for a language the node image has (python3), or a
linux/amd64 binary that runs on Debian bookworm. Each node runs it behind the shim shipped in the
node image (`node_image/maelstrom`, `python3 -m maelstrom`), which sends `init`, carries the
node's messages to the other nodes over TCP (so partitions, pauses and kills act on them), and
turns the harness's register operations into Maelstrom `lin-kv` requests. The shim and the
program are one process group: killed, paused and resumed together; a restart is a fresh
program with no state (Maelstrom nodes keep none on disk), so a power cut loses everything.

Maelstrom's services (lin-kv, seq-kv, lww-kv, lin-tso offered to nodes) are not provided: a
request to one gets error 10, not-supported."""

from __future__ import annotations

from pathlib import Path

from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client, Setup, SystemKind, SystemOption
from raft_jepsen.harness.systems.daemon import Daemon
from raft_jepsen.harness.systems.install import Installer, executable

PEER_PORT = 7000
CLIENT_PORT = 8000
PID_FILE = "/run/rj/node.pid"
SHIM_LOG = "/var/log/rj/shim.log"
NODE_LOG = "/var/log/rj/node.log"
PROGRAM_DIR = "/opt/maelstrom-node"
SHIM_DIR = "/opt/maelstrom"  # where the node image keeps the shim package


def _positive_ms(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"expected a positive number of milliseconds, got {text!r}")
    return int(text)


def program(path: str | Path, run: str | None = None) -> Path:
    """The program to run for `--bin path`: the file itself, or in a folder the one executable
    file at its top (`run` names it when there are several). ValueError says what is wrong."""
    path = Path(path)
    if path.is_file():
        if not executable(path):
            raise ValueError("not executable (chmod +x it; a script needs a shebang line such as #!/usr/bin/env python3)")
        return path
    if not path.is_dir():
        raise ValueError("neither a file nor a folder")
    if run is not None:
        chosen = path / run
        if not executable(chosen):
            raise ValueError(f"has no executable file {run!r}")
        return chosen
    found = sorted(p for p in path.iterdir() if executable(p))
    if len(found) != 1:
        what = f"several executable files ({', '.join(p.name for p in found)})" if found else "no executable file"
        raise ValueError(f"a folder with {what} at its top: name the program with --system-opt run=NAME")
    return found[0]


def _check_bin(path: str, options: dict) -> None:
    program(path, options.get("run"))


class Maelstrom:
    """Killable, Pausable, HasLogs. Who leads is unknown: Maelstrom has no way to ask."""

    def __init__(self, setup: Setup):
        self.nodes = list(setup.nodes)
        self.client_retries = setup.client_retries
        self.timeout_ms = setup.options.get("timeout-ms", 2000)
        source = Path(setup.bin or "")
        chosen = program(source, setup.options.get("run"))
        self.installer = Installer([(source, f"{PROGRAM_DIR}/{source.name}")])
        inside = f"{PROGRAM_DIR}/{source.name}"
        self.program = inside if chosen == source else f"{inside}/{chosen.relative_to(source).as_posix()}"
        self.daemon = Daemon(name="maelstrom shim", pid_file=PID_FILE, log_file=SHIM_LOG, port=CLIENT_PORT,
                             env={"PYTHONPATH": SHIM_DIR})

    def setup(self, node: Node) -> None:
        self.teardown(node)
        node.remote.exec(f"mkdir -p /run/rj /var/log/rj && : >{SHIM_LOG} && : >{NODE_LOG}")
        self.installer.install(node)
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.kill(node)
        node.remote.exec(f"rm -f {PID_FILE}")

    def client(self, node: Node) -> Client:
        return ProtocolClient({n.name: n.client_addr for n in self.nodes}, retries=self.client_retries)

    def kill(self, node: Node, at: float | None = None) -> None:
        self.daemon.kill(node, at)

    def start(self, node: Node) -> None:
        self.daemon.start(node, self.command(node))

    def pause(self, node: Node) -> None:
        self.daemon.pause(node)

    def resume(self, node: Node) -> None:
        self.daemon.resume(node)

    def log_files(self, node: Node) -> list[str]:
        return [SHIM_LOG, NODE_LOG]

    def command(self, node: Node) -> list[str]:
        nodes = ",".join(f"{n.name}={n.ip}" for n in self.nodes)
        return ["python3", "-m", "maelstrom", "--id", node.name, "--nodes", nodes, "--peer-port", str(PEER_PORT),
                "--client-port", str(CLIENT_PORT), "--timeout-ms", str(self.timeout_ms), "--node-log", NODE_LOG,
                "--", self.program]


KIND = SystemKind(
    name="maelstrom",
    about="a Maelstrom lin-kv node (--bin PATH) behind a shim that carries its messages over real TCP",
    adapter=Maelstrom,
    client_port=CLIENT_PORT,
    peer_port=PEER_PORT,
    workloads=("register", "kv"),
    options={
        "run": SystemOption(str, None, "which executable of a --bin folder to run (when it has several)"),
        "timeout-ms": SystemOption(_positive_ms, 2000,
                                   "how long the shim waits for the node's reply before answering timeout (info)"),
    },
    bin="the Maelstrom node: an executable file, or a folder holding one, copied into every node",
    check_bin=_check_bin,
)
