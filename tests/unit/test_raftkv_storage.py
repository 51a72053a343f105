"""raftkv's pieces without a cluster: WAL records, crash recovery, the simulated page cache,
the state machine's sessions, and the quorum rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "node_image"))

from raftkv import quorum  # noqa: E402
from raftkv.disk import Disk, PageCacheDisk  # noqa: E402
from raftkv.statemachine import SESSION_WINDOW, StateMachine  # noqa: E402
from raftkv.storage import Snapshot, Storage, decode_records, encode_record  # noqa: E402


def entry(i, t=1, value=None):
    return {"i": i, "t": t, "k": "cmd", "c": {"op": "write", "key": "k", "value": value or i}}


def test_records_round_trip_and_a_torn_or_corrupt_record_ends_the_log():
    data = b"".join(encode_record(entry(i)) for i in (1, 2, 3))
    records, valid = decode_records(data)
    assert [r["i"] for r in records] == [1, 2, 3] and valid == len(data)
    torn = data + encode_record(entry(4))[:-5]
    assert decode_records(torn) == (records, len(data))
    flipped = bytearray(data)
    flipped[len(encode_record(entry(1))) + 12] ^= 1  # a bit flip inside record 2's body
    assert [r["i"] for r in decode_records(bytes(flipped))[0]] == [1]


def test_storage_restores_term_vote_entries_and_truncations(tmp_path):
    s = Storage(Disk(str(tmp_path)), "n1")
    s.load()
    s.save_meta(3, "n2")
    s.append([entry(1), entry(2), entry(3)])
    s.truncate_from(2)
    s.append([entry(2, t=3, value="x")])
    s.sync_job()()
    loaded = Storage(Disk(str(tmp_path)), "n1").load()
    assert (loaded.term, loaded.vote) == (3, "n2")
    assert [(e["i"], e["t"]) for e in loaded.entries] == [(1, 1), (2, 3)]


def test_torn_tail_is_cut_from_the_file_so_recovery_is_repeatable(tmp_path):
    s = Storage(Disk(str(tmp_path)), "n1")
    s.load()
    s.append([entry(1), entry(2)])
    s.sync_job()()
    wal = tmp_path / "wal"
    good = wal.read_bytes()
    wal.write_bytes(good + b"garbage without newline")
    assert [e["i"] for e in Storage(Disk(str(tmp_path)), "n1").load().entries] == [1, 2]
    assert wal.read_bytes() == good


def test_snapshot_replaces_the_log_prefix(tmp_path):
    s = Storage(Disk(str(tmp_path)), "n1")
    s.load()
    s.append([entry(i) for i in range(1, 6)])
    s.sync_job()()
    snap = Snapshot(3, 1, {"n1": "a:1"}, {"data": {"k": 3}, "sessions": {}})
    s.save_snapshot(snap, [entry(4), entry(5)])
    loaded = Storage(Disk(str(tmp_path)), "n1").load()
    assert loaded.snapshot == snap
    assert [e["i"] for e in loaded.entries] == [4, 5]


def test_installed_snapshot_discards_a_wal_that_does_not_continue_it(tmp_path):
    s = Storage(Disk(str(tmp_path)), "n1")
    s.load()
    s.append([entry(1), entry(2), entry(3)])
    s.sync_job()()
    # A crash after saving an installed snapshot (index 2, term 5) but before the WAL rewrite:
    # the old entries belong to another history and must not be replayed after it.
    (tmp_path / "snapshot").write_bytes(encode_record(
        Snapshot(2, 5, {}, {"data": {}, "sessions": {}}).to_json()))
    assert Storage(Disk(str(tmp_path)), "n1").load().entries == []


def test_page_cache_loses_unsynced_bytes_and_unsynced_creations(tmp_path):
    disk = PageCacheDisk(str(tmp_path))
    wal = disk.open_append("wal")
    wal.write(b"synced\n")
    wal.sync()
    wal.write(b"lost\n")
    # kill -9: the process's memory, the simulated page cache, is gone.
    assert Disk(str(tmp_path)).read("wal") == b"synced\n"
    disk.replace("meta", b"durable")
    assert Disk(str(tmp_path)).read("meta") == b"durable"


def test_real_disk_keeps_unsynced_bytes_across_a_process_crash(tmp_path):
    wal = Disk(str(tmp_path)).open_append("wal")
    wal.write(b"in the kernel page cache\n")
    assert Disk(str(tmp_path)).read("wal") == b"in the kernel page cache\n"


def test_session_table_applies_a_retry_once_and_survives_a_snapshot():
    sm = StateMachine()
    cmd = {"op": "incr", "key": "n", "value": 2, "client": "c", "seq": 1}
    assert sm.apply(cmd) == sm.apply(cmd) == {"ok": True, "value": 2}
    restored = StateMachine()
    restored.restore(sm.dump())
    assert restored.apply(cmd)["value"] == 2 and restored.read("n") == 2


def test_session_table_refuses_retries_older_than_its_window():
    sm = StateMachine()
    for seq in range(SESSION_WINDOW + 1):
        sm.apply({"op": "incr", "key": "n", "value": 1, "client": "c", "seq": seq})
    old = sm.apply({"op": "incr", "key": "n", "value": 1, "client": "c", "seq": 0})
    assert (old["ok"], old["error"], old["definite"]) == (False, "stale-seq", False)
    assert sm.read("n") == SESSION_WINDOW + 1


def test_duplicate_apply_bug_applies_a_retry_twice():
    sm = StateMachine(dedup=False)
    cmd = {"op": "append", "key": "l", "value": "x", "client": "c", "seq": 1}
    sm.apply(cmd)
    assert sm.apply(cmd)["value"] == ["x", "x"]


@pytest.mark.parametrize("size,votes,elected", [(3, 2, True), (3, 1, False), (4, 2, False),
                                                (4, 3, True), (5, 3, True), (5, 2, False)])
def test_election_needs_a_majority_of_members(size, votes, elected):
    members = [f"n{i}" for i in range(size)]
    assert quorum.wins(members[:votes], members) is elected


def test_even_majority_bug_elects_with_half_of_four():
    members = ["n1", "n2", "n3", "n4"]
    assert quorum.wins(["n1", "n2"], members, even_majority=True)
    assert not quorum.wins(["n1", "n2"], members)
    assert not quorum.wins(["n1"], members[:3], even_majority=True)


def test_commit_counts_only_current_term_entries():
    # Raft figure 8: index 2 (term 2) is on a majority, the leader is in term 4.
    terms = {1: 1, 2: 2, 3: 4}
    assert quorum.commit_index([3, 2, 2, 1, 1], terms.get, 4) == 0
    assert quorum.commit_index([3, 3, 3, 1, 1], terms.get, 4) == 3


def test_commit_prior_term_bug_commits_an_old_entry_by_counting():
    terms = {1: 1, 2: 2, 3: 4}
    assert quorum.commit_index([3, 2, 2, 1, 1], terms.get, 4, check_term=False) == 2
