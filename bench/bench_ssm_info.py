#!/usr/bin/env python3
# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark ssm_managed_instance_info against the emulator.

1. Starts the emulator on 127.0.0.1 (free port) unless --endpoint is given.
2. Creates ceil(N/1000) activations and registers N managed instances through the agent protocol
   (unsigned RegisterManagedInstance over HTTP, as amazon-ssm-agent does), from a thread pool.
   RSA key generation dominates registration time, so a small pool of keys is reused; every host
   still gets its own fingerprint and its own mi- id.
3. Runs the module once through `ansible localhost -m fleet.ecs_anywhere.ssm_managed_instance_info`
   and reads the DescribeInstanceInformation call count from /_emu/stats.

Prints a JSON summary and exits 1 if the module made more than ceil(N/50) DescribeInstanceInformation
calls or did not return all N instances.

    .venv/bin/python bench/bench_ssm_info.py [--count 5000] [--workers 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from tests.emulator import agent_protocol  # noqa: E402

REGION = "us-east-1"
STAT_KEY = "ssm:DescribeInstanceInformation"
MAX_REGISTRATIONS_PER_ACTIVATION = 1000


def start_emulator(workdir):
    port_file = pathlib.Path(workdir) / "port"
    log = open(pathlib.Path(workdir) / "emulator.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"emulator did not start; see {log.name}")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def stats(endpoint):
    with urllib.request.urlopen(f"{endpoint}/_emu/stats", timeout=10) as response:
        return json.load(response)


def register_fleet(endpoint, count, workers, key_pool):
    ssm = boto3.client(
        "ssm",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's documented dummy key
    )
    activations = []
    remaining = count
    while remaining > 0:
        limit = min(remaining, MAX_REGISTRATIONS_PER_ACTIVATION)
        activations.append((ssm.create_activation(IamRole="BenchRole", RegistrationLimit=limit), limit))
        remaining -= limit
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(key_pool)]
    jobs = [activation for activation, limit in activations for _ in range(limit)]

    def one(index):
        activation = jobs[index]
        identity = agent_protocol.register(
            endpoint,
            activation["ActivationId"],
            activation["ActivationCode"],
            region=REGION,
            fingerprint=str(uuid.uuid4()),
            private_key=keys[index % len(keys)],
        )
        return identity.instance_id

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(len(jobs))))


def run_module(endpoint):
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - the emulator's documented dummy key
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_HOST_KEY_CHECKING="False",
    )
    ansible = pathlib.Path(sys.executable).parent / "ansible"
    started = time.monotonic()
    command = [str(ansible), "localhost", "-i", "localhost,", "-c", "local"]
    proc = subprocess.run(
        [*command, "-m", "fleet.ecs_anywhere.ssm_managed_instance_info"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    try:
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise SystemExit(
            f"module run failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ) from exc
    if result.get("failed"):
        raise SystemExit(f"module failed: {result.get('msg')}")
    return result, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="managed instances to register (default 5000)")
    parser.add_argument("--workers", type=int, default=16, help="registration threads")
    parser.add_argument("--key-pool", type=int, default=8, help="RSA keys generated and reused across hosts")
    parser.add_argument("--endpoint", help="use a running emulator (it must be empty) instead of starting one")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-ssm-info-") as workdir:
        proc = None
        endpoint = args.endpoint
        if endpoint is None:
            proc, endpoint = start_emulator(workdir)
        try:
            started = time.monotonic()
            ids = register_fleet(endpoint, args.count, args.workers, args.key_pool)
            registration_seconds = time.monotonic() - started

            before = stats(endpoint).get(STAT_KEY, 0)
            result, module_seconds = run_module(endpoint)
            calls = stats(endpoint).get(STAT_KEY, 0) - before
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    returned = {i["instance_id"] for i in result["managed_instances"]}
    budget = math.ceil(args.count / 50)
    summary = {
        "instances": args.count,
        "registered": len(ids),
        "registration_seconds": round(registration_seconds, 2),
        "module_wall_seconds": round(module_seconds, 2),
        "describe_instance_information_calls": calls,
        "call_budget_ceil_n_over_50": budget,
        "returned": len(returned),
        "all_returned": returned == set(ids),
        "ok": calls <= budget and returned == set(ids),
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
