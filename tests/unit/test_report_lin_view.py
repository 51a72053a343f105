"""The Porcupine-style view of a failing key: lanes, windowing, labels that fit their bars."""

import re
import xml.etree.ElementTree as ET

from raft_jepsen.harness.history import Call, Op
from raft_jepsen.reports import linearizability_view as lv

MS = 1_000_000


def _op(index, process, call_ms, return_ms, f="write", value=1, output=1, type="ok"):
    return {"index": index, "process": process, "f": f, "value": value, "output": output, "type": type,
            "call": call_ms * MS, "return": None if return_ms is None else return_ms * MS}


def _failure(ops, stuck, linearized):
    return {"key": "k1", "ops": ops, "stuck": stuck, "linearized": linearized, "state": "1", "message": "m"}


def test_a_replacement_process_reuses_the_lane_of_the_one_it_replaces():
    ops = [_op(0, 0, 0, 10, type="info"), _op(1, 1, 1, 3), _op(2, 5, 11, 12),  # process 5 replaces 0
           _op(3, 1, 4, 20), _op(4, 6, 13, 14)]  # 6 starts after 5 ended: same lane again
    lane_of, lanes = lv._lanes([{**o, "end": o["return"]} for o in ops])
    assert lane_of[5] == lane_of[0] and lane_of[1] != lane_of[0]
    assert len(lanes) == 2


def test_ops_in_one_lane_never_overlap():
    # four clients, each replaced every 40 ops; each op ends before its process calls again
    ops = [_op(i, i % 4 + 4 * (i // 40), 2 * i, 2 * i + 1 + i % 3) for i in range(160)]
    view = lv.key_view(_failure(ops, [150], list(range(100))), {}, [], [], anchor="first-error")
    bars = {}
    for m in re.finditer(r'<g class="op [^"]*" data-i="(\d+)"[^>]*><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', view.svg):
        bars.setdefault(m.group(3), []).append((float(m.group(2)), float(m.group(2)) + float(m.group(4))))
    for spans in bars.values():
        spans.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_a_long_key_is_windowed_around_its_first_stuck_op():
    ops = [_op(i, i % 5, i * 10, i * 10 + 5) for i in range(2000)]
    view = lv.key_view(_failure(ops, [1500, 1999], list(range(1500))), {}, [], [], anchor="first-error")
    assert view.total_ops == 2000 and view.shown_ops == lv.MAX_OPS + 1  # the far stuck op is kept
    assert view.first_error == 1500
    shown = {int(i) for i in re.findall(r'data-i="(\d+)"', view.svg)}
    assert {1500, 1999, 1500 - lv.BEFORE_ERROR} <= shown and 0 not in shown


def test_labels_fit_inside_their_bars_and_the_svg_is_well_formed():
    ops = [_op(i, i % 3, i, i + 1 + (i % 4) * 3, f="cas", value=[i, i + 1000000]) for i in range(60)]
    view = lv.key_view(_failure(ops, [59], list(range(59))), {}, [], [], anchor="x")
    ET.fromstring(view.svg)
    ET.fromstring(view.labels_svg)
    for m in re.finditer(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*/><text x="[\d.]+" y="[\d.]+">([^<]*)</text>', view.svg):
        assert len(m.group(3)) * lv.CHAR_W + 8 <= float(m.group(2))


def test_an_op_that_never_returned_runs_to_the_end():
    ops = [_op(0, 0, 0, 5), _op(1, 1, 1, None, type="info"), _op(2, 0, 6, 7, f="read", output=2)]
    view = lv.key_view(_failure(ops, [2], [0]), {}, [], [], anchor="first-error")
    bar = re.search(r'<g class="op info other open" data-i="1"><rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', view.svg)
    svg_width = float(re.search(r'<svg class="lin-view"[^>]* width="([\d.]+)"', view.svg).group(1))
    assert bar and float(bar.group(1)) + float(bar.group(2)) == svg_width - 4  # to the right edge
    assert view.details["1"]["latency"] == "never returned"
    assert 'id="first-error"' in view.svg and view.stuck == ["op 2: r → 2 by process 0, called at 0.006 s"]


def test_an_info_op_ends_where_the_client_gave_up_and_frees_its_lane():
    ops = [_op(0, 0, 0, None, type="info"), _op(1, 1, 1, 2), _op(2, 2, 5, 6, f="read", output=9)]
    calls = {0: Call(Op(index=0, type="invoke", process=0, f="write", time=0),
                     Op(index=3, type="info", process=0, f="write", time=4 * MS, error="timeout"))}
    view = lv.key_view(_failure(ops, [2], [0, 1]), calls, [], [], anchor="first-error")
    assert "then info: it may take effect at any later time" in view.details["0"]["latency"]
    assert len(re.findall(r'class="lane-line"', view.svg)) == 2  # process 2 reuses process 0's lane
