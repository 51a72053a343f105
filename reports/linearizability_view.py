"""The Porcupine-style picture of a non-linearizable key.

One lane per process, each op a bar from its call to its return. As in Porcupine's
visualization, the x axis is the order of events, not wall time: every call and return gets the
same width, so a 2 ms read beside a 3 s timeout stays readable; tick labels give the real run
time, and fault bands are placed between the events they fall between. The longest linearizable
prefix is drawn solid (with its order), the ops that could not be linearized next are outlined in
red, the first of them carries `id="first-error"`, and everything else is faded. The operations
of the minimal explanation (`minimal`, `checkers.explain`) are outlined in blue and never faded;
they also get a small view of their own, drawn first, with the explanation's sentence above it.

A key with more than `MAX_OPS` ops is windowed around its first stuck op.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from html import escape
from typing import Any

from raft_jepsen.harness.history import Call
from raft_jepsen.reports.timeline import Fault, LeaderChange

MAX_OPS = 400
BEFORE_ERROR = 300  # ops kept before the first stuck op when windowing (the prefix is the story)
STEP = 13  # px per event
MINIMAL_STEP = 44  # px per event in the view of the minimal explanation: a few ops, labelled
LANE_H = 28
BAR_H = 18
GUTTER = 100  # the lane labels, in their own SVG that does not scroll away
LEFT = 30  # room for the first tick label of the scrolling SVG
TOP = 40  # time ticks and leader marks
CHAR_W = 6.6  # px per character of the 11px monospace labels, to keep labels inside their bars


@dataclass(frozen=True, slots=True)
class KeyView:
    key: Any
    message: str
    state: Any
    total_ops: int
    shown_ops: int
    anchor: str  # element id of the first stuck op
    first_error: int | None  # its invoke index
    stuck: list[str]  # one line per op that could not be linearized, for those too short to label
    labels_svg: str  # lane labels
    svg: str  # the lanes, scrolled horizontally
    details: dict[str, dict]  # invoke index -> what the tooltip shows
    explanation: str = ""  # the sentence over the minimal explanation, when the checker gave one
    minimal_proven: bool = False
    minimal: "KeyView | None" = None  # the view of the minimal explanation's ops alone


def key_view(failure: dict, calls: dict[int, Call], faults: list[Fault], leaders: list[LeaderChange],
             anchor: str, step: int = STEP) -> KeyView:
    """The view of one failing key; `anchor` is the element id of its first stuck op."""
    ops = sorted(failure.get("ops") or [], key=lambda o: (o.get("call") or 0, o.get("index", 0)))
    stuck = set(failure.get("stuck") or [])
    order = {index: n for n, index in enumerate(failure.get("linearized") or [], 1)}
    minimal = set(failure.get("minimal") or [])
    # Where each bar ends: its return, or for an info op (which the checker leaves open, since it
    # may take effect at any later time) the moment the client gave up; the bar's dashed edge
    # says it is open. Drawing info ops to the end of the view would bury the picture in them.
    shown = [{**o, "end": o.get("return") if o.get("return") is not None else _gave_up(calls.get(o.get("index")))}
             for o in _window(ops, stuck | minimal)]
    first = min((o for o in shown if o.get("index") in stuck), key=lambda o: o.get("call") or 0, default=None)
    axis = _Axis(shown, step)
    lane_of, lanes = _lanes(shown)
    height = TOP + LANE_H * max(1, len(lanes)) + 8
    parts = [f'<svg class="lin-view" xmlns="http://www.w3.org/2000/svg" width="{axis.width}" height="{height}" '
             f'viewBox="0 0 {axis.width} {height}" role="img" aria-label="operations on key {escape(str(failure.get("key")))}">']
    labels = [f'<svg class="lin-labels" xmlns="http://www.w3.org/2000/svg" width="{GUTTER}" height="{height}">']
    for i, p in enumerate(lanes):
        y = TOP + i * LANE_H + LANE_H / 2
        parts.append(f'<line class="lane-line" x1="{LEFT}" x2="{axis.width}" y1="{y}" y2="{y}"/>')
        labels.append(f'<text class="lane-label" x="{GUTTER - 8}" y="{y + 4}" text-anchor="end">'
                      f'{escape(_lane_label(p))}<title>processes {escape(", ".join(map(str, p)))}</title></text>')
    labels.append("</svg>")
    parts += _backdrop(axis, faults, leaders, height)
    details: dict[str, dict] = {}
    for o in shown:
        index = o.get("index")
        role = "stuck" if index in stuck else ("lin" if index in order else "other")
        role += " minimal" if index in minimal else ""
        parts.append(_bar(o, axis, TOP + lane_of[o.get("process")] * LANE_H + (LANE_H - BAR_H) / 2, role,
                          order.get(index), anchor if o is first else None))
        details[str(index)] = _details(o, calls.get(index), order.get(index), index in stuck)
    parts.append("</svg>")
    return KeyView(
        key=failure.get("key"), message=str(failure.get("message") or ""), state=failure.get("state"),
        total_ops=len(ops), shown_ops=len(shown), anchor=anchor, first_error=first.get("index") if first else None,
        stuck=[f"op {o.get('index')}: {_label(o)} by process {o.get('process')}, called at {_s(o.get('call') or 0)}"
               for o in shown if o.get("index") in stuck],
        labels_svg="".join(labels), svg="".join(parts), details=details,
        explanation=str(failure.get("explanation") or ""), minimal_proven=failure.get("minimal_proven") is True,
        minimal=_minimal_view(failure, ops, minimal, calls, faults, leaders, anchor) if step == STEP else None,
    )


def _minimal_view(failure: dict, ops: list[dict], minimal: set, calls: dict[int, Call], faults: list[Fault],
                  leaders: list[LeaderChange], anchor: str) -> KeyView | None:
    """The minimal explanation's operations alone, wider apart, every one highlighted."""
    if not minimal or not failure.get("explanation"):
        return None
    only = {**failure, "ops": [o for o in ops if o.get("index") in minimal], "linearized": [],
            "stuck": [i for i in failure.get("stuck") or [] if i in minimal]}
    return key_view(only, calls, faults, leaders, anchor + "-minimal", step=MINIMAL_STEP)


