"""A run folder as the reports read it (docs/architecture.md, "Run folder").

`load_run` is the one place that decides whether a directory is a run: it needs `results.json`
(schema 1) and `history.jsonl`; node logs are optional (a run that never started a node has none).
Anything else is a one-line `UsageError` / `HistoryError`, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.harness.history import Op, read_jsonl

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """One line of a node log, placed on the history's time axis."""

    time: int  # ns since the run began
    node: str
    event: str
    term: int | None = None
    role: str | None = None
    leader: str | None = None


@dataclass(frozen=True, slots=True)
class RunFolder:
    path: Path
    results: dict
    history: list[Op]
    node_events: list[NodeEvent]  # sorted by time
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
    epoch = results.get("started_epoch_ns")
    # without the run's start on the wall clock, node-log timestamps cannot be placed on the
    # history's time axis: the logs are still linked, just not drawn
    events = sorted(
        (e for rel in node_files if rel.endswith("node.log") for e in _read_node_log(run_dir / rel, epoch)),
        key=lambda e: e.time,
    ) if isinstance(epoch, int) else []
    return RunFolder(run_dir, results, history, events, node_files)


def _read_node_log(path: Path, started_epoch_ns: int) -> list[NodeEvent]:
    """A node log's JSON lines; lines that are not JSON objects with ts/node/event are skipped,
    because a node killed mid-write leaves a torn last line and the report must still render."""
    events = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise HistoryError(f"{path}: cannot read ({e.strerror})") from None
    for line in lines:
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(d, dict) or not isinstance(d.get("ts"), (int, float)) or "node" not in d:
            continue
        events.append(NodeEvent(
            time=round(d["ts"] * 1e9) - started_epoch_ns,
            node=str(d["node"]),
            event=str(d.get("event", "")),
            term=d.get("term") if isinstance(d.get("term"), int) else None,
            role=d.get("role") if isinstance(d.get("role"), str) else None,
            leader=d.get("leader") if isinstance(d.get("leader"), str) else None,
        ))
    return events
