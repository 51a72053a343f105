"""The store: run folders, the latest link, loading a past run."""

from datetime import datetime, timezone

import pytest

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import store
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import HistoryWriter, Op

STARTED = datetime(2026, 11, 23, 15, 2, 11, tzinfo=timezone.utc)


def test_run_folders_are_named_for_their_start_and_never_shared(tmp_path):
    first = store.create_run_dir(tmp_path, "raftkv-register", STARTED)
    second = store.create_run_dir(tmp_path, "raftkv-register", STARTED)
    assert first == tmp_path / "raftkv-register" / "20261123T150211"
    assert second == tmp_path / "raftkv-register" / "20261123T150211-2"


def test_latest_follows_the_newest_run_and_is_relative(tmp_path):
    for second in (1, 2):
        run_dir = store.create_run_dir(tmp_path, "t", STARTED.replace(second=second))
        store.update_latest(tmp_path, run_dir)
    link = tmp_path / "latest"
    assert link.resolve() == (tmp_path / "t" / "20261123T150202").resolve()
    assert not link.readlink().is_absolute()


def test_a_saved_run_loads_back(tmp_path):
    spec = specs.build({"seed": 5, "store": str(tmp_path)})
    run_dir = store.create_run_dir(tmp_path, spec.test_name, STARTED)
    store.write_spec(run_dir, spec)
    with HistoryWriter(run_dir / store.HISTORY) as w:
        w.append(Op(index=-1, type="invoke", process=0, f="read", key="k0"))
    store.write_results(run_dir, {"schema": 1, "valid": True})
    store.update_latest(tmp_path, run_dir)
    loaded = store.load_run(tmp_path)  # a store means its latest run
    assert loaded.spec == spec
    assert loaded.results == {"schema": 1, "valid": True}
    assert [op.f for op in loaded.history()] == ["read"]


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="not a run folder"):
        store.load_run(tmp_path)
