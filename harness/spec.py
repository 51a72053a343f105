"""The test spec: one frozen value naming every option of a run (STYLE.md 2).

A spec comes from a YAML file (`--config`), from flags, or both (flags win). The YAML keys are
the flag names, with dashes or underscores (`time-limit: 60` or `time_limit: 60`). Every value is
checked here, so a bad one is a single line naming the key (UsageError, exit 3), never a
traceback later in the run. A spec always has a seed: one is drawn when none is given, and the
saved `test.yaml` (`to_config`) carries it, so `raft-jepsen run --config test.yaml` replays it.
"""

from __future__ import annotations

import math
import random
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from raft_jepsen.harness import systems
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nemesis import NEMESES, RAFT_NAMES
from raft_jepsen.harness.nemesis.package import partition_kinds
from raft_jepsen.harness.nemesis.process import RAFT_TARGETS
from raft_jepsen.harness.nemesis.timing import TIMINGS
from raft_jepsen.harness.systems.base import HasMembership, HasPrimaries, HasSnapshots, Killable, Pausable
from raft_jepsen.harness.yamlfile import load_yaml, short
from raft_jepsen.workloads import WORKLOADS

REMOTES = ("docker", "ssh")
MAX_NODES = 15  # Docker clusters: beyond this, a 2-core machine measures itself, not the system


@dataclass(frozen=True, kw_only=True)
class Spec:
    name: str | None = None  # the test's name in the store; None means "<system>-<workload>"
    system: str = "raftkv"  # a system's name, or a system file's absolute path
    bin: str | None = None  # the program a system runs in each node (maelstrom: the node), absolute
    bugs: tuple[str, ...] = ()  # the system's bug switches to turn on
    system_opts: tuple[tuple[str, str], ...] = ()  # (key, value text) pairs, each key once
    nodes: int = 5
    workload: str = "register"
    nemesis: tuple[str, ...] = ("partition", "kill", "pause")
    nemesis_interval: float = 3.0  # ten faults a minute: each one long enough for an election
    nemesis_timing: str = "interval"  # or a cluster state each fault waits for (harness.nemesis.timing)
    time_limit: float = 60.0
    # Four processes per node of a 5-node cluster: enough of them homed on a leader that is cut
    # off to keep asking it while most of them wait out their writes there.
    concurrency: int = 20
    rate: float = 100.0
    seed: int = 0
    test_count: int = 1
    until_invalid: bool = False  # with test_count: stop at the first invalid run
    recovery_time: float = 5.0
    availability_window: float = 10.0  # longest stretch without a successful op before invalid
    # After the final heal, a write and a read must succeed within this many seconds, and no
    # stretch outside faults may go longer without a successful write; 0: no liveness checks.
    liveness_deadline: float = 10.0
    leave_running: bool = False
    junit: str | None = None
    store: str = "store"
    remote: str = "docker"
    nodes_file: str | None = None
    image: str | None = None  # None: the image `raft-jepsen image build` makes

    @property
    def test_name(self) -> str:
        return self.name or f"{systems.get(self.system).name}-{self.workload}"

    def to_config(self) -> dict:
        """The spec as YAML-ready data under the flag names: what `test.yaml` holds."""
        data = asdict(self)
        out = {}
        for option in OPTIONS.values():
            value = data[option.field]
            if option.field == "system_opts":
                value = dict(value)
            out[option.name] = list(value) if isinstance(value, tuple) else value
        return out


# --- options -------------------------------------------------------------------------------


def _q(value: Any) -> str:
    """A bad value as an error quotes it: its repr, cut short (a value may be megabytes)."""
    return short(repr(value))


_MAX_DIGITS = 20  # a 64-bit integer; a longer string of digits is no count of anything


def _integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, str) and 0 < len(value.strip().lstrip("+-")) <= _MAX_DIGITS and value.strip().lstrip("+-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {_q(value)}")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {short(str(value), 30)}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum}, got {short(str(value), 30)}")
        return value

    return parse


