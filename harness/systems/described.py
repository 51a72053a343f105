"""A system described in a YAML file, no Python: `raft-jepsen run --system path/to/system.yaml`.

The file says what to put into each node, how to start a node (a command with placeholders), where
it logs, optionally how to tell who leads and how to read role changes from its log, which
workloads its clients can run (it speaks the raft-jepsen client protocol, docs/protocol.md) and
its bug switches. docs/own-raft.md is the reference; `examples/systems/raftkv.yaml` describes
raftkv itself this way.

`load(path)` checks every field before any container starts: a mistake is one line naming the
file and the field (UsageError, exit 3). The adapter it builds starts the node's process through
`daemon.Daemon` (never PID 1; killed, paused, resumed as a process group; its data directory kept
across restarts, wiped at setup and teardown) and copies its logs into the run folder. Its
abilities depend on the file: `HasPrimaries` with `leader`, `HasRoleLog` with `roles`."""

from __future__ import annotations

import calendar
import decimal
import re
import shlex
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

from raft_jepsen.harness.clients import protocol
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history.roles import ROLES, RoleChange
from raft_jepsen.harness.image import ImageLayer
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client, Setup, SystemKind
from raft_jepsen.harness.systems.daemon import Daemon
from raft_jepsen.harness.systems.install import Installer
from raft_jepsen.harness.yamlfile import load_yaml, short

VERSION = 1  # `raft-jepsen-system: 1` at the top of a file; a later format gets a new number
WORKLOADS = ("register", "kv", "append", "set")
# What may appear in braces in `start`, `env` and `node`, and what each becomes.
NODE_PLACEHOLDERS = {
    "id": "this node's name (n1, n2, ...)",
    "index": "its position, from 1",
    "ip": "its address on the cluster network",
    "client_port": "the client port (client-port)",
    "peer_port": "the peer port (peer-port)",
}
PLACEHOLDERS = {
    **NODE_PLACEHOLDERS,
    "data_dir": "the data directory (data-dir), kept across restarts",
    "nodes": "every node, each written as `node` says, joined by `separator`",
    "peers": "the other nodes, the same way",
    "count": "the number of nodes",
}
TIME_FORMATS = {"epoch": 10**9, "epoch-ms": 10**6, "epoch-us": 10**3, "epoch-ns": 1}
FIELDS = (
    "raft-jepsen-system", "name", "about", "client-port", "peer-port", "install", "image", "start", "env",
    "workdir", "node", "separator", "data-dir", "log", "logs", "leader", "roles", "workloads", "bugs", "bug-args",
)
PID_FILE = "/run/rj/node.pid"


def _quote(value: Any) -> str:
    """A value as the file had it, quoted and cut short: errors quote, never echo, bad input."""
    return short(repr(value))


@dataclass(frozen=True)
class RoleLog:
    pattern: re.Pattern
    time_format: str  # an epoch unit (TIME_FORMATS) or a strptime format
    names: dict[str, str]  # the log's word for a role -> ours


@dataclass(frozen=True)
class Description:
    """A checked system file."""

    path: Path
    name: str
    client_port: int
    peer_port: int
    install: tuple[tuple[Path, str], ...]
    start: tuple[str, ...]  # argv templates
    env: dict[str, str]
    workdir: str
    node: str
    separator: str
    data_dir: str
    log: str
    logs: tuple[str, ...]
    leader: str | None  # "status" or a shell command
    roles: RoleLog | None
    bug_args: tuple[str, ...]

    def command(self, setup: Setup, node: Node) -> list[str]:
        values = self.values(setup.nodes, node)
        argv = [part.format_map(values) for part in self.start]
        for bug in setup.bugs:
            argv += [part.format_map({"bug": bug}) for part in self.bug_args]
        return argv

    def values(self, nodes: list[Node], node: Node) -> dict[str, Any]:
        def one(n: Node) -> str:
            return self.node.format_map(self._node_values(nodes, n))

        return {
            **self._node_values(nodes, node),
            "data_dir": self.data_dir,
            "nodes": self.separator.join(one(n) for n in nodes),
            "peers": self.separator.join(one(n) for n in nodes if n.name != node.name),
            "count": len(nodes),
        }

    def _node_values(self, nodes: list[Node], node: Node) -> dict[str, Any]:
        return {"id": node.name, "index": [n.name for n in nodes].index(node.name) + 1, "ip": node.ip,
                "client_port": self.client_port, "peer_port": self.peer_port}


