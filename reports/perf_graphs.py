"""Jepsen's perf graphs as inline SVG: latency over time (log scale, one dot per op coloured by
outcome), throughput over time (one line per outcome) and who led when, all on the run's time
axis with the faults as translucent bands and leader elections as marks along the top.

Dots are drawn as zero-length round-capped path segments, one path per outcome (`M x y h0`):
about 14 bytes a point, so 10,000 points cost ~150 kB and render as three elements.
"""

from __future__ import annotations

import math
from html import escape

from raft_jepsen.reports.perf import OUTCOMES, Perf
from raft_jepsen.reports.timeline import Fault, LeaderChange

W, H = 1000, 300
L, R, T, B = 70, 16, 22, 40
STRIP_H = 46
CHAR_W = 6.6


class _Frame:
    """Plot area and the run-time x scale shared by every graph."""

    def __init__(self, duration: int, height: int = H):
        self.duration_s = max(duration / 1e9, 1e-3)
        self.height = height

    def x(self, ns: float) -> float:
        return L + (W - L - R) * min(max(ns / 1e9 / self.duration_s, 0), 1)

    def background(self, faults: list[Fault], leaders: list[LeaderChange]) -> list[str]:
        out = [f'<rect class="plot" x="{L}" y="{T}" width="{W - L - R}" height="{self.height - T - B}"/>']
        for f in faults:
            x0 = self.x(f.start)
            x1 = self.x(f.stop) if f.stop is not None else W - R
            out.append(f'<rect class="fault {escape(f.kind)} {escape(f.outcome)}" x="{x0:.1f}" y="{T}" width="{max(1.5, x1 - x0):.1f}" '
                       f'height="{self.height - T - B}"><title>{escape(f.describe())}: {f.start / 1e9:.2f} s – '
                       f'{f"{f.stop / 1e9:.2f} s" if f.stop is not None else "never healed"}</title></rect>')
        for c in leaders:
            out.append(f'<path class="leader-mark" d="M{self.x(c.time):.1f} {T}l-5 -9h10z"><title>{c.time / 1e9:.2f} s: '
                       f'{escape(c.leader)} became leader (term {c.term})</title></path>')
        return out

    def x_axis(self) -> list[str]:
        step = _nice_step(self.duration_s, 10)
        y = self.height - B
        out = [f'<line class="axis" x1="{L}" x2="{W - R}" y1="{y}" y2="{y}"/>']
        for i in range(int(self.duration_s / step) + 1):
            x = self.x(i * step * 1e9)
            out.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 5}"/>'
                       f'<text class="tick-label" x="{x:.1f}" y="{y + 18}" text-anchor="middle">{_fmt(i * step)}</text>')
        out.append(f'<text class="axis-title" x="{(L + W - R) / 2}" y="{self.height - 4}" text-anchor="middle">run time (s)</text>')
        return out


def latency_svg(perf: Perf, faults: list[Fault], leaders: list[LeaderChange], duration: int) -> str:
    frame = _Frame(duration)
    lat_ms = [max(p.latency / 1e6, 1e-3) for p in perf.points]
    lo = math.floor(math.log10(min(lat_ms))) if lat_ms else 0
    hi = max(lo + 1, math.ceil(math.log10(max(lat_ms)))) if lat_ms else 1

    def y(ms: float) -> float:
        return T + (H - T - B) * (1 - (math.log10(max(ms, 1e-3)) - lo) / (hi - lo))

    parts = [_open("latency-graph", "latency of every operation over run time"), *frame.background(faults, leaders)]
    for e in range(lo, hi + 1):
        parts.append(f'<line class="grid" x1="{L}" x2="{W - R}" y1="{y(10 ** e):.1f}" y2="{y(10 ** e):.1f}"/>'
                     f'<text class="tick-label" x="{L - 6}" y="{y(10 ** e) + 4:.1f}" text-anchor="end">{_ms(10 ** e)}</text>')
    for outcome in OUTCOMES:
        d = "".join(f"M{frame.x(p.time):.1f} {y(ms):.1f}h0" for p, ms in zip(perf.points, lat_ms) if p.type == outcome)
        if d:
            parts.append(f'<path class="dots {outcome}" d="{d}"/>')
    parts += frame.x_axis()
    parts.append(_y_title("latency"))
    return "".join(parts) + "</svg>"