def _number(minimum: float, maximum: float, *, above_minimum: bool = False) -> Callable[[Any], float]:
    """A finite number in [minimum, maximum] (or (minimum, maximum]): `inf`, `nan` and values
    like 1e-300 that no clock or sleep can honour are refused before anything starts."""

    def parse(value: Any) -> float:
        if isinstance(value, str):
            text = value
            try:
                value = float(text) if len(text) <= 40 else None
            except ValueError:
                value = None
            if value is None:
                raise ValueError(f"expected a number, got {_q(text)}") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {_q(value)}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        low_ok = value > minimum if above_minimum else value >= minimum
        if not low_ok:
            if minimum == 0:
                raise ValueError(f"must be {'positive' if above_minimum else 'at least 0'}, got {value:g}")
            raise ValueError(f"must be at least {minimum:g}, got {value:g}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum:g}, got {value:g}")
        return value

    return parse


def _no_control(value: str, limit: int) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"control characters (NUL, newline, ...) are not allowed, got {_q(value)}")
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters, got {len(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {_q(value)}")
    return _no_control(value, 255)


def _path_text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a path, got {_q(value)}")
    return _no_control(value, 4096)


def _optional_path(value: Any) -> str | None:
    return None if value is None else _path_text(value)


def _test_name(value: Any) -> str | None:
    if value is None:
        return None
    value = _text(value)
    if "/" in value or "\\" in value or value.startswith(".") or value == "latest" or len(value) > 100:
        raise ValueError(f"must be a plain folder name of at most 100 characters, got {_q(value)}")
    return value


def _system(value: Any) -> str:
    """A system's name, or a system file's path, made absolute so that a replay finds it."""
    value = _text(value)
    return str(Path(value).absolute()) if systems.is_file_name(value) else value


def _path(value: Any) -> str | None:
    """A file or folder on this machine, made absolute (saved with the run for replays)."""
    if value is None:
        return None
    path = Path(_text(value)).absolute()
    if not path.exists():
        raise ValueError(f"no such file or folder: {value}")
    return str(path)


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_q(value)}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    """A YAML list, or a comma-separated string (`partition,kill`); `none` or empty: no names."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of names, got {_q(value)}")
    names = [_no_control(n.strip(), 100) for v in value for n in v.split(",")]
    return tuple(dict.fromkeys(n for n in names if n and n != "none"))


def _key_values(value: Any) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` texts (a list, or one), or a YAML mapping: (key, value text) pairs."""
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items()]
    else:
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"expected KEY=VALUE, got {_q(value)}")
        items = []
        for text in texts:
            key, sep, val = text.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"expected KEY=VALUE, got {_q(text)}")
            items.append((key.strip(), val.strip()))
    pairs: dict[str, str] = {}
    for key, val in items:
        if not isinstance(key, str) or not key:
            raise ValueError(f"option names are strings, got {_q(key)}")
        _no_control(key, 100)
        if isinstance(val, bool):
            val = "true" if val else "false"
        if not isinstance(val, (str, int, float)):
            raise ValueError(f"{short(key)}: expected a plain value, got {_q(val)}")
        pairs[key] = _no_control(str(val) if not isinstance(val, int) or abs(val) < 10**_MAX_DIGITS else "", 1000)
    return tuple(pairs.items())


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        value = _text(value)
        if value not in choices:
            raise ValueError(f"unknown value {_q(value)} (expected one of {', '.join(choices)})")
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
        Option("system", "system", _system,
               f"system under test: {' or '.join(systems.names())}, or a system file (docs/own-raft.md)", "NAME|FILE"),
        Option("bin", "bin", _path, "the program each node runs, for systems that take one (maelstrom)", "PATH"),
        Option("bug", "bugs", _names, "turn one of the system's bug switches on, e.g. stale-read (repeatable)", "NAME", "repeat"),
        Option("system-opt", "system_opts", _key_values, "a system option, e.g. simulate-page-cache=false (repeatable)",
               "KEY=VALUE", "repeat"),
        Option("nodes", "nodes", _integer(1, 100), "number of nodes, 1 to 100 (Docker: to 15)", "N"),
        Option("workload", "workload", _text, f"workload: {' or '.join(WORKLOADS)}", "NAME"),
        Option("nemesis", "nemesis", _names, f"comma-separated fault kinds ({', '.join(NEMESES)}), or none", "LIST"),
        Option("nemesis-interval", "nemesis_interval", _number(0.1, 3600), "seconds between fault operations, 0.1 to 3600", "S"),
        Option("nemesis-timing", "nemesis_timing", _one_of(tuple(TIMINGS)),
               f"when each fault lands: {', '.join(TIMINGS)} (see the fault list below)", "WHEN"),
        Option("time-limit", "time_limit", _number(0, 7 * 86400, above_minimum=True), "seconds of workload, up to a week", "S"),
        Option("concurrency", "concurrency", _integer(1, 1000), "client processes at a time, 1 to 1000", "N"),
        Option("rate", "rate", _number(0.01, 100_000), "client operations per second, all processes together, 0.01 to 100000", "R"),
        Option("seed", "seed", _integer(0, 2**63 - 1), "random seed (default: drawn, then saved with the run)", "N"),
        Option("test-count", "test_count", _integer(1, 10_000), "repeat the test with seeds seed, seed+1, ... (up to 10000)", "K"),
        Option("until-invalid", "until_invalid", _flag,
               "with --test-count: stop at the first invalid run and say after how many runs it came", kind="switch"),
        Option("recovery-time", "recovery_time", _number(0, 3600), "seconds to recover after healing, before the final reads, 0 to 3600", "S"),
        Option("availability-window", "availability_window", _number(0, 86400, above_minimum=True),
               "longest window without a successful operation before the run is invalid", "S"),
        Option("liveness-deadline", "liveness_deadline", _number(0, 3600),
               "seconds within which, after the final heal, a write and a read must succeed (and the longest "
               "stretch outside faults without a successful write); 0 turns the liveness checks off", "S"),
        Option("leave-running", "leave_running", _flag, "leave the cluster up after the run", kind="switch"),
        Option("junit", "junit", _optional_path, "also write JUnit XML to FILE", "FILE"),
        Option("store", "store", _path_text, "store directory for runs", "DIR"),
        Option("remote", "remote", _one_of(REMOTES), "how commands reach nodes: docker or ssh", "KIND"),
        Option("nodes-file", "nodes_file", _optional_path, "hosts to test with --remote ssh", "FILE"),
        Option("image", "image", _optional_text, "node image tag", "TAG"),
    )
}