def _backdrop(axis: "_Axis", faults: list[Fault], leaders: list[LeaderChange], height: int) -> list[str]:
    """Fault bands across every lane, the time ticks, and a mark for each new leader."""
    out = []
    for fault in faults:
        x0 = max(axis.x(fault.start), LEFT)
        x1 = axis.x(fault.stop) if fault.stop is not None else axis.width
        if x1 > LEFT and x0 < axis.width:
            out.append(f'<rect class="fault {escape(fault.kind)}" x="{x0:.1f}" y="{TOP - 6}" width="{max(2.0, x1 - x0):.1f}" '
                       f'height="{height - TOP + 6}"><title>{escape(fault.describe())} '
                       f'({_s(fault.start)} – {_s(fault.stop) if fault.stop is not None else "end"})</title></rect>')
    out += axis.ticks()
    for change in leaders:
        x = axis.x(change.time)
        if LEFT <= x <= axis.width:
            out.append(f'<path class="leader-mark" d="M{x:.1f} {TOP - 12}l-5 -8h10z"><title>{_s(change.time)}: '
                       f'{escape(change.leader)} became leader (term {change.term})</title></path>')
    return out


def _bar(o: dict, axis: "_Axis", y: float, role: str, order: int | None, anchor: str | None) -> str:
    """One op: coloured by outcome, styled by its role in the linearization, labelled if it fits."""
    x0 = axis.x(o.get("call") or 0, returning=False)
    returned = o.get("return") is not None
    x1 = axis.x(o["end"], returning=True) if o["end"] is not None else axis.width - 4
    kind = o.get("type") if o.get("type") in ("ok", "fail", "info") else "info"
    label = f"{order}· {_label(o)}" if order else _label(o)
    ident = f' id="{escape(anchor)}"' if anchor else ""
    bar = (f'<g class="op {kind} {role}{"" if returned else " open"}" data-i="{escape(str(o.get("index")))}"{ident}>'
           f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(4.0, x1 - x0):.1f}" height="{BAR_H}" rx="3"/>')
    if len(label) * CHAR_W + 8 <= x1 - x0:
        bar += f'<text x="{x0 + 4:.1f}" y="{y + BAR_H - 5:.1f}">{escape(label)}</text>'
    return bar + "</g>"


def _lanes(ops: list[dict]) -> tuple[dict, list[list]]:
    """One lane per process, except that a process that starts after another has finished (a
    retired process's replacement, as in Jepsen) reuses that lane: the picture keeps about as many
    lanes as there were concurrent clients instead of growing with every timeout."""
    span: dict = {}
    for o in ops:
        start, end = span.get(o.get("process"), (o.get("call") or 0, 0))
        ret = o["end"]
        span[o.get("process")] = (start, float("inf") if ret is None or end == float("inf") else max(end, ret))
    lanes: list[list] = []
    lane_end: list[float] = []
    lane_of = {}
    for p, (start, end) in sorted(span.items(), key=lambda kv: kv[1][0]):
        free = next((i for i, e in enumerate(lane_end) if e < start), None)
        if free is None:
            free = len(lanes)
            lanes.append([])
            lane_end.append(0)
        lanes[free].append(p)
        lane_end[free] = end
        lane_of[p] = free
    return lane_of, lanes


