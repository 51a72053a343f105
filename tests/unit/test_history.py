"""history.jsonl: round trip, and one-line errors naming file:line for malformed input."""

import pytest

from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import Op, pair, read_jsonl, write_jsonl
from raft_jepsen.harness.history.importers import load


def test_round_trip(tmp_path):
    ops = [
        Op(index=0, type="invoke", process=3, f="cas", key="k1", value=[1, 2], time=1200345),
        Op(index=1, type="info", process="nemesis", f="start-partition", value={"n1": ["n3"]}, time=1300000),
        Op(index=2, type="fail", process=3, f="cas", key="k1", value=[1, 2], time=5203311, error="cas-mismatch"),
    ]
    write_jsonl(tmp_path / "h.jsonl", ops)
    assert list(read_jsonl(tmp_path / "h.jsonl")) == ops
    assert '"key"' not in ops[1].to_json() and '"error"' not in ops[0].to_json()


def test_pairing_keeps_open_ops_as_info():
    ops = [Op(index=0, type="invoke", process=0, f="write", value=1), Op(index=1, type="invoke", process=1, f="read")]
    calls = pair(ops)
    assert [c.type for c in calls] == ["info", "info"] and calls[0].complete is None


INVOKE = '{"type": "invoke", "process": 0, "f": "read", "time": 1}'


@pytest.mark.parametrize("lines, line, message", [
    ([INVOKE, '{"type": "ok", "process": 0, '], 2, "malformed JSON"),
    ([INVOKE, '{"type": "done", "process": 0, "f": "read"}'], 2, "unknown type 'done'"),
    ([INVOKE, '{"type": "ok", "process": 1, "f": "read"}'], 2, "ok read on process 1 without an invocation"),
    ([INVOKE, "", INVOKE], 3, "process 0 invokes read while op 0 is outstanding"),
    ([INVOKE, '{"type": "info", "process": 0, "f": "read"}', INVOKE], 3, "reused after an info"),
    ([INVOKE, '{"type": "ok", "process": 0, "f": "write"}'], 2, "ok write completes read op 0"),
    (['[1, 2]'], 1, "expected a JSON object"),
    (['{"type": "invoke", "process": 0, "f": "read", "time": "soon"}'], 1, "time must be an integer"),
    (['{"type": "invoke", "process": 0, "f": "read", "colour": 1}'], 1, "unknown field 'colour'"),
])
def test_malformed_histories_give_one_line_with_file_and_line(tmp_path, lines, line, message):
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(HistoryError, match="cannot read"):
        load(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HistoryError, match="not a UTF-8 text file"):
        load(tmp_path / "bin.jsonl")
