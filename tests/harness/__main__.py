"""CLI of the harness: `python -m tests.harness up|down|show --name NAME`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from tests import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create the network, start the emulator and the mirror, and optional hosts")
    up.add_argument("--name", required=True)
    up.add_argument("--hosts", type=int, default=0)
    up.add_argument("--image", default="debian12")
    up.add_argument("--host-prefix")
    down = sub.add_parser("down", help="stop and remove everything the named world started")
    down.add_argument("--name", required=True)
    show = sub.add_parser("show", help="print the named world (json, or shell exports with --format env)")
    show.add_argument("--name", required=True)
    show.add_argument("--format", choices=["json", "env"], default="json")
    args = parser.parse_args(argv)

    if args.command == "up":
        world = harness.up(args.name, hosts=args.hosts, image=args.image, host_prefix=args.host_prefix)
        print(json.dumps(world.describe(), indent=2))
    elif args.command == "down":
        harness.down(args.name)
    else:
        world = harness.load(args.name)
        if world is None:
            print(f"no world named {args.name} is up", file=sys.stderr)
            return 1
        if args.format == "json":
            print(json.dumps(world.describe(), indent=2))
        else:
            exports = {
                **world.controller_env(),
                "ECSA_NETWORK": world.network,
                "ECSA_GATEWAY": world.gateway,
                "ECSA_EMULATOR_FOR_HOSTS": world.emulator_for_hosts,
                "ECSA_MIRROR_FOR_HOSTS": world.mirror_for_hosts,
                "ECSA_EMULATOR_LOCAL": world.emulator_local,
                "ECSA_MIRROR_LOCAL": world.mirror_local,
                "ECSA_SIGNING_KEY": str(world.signing_key),
            }
            for key, value in exports.items():
                print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
