"""The store's index: every run once, newest first, broken ones shown rather than hidden."""

import os

from raft_jepsen.reports.index import find_runs, write_index
from tests.unit.run_fixtures import make_run


def test_index_lists_runs_newest_first_and_skips_latest(tmp_path):
    older = make_run(tmp_path, n_ops=200, started="20261123T140000", seed=1)
    newer = make_run(tmp_path, n_ops=200, started="20261123T150000", seed=2, valid=False, test="raftkv-kv")
    os.symlink(os.path.relpath(newer, tmp_path), tmp_path / "latest")
    broken = tmp_path / "raftkv-kv" / "20261123T160000"
    broken.mkdir()
    (broken / "results.json").write_text("{")

    rows = find_runs(tmp_path)
    assert [r.rel for r in rows] == ["raftkv-kv/20261123T160000", "raftkv-kv/20261123T150000",
                                     "raftkv-register/20261123T140000"]
    assert [r.verdict for r in rows] == ["unreadable", "invalid", "valid"]
    assert "malformed JSON" in rows[0].problem

    html = write_index(tmp_path).read_text()
    assert html.index("20261123T160000") < html.index("2026-11-23T15:00:00Z") < html.index("2026-11-23T14:00:00Z")
    assert f'href="{older.relative_to(tmp_path).as_posix()}/"' in html
    assert "report.html" not in html  # no run has a report yet: no dead links
