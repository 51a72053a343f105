"""The test spec: one frozen value naming every option of a run (STYLE.md 2).

A spec comes from a YAML file (`--config`), from flags, or both (flags win). The YAML keys are
the flag names, with dashes or underscores (`time-limit: 60` or `time_limit: 60`). Every value is
checked here, so a bad one is a single line naming the key (UsageError, exit 3), never a
traceback later in the run. A spec always has a seed: one is drawn when none is given, and the
saved `test.yaml` (`to_config`) carries it, so `raft-jepsen run --config test.yaml` replays it.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nemesis import NEMESES
from raft_jepsen.harness.nemesis.package import partition_kinds
from raft_jepsen.harness.systems import SYSTEMS
from raft_jepsen.workloads import WORKLOADS

# The switches of the bundled raftkv node (DESIGN.md's table of reference-design flaws; the node's
# own list, node_image/raftkv/bugs.py, is not importable from here: it ships inside the image).
BUGS = (
    "vote-ignores-log",
    "self-elect",
    "commit-prior-term",
    "volatile-state",
    "lazy-fsync",
    "stale-read",
    "no-truncate",
    "fixed-timeout",
    "duplicate-apply",
    "accept-stale-term",
    "truncate-on-match",
    "ack-before-commit",
    "even-majority",
    "optimistic-match",
)
REMOTES = ("docker", "ssh")


@dataclass(frozen=True, kw_only=True)
class Spec:
    name: str | None = None  # the test's name in the store; None means "<system>-<workload>"
    system: str = "raftkv"
    bugs: tuple[str, ...] = ()
    nodes: int = 5
    workload: str = "register"
    nemesis: tuple[str, ...] = ("partition", "kill", "pause")
    nemesis_interval: float = 3.0  # ten faults a minute: each one long enough for an election
    time_limit: float = 60.0
    # Four processes per node of a 5-node cluster: enough of them homed on a leader that is cut
    # off to keep asking it while most of them wait out their writes there.
    concurrency: int = 20
    rate: float = 100.0
    seed: int = 0
    test_count: int = 1
    recovery_time: float = 5.0
    availability_window: float = 10.0  # longest stretch without a successful op before invalid
    leave_running: bool = False
    junit: str | None = None
    store: str = "store"
    remote: str = "docker"
    nodes_file: str | None = None
    image: str | None = None  # None: the image `raft-jepsen image build` makes

    @property
    def test_name(self) -> str:
        return self.name or f"{self.system}-{self.workload}"

    def to_config(self) -> dict:
        """The spec as YAML-ready data under the flag names: what `test.yaml` holds."""
        data = asdict(self)
        out = {}
        for option in OPTIONS.values():
            value = data[option.field]
            out[option.name] = list(value) if isinstance(value, tuple) else value
        return out


# --- options -------------------------------------------------------------------------------


def _integer(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _number(positive: bool) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise ValueError(f"expected a number, got {value!r}")
        if value < 0 or (positive and value == 0):
            raise ValueError(f"must be {'positive' if positive else 'at least 0'}, got {value:g}")
        return float(value)

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _test_name(value: Any) -> str | None:
    if value is None:
        return None
    value = _text(value)
    if "/" in value or value.startswith(".") or value == "latest":  # it names a store folder
        raise ValueError(f"must be a plain folder name, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    """A YAML list, or a comma-separated string (`partition,kill`); `none` or empty: no names."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of names, got {value!r}")
    names = [n.strip() for v in value for n in v.split(",")]
    return tuple(dict.fromkeys(n for n in names if n and n != "none"))


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        value = _text(value)
        if value not in choices:
            raise ValueError(f"unknown value {value!r} (expected one of {', '.join(choices)})")
        return value

    return parse


