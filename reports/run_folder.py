"""A run folder as the reports read it (docs/architecture.md, "Run folder").

`load_run` is the one place that decides whether a directory is a run: it needs `results.json`
(schema 1) and `history.jsonl`; node logs and `roles.jsonl` (who led when, as the runner read it
from the node logs through the system's adapter) are optional.
Anything else is a one-line `UsageError` / `HistoryError`, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import Op, read_jsonl
from raft_jepsen.harness.history.roles import RoleChange
from raft_jepsen.harness.history.roles import read_jsonl as read_roles

SCHEMA = 1
MAX_RESULTS_BYTES = 64 << 20  # checkers cut their lists; a results.json is kilobytes to megabytes
ROLES = "roles.jsonl"


@dataclass(frozen=True, slots=True)
class RunFolder:
    path: Path
    results: dict
    history: list[Op]
    roles: list[RoleChange]  # what the nodes said of their roles, sorted by time (roles.jsonl)
    node_files: list[str]  # every file under nodes/, relative to the run folder
    warnings: list[str] = field(default_factory=list)  # what was odd in reading it (a cut-off line)


_INT64 = 1 << 63


def _is_int(v: object, low: int = -_INT64) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v < _INT64


def _is_number(v: object) -> bool:
    return (isinstance(v, float) and math.isfinite(v) and v >= 0) or _is_int(v, 0)


def _is_texts(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_counts(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _is_int(x, 0) for k, x in v.items())


# what the report reads of results.json, and what each must be when present (None always may be)
_FIELDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "test": ("a string", lambda v: isinstance(v, str)),
    "reason": ("a string", lambda v: isinstance(v, str)),
    "run_dir": ("a string", lambda v: isinstance(v, str)),
    "started": ("a string", lambda v: isinstance(v, str)),
    "started_epoch_ns": ("an integer", _is_int),
    "duration_s": ("a finite number from 0", _is_number),
    "seed": ("an integer", _is_int),
    "system": ("a string", lambda v: isinstance(v, str)),
    "workload": ("a string", lambda v: isinstance(v, str)),
    "bugs": ("a list of strings", _is_texts),
    "nemesis": ("a list of strings", _is_texts),
    "nodes": ("a list of strings", _is_texts),
    "warnings": ("a list of strings", _is_texts),
    "op_counts": ("a mapping of counts", _is_counts),
    "checkers": ("a mapping", lambda v: isinstance(v, dict)),
}


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a finite number")


def _bounded_int(text: str) -> int:
    if len(text) > 21:
        raise ValueError("an integer beyond 64 bits")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def read_results(run_dir: Path) -> dict:
    """results.json, checked so that a report can trust the shape of everything it reads."""
    path = run_dir / "results.json"
    if not run_dir.exists():
        raise UsageError(f"{run_dir}: no such folder")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder")
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a run folder (no results.json)")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_RESULTS_BYTES + 1)
        if len(raw) > MAX_RESULTS_BYTES:
            raise UsageError(f"{path}: larger than {MAX_RESULTS_BYTES >> 20} MB")
        results = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_int=_bounded_int,
                             parse_float=_bounded_float)
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: malformed JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply") from None
    except ValueError as e:
        raise UsageError(f"{path}: {str(e)[:80]}") from None
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        got = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise UsageError(f"{path}: expected results schema {SCHEMA}, got {str(got)[:40]!r}")
    if results.get("valid") not in (True, False, "unknown"):
        raise UsageError(f"{path}: \"valid\" must be true, false or \"unknown\", got {str(results.get('valid'))[:40]!r}")
    for name, (what, ok) in _FIELDS.items():
        if results.get(name) is not None and not ok(results[name]):
            raise UsageError(f"{path}: {name!r} must be {what}, got {type(results[name]).__name__}")
    return results


def load_run(run_dir: str | Path) -> RunFolder:
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    history_path = run_dir / "history.jsonl"
    if not history_path.is_file():
        raise UsageError(f"{run_dir}: not a run folder (no history.jsonl)")
    warnings: list[str] = []
    history = list(read_jsonl(history_path, warn=warnings.append))
    roles_path = run_dir / ROLES
    roles = sorted(read_roles(roles_path), key=lambda c: c.time) if roles_path.is_file() else []
    return RunFolder(run_dir, results, history, roles, _node_files(run_dir), warnings)


def _node_files(run_dir: Path) -> list[str]:
    """Every regular file under nodes/ (links not followed: a loop or a link out of the folder
    is not the run's), relative to the run folder."""
    found = []
    for folder, _, files in os.walk(run_dir / "nodes"):  # os.walk does not follow links
        for name in files:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(run_dir).as_posix())
    return sorted(found)
