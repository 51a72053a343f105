"""A run folder as the reports read it (docs/architecture.md, "Run folder").

`load_run` is the one place that decides whether a directory is a run: it needs `results.json`
(schema 1) and `history.jsonl`; node logs and `roles.jsonl` (who led when, as the runner read it
from the node logs through the system's adapter) are optional.
Anything else is a one-line `UsageError` / `HistoryError`, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import Op, read_jsonl
from raft_jepsen.harness.history.roles import RoleChange
from raft_jepsen.harness.history.roles import read_jsonl as read_roles

SCHEMA = 1
ROLES = "roles.jsonl"


@dataclass(frozen=True, slots=True)
class RunFolder:
    path: Path
    results: dict
    history: list[Op]
    roles: list[RoleChange]  # what the nodes said of their roles, sorted by time (roles.jsonl)
    node_files: list[str]  # every file under nodes/, relative to the run folder


def read_results(run_dir: Path) -> dict:
    """results.json, checked just enough that a report can trust its shape."""
    path = run_dir / "results.json"
    if not run_dir.exists():
        raise UsageError(f"{run_dir}: no such folder")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder")
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a run folder (no results.json)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: malformed JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        got = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise UsageError(f"{path}: expected results schema {SCHEMA}, got {got!r}")
    if results.get("valid") not in (True, False, "unknown"):
        raise UsageError(f"{path}: \"valid\" must be true, false or \"unknown\", got {results.get('valid')!r}")
    for name, kind in (("checkers", dict), ("duration_s", (int, float)), ("op_counts", dict)):
        if results.get(name) is not None and not isinstance(results[name], kind):
            raise UsageError(f"{path}: {name!r} has the wrong type ({type(results[name]).__name__})")
    return results


def load_run(run_dir: str | Path) -> RunFolder:
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    history_path = run_dir / "history.jsonl"
    if not history_path.is_file():
        raise UsageError(f"{run_dir}: not a run folder (no history.jsonl)")
    history = list(read_jsonl(history_path))
    nodes_dir = run_dir / "nodes"
    node_files = sorted(p.relative_to(run_dir).as_posix() for p in nodes_dir.rglob("*") if p.is_file()) if nodes_dir.is_dir() else []
    roles_path = run_dir / ROLES
    roles = sorted(read_roles(roles_path), key=lambda c: c.time) if roles_path.is_file() else []
    return RunFolder(run_dir, results, history, roles, node_files)
