"""The index of a store: every run under `<store>/<test>/<time>/`, newest first, with its verdict
and links to its report and folder. `serve` renders it on each request; `write_index` leaves a
static `<store>/index.html` beside the runs for a store that is browsed as files (a CI artifact).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

from raft_jepsen.harness.errors import RaftJepsenError, UsageError
from raft_jepsen.reports.run_folder import read_results

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True, slots=True)
class RunRow:
    rel: str  # the run folder, relative to the store, with "/" separators
    results: dict | None  # None when results.json is unreadable
    problem: str | None  # why, in one line
    has_report: bool

    @property
    def verdict(self) -> str:
        if self.results is None:
            return "unreadable"
        return {True: "valid", False: "invalid"}.get(self.results.get("valid"), "unknown")


def find_runs(store: str | os.PathLike) -> list[RunRow]:
    """Every run folder of the store (a folder two levels down with a results.json), newest first.
    `latest` and other symlinks are not followed: each run is listed once, and only if it is
    inside the store."""
    store = Path(store)
    if not store.is_dir():
        raise UsageError(f"{store}: no such store folder")
    rows = []
    for results in store.glob("*/*/results.json"):
        run = results.parent
        if run.is_symlink() or run.parent.is_symlink():
            continue
        rel = run.relative_to(store).as_posix()
        try:
            rows.append(RunRow(rel, read_results(run), None, (run / "report.html").is_file()))
        except RaftJepsenError as e:
            rows.append(RunRow(rel, None, str(e), (run / "report.html").is_file()))
    # the folder's name is its start time (yyyymmddThhmmss, UTC), readable even when results.json is not
    return sorted(rows, key=lambda r: (r.rel.split("/")[-1], r.rel), reverse=True)


def render_index(store: str | os.PathLike) -> str:
    return _env.get_template("index.html.j2").render(store=str(store), runs=find_runs(store))


def write_index(store: str | os.PathLike) -> Path:
    path = Path(store) / "index.html"
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(render_index(store), encoding="utf-8")
    tmp.replace(path)
    return path
