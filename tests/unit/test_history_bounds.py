"""Reading histories, bounded and strict: every crafted input of issue 13 is a clean verdict or
one line with exit 2/3, never a traceback; and every shape Jepsen and Knossos write is read."""

import json
import time

import pytest

from raft_jepsen.harness.cli import main
from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import read_jsonl, source
from raft_jepsen.harness.history.importers import load

INVOKE = '{"type": "invoke", "process": 0, "f": "write", "key": "k", "value": 1, "time": 1}'
OK = '{"type": "ok", "process": 0, "f": "write", "key": "k", "value": 1, "time": 2}'


def _check(tmp_path, name, content, *extra):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return main(["check", str(path), *extra])


def _one_line(capsys):
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err + captured.out and err.count("\n") <= 1, err
    assert len(err) < 400, err
    return captured.out + err


@pytest.mark.parametrize("index", ['"3"', "null", "[1]", "-1", "1.5", "true"])
def test_a_non_integer_index_is_one_line(tmp_path, capsys, index):
    assert _check(tmp_path, "h.jsonl", INVOKE.replace("{", '{"index": ' + index + ", ", 1) + "\n") == 3
    assert "index must be an integer from 0" in _one_line(capsys)


def test_indexes_must_increase(tmp_path, capsys):
    text = INVOKE.replace("{", '{"index": 5, ', 1) + "\n" + OK.replace("{", '{"index": 5, ', 1) + "\n"
    assert _check(tmp_path, "h.jsonl", text) == 3
    assert "index 5 after index 5: indexes must increase" in _one_line(capsys)


@pytest.mark.parametrize("name, content, message", [
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": ' + "[" * 600 + "]" * 600 + "}\n", "nested"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "nested"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value " + "[" * 600 + "]" * 600 + "}\n", "nested more than 100 deep"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value " + "(" * 100_000 + "\n", "nested more than 100 deep"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": ' + "9" * 5000 + "}\n", "beyond 64 bits"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": ' + "9" * 21 + "}\n", "beyond 64 bits"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value " + "9" * 5000 + "N}\n", "beyond 64 bits"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": NaN}\n', "NaN is not a finite number"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": [-Infinity]}\n', "not a finite number"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "value": 1e400}\n', "inf is not a finite number"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value ##NaN}\n", "##NaN is not a finite number"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value 1e999}\n", "not a finite number"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value 1/0}\n", "divides by zero"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": ["write"]}\n', "f must be a name"),
    ("h.jsonl", '{"type": "invoke", "process": 0.5, "f": "write"}\n', "process must be"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "time": 1e3}\n', "time must be an integer"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "error": {"x": 1}}\n', "error must be a string"),
    ("h.jsonl", b'{"type": "invoke", "process": 0, "f": "\xff"}\n', "not a UTF-8 text file"),
    ("h.jsonl", '{"type": "invoke", "process": 0, "f": "write", "' + "x" * 100_000 + '": 1}\n', "unknown field"),
    ("h.edn", "{:type :invoke, :f [:write], :process 0}\n", ":f must be a keyword, got ['write']"),
    ("h.edn", "{:type :invoke, :f :write, :process \"p\"}\n", ":process must be an integer or :nemesis"),
    ("h.edn", "{:foo 1, :bar 2}\n", "an op map without :type ({:foo 1, :bar 2})"),
    ("h.edn", "[1 2]\n", "expected an op map, got int"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :index -3}\n", ":index must be an integer from 0"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value {{:a 1} 2}}\n", "a map cannot be a map key"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :type :ok}\n", "duplicate map key"),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value {1 2, \"1\" 3}}\n", "two map keys read as '1'"),
    ("h.edn", "{:type :invoke, :f :write, :process 0}\n{:type :ok ]\n", "']' closes '{'"),
    ("h.edn", "[{:type :invoke, :f :write, :process 0}] {:type :ok}\n", "text after the history's closing ']'"),
])
def test_crafted_histories_are_one_line_exit_3(tmp_path, capsys, name, content, message):
    assert _check(tmp_path, name, content) == 3
    assert message in _one_line(capsys)


