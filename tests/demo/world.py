"""The demo's offline world: reuse it when it is up and healthy, create it otherwise.

python -m tests.demo.world ensure --name demo --hosts 3 --host-prefix demo-host
python -m tests.demo.world env --name demo        # shell exports for the controller
python -m tests.demo.world stats --name demo      # the emulator's call counters (JSON)
python -m tests.demo.world summary --name demo    # what the emulator holds
python -m tests.demo.world down --name demo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

from tests import harness


def healthy(world: harness.World, hosts: int) -> bool:
    if len(world.hosts) != hosts:
        return False
    for url in (f"{world.emulator_local}/moto-api/", f"{world.mirror_local}/fleet-test-signing-key.asc"):
        try:
            with urllib.request.urlopen(url, timeout=3):
                pass
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
    running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", *world.hosts],
                             text=True, capture_output=True, check=False)  # fmt: skip
    return running.returncode == 0 and set(running.stdout.split()) == {"true"}


def ensure(name: str, hosts: int, host_prefix: str | None) -> tuple[harness.World, bool]:
    """:return: the world and whether it was reused."""
    world = harness.load(name)
    if world is not None and healthy(world, hosts):
        return world, True
    # AWS managed policies exist in moto only when asked for; the emulator inherits this environment.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    world = harness.up(name, hosts=hosts, host_prefix=host_prefix)
    return world, False


def summary(world: harness.World) -> dict:
    state = harness.emulator(world, "GET", "/_emu/state")
    instances = [mi for region in state["ssm"] for mi in region["instances"]]
    cis = [ci for cluster in state["ecs"] for ci in cluster["containerInstances"]]
    return {
        "managed_instances": sorted(mi["InstanceId"] for mi in instances),
        "active_container_instances": sum(1 for ci in cis if ci.get("status") == "ACTIVE"),
        "activations": len([a for region in state["ssm"] for a in region["activations"]]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["ensure", "env", "stats", "summary", "down"])
    parser.add_argument("--name", default="demo")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--host-prefix")
    args = parser.parse_args()

    if args.command == "down":
        harness.down(args.name)
        return 0
    if args.command == "ensure":
        world, reused = ensure(args.name, args.hosts, args.host_prefix)
        print(f"world {world.name}: {'reused' if reused else 'created'} ({', '.join(world.hosts)})")
        return 0
    world = harness.load(args.name)
    if world is None:
        print(f"no world named {args.name} is up", file=sys.stderr)
        return 1
    if args.command == "env":
        for key, value in world.controller_env().items():
            print(f"export {key}={shlex.quote(value)}")
    elif args.command == "stats":
        print(json.dumps(harness.emulator(world, "GET", "/_emu/stats")))
    else:
        with contextlib.suppress(BrokenPipeError):
            print(json.dumps(summary(world)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
