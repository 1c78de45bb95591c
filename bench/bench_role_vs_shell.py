"""Wall time of the external_instance role against a bare shell install, on identical fresh Debian hosts.

For each of N pairs (default 3) two fresh ecsa-host containers are started on one harness network with the
same emulator and package mirror. One is converged with the role (fleet.ecs_anywhere.external_instance), then
converged a second time (nothing to do); the other runs bench/minimal_install.sh. The order inside a pair
alternates so that neither side always runs first. Prints one JSON document:

    {"pairs": [...], "median_role_s", "median_shell_s", "median_ratio", "ratio_goal": 1.3,
     "median_second_over_first", "second_goal": 0.15, "ok": true|false}

Usage: python bench/bench_role_vs_shell.py [--pairs 3] [--image debian12] [--keep]
Requires Docker, the stand-in agents (make agents) and the host image (make images).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import harness  # noqa: E402

REGION = "us-east-1"
CLUSTER = "bench"
PLAYBOOK = """
- name: Converge the bench host
  hosts: all
  gather_facts: false
  tasks:
    - name: Make the host an ECS Anywhere external instance
      ansible.builtin.include_role:
        name: fleet.ecs_anywhere.external_instance
"""


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, env=env, **kwargs)


def timed(cmd: list[str], env: dict | None = None, log: Path | None = None) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, check=False, text=True, capture_output=True, env=env)
    elapsed = time.monotonic() - start
    if log:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}); see {log}")
    return elapsed


def activation(world: harness.World, registration_limit: int = 1) -> tuple[str, str]:
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=world.emulator_local,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - emulator dummy keys  # fmt: skip
    created = ssm.create_activation(IamRole="ECSAnywhereRole", RegistrationLimit=registration_limit,
                                    DefaultInstanceName="bench")  # fmt: skip
    return created["ActivationId"], created["ActivationCode"]


def role_env(world: harness.World) -> dict:
    env = dict(os.environ)
    env.update(world.controller_env())
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "build" / "collections")
    env["ANSIBLE_CONFIG"] = str(REPO / "tests" / "ansible.cfg")
    env["ANSIBLE_PIPELINING"] = "True"
    return env


def role_converge(world, host: str, act: tuple[str, str], workdir: Path, label: str) -> float:
    extra = {
        "ecs_anywhere_region": REGION,
        "ecs_anywhere_cluster": CLUSTER,
        "ecs_anywhere_activation_id": act[0],
        "ecs_anywhere_activation_code": act[1],
        "ecs_anywhere_ssm_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_ecs_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_package_base_url": world.mirror_for_hosts,
        "ecs_anywhere_signing_keys": [Path(world.signing_key).read_text()],
        "ecs_anywhere_ecs_wait_delay": 1,
    }
    vars_file = workdir / f"{host}.vars.json"
    vars_file.write_text(json.dumps(extra))
    vars_file.chmod(0o600)
    playbook = workdir / "converge.yml"
    playbook.write_text(PLAYBOOK)
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "ansible-playbook"), "-i", f"{host},", "-c", "community.docker.docker",
           "-e", f"@{vars_file}", str(playbook)]  # fmt: skip
    return timed(cmd, env=role_env(world), log=workdir / f"{host}.{label}.log")


def shell_install(world, host: str, act: tuple[str, str], workdir: Path, env: dict[str, str] | None = None) -> float:
    run(["docker", "cp", str(REPO / "bench" / "minimal_install.sh"), f"{host}:/root/minimal_install.sh"])
    cmd = ["docker", "exec", *(f"-e{key}={value}" for key, value in (env or {}).items()),
           "-e", f"BASE_URL={world.mirror_for_hosts}", "-e", f"ENDPOINT={world.emulator_for_hosts}",
           "-e", f"REGION={REGION}", "-e", f"CLUSTER={CLUSTER}",
           "-e", f"ACTIVATION_ID={act[0]}", "-e", f"ACTIVATION_CODE={act[1]}",
           host, "bash", "/root/minimal_install.sh"]  # fmt: skip
    return timed(cmd, log=workdir / f"{host}.shell.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--image", default="debian12")
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    args = parser.parse_args(argv)

    name = "bench"
    workdir = Path(tempfile.mkdtemp(prefix="ecsa-bench-"))
    workdir.chmod(0o700)
    world = harness.up(name)
    hosts: list[str] = []
    pairs = []
    try:
        harness.ensure_images(args.image)
        ecs = boto3.client("ecs", region_name=REGION, endpoint_url=world.emulator_local,
                           aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - emulator dummy keys  # fmt: skip
        ecs.create_cluster(clusterName=CLUSTER)
        for index in range(args.pairs):
            role_host, shell_host = f"ecsa-bench-role{index}", f"ecsa-bench-shell{index}"
            for host in (role_host, shell_host):
                hosts.append(harness.start_host(world, host, args.image))
            for host in (role_host, shell_host):
                harness.wait_systemd(host)
            role_act, shell_act = activation(world), activation(world)
            order = ["role", "shell"] if index % 2 == 0 else ["shell", "role"]
            result = {"pair": index + 1, "order": order}
            for side in order:
                if side == "role":
                    result["role_first_s"] = round(role_converge(world, role_host, role_act, workdir, "first"), 1)
                else:
                    result["shell_s"] = round(shell_install(world, shell_host, shell_act, workdir), 1)
            result["role_second_s"] = round(role_converge(world, role_host, role_act, workdir, "second"), 1)
            result["ratio"] = round(result["role_first_s"] / result["shell_s"], 3)
            result["second_over_first"] = round(result["role_second_s"] / result["role_first_s"], 3)
            pairs.append(result)
            for host in (role_host, shell_host):
                subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)
                hosts.remove(host)
    finally:
        for host in hosts:
            subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)
        harness.down(name)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    median_ratio = statistics.median(p["ratio"] for p in pairs)
    median_second = statistics.median(p["second_over_first"] for p in pairs)
    report = {
        "image": args.image,
        "pairs": pairs,
        "median_role_s": statistics.median(p["role_first_s"] for p in pairs),
        "median_shell_s": statistics.median(p["shell_s"] for p in pairs),
        "median_role_second_s": statistics.median(p["role_second_s"] for p in pairs),
        "median_ratio": median_ratio,
        "ratio_goal": 1.3,
        "median_second_over_first": median_second,
        "second_goal": 0.15,
        "ok": median_ratio <= 1.3 and median_second <= 0.15,
        "logs": str(workdir) if args.keep else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
