"""`raft-jepsen suite`: many runs from one YAML file, for CI.

A suite is plain data: shared `options`, a `matrix` whose lists multiply out (systems × bugs ×
nemeses × seeds, or any other run option), and/or an explicit list of `runs`. Every run is one
`raft_jepsen.harness.cli.run.run_config(config)`, in order, one line printed each; then a summary, JUnit
XML for all of them (`--junit`), the index of each store it wrote to (`<store>/index.html`), and
an exit code CI can trust:

    0  every run ended as expected
    1  some run was invalid when valid was expected, or valid when `expect: invalid` (a missed bug)
    2  otherwise, some run's verdict was unknown (or the run could not be started)

`expect` (suite-wide, or per entry of `runs`) is `valid` (the default), `invalid` for bug-hunting
suites that prove the harness still finds a known bug, or `auto`: invalid exactly when the run
turns on a `--bug` switch (written `bug:` or `bugs:`), for a matrix that crosses correct and
buggy builds.

Every run is checked as `raft-jepsen run` checks its flags, all of them before the first one
starts (and by `--dry-run`): a typo in the last entry is one line and exit 3, not a failure an
hour in. A suite expands to at most `MAX_RUNS` runs.

    options: {workload: register, time_limit: 30}
    matrix:
      system: [raftkv]
      bugs: [[], [stale-read]]
      nemesis: [[partition], [kill]]
      seed: [1, 2, 3]
    runs:
      - {bugs: [vote-ignores-log], nemesis: [partition, kill], seed: 7, expect: invalid}
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.errors import RaftJepsenError, UsageError
from raft_jepsen.harness.yamlfile import load_yaml, short
from raft_jepsen.reports.index import write_index
from raft_jepsen.reports.junit import write_junit
from raft_jepsen.reports.run_folder import read_results

HELP = "run a list or matrix of tests (for CI) and summarise them"
EPILOG = """examples:
  raft-jepsen suite nightly.yaml --junit junit.xml
  raft-jepsen suite bug-hunt.yaml --dry-run        # list the runs, run nothing

exit codes: 0 every run as expected, 1 an unexpected verdict (a bug, or a missed one),
2 some run unknown or not started, 3 bad suite file."""

VERDICTS = ("valid", "invalid")
EXPECTS = (*VERDICTS, "auto")
_TOP = {"options", "matrix", "runs", "expect"}
MAX_RUNS = 10_000  # a night of one-minute runs is 600; more is a mistake in the matrix


@dataclass(frozen=True, slots=True)
class PlannedRun:
    config: dict
    expect: str

    @property
    def label(self) -> str:
        return " ".join(f"{k}={short(_short(v), 80)}" for k, v in self.config.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.yaml", type=Path, help="the suite: options, matrix and/or runs")
    p.add_argument("--junit", metavar="FILE", type=Path, help="write JUnit XML for all runs to FILE")
    p.add_argument("--dry-run", action="store_true", help="print the runs the suite expands to, and stop")


def main(args: argparse.Namespace) -> int:
    plan = load_suite(args.file)
    if args.junit:  # say so now, not after an hour of runs
        specs.check_paths(specs.build({"junit": str(args.junit)}, source="--junit"))
    if args.dry_run:
        for n, run in enumerate(plan, 1):
            print(f"[{n}/{len(plan)}] {run.label} (expect {run.expect})")
        return 0
    from raft_jepsen.harness.cli import (
        run as run_command,  # the runner and Docker only when something will run
    )

    results = []
    for n, run in enumerate(plan, 1):
        r = _run_one(run_command.run_config, run)
        results.append(r)
        mark = "ok  " if _as_expected(r) else "FAIL"
        slow = " (liveness only: no data lost)" if r.get("liveness") is False and r.get("safety") is not False else ""
        print(f"[{n}/{len(plan)}] {mark} {_verdict(r)}{slow}{'' if r['expect'] == 'valid' else ' (expected invalid)'}: "
              f"{run.label}" + (f" — {r['reason']}" if r.get("reason") else "") +
              (f" → {r['run_dir']}/report.html" if r.get("run_dir") else ""), flush=True)
    if args.junit:
        write_junit(results, args.junit)
    for store in sorted({Path(r["run_dir"]).parent.parent for r in results if r.get("run_dir")}):
        write_index(store)  # the store's index.html, for whoever opens the uploaded artifact
    code = exit_code(results)
    counts = {v: sum(1 for r in results if _verdict(r) == v) for v in ("valid", "invalid", "unknown")}
    unexpected = sum(1 for r in results if not _as_expected(r))
    print(f"suite: {len(results)} runs: {counts['valid']} valid, {counts['invalid']} invalid, {counts['unknown']} unknown; "
          f"{unexpected} not as expected → exit {code}")
    return code


def load_suite(path: Path) -> list[PlannedRun]:
    """The runs of a suite file, every one of them checked (`raft-jepsen run`'s checks)."""
    doc = load_yaml(path, "a suite (a mapping with options, matrix and/or runs)")
    unknown = set(doc) - _TOP
    if unknown:
        raise UsageError(f"{path}: unknown key {short(repr(sorted(map(str, unknown))[0]))} (expected {', '.join(sorted(_TOP))})")
    options = _mapping(doc.get("options") or {}, f"{path}: options")
    default_expect = _expect(doc.get("expect", "valid"), f"{path}: expect")
    entries = [({**options, **combo}, default_expect, f"{path}: matrix run {n}")
               for n, combo in enumerate(_matrix(doc.get("matrix"), path), 1)]
    runs = doc.get("runs") or []
    if not isinstance(runs, list):
        raise UsageError(f"{path}: runs must be a list of mappings")
    if len(entries) + len(runs) > MAX_RUNS:
        raise UsageError(f"{path}: {len(entries) + len(runs)} runs, more than {MAX_RUNS}")
    for n, entry in enumerate(runs, 1):
        entry = dict(_mapping(entry, f"{path}: runs[{n}]"))
        expect = _expect(entry.pop("expect", default_expect), f"{path}: runs[{n}].expect")
        entries.append(({**options, **entry}, expect, f"{path}: runs[{n}]"))
    if not entries:
        raise UsageError(f"{path}: no runs (give a matrix or a list of runs)")
    return [_planned(config, expect, where) for config, expect, where in entries]


def _planned(config: dict, expect: str, where: str) -> PlannedRun:
    spec = specs.build(config, source=where)  # every name, number and path, before anything runs
    try:
        specs.check_paths(spec)
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None
    if expect == "auto":
        expect = "invalid" if spec.bugs else "valid"
    return PlannedRun(config, expect)


def _matrix(matrix: object, path: Path) -> list[dict]:
    if matrix is None:
        return []
    matrix = _mapping(matrix, f"{path}: matrix")
    for k, values in matrix.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"{path}: matrix.{short(str(k))} must be a non-empty list")
    if "expect" in matrix:
        raise UsageError(f"{path}: matrix.expect: give expect suite-wide or per entry of runs")
    size = math.prod(len(values) for values in matrix.values())
    if size > MAX_RUNS:  # before multiplying out: a few lines of lists can name billions of runs
        raise UsageError(f"{path}: the matrix multiplies out to {size:,} runs, more than {MAX_RUNS:,}")
    return [dict(zip(matrix, combo)) for combo in itertools.product(*matrix.values())]


