"""Clock faults: per-node offsets, jumps and strobes of the wall clock, through libfaketime.

A container cannot set the clock (CLOCK_REALTIME is not namespaced; with SYS_TIME it would move
the host's), so the node process is started with libfaketime preloaded (`prepare_command`
writes the environment the node daemon sources, `systems.daemon.NODE_ENV_FILE`), reading its
offset from a file that the nemesis rewrites at run time:

- `bump`: each chosen node's clock jumps by its own offset, ±2^k ms (k from 8 to 14: a quarter
  of a second to 16 s), kept until `stop-clock` jumps it back;
- `strobe`: each chosen node's clock flips between its offset and the true time every `period`
  ms (a node-side loop, `rjtools.strobe`), until `stop-clock`.

Only the wall clock moves (FAKETIME_DONT_FAKE_MONOTONIC): a faked monotonic clock stepped at run
time freezes or fires every asyncio timer at once, and libfaketime 0.9.10 hangs timed thread
waits under it. It reaches programs whose time goes through libc (Python, C, Java's
currentTimeMillis); it cannot reach Go binaries such as etcd, which read the clock through the
vDSO themselves, nor any process not started through the node daemon.

Each fault is proven from inside the node: a libc program run with the node's own environment
(`date`) reports the offset it sees, and the processes that have libfaketime mapped are listed
(the node's own must be among them). The recorded value:

    {"kind": "bump", "target": "leader", "nodes": ["n3"], "offsets_s": {"n3": -4.096},
     "measured_s": {"n3": [-4.095]}, "preloaded": {"n3": ["python3"]}, "verified_ms": 240}

A strobe's `measured_s` lists the distinct offsets seen over two periods (both must show)."""

from __future__ import annotations

import random
import shlex
import time
from dataclasses import replace
from typing import Callable, Sequence

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis import tools
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nemesis.targets import NoTarget, resolve
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.daemon import NODE_ENV_FILE

CLOCK_FILE = "/run/rj/faketime"
PRELOAD = "/usr/$LIB/faketime/libfaketimeMT.so.1"  # ld.so expands $LIB
KINDS = ("bump", "strobe")
TARGETS = ("one", "minority", "majority", "leader", "all")
WEIGHTS = {"leader": 3}
TOLERANCE_S = 0.05  # a read-back offset this close to the one written counts as it
STROBE_PERIODS_MS = (100, 200, 400)


def kinds_named(names: Sequence[str]) -> list[str]:
    """The clock kinds a spec's nemesis names ask for (`clock` = all of them)."""
    return [k for k in KINDS if "clock" in names or f"clock-{k}" in names]


def environment() -> dict[str, str]:
    """What the node process is started with: the offset file re-read on every call (the
    cost, ~1.5 µs a call, is what makes a strobe of 100 ms possible), the monotonic clock true."""
    return {"LD_PRELOAD": PRELOAD, "FAKETIME_TIMESTAMP_FILE": CLOCK_FILE, "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def write_offset(offset_s: float, path: str = CLOCK_FILE) -> str:
    """Replace the offset file atomically: a half-written file makes libfaketime exit."""
    return f"printf '%s\\n' {offset_s:+.3f} >{path}.tmp && mv -f {path}.tmp {path}"


def prepare_command() -> str:
    lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in environment().items())
    return f"mkdir -p /run/rj && {write_offset(0)} && printf %s {shlex.quote(lines)} >{NODE_ENV_FILE}"


def unprepare_command() -> str:
    return f"rm -f {NODE_ENV_FILE} {CLOCK_FILE} {CLOCK_FILE}.tmp"


def reset_command() -> str:
    return tools.stop_command("strobe") + "\n" + write_offset(0)


# Prints the offset a libc program started with the node's environment sees, in seconds, once per
# sample, then the command names of the processes that have libfaketime mapped.
def readback_command(samples: int = 1, spacing_s: float = 0.0) -> str:
    return f"""\
i=0
while [ $i -lt {samples} ]; do
  a=$(date +%s%N); f=$(. {NODE_ENV_FILE}; date +%s%N); b=$(date +%s%N)
  echo "offset $(( f - (a + b) / 2 ))"
  i=$((i+1)); [ $i -lt {samples} ] && sleep {spacing_s:g}
done
for p in /proc/[0-9]*; do grep -q libfaketime $p/maps 2>/dev/null && echo "preloaded $(cat $p/comm)"; done
true"""


def parse_readback(out: str) -> tuple[list[float], list[str]]:
    offsets, preloaded = [], []
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word == "offset":
            offsets.append(round(int(rest) / 1e9, 3))
        elif word == "preloaded":
            preloaded.append(rest)
    return offsets, sorted(set(preloaded))