@dataclass(frozen=True)
class Option:
    name: str  # the flag without its dashes, and the YAML key
    field: str
    parse: Callable[[Any], Any]
    help: str
    metavar: str | None = None
    kind: str = "value"  # on the command line: "value", "switch" (no value) or "repeat" (repeatable)


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("name", "name", _test_name, "test name in the store (default: <system>-<workload>)", "NAME"),
        Option("system", "system", _one_of(tuple(SYSTEMS)), "system under test", "NAME"),
        Option("bug", "bugs", _names, "switch a known flaw on in raftkv, e.g. stale-read (repeatable)", "NAME", "repeat"),
        Option("nodes", "nodes", _integer(1), "number of nodes", "N"),
        Option("workload", "workload", _text, f"workload: {' or '.join(WORKLOADS)}", "NAME"),
        Option("nemesis", "nemesis", _names, f"comma-separated fault kinds ({', '.join(NEMESES)}), or none", "LIST"),
        Option("nemesis-interval", "nemesis_interval", _number(True), "seconds between fault operations", "S"),
        Option("time-limit", "time_limit", _number(True), "seconds of workload", "S"),
        Option("concurrency", "concurrency", _integer(1), "client processes at a time", "N"),
        Option("rate", "rate", _number(True), "client operations per second, all processes together", "R"),
        Option("seed", "seed", _integer(0), "random seed (default: drawn, then saved with the run)", "N"),
        Option("test-count", "test_count", _integer(1), "repeat the test with seeds seed, seed+1, ...", "K"),
        Option("recovery-time", "recovery_time", _number(False), "seconds to recover after healing, before the final reads", "S"),
        Option("availability-window", "availability_window", _number(True),
               "longest window without a successful operation before the run is invalid", "S"),
        Option("leave-running", "leave_running", _flag, "leave the cluster up after the run", kind="switch"),
        Option("junit", "junit", _optional_text, "also write JUnit XML to FILE", "FILE"),
        Option("store", "store", _text, "store directory for runs", "DIR"),
        Option("remote", "remote", _one_of(REMOTES), "how commands reach nodes: docker or ssh", "KIND"),
        Option("nodes-file", "nodes_file", _optional_text, "hosts to test with --remote ssh", "FILE"),
        Option("image", "image", _optional_text, "node image tag", "TAG"),
    )
}


def _option(key: Any, source: str) -> Option:
    name = str(key).replace("_", "-")
    if name == "bugs":  # the field's own name reads naturally in YAML too
        name = "bug"
    if name not in OPTIONS:
        raise UsageError(f"{source}: unknown option {key!r} (expected one of {', '.join(OPTIONS)})")
    return OPTIONS[name]


def parse_options(raw: dict, source: str | None) -> dict[str, Any]:
    """Check every key and value of `raw`, YAML data from `source` or flags (source None):
    field name -> parsed value."""
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        option = _option(key, source or "flags")
        try:
            parsed[option.field] = option.parse(value)
        except ValueError as e:
            where = f"{source}: {option.name}" if source else f"--{option.name}"
            raise UsageError(f"{where}: {e}") from None
    return parsed


def load_file(path: str | Path) -> dict:
    """The options of a YAML config file, unchecked (see `parse_options`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return data


def build(config: dict | None = None, flags: dict | None = None, *, source: str = "config") -> Spec:
    """A checked spec from config data (`source` names it in errors) overridden by flags."""
    values = {**parse_options(config or {}, source), **parse_options(flags or {}, None)}
    spec = Spec(**values)
    _check_names(spec)
    if spec.remote == "ssh" and not spec.nodes_file:
        raise UsageError("remote ssh needs nodes-file (the hosts to test)")
    if spec.remote == "docker":
        # Before any container starts: a partition the cluster is too small for (the nodes of
        # an SSH run are only known from its nodes file, checked when the package is built).
        partition_kinds(spec.nemesis, spec.nodes, knows_leader=True)
    if "seed" not in values:
        spec = replace(spec, seed=random.SystemRandom().randrange(2**31))
    return spec


def load(path: str | Path, flags: dict | None = None) -> Spec:
    return build(load_file(path), flags, source=str(path))


def dump(spec: Spec) -> str:
    return yaml.safe_dump(spec.to_config(), sort_keys=False)


def _check_names(spec: Spec) -> None:
    _known("workload", [spec.workload], WORKLOADS)
    _known("nemesis", spec.nemesis, NEMESES)
    _known("bug", spec.bugs, BUGS)


def _known(what: str, names, valid) -> None:
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown {what} {name!r} (expected one of {', '.join(valid)})")

