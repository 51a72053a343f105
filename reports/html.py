"""`report.html`: one self-contained page per run, for a person.

The page is rendered once, here, from the run folder: header and verdict, each checker's result,
the Porcupine-style view of every non-linearizable key, the perf graphs with fault bands and
leader changes, latency percentiles, availability and links to the node logs. Everything it needs
is inline (CSS, a little JS for tooltips, the data as JSON), so it opens offline and from CI
artifacts. What would not fit in `SIZE_BUDGET` for a long run is summarised, and the page says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jinja2

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import pair
from raft_jepsen.reports import linearizability_view, perf_graphs
from raft_jepsen.reports.perf import LATENCY_BINS, perf
from raft_jepsen.reports.raft_checks import raft_checks, raft_marks
from raft_jepsen.reports.run_folder import RunFolder, load_run
from raft_jepsen.reports.timeline import faults, leader_changes

SIZE_BUDGET = 5_000_000  # bytes, for a 100,000-op history (checked by the tests)
_TEMPLATES = Path(__file__).parent / "templates"
_JSON_ITEMS = 20  # list items shown per list in a checker's raw result
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def write_report(run_dir: str | os.PathLike) -> Path:
    """Render `run_dir/report.html` from the run folder and return its path."""
    run = load_run(run_dir)
    path = run.path / "report.html"
    tmp = path.with_name(".report.html.tmp")
    page = render(run)
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)  # a reader (serve, a browser) never sees half a page
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror})") from None
    return path


def render(run: RunFolder) -> str:
    r = run.results
    calls = pair(run.history, str(run.path / "history.jsonl"))
    end = max((op.time for op in run.history), default=0)
    duration = max(end, int((r.get("duration_s") or 0) * 1e9))
    fault_list = faults(run.history)
    leaders = leader_changes(run.roles)
    stats = perf(calls, fault_list, duration)
    by_index = {c.invoke.index: c for c in calls}
    key_views = [
        linearizability_view.key_view(failure, by_index, fault_list, leaders,
                                      anchor="first-error" if n == 0 else f"first-error-{n}")
        for n, failure in enumerate(_lin_failures(r))
    ]
    notes = [*run.warnings, *_notes(stats, key_views)]
    if run.node_files and not isinstance(r.get("started_epoch_ns"), int):
        notes.append("Leader changes are not drawn: results.json has no started_epoch_ns to place node logs in time.")
    views = key_views + [v.minimal for v in key_views if v.minimal]
    data = {"details": {v.anchor: v.details for v in views}}
    return _env.get_template("report.html.j2").render(
        r=r,
        raft=raft_checks(r),
        title=f"{r.get('test', run.path.name)} · {_verdict(r['valid'])}",
        verdict=_verdict(r["valid"]),
        run_dir=str(run.path),
        op_counts=r.get("op_counts") or _op_counts(run.history),
        checkers=[(name, _verdict(res.get("valid")) if isinstance(res, dict) else "unknown", _findings(res), _raw(res))
                  for name, res in sorted((r.get("checkers") or {}).items())],
        key_views=key_views,
        faults=fault_list,
        leaders=leaders,
        perf=stats,
        latency_svg=perf_graphs.latency_svg(stats, fault_list, leaders, duration),
        throughput_svg=perf_graphs.throughput_svg(stats, fault_list, leaders, duration),
        leadership_svg=perf_graphs.leadership_svg(leaders, fault_list, duration, raft_marks(r)) if leaders else None,
        node_files=run.node_files,
        notes=notes,
        open_calls=sum(1 for c in calls if c.complete is None),
        fault_kinds=sorted({f.kind for f in fault_list}),
        fault_outcomes=sorted({f.outcome for f in fault_list} - {"installed"}),
        coverage=_coverage((r.get("checkers") or {}).get("coverage")),
        css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
        js=(_TEMPLATES / "report.js").read_text(encoding="utf-8"),
        data_json=json.dumps(data, separators=(",", ":"), default=str).replace("<", "\\u003c"),
        ms=lambda ns: f"{ns / 1e6:,.1f} ms",
        s=lambda ns: f"{ns / 1e9:,.2f} s",
    )


def _lin_failures(results: dict) -> list[dict]:
    """Failures in the linearizability checker's shape, from whichever checker reported them;
    one whose shape is not that (a damaged results.json) is not drawn, and `_findings` lists it."""
    out = []
    for res in (results.get("checkers") or {}).values():
        if isinstance(res, dict) and isinstance(res.get("failures"), list):
            out += [f for f in res["failures"] if _drawable(f)]
    return out


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < 1 << 63


def _drawable(failure: Any) -> bool:
    """Every field the linearizability view reads, of the type it reads it as."""
    if not isinstance(failure, dict) or not isinstance(failure.get("ops"), list):
        return False
    for name in ("linearized", "stuck", "minimal"):
        if not isinstance(failure.get(name, []), list) or not all(_int(i) for i in failure.get(name, [])):
            return False
    if not isinstance(failure.get("message", ""), str) or not isinstance(failure.get("explanation", ""), str):
        return False
    return all(isinstance(op, dict) and _int(op.get("index")) and _int(op.get("call"))
               and (op.get("return") is None or _int(op.get("return"))) and isinstance(op.get("process"), (int, str))
               and not isinstance(op.get("process"), bool) and isinstance(op.get("f"), str) and isinstance(op.get("type"), str)
               for op in failure["ops"])


def _notes(stats, key_views) -> list[str]:
    notes = []
    if stats.binned:
        notes.append(f"Latency graph: {stats.completed:,} completed operations are binned into {LATENCY_BINS:,} time "
                     f"bins; the fastest and the slowest operation of each bin, f and outcome are drawn "
                     f"({len(stats.points):,} points). Percentiles and availability use every operation.")
    for v in key_views:
        if v.shown_ops < v.total_ops:
            notes.append(f"Key {v.key}: {v.total_ops:,} operations; the view shows {v.shown_ops:,} of them, "
                         f"around the first operation that could not be linearized.")
    return notes


def _findings(res: Any) -> list[str]:
    """A checker's one-line findings, shown above its raw result: its `message`, and the
    `message` of each failure the page does not draw elsewhere (the linearizability view draws
    those with `ops`), the first `_JSON_ITEMS` of them."""
    if not isinstance(res, dict):
        return []
    lines = [res["message"]] if isinstance(res.get("message"), str) else []
    failures = res.get("failures") if isinstance(res.get("failures"), list) else []
    told = [f for f in failures if isinstance(f, dict) and isinstance(f.get("message"), str) and not _drawable(f)]
    lines += [f["message"] if f.get("key") is None else f"key {f['key']!r}: {f['message']}" for f in told[:_JSON_ITEMS]]
    if len(told) > _JSON_ITEMS:
        lines.append(f"… {len(told) - _JSON_ITEMS:,} more")
    return lines


def _raw(res: Any) -> str:
    """A checker's result as indented JSON, without what the page already draws and with long
    lists cut, so that one chatty checker cannot blow the page's size budget."""
    if isinstance(res, dict) and isinstance(res.get("failures"), list):
        res = {**res, "failures": [{k: v for k, v in f.items() if k != "ops"} if isinstance(f, dict) else f
                                   for f in res["failures"]]}
    return json.dumps(_cut(res), indent=2, default=str)


def _cut(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _cut(x) for k, x in v.items()}
    if isinstance(v, list):
        head = [_cut(x) for x in v[:_JSON_ITEMS]]
        return head + [f"… {len(v) - _JSON_ITEMS:,} more"] if len(v) > _JSON_ITEMS else head
    return v


def _verdict(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def _op_counts(history) -> dict[str, int]:
    counts = {t: 0 for t in ("invoke", "ok", "fail", "info")}
    for op in history:
        if op.is_client:
            counts[op.type] += 1
    return counts


def _coverage(result) -> dict | None:
    """The coverage checker's result when it has the shape the report draws, else None."""
    if isinstance(result, dict) and isinstance(result.get("faults"), dict):
        faults = {str(k): v for k, v in result["faults"].items() if isinstance(v, dict)}
        for v in faults.values():
            if not isinstance(v.get("in_effect_s"), (int, float)) or isinstance(v.get("in_effect_s"), bool):
                v["in_effect_s"] = 0.0
        return {"faults": faults, "reason": result.get("reason") if isinstance(result.get("reason"), str) else None}
    return None