def _option(key: Any, source: str) -> Option:
    name = str(key).replace("_", "-") if isinstance(key, str) else None
    name = {"bugs": "bug", "system-opts": "system-opt"}.get(name, name)  # field names read naturally in YAML too
    if name not in OPTIONS:
        raise UsageError(f"{source}: unknown option {_q(key)} (expected one of {', '.join(OPTIONS)})")
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
    return load_yaml(path, "a config of options")


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
        if spec.nodes > MAX_NODES:
            raise UsageError(f"nodes: a Docker cluster has 1 to {MAX_NODES} nodes, not {spec.nodes}")
        partition_kinds(spec.nemesis, spec.nodes, knows_leader=systems.get(spec.system).can(HasPrimaries))
    if "seed" not in values:
        spec = replace(spec, seed=random.SystemRandom().randrange(2**31))
    return spec


def check_paths(spec: Spec) -> None:
    """Before any container starts (not in `build`: a saved spec is also read where nothing will
    be written): the store and the JUnit file's folder can be written, the nodes file read."""
    _writable_folder(Path(spec.store), "store", create=True)
    if spec.junit:
        junit = Path(spec.junit)
        if junit.is_dir():
            raise UsageError(f"junit: {short(spec.junit)} is a folder, not a file")
        _writable_folder(junit.parent, "junit", create=False)
    if spec.nodes_file:
        from raft_jepsen.harness import nodes_file  # an SSH client library, only for SSH runs

        nodes_file.load(spec.nodes_file, client_port=systems.get(spec.system).client_port)


