"""The nodes file of an SSH test: hosts become Nodes; mistakes are one line."""

import re

import pytest

from raft_jepsen.harness import nodes_file
from raft_jepsen.harness.errors import UsageError


def write(tmp_path, text):
    path = tmp_path / "nodes.yaml"
    path.write_text(text)
    return path


def test_hosts_become_nodes_with_defaults_filled_in(tmp_path):
    path = write(tmp_path, "user: admin\nkey-file: ~/k\nnodes:\n"
                           "  - {name: n1, host: 192.168.1.11, ip: 10.0.0.11}\n"
                           "  - {name: n2, host: 192.168.1.12, ssh-port: 2222, client-port: 9000}\n")
    n1, n2 = nodes_file.load(path, client_port=8000)
    assert (n1.name, n1.ip, n1.client_addr, n1.ssh_addr) == ("n1", "10.0.0.11", ("192.168.1.11", 8000), ("192.168.1.11", 22))
    assert (n2.ip, n2.client_addr, n2.ssh_addr) == ("192.168.1.12", ("192.168.1.12", 9000), ("192.168.1.12", 2222))
    assert n1.remote.user == "admin" and not n1.remote.key_file.startswith("~")


@pytest.mark.parametrize(
    "text, message",
    [
        ("nodes: []\n", "nodes: expected a non-empty list of hosts"),
        ("nodes:\n  - {name: n1}\n", "nodes[1].host: expected a non-empty string"),
        ("nodes:\n  - {name: n1, host: h, port: 1}\n", "nodes[1]: unknown key 'port'"),
        ("nodes:\n  - {name: n1, host: h, ssh-port: 70000}\n", "nodes[1].ssh-port: expected a port number"),
        ("nodes:\n  - {name: n1, host: a}\n  - {name: n1, host: b}\n", "node names must be unique"),
        ("hosts: []\n", "unknown key 'hosts'"),
    ],
)
def test_mistakes_are_one_line_naming_the_place(tmp_path, text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        nodes_file.load(write(tmp_path, text), client_port=8000)