def throughput_svg(perf: Perf, faults: list[Fault], leaders: list[LeaderChange], duration: int) -> str:
    frame = _Frame(duration)
    top = max((v for s in perf.throughput.values() for v in s), default=0)
    step = _nice_step(top or 1, 5)
    ymax = step * math.ceil((top or 1) / step)

    def y(v: float) -> float:
        return T + (H - T - B) * (1 - v / ymax)

    parts = [_open("throughput-graph", "completions per second over run time"), *frame.background(faults, leaders)]
    for i in range(int(ymax / step) + 1):
        parts.append(f'<line class="grid" x1="{L}" x2="{W - R}" y1="{y(i * step):.1f}" y2="{y(i * step):.1f}"/>'
                     f'<text class="tick-label" x="{L - 6}" y="{y(i * step) + 4:.1f}" text-anchor="end">{_fmt(i * step)}</text>')
    bin_ns = perf.throughput_bin_s * 1e9
    for outcome in OUTCOMES:
        series = perf.throughput[outcome]
        if any(series):
            pts = " ".join(f"{frame.x((i + 0.5) * bin_ns):.1f},{y(v):.1f}" for i, v in enumerate(series))
            parts.append(f'<polyline class="line {outcome}" points="{pts}"/>')
    parts += frame.x_axis()
    parts.append(_y_title("ops / s"))
    return "".join(parts) + "</svg>"


def leadership_svg(leaders: list[LeaderChange], faults: list[Fault], duration: int,
                   marks: list[tuple[int, str]] = ()) -> str:
    """Who led when: one segment per announced leadership, named when the name fits; `marks`
    (time, what) are Raft invariant violations, drawn as red ticks across the lane."""
    frame = _Frame(duration, height=STRIP_H + B)
    nodes = sorted({c.leader for c in leaders})
    parts = [_open("leader-graph", "leader over run time", height=STRIP_H + B), *frame.background(faults, [])]
    for c, nxt in zip(leaders, [*leaders[1:], None]):
        x0 = frame.x(c.time)
        x1 = frame.x(nxt.time) if nxt else W - R
        label = f"{c.leader} · term {c.term}"
        parts.append(f'<rect class="leader n{nodes.index(c.leader) % 7}" x="{x0:.1f}" y="{T + 4}" width="{max(1.0, x1 - x0):.1f}" '
                     f'height="{STRIP_H - T - 8}"><title>{c.time / 1e9:.2f} s: {escape(c.leader)} leader, term {c.term}</title></rect>')
        if len(label) * CHAR_W + 8 <= x1 - x0:
            parts.append(f'<text class="leader-label" x="{x0 + 4:.1f}" y="{T + 16}">{escape(label)}</text>')
        elif len(c.leader) * CHAR_W + 6 <= x1 - x0:
            parts.append(f'<text class="leader-label" x="{x0 + 3:.1f}" y="{T + 16}">{escape(c.leader)}</text>')
    for t, what in marks:
        x = frame.x(t)
        parts.append(f'<g class="violation"><line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{STRIP_H - 4}"/>'
                     f'<path d="M{x - 5:.1f},{T} L{x + 5:.1f},{T} L{x:.1f},{T + 7} Z"/><title>{escape(what)}</title></g>')
    parts += frame.x_axis()
    return "".join(parts) + "</svg>"


def _open(css_id: str, label: str, height: int = H) -> str:
    return (f'<svg id="{css_id}" class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" '
            f'role="img" aria-label="{escape(label)}">')


def _y_title(text: str) -> str:
    return f'<text class="axis-title" transform="translate(14 {(T + H - B) / 2}) rotate(-90)" text-anchor="middle">{text}</text>'


def _nice_step(span: float, target_ticks: int) -> float:
    raw = span / target_ticks
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10**exp >= raw:
            return m * 10**exp
    return 10 ** (exp + 1)


def _fmt(v: float) -> str:
    return f"{v:g}"


def _ms(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"
