"""`raft-jepsen serve`: browse a store's runs and reports over HTTP (`raft_jepsen.reports.serve`)."""

from __future__ import annotations

import argparse
import sys

from raft_jepsen.reports.serve import is_loopback, make_server

HELP = "serve a store's runs and reports over HTTP"
EPILOG = """examples:
  raft-jepsen serve                         # http://127.0.0.1:8080/ for ./store
  raft-jepsen serve --store /srv/rj --port 9000
  raft-jepsen serve --host 0.0.0.0          # reachable from other machines: think first"""



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default="store", metavar="DIR", help="the store folder (default: ./store)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; any other is reachable from other machines)")


def main(args: argparse.Namespace) -> int:
    server = make_server(args.store, args.host, args.port)
    host, port = server.server_address[:2]
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can read the store's "
              "node logs, configs and histories", file=sys.stderr)
    print(f"serving {args.store} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