def _writable_folder(folder: Path, option: str, *, create: bool) -> None:
    """`folder` exists (or, with `create`, its nearest existing ancestor does) and a file can be
    made in it: tried, since permission bits say nothing to root or about a read-only mount."""
    probe = folder
    while create and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        what = "is not a folder" if probe.exists() else "no such folder"
        raise UsageError(f"{option}: {short(str(folder))}: {what}" + ("" if probe == folder else f" ({short(str(probe))})"))
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise UsageError(f"{option}: cannot write in {short(str(probe))} ({e.strerror})") from None


def load(path: str | Path, flags: dict | None = None) -> Spec:
    return build(load_file(path), flags, source=str(path))


def dump(spec: Spec) -> str:
    return yaml.safe_dump(spec.to_config(), sort_keys=False)


def _check_names(spec: Spec) -> None:
    _known("workload", [spec.workload], WORKLOADS)
    _known("nemesis", spec.nemesis, NEMESES)
    _check_system(spec)


def _check_system(spec: Spec) -> None:
    """Everything the system under test must allow, before any container starts: its bug
    switches, its options, the workload and the faults asked of it."""
    kind = systems.get(spec.system)
    if spec.bin is not None and kind.bin is None:
        raise UsageError(f"system {kind.name} takes no --bin")
    if spec.bin is None and kind.bin is not None:
        raise UsageError(f"system {kind.name} needs --bin PATH ({kind.bin})")
    for bug in spec.bugs:
        if bug not in kind.bugs:
            known = ", ".join(kind.bugs) or "none"
            raise UsageError(f"unknown bug {_q(bug)} for system {kind.name} (its switches: {known})")
    try:
        options = kind.parse_options(dict(spec.system_opts))
    except ValueError as e:
        raise UsageError(f"--system-opt {e}") from None
    if spec.bin is not None and kind.check_bin is not None:
        try:
            kind.check_bin(spec.bin, options)
        except ValueError as e:
            raise UsageError(f"--bin {spec.bin}: {e}") from None
    if spec.workload not in kind.workloads:
        raise UsageError(f"system {kind.name} cannot run workload {_q(spec.workload)} (it runs {', '.join(kind.workloads)})")
    needs = {"kill": Killable, "power-cut": Killable, "pause": Pausable, "partition-leader": HasPrimaries,
             "partition-leader-minority": HasPrimaries, "partition-leader-majority": HasPrimaries,
             "partition-snapshot": HasSnapshots}
    for target in RAFT_TARGETS:
        needs[f"kill-{target}"], needs[f"pause-{target}"] = Killable, Pausable
    needs["lose-unsynced"] = Killable
    needs["membership"] = HasMembership
    if "membership" in spec.nemesis and spec.nodes < 3:
        raise UsageError(f"nemesis membership needs at least 3 nodes, the cluster has {spec.nodes}")
    for name in spec.nemesis:
        if name in needs and not kind.can(needs[name]):
            raise UsageError(f"system {kind.name} cannot do nemesis {name} (its adapter is not {needs[name].__name__})")
        if name.startswith("clock") and not kind.clock_via_libc:
            raise UsageError(f"system {kind.name} cannot do nemesis {name}: its nodes do not read the clock through "
                             "libc, so libfaketime cannot reach them")
        if name == "lose-unsynced" and not kind.data_dirs:
            raise UsageError(f"system {kind.name} cannot do nemesis {name}: it names no data directories")
        if name in RAFT_NAMES and not kind.can(HasPrimaries):
            raise UsageError(f"system {kind.name} cannot do nemesis {name}: it cannot name its leader (HasPrimaries)")
    if spec.nemesis_timing != "interval" and spec.nemesis and not (kind.can(HasPrimaries) and kind.can(Pausable)):
        raise UsageError(f"system {kind.name} cannot take --nemesis-timing {spec.nemesis_timing}: the timed faults pause "
                         "its leader (it must name its leader and be pausable)")


def _known(what: str, names, valid) -> None:
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown {what} {_q(name)} (expected one of {', '.join(valid)})")