def _run_one(run_config, run: PlannedRun) -> dict:
    """The run's results (schema 1) with `expect` added; a run that could not produce them
    becomes an unknown verdict with the reason, so one broken run does not hide the others."""
    try:
        code, run_dir = run_config(dict(run.config))
    except RaftJepsenError as e:
        return _stand_in(run, None, str(e))
    if run_dir is not None:
        try:
            return {**read_results(Path(run_dir)), "run_dir": str(run_dir), "expect": run.expect}
        except RaftJepsenError as e:
            return _stand_in(run, run_dir, f"exit {code}, and {e}")
    return _stand_in(run, None, f"exit {code} without a run folder")


def _stand_in(run: PlannedRun, run_dir, reason: str) -> dict:
    c = run.config
    return {"schema": 1, "valid": "unknown", "reason": reason, "test": c.get("test") or c.get("system") or "run",
            "run_dir": str(run_dir) if run_dir else None, "seed": c.get("seed"), "system": c.get("system"),
            "bugs": _list(c.get("bugs")), "workload": c.get("workload"), "nemesis": _list(c.get("nemesis")),
            "checkers": {}, "expect": run.expect}


def exit_code(results: list[dict]) -> int:
    if any(_verdict(r) in VERDICTS and not _as_expected(r) for r in results):
        return 1
    if any(_verdict(r) == "unknown" for r in results):
        return 2
    return 0


def _as_expected(r: dict) -> bool:
    return _verdict(r) == r.get("expect", "valid")


def _verdict(r: dict) -> str:
    return {True: "valid", False: "invalid"}.get(r.get("valid"), "unknown")


def _mapping(v: object, where: str) -> dict:
    if not isinstance(v, dict):
        raise UsageError(f"{where}: expected a mapping, got {type(v).__name__}")
    return v


def _expect(v: object, where: str) -> str:
    if not isinstance(v, str) or v not in EXPECTS:
        raise UsageError(f"{where}: expected one of {', '.join(EXPECTS)}, got {short(repr(v))}")
    return v


def _list(v: object) -> list:
    return v if isinstance(v, list) else ([] if v is None else [v])


def _short(v: object) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v)) or "none"
    return json.dumps(v) if isinstance(v, dict) else str(v)
