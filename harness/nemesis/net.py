"""The network as a nemesis sees it: iptables grudges applied, healed and proven over Remotes.

Each node drops the packets of the nodes it holds a grudge against, on INPUT, inside its own
network namespace (a container needs NET_ADMIN only, never --privileged). The rules live in a chain of our own, `RJ`,
jumped to from the top of INPUT, and every change replaces the chain's whole content in one
`iptables-nft-restore --noflush` transaction: a fault is never appended on top of an old one, and
healing is resetting the chain to empty, never deleting rules one by one. Only the filter table's
RJ chain is ever touched: Docker's embedded-DNS rules live in the nat table of the same namespace,
and an SSH host's own firewall in INPUT.

`iptables-nft` is named explicitly (a rule added through the legacy backend survives an nft flush),
every call passes `-w` (wait for the xtables lock), and a heal checks both `-save` variants.

Whether a fault is in effect is never assumed: `probe` runs one exec per node, in parallel, each
TCP-connecting to every peer's peer port (the system's Raft port) (connected or refused = reachable, timeout = cut)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Iterable, Mapping

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.nemesis.grudges import symmetric
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nodes import Node

CHAIN = "RJ"
# A cut shows only as a connect that never completes, so this is the floor of every partition's
# proof. Peers share one host bridge: a reachable one answers a SYN in well under a millisecond,
# from the kernel, even when its process is paused; the rest is for starting bash on a loaded
# machine (a false cut is probed again with a longer timeout, see `verify`).
PROBE_TIMEOUT_S = 0.15
RETRY_FACTOR = 4  # a probe that disagrees is repeated with a timeout this many times longer

# Connect to every peer at once, each by bash's /dev/tcp under timeout(1), so a probe takes one
# timeout, not one per cut; a few ms of process starts where a Python probe took ~100 ms.
# Connected or refused = reachable; anything else (timed out, unreachable) = cut.
# argv: PROBE_NAME, port, timeout in seconds, peer addresses. Prints "ADDR reached|cut" lines.
PROBE_NAME = "rj-probe"
PROBE_SCRIPT = """\
port=$1 t=$2; shift 2
for ip in "$@"; do
  ( out=$(timeout "$t" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>&1)
    case "$?:$out" in
      0:*|*"Connection refused"*) echo "$ip reached" ;;
      *) echo "$ip cut" ;;
    esac ) &
done
wait
"""


def probe_command(port: int, timeout: float, peers: Iterable[str]) -> str:
    return shlex.join(["sh", "-c", PROBE_SCRIPT, PROBE_NAME, str(port), f"{timeout:g}", *peers])


def parse_probe(out: str) -> dict[str, bool]:
    """{addr: reachable} from the probe's output lines; ValueError on anything else."""
    result = {}
    for line in out.splitlines():
        addr, verdict = line.split()
        if verdict not in ("reached", "cut"):
            raise ValueError(line)
        result[addr] = verdict == "reached"
    return result


_SAVE_SEPARATOR = "--- rj legacy ---"


@dataclass(frozen=True, slots=True)
class Matrix:
    """What a probe saw: for every node, the peers it could not reach."""

    cut: dict[str, frozenset[str]]

    def matches(self, grudge: Mapping[str, Iterable[str]]) -> bool:
        """True when exactly the pairs the grudge cuts (either way, as TCP sees it) are cut."""
        expected = symmetric(grudge)
        return all(self.cut[n] == expected.get(n, frozenset()) for n in self.cut)

    def to_json(self) -> dict[str, list[str]]:
        return {n: sorted(peers) for n, peers in sorted(self.cut.items())}


