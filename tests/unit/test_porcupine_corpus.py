"""Porcupine's bundled histories: each file gets the verdict its README lists."""

import re
from pathlib import Path

import pytest

from raft_jepsen.checkers.linearizable import LinearizabilityChecker
from raft_jepsen.harness.history.importers import load

DATA = Path(__file__).resolve().parents[1] / "data" / "porcupine"
README = DATA / "README.md"


def _expected() -> dict[str, bool]:
    if not README.is_file():  # fail loudly: a missing corpus must not pass as "nothing to test"
        raise FileNotFoundError(f"Porcupine corpus not found at {DATA.resolve()}")
    rows = re.findall(r"^\| `(\S+)` \|.*\| (true|false) \|$", README.read_text(), re.M)
    verdicts = {name: verdict == "true" for name, verdict in rows}
    verdicts["jepsen/etcd_095.log"] = True  # empty: no test upstream, trivially linearizable
    return verdicts


EXPECTED = _expected()


def test_the_corpus_is_complete():
    assert len(EXPECTED) == 109
    assert sorted(EXPECTED) == sorted(str(p.relative_to(DATA)) for p in DATA.glob("*/*") if p.suffix in (".log", ".txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_verdict(name):
    etcd = name.startswith("jepsen/")
    history = load(DATA / name, "porcupine-etcd" if etcd else "porcupine-kv")
    result = LinearizabilityChecker("etcd" if etcd else "string-kv", timeout=60).check(history)
    assert result["valid"] is EXPECTED[name]
    if not EXPECTED[name]:
        assert result["failures"] and all(f["stuck"] for f in result["failures"])
