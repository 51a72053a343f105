"""A node as every layer sees it: a name, how clients reach it, and how commands reach it.

The cluster (Docker) or a nodes file (SSH hosts) produces these; systems, nemeses and clients
only consume them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raft_jepsen.harness.control.base import Remote


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # "n1": the hostname peers use
    ip: str  # address on the cluster network: what iptables grudges name
    client_addr: tuple[str, int]  # where the harness's clients connect (127.0.0.1, published port)
    remote: "Remote"  # how commands reach the node (docker exec or SSH)
    ssh_addr: tuple[str, int] | None = None
