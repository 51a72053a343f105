"""Importers: Jepsen EDN, Porcupine etcd logs and kv maps; format guessing; file:line errors."""

import pytest

from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.harness.history.importers import (
    guess_format,
    load,
    read_edn,
    read_edn_forms,
    read_porcupine_etcd,
    read_porcupine_kv,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_edn_reader_values():
    (_, form), = read_edn_forms('{:a nil, :b [1 -2 "x \\"y\\""], :c #{:k}, :d 1.5, :e (true false)} ; done', "t")
    assert form == {"a": None, "b": [1, -2, 'x "y"'], "c": {"k"}, "d": 1.5, "e": [True, False]}


def test_edn_history_as_a_vector(tmp_path):
    path = write(tmp_path, "history.edn", """[{:type :invoke, :f :cas, :value [1 2], :process 0, :time 10, :index 0}
 {:type :info, :f :start, :value :majority, :process :nemesis, :time 15, :index 1}
 {:type :fail, :f :cas, :value [1 2], :process 0, :time 20, :index 2, :error :mismatch}]""")
    ops = read_edn(path)
    assert [(op.index, op.type, op.process, op.f, op.value, op.time) for op in ops] == [
        (0, "invoke", 0, "cas", [1, 2], 10),
        (1, "info", "nemesis", "start", "majority", 15),
        (2, "fail", 0, "cas", [1, 2], 20),
    ]
    assert ops[2].error == "mismatch"


def test_edn_history_one_map_per_line_without_times(tmp_path):
    path = write(tmp_path, "h.edn", '{:type :invoke, :f :read, :value nil, :process 3}\n\n'
                                    '{:type :ok, :f :read, :value 4, :process 3}\n')
    ops = read_edn(path)
    assert [(op.index, op.type, op.value, op.time) for op in ops] == [(0, "invoke", None, 1), (1, "ok", 4, 3)]


@pytest.mark.parametrize("text, line, message", [
    ('[{:type :invoke, :f :read, :process 0}\n {:type :bogus, :f :read, :process 0}]', 2, "unknown type"),
    ('{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read', 2, "never closed"),
    ('{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 1}', 2, "without an invocation"),
    ('{:type :invoke, :f :read, :process 0}\n{:type :invoke, :f :read, :process 0}', 2, "outstanding"),
    ('{:type :invoke, :f :read, :process "p"}', 1, "process must be"),
    ('{:type :invoke, :f :read, :process 0} "junk', 1, "unterminated string"),
])
def test_edn_errors_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "h.edn", text)
    with pytest.raises(HistoryError, match=message) as e:
        load(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(e.value)


ETCD = """INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4]
INFO  jepsen.util - 1\t:invoke\t:write\t2
INFO  jepsen.util - 0\t:fail\t:cas\t[1 4]
INFO  jepsen.util - 1\t:info\t:write\t:timed-out
INFO  jepsen.util - 0   :invoke :read   nil
INFO  jepsen.util - 0   :fail   :read   :timed-out
INFO  jepsen.util - 0   :invoke :read   nil
INFO  jepsen.util - 0   :ok     :read   nil
"""


def test_porcupine_etcd_log(tmp_path):
    ops = read_porcupine_etcd(write(tmp_path, "etcd_001.log", ETCD))
    got = [(op.type, op.process, op.f, op.value, op.time, op.error) for op in ops]
    assert got == [
        ("invoke", 0, "cas", [1, 4], 1, None),
        ("invoke", 1, "write", 2, 2, None),
        ("fail", 0, "cas", [1, 4], 3, "cas-mismatch"),  # observed: the value was not 1
        ("info", 1, "write", 2, 4, "timed-out"),
        ("invoke", 0, "read", None, 5, None),
        ("info", 0, "read", None, 6, "timed-out"),  # indeterminate, so the process is retired...
        ("invoke", 2, "read", None, 7, None),  # ...and the client goes on under a fresh id
        ("ok", 2, "read", None, 8, None),
    ]
    assert [op.index for op in ops] == list(range(8))
    assert load(tmp_path / "etcd_001.log") == ops  # well formed once the read's process is renamed


def test_porcupine_etcd_errors(tmp_path):
    path = write(tmp_path, "bad.log", ETCD + "INFO  jepsen.util - 5\t:ok\t:read\t3\n")
    with pytest.raises(HistoryError, match=rf"^{path}:9: :ok :read on process 5 without an invocation$"):
        read_porcupine_etcd(path)
    path = write(tmp_path, "bad2.log", "INFO  jepsen.util - 5\t:invoke\t:read\tnil\nhello\n")
    with pytest.raises(HistoryError, match=rf"^{path}:2: not a jepsen.util op line$"):
        read_porcupine_etcd(path)


def test_porcupine_kv(tmp_path):
    path = write(tmp_path, "c01.txt", '{:process 0, :type :invoke, :f :append, :key "3", :value "x 0 0 y"}\n'
                                      '{:process 0, :type :ok, :f :append, :key "3", :value "x 0 0 y"}\n'
                                      '{:process 0, :type :invoke, :f :get, :key "3", :value nil}\n'
                                      '{:process 0, :type :ok, :f :get, :key "3", :value ""}\n')
    ops = read_porcupine_kv(path)
    assert [(op.type, op.f, op.key, op.value, op.time) for op in ops] == [
        ("invoke", "append", "3", "x 0 0 y", 1), ("ok", "append", "3", "x 0 0 y", 2),
        ("invoke", "get", "3", None, 3), ("ok", "get", "3", "", 4),
    ]


def test_guess_format(tmp_path):
    assert guess_format(write(tmp_path, "h.jsonl", "")) == "jsonl"
    assert guess_format(write(tmp_path, "h.edn", "")) == "edn"
    assert guess_format(write(tmp_path, "a.log", ETCD)) == "porcupine-etcd"
    assert guess_format(write(tmp_path, "b.txt", '{:process 0, :type :invoke, :f :get, :key "1", :value nil}')) == "porcupine-kv"
    assert guess_format(write(tmp_path, "c.txt", '{"type": "invoke", "process": 0, "f": "read"}')) == "jsonl"
    with pytest.raises(UsageError, match="cannot tell the history format"):
        guess_format(write(tmp_path, "d.txt", "hello"))
