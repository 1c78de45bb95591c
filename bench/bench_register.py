"""Benchmark of fleet.ecs_anywhere.register for 1, 2 and 4 fresh hosts against the offline world.

For each batch size: wall time of `ansible-playbook fleet.ecs_anywhere.register --limit <fresh hosts>` and the AWS
calls it caused, counted by the emulator (/_emu/stats). Goals: 4 hosts in at most 2x the time of one host; exactly
one CreateActivation and one DeleteActivation per run; no per-host tag or attribute call (they are set at
registration: activation tags, ECS_INSTANCE_ATTRIBUTES, ECS_CONTAINER_INSTANCE_TAGS).

    .venv/bin/python -m bench.bench_register [--sizes 1 2 4] [--repeat N] [--out build/bench/register.json] [--keep]

All batches share one world with sum(sizes) identical hosts, so every run registers hosts that are fresh; each
further round (--repeat) replaces them with new containers of the same names. The sizes take turns (1, 2, 4, 1, 2,
4, ...) so that a slow spell of a shared machine falls on all of them, and the ratio is judged on the median of the
rounds' ratios; every run is in the output.

Each run records the machine's load (busy cores over 3 s) just before it starts: the hosts of earlier runs of the
round stay up with their agents running, and this shows what they cost (4 registered idle hosts: 0.03 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.callbacks.task_cpu import machine_busy_seconds
from tests import harness
from tests.e2e.conftest import Fleet
from tests.e2e.conftest import diff_stats
from tests.e2e.conftest import world_down
from tests.e2e.conftest import world_up
from tests.e2e.conftest import write_calls

PER_HOST_TAGGING = ("ecs:PutAttributes", "ecs:DeleteAttributes", "ecs:TagResource", "ssm:AddTagsToResource")


def busy_cores(seconds: float = 3.0) -> float:
    """Cores the whole machine kept busy over the next `seconds`."""
    start = machine_busy_seconds()
    time.sleep(seconds)
    return round((machine_busy_seconds() - start) / seconds, 2)


def bench(sizes: list[int], name: str, keep: bool, repeat: int = 1) -> dict:
    world = world_up(name, hosts=sum(sizes))
    try:
        fleet = Fleet(world, Path(tempfile.mkdtemp(prefix="bench-register-")), cluster="bench")
        prereq = fleet.run("prerequisites")
        if prereq.rc != 0:
            raise SystemExit(f"prerequisites failed:\n{prereq.output[-4000:]}")
        results = []
        offset = 0
        for round_number, size in ((r, size) for r in range(1, repeat + 1) for size in sizes):
            if offset == len(world.hosts):
                # Fresh hosts for the next round (a host per run of every round would run into the machine's
                # limits: systemd in the 27th container of a world did not come up).
                for host in world.hosts:
                    harness.start_host(world, host)
                for host in world.hosts:
                    harness.wait_systemd(host)
                offset = 0
            hosts = world.hosts[offset : offset + size]
            offset += size
            background = busy_cores()
            before = fleet.stats()
            start = time.monotonic()
            run = fleet.run("register", limit=",".join(hosts))
            seconds = time.monotonic() - start
            calls = diff_stats(before, fleet.stats())
            writes = write_calls(calls)
            entries = fleet.entries()
            results.append(
                {
                    "round": round_number,
                    "hosts": size,
                    "rc": run.rc,
                    "wall_seconds": round(seconds, 1),
                    "background_busy_cores": background,
                    "registered_active": sum(
                        1
                        for h in hosts
                        if entries.get(h, {}).get("status") == "ACTIVE" and entries[h]["agent_connected"]
                    ),
                    "create_activation": calls.get("ssm:CreateActivation", 0),
                    "delete_activation": calls.get("ssm:DeleteActivation", 0),
                    "per_host_tag_or_attribute_calls": sum(calls.get(c, 0) for c in PER_HOST_TAGGING),
                    "controller_write_calls": writes,
                    "all_calls": dict(sorted(calls.items())),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
        wall = {(r["round"], r["hosts"]): r["wall_seconds"] for r in results}
        ratios = [
            round(wall[(n, 4)] / wall[(n, 1)], 2) for n in range(1, repeat + 1) if (n, 1) in wall and (n, 4) in wall
        ]
        ratio = statistics.median(ratios) if ratios else None
        return {
            "benchmark": "register",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
            "runs": results,
            "median_wall_seconds": {
                size: statistics.median(r["wall_seconds"] for r in results if r["hosts"] == size) for size in sizes
            },
            "ratios_4_to_1": ratios,
            "ratio_4_to_1": ratio,
            "goals": {
                "ratio_4_to_1_at_most_2": ratio is not None and ratio <= 2,
                "one_create_and_one_delete_activation_per_run": all(
                    r["create_activation"] == 1 and r["delete_activation"] == 1 for r in results
                ),
                "no_per_host_tag_or_attribute_calls": all(r["per_host_tag_or_attribute_calls"] == 0 for r in results),
                "all_hosts_active": all(r["rc"] == 0 and r["registered_active"] == r["hosts"] for r in results),
            },
        }
    finally:
        if not keep:
            world_down(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--name", default="bench-register")
    parser.add_argument("--out", type=Path, default=Path("build/bench/register.json"))
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all the sizes, taking turns")
    parser.add_argument("--keep", action="store_true", help="leave the world up")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    result = bench(args.sizes, args.name, args.keep, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
