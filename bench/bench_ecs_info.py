#!/usr/bin/env python3
# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark ecs_container_instance_info on a large cluster of external instances.

Starts the emulator on 127.0.0.1, registers N external container instances through the agent protocol
(RegisterManagedInstance -> RequestManagedInstanceRoleToken -> RegisterContainerInstance with an empty
identity document), runs the module with `ansible localhost -m ...`, and prints JSON with the
ListContainerInstances / DescribeContainerInstances call counts (each must be <= ceil(N/100)) and wall times.

    .venv/bin/python bench/bench_ecs_info.py [--count 5000] [--threads 32]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

import boto3  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from tests.emulator import agent_protocol  # noqa: E402

REGION = "us-east-1"
ACTIVATION_LIMIT = 1000  # CreateActivation RegistrationLimit maximum


def start_emulator(workdir):
    port_file = os.path.join(workdir, "port")
    log = open(os.path.join(workdir, "emulator.log"), "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0", "--port-file", port_file],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _dummy in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, f"http://127.0.0.1:{open(port_file).read().strip()}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"emulator did not start; see {log.name}")


def stats(url):
    with urllib.request.urlopen(f"{url}/_emu/stats", timeout=10) as response:
        return json.load(response)


def register(url, activation, cluster, key):
    # Reusing a few RSA keys: generating 2048-bit keys dominated registration time and is not what is measured.
    identity = agent_protocol.register(
        url, activation["ActivationId"], activation["ActivationCode"], region=REGION, private_key=key
    )
    creds = agent_protocol.request_role_token(url, identity)
    agent_protocol.register_container_instance(url, creds, cluster, region=REGION)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--cluster", default="bench")
    args = parser.parse_args()

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as workdir:
        proc, url = start_emulator(workdir)
        try:
            env.update(
                AWS_ENDPOINT_URL=url,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - the emulator's dummy key
                AWS_REGION=REGION,
                AWS_DEFAULT_REGION=REGION,
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"),
                ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                ANSIBLE_LOCALHOST_WARNING="false",
            )
            session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)  # noqa: S106
            session.client("ecs", endpoint_url=url).create_cluster(clusterName=args.cluster)
            ssm = session.client("ssm", endpoint_url=url)
            activations = [
                ssm.create_activation(IamRole="ecsAnywhereRole", RegistrationLimit=ACTIVATION_LIMIT)
                for _dummy in range(math.ceil(args.count / ACTIVATION_LIMIT))
            ]
            keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _dummy in range(4)]
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
                futures = [
                    pool.submit(register, url, activations[i // ACTIVATION_LIMIT], args.cluster, keys[i % len(keys)])
                    for i in range(args.count)
                ]
                for future in concurrent.futures.as_completed(futures):
                    future.result()
            register_seconds = time.monotonic() - started

            before = stats(url)
            started = time.monotonic()
            run = subprocess.run(
                [
                    os.path.join(os.path.dirname(sys.executable), "ansible"),
                    "localhost",
                    "-o",
                    "-m",
                    "fleet.ecs_anywhere.ecs_container_instance_info",
                    "-a",
                    f"cluster={args.cluster}",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            module_seconds = time.monotonic() - started
            after = stats(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if run.returncode != 0:
        raise SystemExit(f"module failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    payload = json.loads(run.stdout.split("=>", 1)[1])
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    bound = math.ceil(args.count / 100)
    result = {
        "instances": args.count,
        "returned": len(payload["container_instances"]),
        "list_calls": calls.get("ecs:ListContainerInstances", 0),
        "describe_calls": calls.get("ecs:DescribeContainerInstances", 0),
        "bound_per_api": bound,
        "all_calls": calls,
        "register_seconds": round(register_seconds, 2),
        "module_wall_seconds": round(module_seconds, 2),
    }
    result["ok"] = (
        result["returned"] == args.count and result["list_calls"] <= bound and result["describe_calls"] <= bound
    )
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
