"""Static HTTP server for the signed package mirror (stands in for AWS's S3 buckets).

    python -m tests.agents.mirror --host 127.0.0.1 [--host GW] --port P --root build/mirror [--overlay DIR]
                                  [--port-file F]

Binds only the given addresses (0.0.0.0 / :: are refused), threaded, GET and HEAD, logs every request
to stderr, exits cleanly on SIGTERM/SIGINT. With ``--port 0`` the first host picks a free port and the
other hosts reuse it; the port is written to ``--port-file`` once every socket listens.

A file under ``--overlay`` is served in place of the root's file at the same path: a test publishes a new
release there (as AWS replaces ``latest`` in its buckets) without touching the tree other worlds serve.
"""

import argparse
import functools
import http.server
import ipaddress
import os
import signal
import socket
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "fleet-test-mirror/1"
    extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map, **{
        ".deb": "application/vnd.debian.binary-package", ".asc": "text/plain", ".sig": "application/pgp-signature",
        ".fpr": "text/plain"})

    def __init__(self, *args, overlay=None, **kwargs):
        self.overlay = overlay
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        served = super().translate_path(path)
        if self.overlay:
            published = os.path.join(self.overlay, os.path.relpath(served, self.directory))
            if os.path.isfile(published):
                return published
        return served

    def list_directory(self, path):  # S3 does not list buckets over plain GET of a prefix
        self.send_error(404, "Not Found")

    def log_message(self, fmt, *args):
        host, port = self.server.server_address[:2]
        sys.stderr.write(f"mirror {host}:{port} {self.address_string()} - {fmt % args}\n")
        sys.stderr.flush()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port, handler):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), handler)


def check_host(host):
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit(f"mirror: --host must be an IP address, got {host!r}") from None
    if addr.is_unspecified:
        raise SystemExit(f"mirror: refusing to bind {host} (bind 127.0.0.1 and the test network's gateway only)")
    return host


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.agents.mirror", description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="append", required=True, type=check_host,
                        help="address to bind (repeatable); never 0.0.0.0")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", required=True, help="directory to serve (build/mirror)")
    parser.add_argument("--overlay", help="directory whose files are served in place of the root's")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        parser.error(f"--root {root} is not a directory (run make agents)")
    overlay = os.path.abspath(args.overlay) if args.overlay else None
    if overlay and not os.path.isdir(overlay):
        parser.error(f"--overlay {overlay} is not a directory")
    handler = functools.partial(Handler, directory=root, overlay=overlay)
    servers, port = [], args.port
    try:
        for host in args.host:
            server = Server(host, port, handler)
            port = server.server_address[1]
            servers.append(server)
    except OSError as exc:
        for server in servers:
            server.server_close()
        raise SystemExit(f"mirror: cannot bind {host}:{port}: {exc}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    sys.stderr.write(f"mirror: serving {root} on {', '.join(args.host)} port {port}\n")
    sys.stderr.flush()
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    sys.stderr.write("mirror: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
