"""Fake nodes for nemesis tests: Remotes that record every command and simulate what the net
layer's commands do to iptables and to connectivity, with no Docker.

Each fake node keeps the set of source addresses its RJ chain drops (and any rules planted in the
legacy backend); the probe's output is computed from every node's state: src reaches dst unless
dst drops src or src drops dst (an INPUT drop on either end breaks TCP both ways)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from raft_jepsen.harness.nemesis.net import PROBE_NAME
from raft_jepsen.harness.nodes import Node


@dataclass
class Result:
    exit_code: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeHost:
    name: str
    ip: str
    drops: set[str] = field(default_factory=set)
    jump: bool = False  # INPUT -j RJ present
    chain: bool = False  # the RJ chain exists
    legacy_rules: list[str] = field(default_factory=list)  # survive nft restores, like the real thing
    inert: bool = False  # rules are accepted but never take effect
    slow_probe_s: float = 0.0  # a probe with a shorter timeout sees every peer cut (a loaded host)
    commands: list[str] = field(default_factory=list)

    def cuts(self, src_ip: str) -> bool:
        legacy = any(f"-s {src_ip}/32 -j DROP" in rule for rule in self.legacy_rules)
        return legacy or (self.jump and not self.inert and src_ip in self.drops)


class FakeRemote:
    def __init__(self, cluster: "FakeCluster", host: FakeHost):
        self.cluster = cluster
        self.host = host

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        self.host.commands.append(cmd)
        if "iptables-nft-restore" in cmd:
            return self._restore(cmd)
        if "-D INPUT -j RJ" in cmd and "-X RJ" in cmd:  # Net.remove: the jump, then the chain
            self.host.jump, self.host.chain, self.host.drops = False, False, set()
            return self._save()
        if "iptables-nft-save" in cmd:
            return self._save()
        if cmd.startswith("sh -c") and PROBE_NAME in cmd:
            return self._probe(cmd)
        return Result(127, "", f"fake remote: unknown command {cmd[:40]!r}")

    def _restore(self, cmd: str) -> Result:
        payload = shlex.split(cmd)[2]
        if ":RJ - [0:0]" not in payload.splitlines():
            return Result(2, "", "fake remote: restore without the RJ chain")
        self.host.drops = {
            ip for line in payload.splitlines() if line.startswith("-A RJ -s ") for ip in line.split()[3].split(",")
        }
        self.host.jump = self.host.chain = True
        return Result(0)

    def _save(self) -> Result:
        nft = ["*filter", ":INPUT ACCEPT [0:0]"] + ([":RJ - [0:0]"] if self.host.chain else [])
        if self.host.jump:
            nft.append("-A INPUT -j RJ")
        nft += [f"-A RJ -s {ip}/32 -j DROP" for ip in sorted(self.host.drops)]
        legacy = ["*filter", *self.host.legacy_rules, "COMMIT"]
        return Result(0, "\n".join(nft + ["COMMIT", "--- rj legacy ---", *legacy]) + "\n")

    def _probe(self, cmd: str) -> Result:
        args = shlex.split(cmd)
        peers = args[args.index(PROBE_NAME) + 3:]
        too_slow = float(args[args.index(PROBE_NAME) + 2]) < self.host.slow_probe_s
        by_ip = {h.ip: h for h in self.cluster.hosts}
        me = self.host
        cut = {ip: too_slow or by_ip[ip].cuts(me.ip) or me.cuts(ip) for ip in peers}
        return Result(0, "".join(f"{ip} {'cut' if cut[ip] else 'reached'}\n" for ip in peers))


class FakeCluster:
    def __init__(self, n: int):
        self.hosts = [FakeHost(f"n{i}", f"10.9.0.{i + 1}") for i in range(1, n + 1)]
        self.nodes = [Node(h.name, h.ip, ("127.0.0.1", 0), FakeRemote(self, h)) for h in self.hosts]

    def host(self, name: str) -> FakeHost:
        return next(h for h in self.hosts if h.name == name)

    def drops(self) -> dict[str, set[str]]:
        """Each node's dropped peers, by name, as the fake iptables holds them."""
        name_of = {h.ip: h.name for h in self.hosts}
        return {h.name: {name_of[ip] for ip in h.drops} for h in self.hosts}

    def commands(self) -> list[str]:
        return [c for h in self.hosts for c in h.commands]
