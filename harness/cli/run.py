"""`raft-jepsen run`: one test (or `--test-count K` of them, `--until-invalid`: up to the first
invalid one) from flags and/or a YAML config.

Prints a live progress line on stderr, then for each run the verdict, the anomaly in one line
when invalid (or the reason when unknown) and the run folder. Exit code: 0 valid, 1 invalid,
2 unknown, 3 bad usage or environment; with several runs, the worst (invalid, then unknown)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from raft_jepsen.checkers import verdict
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.cli.progress import Progress
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import verdicts
from raft_jepsen.harness.nemesis import NEMESES
from raft_jepsen.harness.nemesis.timing import TIMINGS
from raft_jepsen.harness.runner import RunResult, run
from raft_jepsen.reports.html import write_report
from raft_jepsen.reports.junit import write_junit

HELP = "run a test: a cluster, a workload, faults, a verdict"
_EXAMPLES = """examples:
  raft-jepsen run --time-limit 30 --nemesis partition,kill
  raft-jepsen run --bug stale-read --nemesis partition-leader --test-count 5
  raft-jepsen run --config store/latest/test.yaml        # replay a run (same seed)

exit codes: 0 valid, 1 invalid (a bug was found), 2 unknown, 3 bad usage or environment

Every fault is recorded in history.jsonl with its outcome: installed (with its proof), skipped (no
target fits, with why), indeterminate (its effect could not be confirmed). A requested fault that
never took effect makes the run unknown (the coverage check); a nemesis that fails stops the run:
healed, checked, exit 2."""


def epilog() -> str:
    """The examples, then every --nemesis name and --nemesis-timing value with what it does."""
    width = max(map(len, [*NEMESES, *TIMINGS]))

    def table(rows: dict[str, str]) -> str:
        return "\n".join(textwrap.fill(about, 100, initial_indent=f"  {name:<{width}}  ",
                                        subsequent_indent=" " * (width + 4)) for name, about in rows.items())

    faults, timings = table(NEMESES), table(TIMINGS)
    return f"{_EXAMPLES}\n\nfaults (--nemesis):\n{faults}\n\nwhen they land (--nemesis-timing):\n{timings}"


EPILOG = epilog()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    defaults = specs.Spec()
    for option in specs.OPTIONS.values():
        default = getattr(defaults, option.field)
        shown = ",".join(default) if isinstance(default, tuple) else default
        help_ = option.help if shown in (None, (), "", False) else f"{option.help} (default: {shown})"
        if option.kind == "switch":
            parser.add_argument(f"--{option.name}", dest=option.field, action="store_true", default=None, help=help_)
        elif option.kind == "repeat":
            parser.add_argument(f"--{option.name}", dest=option.field, action="append", metavar=option.metavar, help=help_)
        else:
            parser.add_argument(f"--{option.name}", dest=option.field, metavar=option.metavar, help=help_)


def main(args: argparse.Namespace) -> int:
    flags = {o.name: getattr(args, o.field) for o in specs.OPTIONS.values() if getattr(args, o.field) is not None}
    if args.config is not None and not args.config.strip():
        raise UsageError("--config: empty file name")
    config = specs.load_file(args.config) if args.config is not None else {}
    spec = specs.build(config, flags, source=args.config or "config")
    specs.check_paths(spec)
    code, _ = run_spec(spec)
    return code


def run_config(config: dict) -> tuple[int, Path | None]:
    """For `raft-jepsen suite`: run the test `config` describes (YAML keys), `test-count` times;
    (the worst exit code, the folder of the run that gave it)."""
    spec = specs.build(config, source="suite entry")
    specs.check_paths(spec)
    return run_spec(spec)


def run_spec(spec: specs.Spec) -> tuple[int, Path | None]:
    results: list[RunResult] = []
    for i in range(spec.test_count):
        one = replace(spec, seed=spec.seed + i, test_count=1, until_invalid=False)
        if spec.test_count > 1:
            print(f"test {i + 1} of {spec.test_count} (seed {one.seed})", file=sys.stderr)
        results.append(_run_one(one))
        if results[-1].interrupted and i + 1 < spec.test_count:
            print(f"interrupted: the other {spec.test_count - i - 1} runs were not started", file=sys.stderr)
            break
        if spec.until_invalid and results[-1].exit_code == verdicts.EXIT_CODES[False]:
            print(f"first invalid run after {i + 1} of at most {spec.test_count} runs (seed {one.seed})")
            break
    else:
        if spec.until_invalid:
            print(f"no invalid run in {spec.test_count} runs (seeds {spec.seed} to {spec.seed + spec.test_count - 1})")
    if spec.junit:
        write_junit([r.results for r in results], spec.junit)
    code = verdicts.worst_exit(r.exit_code for r in results)
    return code, next(r.run_dir for r in results if r.exit_code == code)


def _run_one(spec: specs.Spec) -> RunResult:
    with Progress(sys.stderr, spec.time_limit) as progress:
        result = run(spec, observer=progress.observe, progress=progress.message)
        _write_report(result.run_dir, progress.message)
    print(_verdict_line(result))
    coverage = coverage_line(result.results.get("checkers", {}).get("coverage"))
    if coverage:
        print(coverage)
    print(f"run folder: {result.run_dir}")
    return result


def _write_report(run_dir: Path, progress) -> None:
    """The verdict is already on disk: a report that fails is a warning, never another verdict."""
    try:
        write_report(run_dir)
    except Exception as e:
        progress(f"warning: no report.html: {type(e).__name__}: {e}")


def coverage_line(result) -> str | None:
    """The coverage check in one line: each requested fault, how often it took effect and for how
    long, and what became of the others."""
    if not isinstance(result, dict) or not isinstance(result.get("faults"), dict):
        return None
    parts = []
    for name, c in result["faults"].items():
        if not isinstance(c, dict) or c.get("tracked") is False:
            parts.append(f"{name} not tracked")
            continue
        others = ", ".join(f"{c[o]} {o}" for o in ("skipped", "indeterminate", "failed") if c.get(o))
        seen = f"{c.get('installed', 0)}x in effect {c.get('in_effect_s', 0):g} s" if c.get("installed") else "NEVER in effect"
        parts.append(f"{name} {seen}" + (f" ({others})" if others else ""))
    return "faults: " + "; ".join(parts)


def _verdict_line(result: RunResult) -> str:
    counts = result.results.get("op_counts", {})
    if result.valid is True:
        return f"valid: no anomaly in {counts.get('ok', 0)} successful of {counts.get('invoke', 0)} operations"
    if result.valid is False:
        # A safety anomaly leads; a run only slow says so in the verdict word itself.
        only_slow = verdict.liveness_only(result.results.get("checkers", {}))
        return f"INVALID{' (liveness only: no data lost)' if only_slow else ''}: {result.anomaly or 'a checker found an anomaly'}"
    return f"UNKNOWN: {result.reason or 'a checker could not decide'}"