class Net:
    """iptables grudges over the nodes' Remotes. Nodes are named; addresses stay inside."""

    def __init__(self, nodes: list[Node], *, port: int, probe_timeout: float = PROBE_TIMEOUT_S):
        self.nodes = list(nodes)
        self.port = port
        self.probe_timeout = probe_timeout
        self._ip = {n.name: n.ip for n in self.nodes}

    def drop(self, grudge: Mapping[str, Iterable[str]]) -> None:
        """Make the cluster's rules exactly `grudge`: a node not named in it drops nothing."""
        named = set(grudge).union(*grudge.values())
        unknown = sorted(named - self._ip.keys())
        if unknown:
            raise UsageError(f"grudge names {', '.join(unknown)}, not a node of this cluster")
        on_each(self.nodes, lambda node: self._replace(node, grudge.get(node.name, ())))

    def heal(self) -> dict[str, list[str]]:
        """Empty RJ on every node, then read back both `-save` variants.

        Returns the RJ rules still present per node (a clean heal returns only empty lists):
        rules added through iptables-legacy survive an nft flush and must not go unnoticed."""
        return on_each(self.nodes, self._heal_one)

    def remove(self) -> dict[str, list[str]]:
        """Take the RJ chain and INPUT's jump to it away on every node: a host is left with the
        firewall it had (a container would not care; a real host must). Returns what is left of
        either per node (a clean removal returns only empty lists)."""
        return on_each(self.nodes, self._remove_one)

    def probe(self, timeout: float | None = None) -> Matrix:
        """One exec per node, in parallel: which peers does each node fail to reach within
        `timeout` (default: the Net's probe timeout)?"""
        timeout = timeout or self.probe_timeout
        return Matrix(on_each(self.nodes, lambda node: self._probe_one(node, timeout)))

    def verify(self, grudge: Mapping[str, Iterable[str]], *, attempts: int = 4) -> Matrix:
        """Probe until the matrix matches `grudge` or `attempts` probes have disagreed; returns
        the last matrix seen (the caller checks `matches`). A rule is in force once its
        transaction commits, so a mismatch is not the rule's latency: it is a false cut (a
        loaded machine started the probe too late to connect within the timeout) or a real
        problem. Each attempt waits RETRY_FACTOR times longer, so a false cut clears, while a
        real one stays cut however long the probe waits."""
        timeout = self.probe_timeout
        matrix = self.probe(timeout)
        for _ in range(attempts - 1):
            if matrix.matches(grudge):
                break
            timeout *= RETRY_FACTOR
            matrix = self.probe(timeout)
        return matrix

    def _replace(self, node: Node, drops: Iterable[str]) -> None:
        sources = sorted(self._ip[p] for p in drops)
        rules = [f":{CHAIN} - [0:0]"]  # with --noflush: create the chain, or empty it
        if sources:
            rules.append(f"-A {CHAIN} -s {','.join(sources)} -j DROP")
        restore = "*filter\n" + "\n".join(rules) + "\nCOMMIT\n"
        # The INPUT jump goes first in INPUT so no earlier ACCEPT (an SSH host's ESTABLISHED
        # rule) lets existing flows escape the cut; -C first so it is never added twice.
        cmd = (
            f"printf %s {shlex.quote(restore)} | iptables-nft-restore -w --noflush"
            f" && {{ iptables-nft -w -C INPUT -j {CHAIN} 2>/dev/null"
            f" || iptables-nft -w -I INPUT 1 -j {CHAIN}; }}"
        )
        _run(node, cmd, "iptables")

    def _heal_one(self, node: Node) -> list[str]:
        self._replace(node, ())
        saved = _run(
            node,
            f"iptables-nft-save -t filter; echo {shlex.quote(_SAVE_SEPARATOR)};"
            " iptables-legacy-save -t filter 2>/dev/null || true",
            "iptables-save",
        )
        return [line for line in saved.splitlines() if line.startswith(f"-A {CHAIN} ")]

    def _remove_one(self, node: Node) -> list[str]:
        saved = _run(
            node,
            f"while iptables-nft -w -C INPUT -j {CHAIN} 2>/dev/null; do iptables-nft -w -D INPUT -j {CHAIN} || exit 1; done;"
            f" if iptables-nft -w -n -L {CHAIN} >/dev/null 2>&1; then iptables-nft -w -F {CHAIN} && iptables-nft -w -X {CHAIN} || exit 1; fi;"
            f" iptables-nft-save -t filter; echo {shlex.quote(_SAVE_SEPARATOR)}; iptables-legacy-save -t filter 2>/dev/null || true",
            "iptables chain removal",
        )
        return [line for line in saved.splitlines() if line.startswith(f":{CHAIN} ") or line.endswith(f"-j {CHAIN}")]

    def _probe_one(self, node: Node, timeout: float) -> frozenset[str]:
        peers = {self._ip[p.name]: p.name for p in self.nodes if p.name != node.name}
        out = _run(node, probe_command(self.port, timeout, peers), "probe", timeout=timeout + 30)
        try:
            reached = parse_probe(out)
            return frozenset(name for ip, name in peers.items() if not reached[ip])
        except (ValueError, KeyError):
            raise EnvironmentProblem(f"{node.name}: connectivity probe printed {out.strip()[:200]!r}") from None


def _run(node: Node, cmd: str, what: str, timeout: float | None = 30) -> str:
    result = node.remote.exec(cmd, check=False, timeout=timeout)
    if result.exit_code != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise EnvironmentProblem(
            f"{node.name}: {what} failed (exit {result.exit_code}): {detail[-1] if detail else 'no output'}"
        )
    return result.stdout
