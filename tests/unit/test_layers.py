"""The layers of docs/architecture.md, as import-linter contracts in pyproject.toml: kept by the
code, covering every module, and able to fail (an import added against the layers breaks them)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


@pytest.fixture
def graph():
    return grimp.build_graph(*CONFIG["root_packages"], cache_dir=None)


def layers_contract() -> LayersContract:
    (options,) = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    return LayersContract(name=options["name"], session_options={"root_packages": CONFIG["root_packages"]},
                          contract_options={"layers": options["layers"]})


def layer_modules() -> list[str]:
    return [m.strip() for layer in layers_contract().contract_options["layers"] for m in layer.replace(":", "|").split("|")]


def test_lint_imports_keeps_every_contract():
    done = subprocess.run([sys.executable, "-m", "importlinter.cli", "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_every_module_sits_in_a_layer(graph):
    """A module outside every layer would be unconstrained: its imports could point anywhere."""
    declared = layer_modules()
    packages = {root for root in CONFIG["root_packages"]}
    loose = sorted(m for m in graph.modules
                   if m not in packages and not any(m == d or m.startswith(d + ".") for d in declared))
    assert loose == []


@pytest.mark.parametrize("importer, imported", [
    ("raft_jepsen.harness.history", "raft_jepsen.harness.nemesis.package"),  # the vocabulary reaching up
    ("raft_jepsen.checkers.linearizable", "raft_jepsen.harness.runner"),
    ("raft_jepsen.harness.runner", "raft_jepsen.reports.html"),  # the runner writing reports again
    ("raft_jepsen.harness.systems.raftkv", "raft_jepsen.workloads.register"),
])
def test_an_import_against_the_layers_breaks_the_contract(graph, importer, imported):
    assert layers_contract().check(graph, verbose=False).kept
    graph.add_import(importer=importer, imported=imported)
    assert not layers_contract().check(graph, verbose=False).kept
