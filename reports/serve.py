"""`raft-jepsen serve`: browse a store over HTTP, the way `lein run serve` browses Jepsen's.

`/` is the index of runs (rendered on each request, so a run that just finished is there);
everything else is a static file or a folder listing from inside the store. A path never leaves
the store: `..` segments are refused, and whatever a path resolves to (symlinks included) must be
inside the store's real path, otherwise 403. It listens on 127.0.0.1 unless told otherwise,
because a store holds node logs and configs that are nobody else's business.
"""

from __future__ import annotations

import html
import mimetypes
import posixpath
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from raft_jepsen.harness.errors import EnvironmentProblem, RaftJepsenError, UsageError
from raft_jepsen.reports.index import render_index

# text the browser should show rather than download
_TEXT = {".log": "text/plain", ".jsonl": "text/plain", ".yaml": "text/plain", ".edn": "text/plain",
         ".json": "application/json", ".xml": "application/xml"}


def make_server(store: str | Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    root = Path(store)
    if not root.is_dir():
        raise UsageError(f"{store}: no such store folder")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be between 0 and 65535")
    try:
        return ThreadingHTTPServer((host, port), partial(StoreHandler, root.resolve()))
    except OSError as e:
        raise EnvironmentProblem(f"cannot listen on {host}:{port} ({e.strerror})") from None


class StoreHandler(BaseHTTPRequestHandler):
    server_version = "raft-jepsen"

    def __init__(self, root: Path, *args, **kwargs):
        self.root = root
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _respond(self, send_body: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        if url_path in ("/", "/index.html"):
            try:
                body = render_index(self.root).encode()
            except RaftJepsenError as e:
                return self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, str(e))
            return self._send(body, "text/html; charset=utf-8", send_body)
        target = self._resolve(url_path)
        if target is None:
            return self.send_error(HTTPStatus.FORBIDDEN, "outside the store")
        if not target.exists():
            return self.send_error(HTTPStatus.NOT_FOUND)
        if target.is_dir():
            if not url_path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", quote(url_path) + "/")
                self.send_header("Content-Length", "0")
                return self.end_headers()
            return self._send(self._listing(url_path, target), "text/html; charset=utf-8", send_body)
        try:
            body = target.read_bytes()
        except OSError:
            return self.send_error(HTTPStatus.FORBIDDEN, "unreadable")
        return self._send(body, _content_type(target), send_body)

    def _resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside the store, or None if it would leave the store."""
        if "\0" in url_path or "\\" in url_path:
            return None
        segments = url_path.split("/")
        if ".." in segments or not url_path.startswith("/"):
            return None
        target = self.root.joinpath(*(s for s in segments if s not in ("", ".")))
        real = target.resolve()  # follows symlinks: a link inside the store may point anywhere
        return real if real == self.root or real.is_relative_to(self.root) else None

    def _listing(self, url_path: str, folder: Path) -> bytes:
        items = []
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            name = child.name + ("/" if child.is_dir() else "")
            items.append(f'<li><a href="{html.escape(quote(name))}">{html.escape(name)}</a></li>')
        parent = "" if url_path == "/" else '<li><a href="../">../</a></li>'
        title = html.escape(posixpath.normpath(url_path))
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
                f'<body style="font-family: system-ui, sans-serif"><h1>{title}</h1>'
                f'<p><a href="/">all runs</a></p><ul>{parent}{"".join(items)}</ul></body></html>').encode()

    def _send(self, body: bytes, content_type: str, send_body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def _content_type(path: Path) -> str:
    kind = _TEXT.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith(("json", "xml")) else kind
