"""`python -m tests.emulator --host 127.0.0.1 [--host GW] --port P [--port-file F]`

One WSGI app (moto + our extension behind admin.EmulatorApp) served on every given address, same port.
"""

# moto is imported inside functions so that argument errors are instant and the sockets listen
# before the slow moto imports finish (see StartingApp).
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading

WILDCARDS = {"0.0.0.0", "::", "", "*"}  # noqa: S104 - listed only to refuse them


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--host", action="append", required=True, help="address to bind; repeatable; never 0.0.0.0")
    parser.add_argument("--port", type=int, required=True, help="TCP port, 0 picks a free one")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument(
        "--credential",
        action="append",
        metavar="ACCESS_KEY:SECRET",
        help="an operator key whose HMAC signatures are accepted; repeatable (default: testing:testing)",
    )
    args = parser.parse_args(argv)
    for credential in args.credential or []:
        key, _, secret = credential.partition(":")
        if not key or not secret:
            parser.error(f"--credential must be ACCESS_KEY:SECRET, got {credential!r}")
    for host in args.host:
        if host in WILDCARDS:
            parser.error(f"refusing to bind the wildcard address {host!r}; give explicit addresses")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            parser.error(f"--host must be an IP address, got {host!r}")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0-65535")
    return args


def build_app(operator_credentials: dict[str, str] | None = None):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.moto_server.werkzeug_app import create_backend_app

    from . import install
    from . import signatures
    from .admin import EmulatorApp

    install()
    if operator_credentials:
        signatures.set_operator_credentials(operator_credentials)
    return EmulatorApp(DomainDispatcherApplication(create_backend_app))


class StartingApp:
    """Serves as soon as the sockets listen; API calls wait until the extension is installed.

    Importing moto's ECS models (which pull in all of moto.ec2) takes seconds on a busy machine;
    moto's own server defers that to the first ECS request too. Only the readiness probe
    `GET /moto-api/` is answered before the patches are in; everything else waits for them.
    """

    def __init__(self, operator_credentials: dict[str, str] | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication
        from moto.moto_server.werkzeug_app import create_backend_app

        self.probe_app = DomainDispatcherApplication(create_backend_app)
        self.ready = threading.Event()
        self.app = None
        self.operator_credentials = operator_credentials

    def install(self) -> None:
        from . import EmulatorIncompatible

        try:
            self.app = build_app(self.operator_credentials)
        except EmulatorIncompatible as exc:
            print(f"emulator self-check failed: {exc}", file=sys.stderr, flush=True)
            os._exit(3)  # fail loudly: the process disappears, the harness sees exit status 3
        self.ready.set()

    def __call__(self, environ: dict, start_response):
        if environ.get("PATH_INFO") == "/moto-api/" and environ.get("REQUEST_METHOD") == "GET":
            return self.probe_app(environ, start_response)
        if not self.ready.wait(timeout=120):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"emulator is still starting"]
        return self.app(environ, start_response)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    app = StartingApp(dict(c.split(":", 1) for c in args.credential or []) or None)
    installer = threading.Thread(target=app.install, name="emu-install", daemon=True)
    installer.start()
    servers = []
    port = args.port
    try:
        for host in args.host:
            server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
            # Don't let idle keep-alive connections hold up SIGTERM.
            server.daemon_threads = True
            server.block_on_close = False
            port = server.server_port  # port 0 on the first host: reuse the chosen port for the others
            servers.append(server)
    except OSError as exc:
        print(f"emulator cannot bind {host}:{port}: {exc}", file=sys.stderr)
        for server in servers:
            server.server_close()
        return 2
    # moto builds some self-referencing URLs from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    # AWS accounts have the managed policies (AmazonSSMManagedInstanceCore, ...) that the ECS Anywhere role attaches.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    threads = [threading.Thread(target=s.serve_forever, name=f"emu-{s.host}", daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{port}\n")
        os.replace(tmp, args.port_file)  # readers never see a half-written file
    print(f"emulator listening on {', '.join(f'{h}:{port}' for h in args.host)}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Sockets are closed and nothing is persisted; skip the interpreter's slow teardown of moto's
    # object graph (seconds on a busy machine) so SIGTERM stops the process promptly.
    os._exit(status)
