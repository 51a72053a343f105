"""The nodes file of an SSH test (`--remote ssh --nodes-file FILE`): real hosts instead of
containers. Each host must already hold what the node image holds (raftkv in /opt/raftkv,
python3, iptables); the harness reaches it as root over SSH, with host keys checked.

    user: root                         # defaults for every node (all optional)
    key-file: ~/.ssh/id_ed25519
    known-hosts: ~/.ssh/known_hosts
    nodes:
      - name: n1
        host: 192.168.1.11             # where SSH and clients connect
        ip: 10.0.0.11                  # the address peers use (grudges name it); default: host
        ssh-port: 22                   # default 22
        client-port: 8000              # default: the system's client port
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raft_jepsen.harness.control.ssh import SshRemote
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.yamlfile import load_yaml, short

_TOP = {"user", "key-file", "known-hosts", "nodes"}
_NODE = {"name", "host", "ip", "ssh-port", "client-port"}


def load(path: str | Path, *, client_port: int) -> list[Node]:
    data = load_yaml(path, "a nodes file")
    _only(data, _TOP, str(path))
    user = _text(data.get("user", "root"), f"{path}: user")
    key_file = _path(data.get("key-file"), f"{path}: key-file")
    known_hosts = _path(data.get("known-hosts"), f"{path}: known-hosts")
    entries = data.get("nodes")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: nodes: expected a non-empty list of hosts")
    nodes = []
    for n, entry in enumerate(entries, 1):
        where = f"{path}: nodes[{n}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a mapping with name and host")
        _only(entry, _NODE, where)
        name = _text(entry.get("name"), f"{where}.name")
        host = _text(entry.get("host"), f"{where}.host")
        ssh_port = _port(entry.get("ssh-port", 22), f"{where}.ssh-port")
        remote = SshRemote(host, ssh_port, user=user, key_file=key_file, known_hosts=known_hosts, name=name)
        nodes.append(
            Node(
                name=name,
                ip=_text(entry.get("ip", host), f"{where}.ip"),
                client_addr=(host, _port(entry.get("client-port", client_port), f"{where}.client-port")),
                remote=remote,
                ssh_addr=(host, ssh_port),
            )
        )
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: node names must be unique, got {', '.join(names)}")
    return nodes


def _only(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise UsageError(f"{where}: unknown key {short(repr(unknown[0]))} (expected one of {', '.join(sorted(allowed))})")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: expected a non-empty string, got {short(repr(value))}")
    return value


def _path(value: Any, where: str) -> Path | None:
    return None if value is None else Path(_text(value, where)).expanduser()


def _port(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise UsageError(f"{where}: expected a port number, got {short(repr(value))}")
    return value
