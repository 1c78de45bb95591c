"""The lowest 4-host/1-host wall-time ratio this machine allows for the work of registering a host, whatever runs it.

bench_register's goal is that register takes at most twice as long for 4 hosts as for 1. Here no Ansible runs at
all: bench/minimal_install.sh (the bare steps by hand: install the engine, install both agents, register, write the
ECS config, start, wait for the container instance ARN) runs on 1 fresh host, and on 4 fresh hosts at once, each
host installing the same Debian packages as the docker role (docker.io without its recommends, apparmor,
ca-certificates). The activation of each batch is created before the clock starts, so nothing is shared between
the hosts: the ratio is that of the per-host work alone.

    .venv/bin/python -m bench.bench_parallel_floor [--repeat 3] [--out build/bench/parallel-floor.json]

Each run also records the machine's busy CPU time (/proc/stat, every process). One host alone keeps
`cores_busy_1 = busy_1 / wall_1` cores busy; 4 hosts need 4 x busy_1 CPU-seconds, which N cores cannot give in
less than 4 x busy_1 / N seconds, so

    wall_4 / wall_1 >= 4 x cores_busy_1 / N          (2.28 for 1.14 cores busy on our 2 cores)

for this work however it is driven. A playbook gets under that floor only through its work done once for the batch
(the AWS checks, the activation, the report), which takes as long for 4 hosts as for 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from bench.bench_role_vs_shell import CLUSTER
from bench.bench_role_vs_shell import REGION
from bench.bench_role_vs_shell import activation
from bench.bench_role_vs_shell import shell_install
from bench.callbacks.task_cpu import machine_busy_seconds
from tests import harness

SIZES = (1, 4)
# What the docker role installs on a fresh Debian 12 host (roles/docker/vars/Debian.yml), without recommends.
ROLE_PACKAGES = {"DOCKER_PACKAGES": "docker.io apparmor ca-certificates", "APT_RECOMMENDS": "false"}


def batch(world: harness.World, hosts: list[str], workdir: Path) -> dict:
    act = activation(world, registration_limit=len(hosts))
    busy_before, start = machine_busy_seconds(), time.monotonic()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda host: shell_install(world, host, act, workdir, ROLE_PACKAGES), hosts))
    wall = time.monotonic() - start
    busy = machine_busy_seconds() - busy_before
    return {"hosts": len(hosts), "wall_seconds": round(wall, 1), "busy_cpu_seconds": round(busy, 1),
            "cores_busy": round(busy / wall, 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of a 1-host and a 4-host batch")
    parser.add_argument("--name", default="bench-floor")
    parser.add_argument("--out", type=Path, default=Path("build/bench/parallel-floor.json"))
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    world = harness.up(args.name)
    runs = []
    try:
        harness.ensure_images("debian12")
        boto3.client("ecs", region_name=REGION, endpoint_url=world.emulator_local,
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_cluster(clusterName=CLUSTER)  # noqa: S106  # fmt: skip
        for round_number in range(1, args.repeat + 1):
            for size in SIZES:
                hosts = [f"ecsa-{args.name}-r{round_number}-s{size}-h{index}" for index in range(1, size + 1)]
                for host in hosts:
                    harness.start_host(world, host)
                for host in hosts:
                    harness.wait_systemd(host)
                result = {"round": round_number, **batch(world, hosts, workdir)}
                runs.append(result)
                print(json.dumps(result), file=sys.stderr)
                for host in hosts:
                    harness.docker("rm", "-f", host, check=False)
    finally:
        harness.down(args.name)
    wall = {(r["round"], r["hosts"]): r["wall_seconds"] for r in runs}
    ratios = [round(wall[(n, 4)] / wall[(n, 1)], 2) for n in range(1, args.repeat + 1)]
    cores_busy_1 = statistics.median(r["cores_busy"] for r in runs if r["hosts"] == 1)
    result = {
        "benchmark": "parallel floor (bench/minimal_install.sh, no Ansible)",
        "cpus": os.cpu_count(),
        "runs": runs,
        "median_wall_seconds": {
            size: statistics.median(r["wall_seconds"] for r in runs if r["hosts"] == size) for size in SIZES
        },  # fmt: skip
        "ratios_4_to_1": ratios,
        "ratio_4_to_1": statistics.median(ratios),
        "cores_busy_1": cores_busy_1,
        "ratio_floor_from_cpu": round(4 * cores_busy_1 / (os.cpu_count() or 2), 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
