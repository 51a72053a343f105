"""`raft-jepsen report` on corrupted run folders: it renders, or says what is wrong in one line
(exit 3); never a traceback, never the crash exit code 2."""

import json
import os

import pytest

from raft_jepsen.harness.cli import main
from tests.unit.run_fixtures import make_run

BIG = "1" + "0" * 400  # 10^400 as a JSON number


def _results(edit):
    def apply(run):
        path = run / "results.json"
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    return apply


def _raw_results(text):
    def apply(run):
        (run / "results.json").write_text(text)
    return apply


def _lin(edit):
    return _results(lambda d: edit(d["checkers"]["linearizable"]))


def _history(edit_lines):
    def apply(run):
        path = run / "history.jsonl"
        path.write_text("".join(line + "\n" for line in edit_lines(path.read_text().splitlines())))
    return apply


def _append_nemesis(value):
    op = {"index": 10**9, "type": "info", "process": "nemesis", "f": "start-partition", "value": value, "time": 5}
    return _history(lambda lines: lines + [json.dumps(op)])


def _replace_first_field(field, raw):
    def edit(lines):
        d = json.loads(lines[0])
        d[field] = "@@"
        lines[0] = json.dumps(d).replace('"@@"', raw)
        return lines
    return _history(edit)


def _file(rel, content):
    def apply(run):
        path = run / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return apply


def _folder_instead(rel):
    def apply(run):
        path = run / rel
        if path.exists():
            path.unlink()
        path.mkdir(parents=True)
    return apply


def _symlink_loop(run):
    (run / "nodes" / "loop").symlink_to(run / "nodes" / "loop")


CORRUPTIONS = {
    "valid-maybe": _results(lambda d: d.update(valid="maybe")),
    "results-not-json": _raw_results("{nope"),
    "results-list": _raw_results("[1, 2]"),
    "results-schema-2": _results(lambda d: d.update(schema=2)),
    "results-huge-int": _raw_results('{"schema": 1, "valid": true, "duration_s": ' + "9" * 5000 + "}"),
    "results-deep": _raw_results('{"schema": 1, "valid": true, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "results-not-utf8": _file("results.json", b'{"schema": 1, "valid": true, "test": "\xff"}'),
    "duration-text": _results(lambda d: d.update(duration_s="long")),
    "duration-10^400": _raw_results('{"schema": 1, "valid": true, "duration_s": ' + BIG + ".0}"),
    "duration-inf": _raw_results('{"schema": 1, "valid": true, "duration_s": Infinity}'),
    "duration-nan": _raw_results('{"schema": 1, "valid": true, "duration_s": NaN}'),
    "duration-negative": _results(lambda d: d.update(duration_s=-5)),
    "started-epoch-text": _results(lambda d: d.update(started_epoch_ns="x")),
    "started-epoch-10^400": _raw_results('{"schema": 1, "valid": true, "started_epoch_ns": ' + BIG + "}"),
    "op-counts-list": _results(lambda d: d.update(op_counts=[1, 2])),
    "op-counts-text": _results(lambda d: d.update(op_counts={"ok": "many", "invoke": None})),
    "op-counts-huge": _results(lambda d: d.update(op_counts={"ok": 10**300, "invoke": -1})),
    "checkers-list": _results(lambda d: d.update(checkers=[1])),
    "checker-number": _results(lambda d: d["checkers"].update(x=5)),
    "checker-odd-fields": _results(lambda d: d["checkers"].update(x={"valid": "maybe", "message": 5, "failures": 7})),
    "failures-number": _lin(lambda c: c.update(failures=5)),
    "failures-of-numbers": _lin(lambda c: c.update(failures=[5, None])),
    "failure-ops-number": _lin(lambda c: c.update(failures=[{"ops": 5}])),
    "failure-ops-of-numbers": _lin(lambda c: c.update(failures=[{"key": "k0", "ops": [5]}])),
    "failure-op-odd-index": _lin(lambda c: c.update(failures=[{"key": "k0", "ops": [{"index": "x", "call": "y"}]}])),
    "failure-op-huge-times": _lin(lambda c: c.update(failures=[{"key": [1], "ops": [
        {"index": 0, "process": 0, "f": "read", "value": None, "output": 1, "type": "ok", "call": 10**300, "return": -(10**300)}],
        "linearized": [10**300], "stuck": "x", "state": 5, "message": None}])),
    "failure-stuck-unknown-index": _lin(lambda c: c["failures"] and c["failures"][0].update(stuck=[123456789], linearized=[-5])),
    "history-index-text": _replace_first_field("index", '"x"'),
    "history-index-list": _replace_first_field("index", "[1]"),
    "history-time-10^400": _replace_first_field("time", BIG),
    "history-time-float": _replace_first_field("time", "1e400"),
    "history-process-null": _replace_first_field("process", "null"),
    "history-cut-off": _history(lambda lines: lines[:-1] + [lines[-1][:20]]),
    "history-empty": _file("history.jsonl", ""),
    "history-not-utf8": _file("history.jsonl", b"\xff\xfe\n"),
    "history-folder": _folder_instead("history.jsonl"),
    "grudge-number": _append_nemesis({"kind": "halves", "grudge": 5}),
    "grudge-peers-number": _append_nemesis({"kind": "halves", "grudge": {"n1": 5}}),
    "grudge-peers-nested": _append_nemesis({"kind": "halves", "grudge": {"n1": [[1], {"a": 2}]}}),
    "nemesis-nodes-odd": _append_nemesis({"nodes": 5, "delays_ms": "x"}),
    "roles-garbage": _file("roles.jsonl", '{"time": ' + BIG + ', "node": "n1", "role": "leader"}\nnot json\n[1]\n'),
    "roles-time-float": _file("roles.jsonl", '{"time": 1e400, "node": "n1", "role": "leader", "term": 1e400}\n'),
    "node-log-binary": _file("nodes/n1/node.log", b"\xff\x00" * 1000),
    "node-log-folder": _folder_instead("nodes/n2/node.log"),
    "node-log-loop": _symlink_loop,
    "warnings-odd": _results(lambda d: d.update(warnings=5, nodes=5, bugs=5, nemesis={"a": 1}, seed="x", test=[1])),
    "report-not-writable": _folder_instead("report.html"),
    "tmp-not-writable": _folder_instead(".report.html.tmp"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_a_corrupted_run_folder_renders_or_is_one_line(tmp_path, capsys, name):
    run = make_run(tmp_path, n_ops=200, valid=False, seed=3)
    CORRUPTIONS[name](run)
    code = main(["report", str(run)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err
    assert code in (0, 3), (code, captured.err)
    if code == 0:
        assert (run / "report.html").is_file() and captured.out.strip().endswith("report.html")
    else:
        assert captured.err.count("\n") == 1 and len(captured.err) < 400, captured.err


def test_a_read_only_store_is_one_line(tmp_path, capsys):
    run = make_run(tmp_path, n_ops=50)
    os.chmod(run, 0o555)
    try:
        code = main(["report", str(run)])
    finally:
        os.chmod(run, 0o755)
    err = capsys.readouterr().err
    assert code in (0, 3) and "Traceback" not in err and "internal error" not in err
