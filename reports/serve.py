"""`raft-jepsen serve`: browse a store over HTTP, the way `lein run serve` browses Jepsen's.

`/` is the index of runs (rendered on each request, so a run that just finished is there; a run
whose results cannot be read is listed as such, the others still are); everything else is a
static file or a folder listing from inside the store, by the standard library's file handler
(streamed, never read whole into memory). A path never leaves the store: `..` segments are
refused, and whatever a path resolves to (symlinks included) must be inside the store's real
path, otherwise 403; a symlink loop or an over-long path is a 4xx, never a dropped connection.

It listens on 127.0.0.1 unless told otherwise, because a store holds node logs and configs that
are nobody else's business. Bounded: a connection idle for `IDLE_TIMEOUT_S` is closed, and at
most `MAX_CONNECTIONS` are served at once (more get 503 at once).
"""

from __future__ import annotations

import io
import ipaddress
import socket
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from raft_jepsen.harness.errors import EnvironmentProblem, RaftJepsenError, UsageError
from raft_jepsen.reports.index import render_index

IDLE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32
MAX_PATH = 1024  # characters of a URL path; no file of a store is named anything like that long
# text the browser should show rather than download
_TEXT = {".log": "text/plain", ".jsonl": "text/plain", ".yaml": "text/plain", ".edn": "text/plain",
         ".json": "application/json", ".xml": "application/xml"}


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) listens on this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(store: str | Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    root = Path(store)
    if not root.is_dir():
        raise UsageError(f"{store}: no such store folder")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be between 0 and 65535")
    if not host.strip():  # '' would mean every interface: that must be said, not implied
        raise UsageError("--host: empty; give an address (127.0.0.1, or 0.0.0.0 for every interface)")
    try:
        return _BoundedServer((host, port), partial(StoreHandler, directory=str(root.resolve())))
    except (OSError, UnicodeError) as e:
        raise EnvironmentProblem(f"cannot listen on {host[:60]}:{port} ({getattr(e, 'strerror', None) or e})") from None


class _BoundedServer(ThreadingHTTPServer):
    """One thread per connection, at most MAX_CONNECTIONS of them."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in args[0][0]:
            self.address_family = socket.AF_INET6
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class StoreHandler(SimpleHTTPRequestHandler):
    server_version = "raft-jepsen"
    timeout = IDLE_TIMEOUT_S  # on the socket: an idle or slow client is dropped, its thread freed
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **_TEXT}

    def send_head(self):
        url_path = unquote(urlsplit(self.path).path)
        if len(url_path) > MAX_PATH:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return None
        if url_path in ("/", "/index.html"):
            try:
                body = render_index(self.directory).encode()
            except RaftJepsenError as e:
                self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, str(e)[:200])
                return None
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        try:
            self._target = self._resolve(url_path)
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError), a name too long for the OS
            self.send_error(HTTPStatus.NOT_FOUND, "cannot be resolved")
            return None
        if self._target is None:
            self.send_error(HTTPStatus.FORBIDDEN, "outside the store")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        return str(self._target)  # send_head's: checked to be inside the store

    def _resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside the store, or None if it would leave the store."""
        if "\0" in url_path or "\\" in url_path:
            return None
        segments = url_path.split("/")
        if ".." in segments or not url_path.startswith("/"):
            return None
        root = Path(self.directory)
        real = root.joinpath(*(s for s in segments if s not in ("", "."))).resolve()  # follows symlinks
        return real if real == root or real.is_relative_to(root) else None

    def guess_type(self, path) -> str:
        kind = super().guess_type(path)
        return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith(("json", "xml")) else kind

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")
