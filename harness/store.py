"""The store: one self-contained folder per run, Jepsen's layout (docs/architecture.md).

    <store>/<test>/<yyyymmddThhmmss>/test.yaml        the resolved spec, seed included
                                     history.jsonl    written as the run goes
                                     results.json     the verdict and every checker's result
                                     nodes/<n>/       files copied from each node (logs)
                                     roles.jsonl      who led when, read from those logs
    <store>/latest -> <test>/<yyyymmddThhmmss>        the newest run

`raft-jepsen run --config <run>/test.yaml` replays a run: same seed, same schedule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import Op, read_jsonl

SPEC = "test.yaml"
HISTORY = "history.jsonl"
RESULTS = "results.json"
NODES = "nodes"
ROLES = "roles.jsonl"
STATUS = "status.jsonl"  # the status monitor: what each node said of itself during the run
LATEST = "latest"
CRASH = "crash.txt"

_current: Path | None = None  # the run folder this process is writing, until its results are in


def create_run_dir(root: str | os.PathLike, test: str, started: datetime) -> Path:
    """A new, empty run folder named for `started` (UTC). Two runs started in the same second
    (repeated short tests) get `-2`, `-3`, ... rather than sharing a folder."""
    base = Path(root) / test / started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            global _current
            _current = path
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as e:
            raise UsageError(f"{path}: cannot create the run folder ({e.strerror})") from None


def node_dir(run_dir: Path, node: str) -> Path:
    path = run_dir / NODES / node
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_spec(run_dir: Path, spec: specs.Spec) -> None:
    (run_dir / SPEC).write_text(specs.dump(spec), encoding="utf-8")


def write_results(run_dir: Path, results: dict) -> None:
    tmp = run_dir / (RESULTS + ".tmp")  # never leave a half-written results.json behind
    tmp.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / RESULTS)
    global _current
    if _current == run_dir:
        _current = None


def current_run_dir() -> Path | None:
    """The run folder this process created and has not yet written results.json into."""
    return _current


def record_crash(run_dir: Path, text: str) -> Path:
    """A crash of ours during the run in `run_dir`: the traceback in `crash.txt`, and, when the
    run never got to its verdict, a results.json saying unknown, so that the folder `latest`
    points at reads as what it is rather than as a run without results."""
    path = run_dir / CRASH
    path.write_text(text, encoding="utf-8")
    if not (run_dir / RESULTS).exists():
        last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        write_results(run_dir, {
            "schema": 1, "valid": "unknown", "reason": f"raft-jepsen crashed: {last[:200]} (see {CRASH})",
            "test": run_dir.parent.name, "run_dir": str(run_dir), "checkers": {}, "warnings": [],
        })
    return path


def update_latest(root: str | os.PathLike, run_dir: Path) -> None:
    """Point `<root>/latest` at `run_dir` (relative, so the store can move), atomically."""
    link = Path(root) / LATEST
    tmp = Path(root) / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir, root))
    os.replace(tmp, link)


@dataclass(frozen=True)
class StoredRun:
    path: Path
    spec: specs.Spec
    results: dict | None  # None: the run never got as far as a verdict

    def history(self) -> list[Op]:
        return list(read_jsonl(self.path / HISTORY))


def load_run(path: str | os.PathLike) -> StoredRun:
    """A past run, from its folder or from a store (its `latest` run)."""
    path = Path(path)
    if (path / LATEST).is_symlink():
        path = path / LATEST
    path = path.resolve()
    if not (path / SPEC).is_file():
        raise UsageError(f"{path}: not a run folder (no {SPEC})")
    results = None
    if (path / RESULTS).is_file():
        try:
            results = json.loads((path / RESULTS).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path / RESULTS}: cannot read ({e})") from None
    return StoredRun(path, specs.load(path / SPEC), results)