def _lane_label(processes: list) -> str:
    label = "p " + ", ".join(map(str, processes))
    room = int((GUTTER - 12) / CHAR_W)
    return label if len(label) <= room else label[: room - 1] + "…"


def _window(ops: list[dict], stuck: set) -> list[dict]:
    if len(ops) <= MAX_OPS:
        return ops
    positions = [i for i, o in enumerate(ops) if o.get("index") in stuck] or [len(ops) - 1]
    lo = max(0, positions[0] - BEFORE_ERROR)
    kept = ops[lo: lo + MAX_OPS]
    # a stuck op far from the first one still belongs in the picture
    kept += [ops[i] for i in positions if i >= lo + MAX_OPS]
    return kept


class _Axis:
    """Event order → x. At equal times returns come first: a process that invokes in the very
    nanosecond its last op returned must not be drawn overlapping itself."""

    def __init__(self, ops: list[dict], step: int = STEP):
        events = {(o.get("call") or 0, 1) for o in ops} | {(o["end"], 0) for o in ops if o["end"] is not None}
        self.events = sorted(events)
        self.times = [t for t, _ in self.events]
        self.step = step
        self.width = LEFT + step * (len(self.events) + 2)

    def x(self, t: int, returning: bool | None = None) -> float:
        """The x of an event of this view, or, for any other time (a fault boundary), the point
        between the events it falls between."""
        if returning is not None:
            return LEFT + self.step * (bisect.bisect_left(self.events, (t, 0 if returning else 1)) + 1)
        i = bisect.bisect_left(self.times, t)
        if i == 0:
            return LEFT + (self.step if self.times and t >= self.times[0] else 0)
        if i == len(self.times):
            return LEFT + self.step * (len(self.times) + 1)
        t0, t1 = self.times[i - 1], self.times[i]
        frac = (t - t0) / (t1 - t0) if t1 > t0 else 0
        return LEFT + self.step * (i + frac)

    def ticks(self) -> list[str]:
        out = [f'<line class="axis" x1="{LEFT}" x2="{self.width}" y1="{TOP - 4}" y2="{TOP - 4}"/>']
        last = -1e9
        for rank, (t, _) in enumerate(self.events):
            x = LEFT + self.step * (rank + 1)
            if x - last >= 90:
                out.append(f'<line class="tick" x1="{x}" x2="{x}" y1="{TOP - 8}" y2="{TOP - 4}"/>'
                           f'<text class="tick-label" x="{x}" y="{TOP - 24}" text-anchor="middle">{_s(t)}</text>')
                last = x
        return out


def _label(o: dict) -> str:
    f, value, output = o.get("f"), o.get("value"), o.get("output")
    if f == "read":
        return f"r → {_short(output)}" if o.get("type") == "ok" else "r"
    if f == "write":
        return f"w {_short(value)}"
    if f == "cas" and isinstance(value, list) and len(value) == 2:
        return f"cas {_short(value[0])}→{_short(value[1])}"
    return f"{f} {_short(value)}"


def _short(v: Any) -> str:
    text = "nil" if v is None else str(v)
    return text if len(text) <= 12 else text[:11] + "…"


def _details(o: dict, call: Call | None, order: int | None, stuck: bool) -> dict:
    d = {
        "op": f"{o.get('f')} (invoke {o.get('index')}"
              + (f", completion {call.complete.index})" if call and call.complete else ", never completed)"),
        "process": o.get("process"), "type": o.get("type"),
        "value": o.get("value"), "output": o.get("output"),
        "latency": _latency(o, call),
        "node": call.invoke.node if call else None,
        "error": call.complete.error if call and call.complete else None,
        "linearization": "could not be linearized next" if stuck else (f"#{order} of the prefix" if order else "not in the prefix"),
    }
    # value and output stay even when null: a read that returned null read "never written"
    return {k: v for k, v in d.items() if v is not None or k in ("value", "output")}


def _gave_up(call: Call | None) -> int | None:
    return call.complete.time if call is not None and call.complete is not None else None


def _latency(o: dict, call: Call | None) -> str:
    if o.get("return") is not None:
        return f"{(o['return'] - (o.get('call') or 0)) / 1e6:.2f} ms"
    if call is not None and call.complete is not None:  # info: the checker leaves it open
        return (f"{(call.complete.time - call.invoke.time) / 1e6:.2f} ms, then {call.complete.type}: "
                f"it may take effect at any later time")
    return "never returned"


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"
