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


# --- hardening (issue 13) ------------------------------------------------------------------------

import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from raft_jepsen.reports import serve as serve_module  # noqa: E402


@pytest.fixture
def hardened(tmp_path, monkeypatch):
    store = tmp_path / "store"
    make_run(store, n_ops=50, started="20261123T150211", seed=7)
    broken = make_run(store, n_ops=50, started="20261123T160000", seed=8)
    (broken / "results.json").write_text('{"schema": 1, "valid": true, "duration_s": ' + "9" * 5000 + "}")
    deep = make_run(store, n_ops=50, started="20261123T170000", seed=9)
    (deep / "results.json").write_text(json.dumps({"schema": 1, "valid": True}).replace("}", ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}"))
    os.symlink(store / "loop", store / "loop")
    monkeypatch.setattr(serve_module, "IDLE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(serve_module.StoreHandler, "timeout", 0.5)
    monkeypatch.setattr(serve_module, "MAX_CONNECTIONS", 4)
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_corrupt_run_is_listed_as_broken_and_the_rest_still_list(hardened):
    status, body = _get(hardened, "/")
    html = body.decode()
    assert status == 200
    assert html.count("unreadable") >= 2 and "2026-11-23T15:02:11Z" in html


@pytest.mark.parametrize("path, codes", [
    ("/loop", (403, 404)), ("/loop/x", (403, 404)), ("/" + "a" * 2000, (414,)), ("/" + "a" * 300, (404,)),
    ("/" + "/".join(["a" * 200] * 4), (404,)),
])
def test_loops_and_long_paths_get_a_4xx(hardened, path, codes):
    assert _get(hardened, path)[0] in codes


def test_idle_connections_time_out_and_threads_are_bounded(hardened):
    idle = [socket.create_connection(("127.0.0.1", hardened)) for _ in range(4)]
    time.sleep(0.1)
    extra = socket.create_connection(("127.0.0.1", hardened))  # over the bound: 503 at once
    extra.settimeout(5)
    assert extra.recv(100).startswith(b"HTTP/1.0 503")
    extra.close()
    for s in idle:  # the server closes each idle connection after its timeout
        s.settimeout(5)
        assert s.recv(100) == b""
        s.close()
    time.sleep(0.2)
    assert _get(hardened, "/")[0] == 200  # slots freed


def test_host_empty_is_refused_and_non_loopback_warned(tmp_path, capsys, monkeypatch):
    (tmp_path / "store").mkdir()
    with pytest.raises(UsageError, match="--host: empty"):
        make_server(tmp_path / "store", "", 0)
    assert serve_module.is_loopback("127.0.0.1") and serve_module.is_loopback("::1") and serve_module.is_loopback("localhost")
    assert not serve_module.is_loopback("0.0.0.0") and not serve_module.is_loopback("192.0.2.1")
    from raft_jepsen.harness import cli

    def serve_forever(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(serve_module._BoundedServer, "serve_forever", serve_forever)
    assert cli.main(["serve", "--store", str(tmp_path / "store"), "--port", "0", "--host", "0.0.0.0"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert cli.main(["serve", "--store", str(tmp_path / "store"), "--port", "0"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert cli.main(["serve", "--store", str(tmp_path / "store"), "--host", ""]) == 3
