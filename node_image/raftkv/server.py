"""The client API: JSON lines over TCP (reference: node_image/README.md).

Each request line is handled in its own task, so many requests can be in flight on one
connection; replies carry the request's `id` and may come back in any order. A request that
cannot be parsed or validated gets a `bad-request` reply and the connection stays open.
Waiting for a commit is bounded by `REQUEST_TIMEOUT`: the reply is then a non-definite
`timeout`, because the command may still commit later.
"""

from __future__ import annotations

import asyncio
import json

from .node import COMMAND_OPS, Node, Refusal

REQUEST_TIMEOUT = 2.0
MAX_REQUEST = 16 * 1024 * 1024
KEY_OPS = ("read",) + COMMAND_OPS
ADMIN_OPS = ("status", "add", "remove", "transfer")
TEST_OPS = ("drop", "inspect")


class BadRequest(Exception):
    pass


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_addr(x) -> bool:
    host, sep, port = x.rpartition(":") if isinstance(x, str) else ("", "", "")
    return bool(host and sep and port.isdigit() and 0 < int(port) < 65536)


def validate(req, test_control: bool) -> None:
    """Raise BadRequest naming the first problem with a parsed request."""
    if not isinstance(req, dict):
        raise BadRequest("a request is a JSON object")
    op = req.get("op")
    allowed = KEY_OPS + ADMIN_OPS + (TEST_OPS if test_control else ())
    if op not in allowed:
        raise BadRequest(f"unknown op {op!r}")
    client, seq = req.get("client"), req.get("seq")
    if client is not None and not isinstance(client, str) or seq is not None and not _is_int(seq):
        raise BadRequest("client must be a string and seq an integer")
    value = req.get("value")
    if op in KEY_OPS and not isinstance(req.get("key"), str):
        raise BadRequest(f"{op} needs a string key")
    if op == "cas" and not (isinstance(value, list) and len(value) == 2):
        raise BadRequest("cas needs value [expected, new]")
    if op == "incr" and not _is_int(value):
        raise BadRequest("incr needs an integer value")
    if op == "add" and not (isinstance(value, dict) and isinstance(value.get("id"), str)
                            and _is_addr(value.get("addr"))):
        raise BadRequest('add needs value {"id": "n4", "addr": "HOST:PORT"}')
    if op in ("remove", "transfer") and not isinstance(value, str):
        raise BadRequest(f"{op} needs a node id as value")
    if op == "drop" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise BadRequest("drop needs a list of node ids")


class ClientServer:
    def __init__(self, node: Node, transport, test_control: bool):
        self.node = node
        self.transport = transport
        self.test_control = test_control

    async def start(self, bind: str, port: int) -> None:
        await asyncio.start_server(self._serve, bind, port, limit=MAX_REQUEST)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks = set()
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_REQUEST; the reader skipped it
                    self._write(writer, {"id": None, **Refusal("bad-request", True).reply})
                    continue
                if not line:
                    break
                task = asyncio.create_task(self._answer(line, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (OSError, ConnectionError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    async def _answer(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        req_id = None
        try:
            try:
                req = json.loads(line)
                if isinstance(req, dict):
                    req_id = req.get("id")
                validate(req, self.test_control)
            except (ValueError, RecursionError, BadRequest) as e:
                raise Refusal("bad-request", True, message=str(e)) from None
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reply = await self._dispatch(req)
        except Refusal as r:
            reply = r.reply
        except asyncio.TimeoutError:
            reply = Refusal("timeout", False).reply
        self._write(writer, {"id": req_id, **reply})
        try:
            await writer.drain()
        except (OSError, ConnectionError):
            pass  # the client went away; nothing to tell it

    def _write(self, writer: asyncio.StreamWriter, reply: dict) -> None:
        if not writer.is_closing():
            writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")

    async def _dispatch(self, req: dict) -> dict:
        op, value = req["op"], req.get("value")
        node = self.node
        if op == "read":
            return await node.read(req["key"])
        if op in COMMAND_OPS:
            cmd = {"op": op, "key": req["key"], "value": value}
            if req.get("client") is not None and req.get("seq") is not None:
                cmd.update(client=req["client"], seq=req["seq"])
            return await node.command(cmd)
        if op == "status":
            return {"ok": True, **node.status(digest=req.get("digest") is True, terms=req.get("terms") is True)}
        if op == "add":
            return await node.add(value["id"], value["addr"])
        if op == "remove":
            return await node.remove(value)
        if op == "transfer":
            return await node.transfer(value)
        if op == "drop":
            self.transport.drop = set(value)
            return {"ok": True, "value": sorted(value)}
        return {"ok": True, **node.inspect()}  # inspect