class Described:
    """The adapter of a described system: Killable, Pausable, HasLogs (abilities added by `load`
    as the file asks: HasPrimaries, HasRoleLog)."""

    description: Description  # set on the class `load` makes

    def __init__(self, setup: Setup):
        self.setup_ = setup
        self.nodes = list(setup.nodes)
        d = self.description
        self.installer = Installer(list(d.install))
        self.daemon = Daemon(name=d.name, pid_file=PID_FILE, log_file=d.log, port=d.client_port, workdir=d.workdir)

    def setup(self, node: Node) -> None:
        """A fresh node: no process, no data, empty logs, the files installed; then start it."""
        self.teardown(node)
        d = self.description
        logs = " ".join(shlex.quote(f) for f in (d.log, *d.logs))
        node.remote.exec(f"mkdir -p {shlex.quote(d.data_dir)} /run/rj && for f in {logs}; do "
                         f"mkdir -p \"$(dirname \"$f\")\" && : >\"$f\"; done")
        self.installer.install(node)
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.kill(node)
        # Emptied, not removed: it may be a mount point (the lose-unsynced fault's filesystem).
        data = shlex.quote(self.description.data_dir)
        node.remote.exec(f"mkdir -p {data} && find {data} -mindepth 1 -delete && rm -f {PID_FILE}")

    def client(self, node: Node) -> Client:
        return ProtocolClient({n.name: n.client_addr for n in self.nodes}, retries=self.setup_.client_retries)

    def kill(self, node: Node, at: float | None = None) -> None:
        self.daemon.kill(node, at)

    def start(self, node: Node) -> None:
        d = self.description
        values = d.values(self.nodes, node)
        env = {key: value.format_map(values) for key, value in d.env.items()}  # per node: {id}, {ip}, ...
        replace(self.daemon, env=env).start(node, d.command(self.setup_, node))

    def pause(self, node: Node) -> None:
        self.daemon.pause(node)

    def resume(self, node: Node) -> None:
        self.daemon.resume(node)

    def log_files(self, node: Node) -> list[str]:
        return [self.description.log, *self.description.logs]


class _Primaries:
    """Who leads, asked of every node at once; nodes that do not answer do not count."""

    description: Description

    def primaries(self, nodes: list[Node]) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            answers = list(pool.map(self._leads, nodes))
        leaders = [(term, n.name) for n, (leads, term) in zip(nodes, answers) if leads]
        if not leaders:
            return []
        top = max((term for term, _ in leaders if term is not None), default=None)
        return sorted(name for term, name in leaders if term == top)

    def _leads(self, node: Node) -> tuple[bool, int | None]:
        if self.description.leader == "status":
            reply = protocol.status(node.client_addr)
            if reply is None or reply.get("role") != "leader":
                return False, None
            term = reply.get("term")
            return True, term if isinstance(term, int) else None
        try:
            result = node.remote.exec(self.description.leader, check=False, timeout=5)
        except Exception:  # a node that cannot be asked does not lead, as far as we know
            return False, None
        words = (result.stdout.strip().splitlines() or [""])[0].split()
        if result.exit_code != 0 or not words or words[0] != "leader":
            return False, None
        return True, int(words[1]) if len(words) > 1 and words[1].isdigit() else None


class _RoleLog:
    description: Description

    def role_changes(self, node: str, lines: Iterable[str]) -> Iterator[RoleChange]:
        """Each line the `roles.pattern` matches is a role change; lines it does not match, or
        whose time cannot be read, are skipped."""
        roles = self.description.roles
        for line in lines:
            match = roles.pattern.search(line)
            if match is None:
                continue
            found = match.groupdict()
            when = _epoch_ns(found["time"], roles.time_format)
            if when is None:
                continue
            role = roles.names.get(found["role"], found["role"].lower())
            term = found.get("term")
            leader = found.get("leader")
            yield RoleChange(time=when, node=node, role=role if role in ROLES else "follower",
                             term=int(term) if term and term.isdigit() else None, leader=leader or None)