def test_dev_zero_is_one_line_not_a_memory_error(capsys):
    assert main(["check", "/dev/zero", "--format", "jsonl"]) == 3
    assert "line longer than 1 MB" in _one_line(capsys)
    assert main(["check", "/dev/zero", "--format", "edn"]) == 3
    assert "line longer than 1 MB" in _one_line(capsys)


def test_the_size_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(source, "MAX_BYTES", 100)
    assert _check(tmp_path, "h.jsonl", (INVOKE + "\n" + OK + "\n") * 2) == 3
    assert "larger than" in _one_line(capsys)


def test_reading_counts_toward_the_deadline(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(source, "_CHECK_EVERY", 1)
    real = time.monotonic
    clock = iter(range(0, 10**6, 100))  # every look at the clock is 100 s later
    monkeypatch.setattr(time, "monotonic", lambda: real() + next(clock))
    assert _check(tmp_path, "h.jsonl", (INVOKE + "\n" + OK + "\n") * 3, "--timeout", "150") == 2
    assert "the deadline passed while reading" in _one_line(capsys)


def test_timeout_nan_or_inf_is_refused(tmp_path, capsys):
    for value in ("nan", "inf", "-1"):
        assert _check(tmp_path, "h.jsonl", INVOKE + "\n", "--timeout", value) == 3
        assert "--timeout must be a positive number" in _one_line(capsys)


def test_an_empty_history_says_0_operations_and_is_not_valid(tmp_path, capsys):
    for name in ("h.jsonl", "h.edn", "h.log"):
        assert _check(tmp_path, name, "") == 2
        assert "0 operations" in _one_line(capsys)
    nemesis_only = '{"type": "info", "process": "nemesis", "f": "start-partition", "time": 1}\n'
    assert _check(tmp_path, "n.jsonl", nemesis_only) == 2
    assert "0 operations to check" in _one_line(capsys)


@pytest.mark.parametrize("name, content", [
    ("h.jsonl", INVOKE + "\n" + OK + "\n" + OK[:25]),
    ("h.edn", "{:type :invoke, :f :write, :process 0, :value 1}\n{:type :ok, :f :write, :process 0, :value 1}\n{:type :in"),
    ("h.edn", "[{:type :invoke, :f :write, :process 0, :value 1}\n {:type :ok, :f :write, :process 0, :value 1}\n {:type"),
    ("h.edn", '{:type :invoke, :f :write, :process 0, :value 1}\n{:type :ok, :f :write, :process 0, :value 1}\n{:f "ab'),
])
def test_a_cut_off_last_line_is_checked_up_to_the_last_complete_one(tmp_path, capsys, name, content):
    assert _check(tmp_path, name, content) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("linearizable (cas-register model, 1 ops")
    assert "warning:" in captured.err and "the last line is incomplete" in captured.err and "checked up to line" in captured.err


def test_a_bad_line_in_the_middle_is_still_an_error(tmp_path, capsys):
    assert _check(tmp_path, "h.jsonl", INVOKE + "\n" + OK[:25] + "\n" + OK + "\n") == 3
    assert "malformed JSON" in _one_line(capsys)
    with pytest.raises(HistoryError, match="malformed JSON"):  # without a warn callback: an error
        list(read_jsonl(tmp_path / "h.jsonl"))


@pytest.mark.parametrize("model, ops, message", [
    ("counter", [("incr", "x", "x")], "this model takes integers, got 'x'"),
    ("counter", [("read", None, [1])], "this model reads integers"),
    ("set", [("read", None, 5)], "this model reads lists (the whole set), got 5"),
    ("string-kv", [("put", 5, 5)], "this model takes strings, got 5"),
    ("string-kv", [("get", None, {"a": 1})], "this model reads strings"),
])
def test_values_of_the_wrong_type_for_a_model_are_one_line(tmp_path, capsys, model, ops, message):
    lines = []
    for n, (f, value, out) in enumerate(ops):
        lines.append(json.dumps({"type": "invoke", "process": 0, "f": f, "key": "k", "value": value, "time": 2 * n}))
        lines.append(json.dumps({"type": "ok", "process": 0, "f": f, "key": "k", "value": out, "time": 2 * n + 1}))
    assert _check(tmp_path, "h.jsonl", "\n".join(lines) + "\n", "--model", model) == 3
    assert message in _one_line(capsys)


# --- what Jepsen and Knossos write -------------------------------------------------------------

KNOSSOS_LIST = """({:type :invoke, :f :write, :value 0, :process 0}
 {:type :ok, :f :write, :value 0, :process 0}
 ; a comment between ops
 {:type :invoke, :f :read, :value nil, :process 1}
 {:type :invoke, :f :write, :value 4, :process 2}
 {:type :ok, :f :read, :value 3, :process 1} ; read a value nobody wrote
 {:type :ok, :f :write, :value 4, :process 2})
"""

MULTI_LINE_VECTOR = """; maps over several lines, as pprint leaves them
[{:type :invoke,
  :f :write,
  :value 1,
  :process 3,
  :time 7686455705}
 {:type :ok,
  :f :write,
  :value 1,
  :process 3,
  :time 7686455999}]
"""

JEPSEN_LINES = """{:index 0, :time 3291485317, :type :invoke, :process 0, :f :write, :value 2}
{:index 1, :time 3291485400, :type :info, :process :nemesis, :f :start, :value "Cut off {:n2 #{:n3 :n1}}"}
#jepsen.history.Op{:index 2, :time 3565403674, :type :ok, :process 0, :f :write, :value 2}
{:index 3, :time 3600000000, :type :invoke, :process 1, :f :cas, :value [2 3], :debug {:at #inst "2024-01-01T00:00:00.000-00:00", :id #uuid "4f1b2c3d-0000-0000-0000-000000000000"}}
{:index 4, :time 3700000000, :type :fail, :process 1, :f :cas, :value [2 3], :error [:duplicate-key "etcdserver: duplicate key"], #_ :ignored #_ 1}
{:index 5, :time 3800000000, :type :invoke, :process 2, :f :read, :value nil, :extra #{1 2}, :ratio 1/3, :char \\a, :big 12N, :dec 1.5M}
{:index 6, :time 3900000000, :type :ok, :process 2, :f :read, :value 2, :exception {:via [{:type java.net.SocketTimeoutException, :message "Read timed out"}]}}
"""


def test_a_knossos_history_as_one_list_with_comments(tmp_path, capsys):
    assert _check(tmp_path, "h.edn", KNOSSOS_LIST) == 1
    assert "NOT linearizable" in capsys.readouterr().out


def test_maps_over_several_lines_in_one_vector(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(MULTI_LINE_VECTOR)
    ops = load(path)
    assert [(op.type, op.process, op.time) for op in ops] == [("invoke", 3, 7686455705), ("ok", 3, 7686455999)]


def test_jepsen_op_lines_with_tags_keywords_and_extra_keys(tmp_path, capsys):
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN_LINES)
    ops = load(path)
    assert [op.index for op in ops] == list(range(7))
    assert ops[1].process == "nemesis" and ops[1].value.startswith("Cut off")
    assert ops[4].error == "['duplicate-key', 'etcdserver: duplicate key']"
    assert _check(tmp_path, "history.edn", JEPSEN_LINES) == 0


def test_edn_values_with_non_string_keys_read_as_json_would(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text("{:type :invoke, :f :write, :process 0, :value {1 2, [3 4] #{5}, nil :x}}\n")
    (op,) = load(path)
    assert op.value == {"1": 2, "[3,4]": [5], "null": "x"}
