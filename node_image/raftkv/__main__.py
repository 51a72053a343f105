"""raftkv: one Raft key-value node per process.

    python3 -m raftkv --id n1 --peers n1=n1:7000,n2=n2:7000,n3=n3:7000 --data /var/lib/raftkv \\
        --client-port 8000 [--bind 0.0.0.0] [--bug NAME]... [--simulate-page-cache] \\
        [--election-timeout-ms 300] [--heartbeat-ms 50] [--snapshot-every N] [--join] \\
        [--test-control]

Exit status 2 with one line on stderr for bad flags; 1 when the node cannot start (port taken,
data directory unusable); 70 after a fatal error at run time (logged as a `fatal` event).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from .bugs import BUGS, Bugs
from .disk import open_disk
from .events import emit
from .node import Node, Options
from .server import ClientServer
from .storage import Storage, VolatileStorage
from .transport import Transport, split_addr

LAZY_FSYNC_INTERVAL = 0.1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        sys.stderr.write(f"raftkv: {message}\n")
        sys.exit(2)


def _peers(text: str) -> dict[str, str]:
    peers = {}
    for item in text.split(","):
        name, sep, addr = item.partition("=")
        try:
            split_addr(addr)
        except ValueError:
            sep = ""
        if not (name and sep and addr):
            raise argparse.ArgumentTypeError(f"bad peer {item!r}: want ID=HOST:PORT")
        peers[name] = addr
    return peers


def _bug(name: str) -> str:
    try:
        Bugs.parse([name])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return name


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="python3 -m raftkv", description="A Raft key-value node.")
    p.add_argument("--id", required=True)
    p.add_argument("--peers", required=True, type=_peers,
                   help="initial configuration with Raft addresses: n1=HOST:PORT,n2=HOST:PORT,...")
    p.add_argument("--data", required=True, help="data directory")
    p.add_argument("--client-port", required=True, type=int)
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--bug", action="append", default=[], type=_bug, metavar="NAME",
                   help="reproduce a reference design's flaw (repeatable): "
                        + "; ".join(f"{name}: {what}" for name, what in BUGS.items()))
    p.add_argument("--simulate-page-cache", action="store_true",
                   help="keep unsynced writes in memory, so kill -9 acts as a power cut")
    p.add_argument("--election-timeout-ms", type=int, default=300)
    p.add_argument("--heartbeat-ms", type=int, default=50)
    p.add_argument("--snapshot-every", type=int, default=10000, metavar="N",
                   help="snapshot after N applied entries (0: never)")
    p.add_argument("--join", action="store_true",
                   help="start outside the configuration and wait to be added")
    p.add_argument("--test-control", action="store_true",
                   help="test only: enable the drop and inspect ops")
    args = p.parse_args(argv)
    if args.id not in args.peers:
        p.error(f"--peers must name this node ({args.id}) with its Raft address")
    if args.election_timeout_ms <= 0 or args.heartbeat_ms <= 0 or args.snapshot_every < 0:
        p.error("timeouts must be positive and --snapshot-every not negative")
    return args


async def _lazy_fsync(node: Node) -> None:
    while True:
        await asyncio.sleep(LAZY_FSYNC_INTERVAL)
        node.background_sync()


def _fail_stop(node_id: str):
    """An exception escaping a callback (a failed fsync, a bug) leaves Raft state half-updated:
    stop the process, as a crash would, rather than keep going."""
    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        if isinstance(error, (ConnectionError, asyncio.CancelledError)):
            return  # a peer or client went away mid-write, or shutdown cancelled a handler
        emit(node_id, "fatal", message=context.get("message"), error=repr(error))
        os._exit(70)
    return handler


async def serve(args: argparse.Namespace) -> None:
    asyncio.get_running_loop().set_exception_handler(_fail_stop(args.id))
    bugs = Bugs.parse(args.bug)
    if bugs.volatile_state:
        storage = VolatileStorage()
    else:
        disk = open_disk(args.data, args.simulate_page_cache)
        storage = Storage(disk, args.id, lazy=bugs.lazy_fsync)
    opts = Options(id=args.id, peers=args.peers, election_timeout=args.election_timeout_ms / 1000,
                   heartbeat=args.heartbeat_ms / 1000, snapshot_every=args.snapshot_every,
                   join=args.join, bugs=bugs)
    transport = Transport(args.id)
    node = Node(opts, storage, transport)
    transport.on_message = node.handle
    await transport.start(args.bind, split_addr(args.peers[args.id])[1])
    await ClientServer(node, transport, args.test_control).start(args.bind, args.client_port)
    emit(args.id, "listening", raft=args.peers[args.id], client_port=args.client_port)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    if bugs.lazy_fsync:
        asyncio.get_running_loop().create_task(_lazy_fsync(node))
    await stop
    node.background_sync()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(serve(args))
    except OSError as e:
        sys.stderr.write(f"raftkv: cannot start: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