def _epoch_ns(text: str, time_format: str) -> int | None:
    try:
        if time_format in TIME_FORMATS:  # exact decimals: 1764680000.25 s is ...250000000 ns, not ...249999872
            return int(decimal.Decimal(text) * decimal.Decimal(TIME_FORMATS[time_format]))
        parsed = time.strptime(text, time_format)
    except (ValueError, decimal.InvalidOperation):
        return None
    fraction = 0.0
    if "%f" in time_format:  # strptime keeps no fraction of a second in a struct_time
        match = re.search(r"\.(\d{1,6})", text)
        fraction = float(f"0.{match.group(1)}") if match else 0.0
    offset = parsed.tm_gmtoff if parsed.tm_gmtoff is not None and "%z" in time_format else 0
    return round((calendar.timegm(parsed) - offset + fraction) * 1e9)


# --- reading the file -------------------------------------------------------------------------


class _Fields:
    """The file's mapping, read field by field; every error names the file and the field."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = {}
        for key, value in data.items():
            name = str(key).replace("_", "-")
            if name not in FIELDS:
                self.fail(str(key), f"unknown field (expected one of {', '.join(FIELDS)})")
            self.data[name] = value

    def fail(self, field: str, message: str):
        raise UsageError(f"{self.path}: {field}: {message}")

    def get(self, field: str, default: Any = None) -> Any:
        return self.data.get(field, default)

    def text(self, field: str, default: str | None = None) -> str:
        value = self.data.get(field, default)
        if value is None:
            self.fail(field, "missing (required)")
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"expected a non-empty string, got {_quote(value)}")
        return value

    def port(self, field: str) -> int:
        value = self.data.get(field)
        if value is None:
            self.fail(field, "missing (required): the port inside each node")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            self.fail(field, f"expected a port number (1-65535), got {_quote(value)}")
        return value

    def absolute(self, field: str, default: str | None = None) -> str:
        value = self.text(field, default)
        if not PurePosixPath(value).is_absolute():
            self.fail(field, f"expected an absolute path inside the node, got {_quote(value)}")
        return value

    def texts(self, field: str, value: Any = None) -> tuple[str, ...]:
        value = self.data.get(field, []) if value is None else value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(field, f"expected a list of strings, got {_quote(value)}")
        return tuple(value)

    def argv(self, field: str, value: Any, allowed: dict[str, str]) -> tuple[str, ...]:
        """A command: a string (split as a shell would, without running a shell) or a list."""
        if isinstance(value, str):
            try:
                parts = shlex.split(value)
            except ValueError as e:
                self.fail(field, f"cannot split the command ({e})")
        elif isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            parts = [str(v) for v in value]
        else:
            self.fail(field, f"expected a command (a string or a list of strings), got {_quote(value)}")
        if not parts:
            self.fail(field, "the command is empty")
        for part in parts:
            self.template(field, part, allowed)
        return tuple(parts)

    def template(self, field: str, text: str, allowed: dict[str, str]) -> str:
        try:
            names = [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
        except ValueError as e:
            self.fail(field, f"{_quote(text)}: bad braces ({e}; write {{{{ and }}}} for literal braces)")
        for name in names:
            if name not in allowed:
                known = ", ".join("{" + n + "}" for n in allowed)
                self.fail(field, f"unknown placeholder {{{name}}} (known: {known})")
        return text


def load(path: str | Path) -> SystemKind:
    """The system `path` describes, every field checked (UsageError naming the field)."""
    path = Path(path)
    data = load_yaml(path, "a system file")
    f = _Fields(path, data)
    version = f.get("raft-jepsen-system", VERSION)
    if version != VERSION:
        f.fail("raft-jepsen-system", f"this raft-jepsen reads version {VERSION} of system files, not {_quote(version)}")
    name = f.text("name")
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,39}", name):
        f.fail("name", f"use lower-case letters, digits, '.', '_' and '-' (it names the run folder), got {_quote(name)}")
    client_port, peer_port = f.port("client-port"), f.port("peer-port")
    if "start" not in f.data:
        f.fail("start", "missing (required): the command that starts a node")
    start = f.argv("start", f.data["start"], PLACEHOLDERS)
    env = f.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in env.items()):
        f.fail("env", f"expected a mapping of names to strings, got {_quote(env)}")
    for key in env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            f.fail("env", f"{_quote(key)} is not a variable name")
    env = {k: f.template(f"env: {k}", str(v), PLACEHOLDERS) for k, v in env.items()}
    node = f.template("node", f.text("node", "{id}={ip}:{peer_port}"), NODE_PLACEHOLDERS)
    separator = f.get("separator", ",")
    if not isinstance(separator, str):
        f.fail("separator", f"expected a string, got {_quote(separator)}")
    description = Description(
        path=path,
        name=name,
        client_port=client_port,
        peer_port=peer_port,
        install=_install(f, path.parent),
        start=start,
        env=env,
        workdir=f.absolute("workdir", "/"),
        node=node,
        separator=separator,
        data_dir=f.absolute("data-dir", "/var/lib/rj/data"),
        log=f.absolute("log", "/var/log/rj/node.log"),
        logs=tuple(_absolute_each(f, "logs")),
        leader=_leader(f),
        roles=_roles(f),
        bug_args=f.argv("bug-args", f.get("bug-args", "--bug {bug}"), {"bug": "the switch's name"}),
    )
    if description.data_dir in ("/", "/tmp", "/var", "/var/lib", "/opt", "/root"):
        f.fail("data-dir", f"{description.data_dir} is wiped at every setup: give a folder of the node's own")
    bases: list[type] = [Described]
    if description.leader is not None:
        bases.append(_Primaries)
    if description.roles is not None:
        bases.append(_RoleLog)
    adapter = type(f"Described_{re.sub(r'[^A-Za-z0-9_]', '_', name)}", tuple(bases), {"description": description})
    return SystemKind(
        name=name,
        about=f.text("about", f"described by {path}"),
        adapter=adapter,
        client_port=client_port,
        peer_port=peer_port,
        workloads=_workloads(f),
        bugs=_bugs(f),
        image=_image(f, path.parent),
        data_dirs=(description.data_dir,),
    )


def _host_path(f: _Fields, field: str, value: Any, here: Path) -> Path:
    if not isinstance(value, str) or not value:
        f.fail(field, f"expected a path on this machine, got {_quote(value)}")
    path = (here / value).resolve()
    if not path.exists():
        f.fail(field, f"{value}: no such file or folder (paths are relative to the system file's folder)")
    return path


def _pairs(f: _Fields, field: str, items: Any, here: Path) -> tuple[tuple[Path, str], ...]:
    if not isinstance(items, list):
        f.fail(field, f"expected a list of {{from: PATH, to: PATH}}, got {_quote(items)}")
    pairs = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or set(item) != {"from", "to"}:
            f.fail(where, f"expected {{from: PATH on this machine, to: absolute PATH in the node}}, got {_quote(item)}")
        src = _host_path(f, f"{where}.from", item["from"], here)
        dst = item["to"]
        if not isinstance(dst, str) or not PurePosixPath(dst).is_absolute() or dst.rstrip("/") == "":
            f.fail(f"{where}.to", f"expected an absolute path in the node, got {_quote(dst)}")
        pairs.append((src, dst.rstrip("/")))
    return tuple(pairs)


def _install(f: _Fields, here: Path) -> tuple[tuple[Path, str], ...]:
    return _pairs(f, "install", f.get("install", []), here)


def _image(f: _Fields, here: Path) -> ImageLayer | None:
    image = f.get("image")
    if image is None:
        return None
    if not isinstance(image, dict):
        f.fail("image", f"expected a mapping with packages, files, run; got {_quote(image)}")
    unknown = set(image) - {"packages", "files", "run"}
    if unknown:
        f.fail("image", f"unknown field {sorted(unknown)[0]!r} (expected packages, files, run)")
    packages = f.texts("image.packages", image.get("packages", []))
    for package in packages:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
            f.fail("image.packages", f"{_quote(package)} is not a Debian package name")
    files = _pairs(f, "image.files", image.get("files", []), here)
    run = f.texts("image.run", image.get("run", []))
    return ImageLayer(packages=packages, files=files, run=run) if (packages or files or run) else None


def _absolute_each(f: _Fields, field: str) -> list[str]:
    values = f.texts(field)
    for value in values:
        if not PurePosixPath(value).is_absolute():
            f.fail(field, f"expected absolute paths inside the node, got {_quote(value)}")
    return list(values)


def _leader(f: _Fields) -> str | None:
    leader = f.get("leader")
    if leader is None or leader == "status":
        return leader
    if isinstance(leader, dict) and set(leader) == {"command"} and isinstance(leader["command"], str) and leader["command"]:
        return leader["command"]
    f.fail("leader", f"expected `status` (ask the node's status op) or {{command: SHELL COMMAND}}, got {_quote(leader)}")


def _roles(f: _Fields) -> RoleLog | None:
    roles = f.get("roles")
    if roles is None:
        return None
    if not isinstance(roles, dict) or "pattern" not in roles:
        f.fail("roles", f"expected {{pattern: REGEX, time: FORMAT, names: {{...}}}}, got {_quote(roles)}")
    unknown = set(roles) - {"pattern", "time", "names"}
    if unknown:
        f.fail("roles", f"unknown field {sorted(unknown)[0]!r} (expected pattern, time, names)")
    if not isinstance(roles["pattern"], str):
        f.fail("roles.pattern", f"expected a regular expression, got {_quote(roles['pattern'])}")
    try:
        pattern = re.compile(roles["pattern"])
    except re.error as e:
        f.fail("roles.pattern", f"not a regular expression ({e})")
    missing = {"role", "time"} - set(pattern.groupindex)
    if missing:
        f.fail("roles.pattern", f"needs the named group(s) {', '.join(f'(?P<{g}>...)' for g in sorted(missing))}")
    extra = set(pattern.groupindex) - {"role", "time", "term", "leader"}
    if extra:
        f.fail("roles.pattern", f"unknown named group {sorted(extra)[0]!r} (expected role, time, term, leader)")
    time_format = roles.get("time", "epoch")
    if not isinstance(time_format, str) or not (time_format in TIME_FORMATS or "%" in time_format):
        f.fail("roles.time", f"expected {', '.join(TIME_FORMATS)} or a strptime format like %Y-%m-%dT%H:%M:%S.%f, "
                             f"got {_quote(time_format)}")
    names = roles.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(k, str) and v in ROLES for k, v in names.items()):
        f.fail("roles.names", f"expected a mapping from the log's words to {', '.join(ROLES)}, got {_quote(names)}")
    return RoleLog(pattern=pattern, time_format=time_format, names=dict(names))


def _workloads(f: _Fields) -> tuple[str, ...]:
    workloads = f.texts("workloads", f.get("workloads", ["register"]))
    for workload in workloads:
        if workload not in WORKLOADS:
            f.fail("workloads", f"unknown workload {_quote(workload)} (expected some of {', '.join(WORKLOADS)})")
    if not workloads:
        f.fail("workloads", "empty: name at least one (register needs read, write, cas)")
    return workloads


def _bugs(f: _Fields) -> dict[str, str]:
    bugs = f.get("bugs", {})
    if not isinstance(bugs, dict):
        f.fail("bugs", f"expected a mapping of switch names to what each breaks, got {_quote(bugs)}")
    for name, about in bugs.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            f.fail("bugs", f"{_quote(name)} is not a switch name (letters, digits, '.', '_', '-')")
        if not isinstance(about, str):
            f.fail(f"bugs.{name}", f"expected a line saying what it breaks, got {_quote(about)}")
    return dict(bugs)