def draw_offset(rng: random.Random) -> float:
    return rng.choice((-1, 1)) * 2 ** rng.randint(8, 14) / 1000


class ClockNemesis:
    fs = frozenset({"start-clock", "stop-clock"})

    def __init__(self, nodes: list[Node], kinds: Sequence[str], rng: random.Random,
                 primaries: Callable[[], list[str]] = list, targets: Sequence[str] = TARGETS):
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise UsageError(f"unknown clock fault {unknown[0] if unknown else None!r} (expected {', '.join(KINDS)})")
        self.nodes = {n.name: n for n in nodes}
        self.kinds = list(kinds)
        self.rng = rng
        self.primaries = primaries
        self.targets = list(targets)
        self.weights = [WEIGHTS.get(t, 1) for t in self.targets]
        self.hit: list[str] = []

    def setup(self) -> None:
        self._reset(list(self.nodes))

    def teardown(self) -> None:
        self._reset(list(self.nodes))

    def invoke(self, op: Op) -> Op:
        started = time.monotonic()
        if op.f == "start-clock":
            value = self._start()
        elif op.f == "stop-clock":
            names, self.hit = self.hit, []
            value = {"nodes": names, **self._reset(names)}
        else:
            raise UsageError(f"the clock nemesis cannot do {op.f!r}")
        if "verified_ms" not in value and "skipped" not in value:
            value["verified_ms"] = round((time.monotonic() - started) * 1000)
        return replace(op, value=value)

    def _start(self) -> dict:
        if self.hit:
            self._reset(self.hit)
        kind = self.rng.choice(self.kinds)
        spec = self.rng.choices(self.targets, self.weights)[0]
        value: dict = {"kind": kind, "target": spec}
        try:
            chosen = value["nodes"] = resolve(spec, list(self.nodes), self.rng, self.primaries)
        except NoTarget as e:
            return {**value, "nodes": [], "skipped": str(e)}
        offsets = {n: draw_offset(self.rng) for n in chosen}
        value["offsets_s"] = offsets
        self.hit = list(chosen)
        if kind == "strobe":
            period = self.rng.choice(STROBE_PERIODS_MS)
            value["period_ms"] = period
            on_each([self.nodes[n] for n in chosen], lambda node: tools.run(node, tools.start_command(
                "strobe", "strobe", ["--file", CLOCK_FILE, "--offset", f"{offsets[node.name]:+.3f}",
                                     "--period-ms", str(period), "--ready", tools.ready_file("strobe")]), "clock strobe"))
            reads = self._read([self.nodes[n] for n in chosen], samples=9, spacing_s=period / 4000)
        else:
            on_each([self.nodes[n] for n in chosen],
                    lambda node: tools.run(node, write_offset(offsets[node.name]), "clock offset"))
            reads = self._read([self.nodes[n] for n in chosen])
        value["measured_s"] = {n: sorted(set(seen)) for n, (seen, _) in reads.items()}
        value["preloaded"] = {n: procs for n, (_, procs) in reads.items()}
        unproven = [n for n in chosen if not _shows(kind, offsets[n], *reads[n])]
        if unproven:
            return {**value, "verified_ms": None, "unproven": unproven}
        return value

    def _reset(self, names: list[str]) -> dict:
        nodes = [self.nodes[n] for n in names]
        on_each(nodes, lambda node: tools.run(node, reset_command(), "clock reset"))
        reads = self._read(nodes)
        off = {n: seen for n, (seen, _) in reads.items() if any(abs(s) > TOLERANCE_S for s in seen)}
        if off:
            return {"verified_ms": None, "measured_s": off}
        return {}

    def _read(self, nodes: list[Node], samples: int = 1, spacing_s: float = 0.0) -> dict[str, tuple[list[float], list[str]]]:
        def read(node: Node) -> tuple[list[float], list[str]]:
            out = tools.run(node, readback_command(samples, spacing_s), "clock read-back")
            try:
                return parse_readback(out)
            except ValueError:
                raise EnvironmentProblem(f"{node.name}: clock read-back printed {out.strip()[:200]!r}") from None
        return on_each(nodes, read)


def _shows(kind: str, offset: float, seen: list[float], preloaded: list[str]) -> bool:
    """The offset (for a strobe: both it and the true time) read back, and some process of the
    node other than our probes has libfaketime loaded."""
    near = [abs(s - offset) <= TOLERANCE_S for s in seen]
    zero = [abs(s) <= TOLERANCE_S for s in seen]
    took = any(near) and (kind != "strobe" or any(zero))
    return took and bool(preloaded)
