"""serve: the run index and the store's files, and never anything outside the store."""

import argparse
import http.client
import os
import threading

import pytest

from raft_jepsen.harness.cli import serve
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.reports.serve import make_server
from tests.unit.run_fixtures import make_run


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def served(outside):
    tmp_path = outside
    store = tmp_path / "store"
    make_run(store, n_ops=200, started="20261123T150211", seed=7)
    make_run(store, n_ops=200, started="20261123T160000", seed=8, valid=False)
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    os.symlink(tmp_path / "secret.txt", store / "link-out.txt")
    os.symlink(tmp_path, store / "dir-out")
    (store / "raftkv-register" / "notes.txt").write_text("inside")
    os.symlink(store / "raftkv-register" / "notes.txt", store / "link-in.txt")
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)  # http.client sends the path as given: no client-side normalising
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_index_lists_runs_newest_first(served):
    status, body = _get(served, "/")
    assert status == 200
    html = body.decode()
    assert html.index("2026-11-23T16:00:00Z") < html.index("2026-11-23T15:02:11Z")
    assert 'href="raftkv-register/20261123T160000/"' in html


def test_serves_files_and_folders_of_the_store(served):
    status, body = _get(served, "/raftkv-register/20261123T150211/nodes/n1/node.log")
    assert status == 200 and b'"event": "role"' in body
    status, body = _get(served, "/raftkv-register/20261123T150211/nodes/")
    assert status == 200 and b'href="n1/"' in body
    assert _get(served, "/link-in.txt") == (200, b"inside")
    assert _get(served, "/raftkv-register/nope")[0] == 404


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/raftkv-register/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
    "/link-out.txt", "/dir-out/secret.txt", "/dir-out/", "..\\secret.txt", "/..\\secret.txt",
])
def test_refuses_paths_outside_the_store(served, path):
    status, body = _get(served, path)
    assert status in (403, 404)
    assert b"TOP-SECRET" not in body


def test_absolute_paths_stay_inside_the_store(served, outside):
    assert _get(served, str(outside / "secret.txt"))[0] == 404
    assert _get(served, "//" + str(outside / "secret.txt").lstrip("/"))[0] == 404


def test_binds_to_loopback_by_default():
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.store) == ("127.0.0.1", 8080, "store")


def test_refuses_a_missing_store(tmp_path):
    with pytest.raises(UsageError, match="no such store folder"):
        make_server(tmp_path / "nope", "127.0.0.1", 0)
