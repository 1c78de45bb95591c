"""Wall time of the external_instance role against a bare shell install, on identical fresh hosts.

For each of N pairs (default 3) two fresh ecsa-host containers are started on one harness network with the
same emulator and package mirror. One is converged with the role (fleet.ecs_anywhere.external_instance), then
converged a second time (nothing to do); the other runs bench/minimal_install.sh. The order inside a pair
alternates so that neither side always runs first. --image picks the hosts: debian12 (default), or a synthetic
host of another family such as rocky9 (Docker's RPM repository on the mirror) or leap156 (the distribution's docker
package: the mirror's stand-in of SUSE's repository is configured on both hosts before the clock starts, as a real
SUSE host has its repositories, and as molecule/shared/prepare.yml does). Each side's machine busy CPU time
(/proc/stat, every process) is recorded next to its wall time, the machine's load (busy cores over 3 s) before each
pair, and the changed count of the second converge; --task-cpu adds the bench/callbacks/task_cpu profile of every
role run to the logs directory (with --keep). Prints one JSON document:

    {"pairs": [...], "median_role_s", "median_shell_s", "median_ratio", "ratio_goal": 1.1,
     "median_second_over_first", "second_goal": 0.12, "max_role_second_changed", "ok": true|false}

The goals (issue 16): the role's first converge takes at most 1.1 times the minimal shell's wall time, its second
converge at most 12 % of its first and changes nothing; ok says whether the medians and every second converge do.

Usage: python -m bench.bench_role_vs_shell [--pairs 3] [--image debian12|rocky9|leap156] [--keep] [--task-cpu]
Requires Docker, the stand-in agents (make agents) and the host image (make images).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import resource
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

from bench.callbacks.task_cpu import machine_busy_seconds  # noqa: E402
from tests import harness  # noqa: E402

REGION = "us-east-1"
CLUSTER = "bench"
RATIO_GOAL = 1.1  # role first converge / minimal shell, median
SECOND_GOAL = 0.12  # role second converge / role first converge, median
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


def busy_cores(seconds: float = 3.0) -> float:
    """Cores the whole machine kept busy over the next `seconds` (as bench_register records it)."""
    start = machine_busy_seconds()
    time.sleep(seconds)
    return round((machine_busy_seconds() - start) / seconds, 2)


class CpuMeter:
    """CPU seconds of one side's work, whatever else the machine runs: this process's waited-for children
    (ansible-playbook and its workers, the docker CLI), the host container (its cgroup), the emulator and the mirror.
    Not dockerd and containerd, which the machine shares with everything else."""

    def __init__(self, world, host: str):
        cid = run(["docker", "inspect", "-f", "{{.Id}}", host]).stdout.strip()
        self.cgroup = [Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage"),  # v1, ns
                       Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat")]  # v2, usage_usec  # fmt: skip
        self.pids = (world.emulator_pid, world.mirror_pid)
        self.seconds = 0.0

    def read(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = usage.ru_utime + usage.ru_stime
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        if self.cgroup[0].exists():
            total += int(self.cgroup[0].read_text()) / 1e9
        elif self.cgroup[1].exists():
            total += int(self.cgroup[1].read_text().split()[1]) / 1e6
        return total

    def __enter__(self) -> CpuMeter:
        self.start = self.read()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = round(self.read() - self.start, 1)


def prepare_host(host: str, world) -> None:
    """Give the host the starting point of a real one of its family (before the clock; both sides)."""
    harness.give_distribution_repository(world, host)


def changed_count(log: Path) -> int:
    """The changed count of the play recap in a role run's log."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", log.read_text()))


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


def role_converge(
    world, host: str, act: tuple[str, str], workdir: Path, label: str, *, task_cpu: bool = False
) -> float:
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
        # Where the family takes Docker's repository (the RHEL family): the mirror's, as in molecule/families.
        "ecs_anywhere_docker_repo_url": f"{world.mirror_for_hosts}/docker/linux/"
        "{{ (ansible_facts | fleet.ecs_anywhere.platform).docker_repo_distro }}",
        "ecs_anywhere_docker_repo_key": Path(world.signing_key).read_text(),
    }
    vars_file = workdir / f"{host}.vars.json"
    vars_file.write_text(json.dumps(extra))
    vars_file.chmod(0o600)
    playbook = workdir / "converge.yml"
    playbook.write_text(PLAYBOOK)
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "ansible-playbook"), "-i", f"{host},", "-c", "community.docker.docker",
           "-e", f"@{vars_file}", str(playbook)]  # fmt: skip
    env = role_env(world)
    if task_cpu:
        env.update(ANSIBLE_CALLBACK_PLUGINS=str(REPO / "bench" / "callbacks"), ANSIBLE_CALLBACKS_ENABLED="task_cpu",
                   TASK_CPU_OUT=str(workdir / f"{host}.{label}.task_cpu.json"))  # fmt: skip
    return timed(cmd, env=env, log=workdir / f"{host}.{label}.log")


def shell_install(world, host: str, act: tuple[str, str], workdir: Path, env: dict[str, str] | None = None) -> float:
    run(["docker", "cp", str(REPO / "bench" / "minimal_install.sh"), f"{host}:/root/minimal_install.sh"])
    run(["docker", "cp", str(world.signing_key), f"{host}:/root/fleet-test-signing-key.asc"])
    cmd = ["docker", "exec", *(f"-e{key}={value}" for key, value in (env or {}).items()),
           "-e", f"BASE_URL={world.mirror_for_hosts}", "-e", f"ENDPOINT={world.emulator_for_hosts}",
           "-e", f"REGION={REGION}", "-e", f"CLUSTER={CLUSTER}",
           "-e", f"ACTIVATION_ID={act[0]}", "-e", f"ACTIVATION_CODE={act[1]}",
           host, "bash", "/root/minimal_install.sh"]  # fmt: skip
    return timed(cmd, log=workdir / f"{host}.shell.log")


def image_label(image: str, label: str) -> str:
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", f'{{{{ index .Config.Labels "{label}" }}}}', f"ecsa-host:{image}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip().replace("<no value>", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--image", default="debian12")
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    parser.add_argument("--task-cpu", action="store_true", help="profile the role runs (bench/callbacks/task_cpu)")
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
                prepare_host(host, world)
            role_act, shell_act = activation(world), activation(world)
            order = ["role", "shell"] if index % 2 == 0 else ["shell", "role"]
            result = {"pair": index + 1, "order": order, "background_busy_cores": busy_cores()}
            converge = functools.partial(role_converge, world, role_host, role_act, workdir, task_cpu=args.task_cpu)
            for side in order:
                if side == "role":
                    with CpuMeter(world, role_host) as cpu:
                        result["role_first_s"] = round(converge("first"), 1)
                    result["role_first_cpu_s"] = cpu.seconds
                else:
                    with CpuMeter(world, shell_host) as cpu:
                        result["shell_s"] = round(shell_install(world, shell_host, shell_act, workdir), 1)
                    result["shell_cpu_s"] = cpu.seconds
            with CpuMeter(world, role_host) as cpu:
                result["role_second_s"] = round(converge("second"), 1)
            result["role_second_cpu_s"] = cpu.seconds
            result["role_second_changed"] = changed_count(workdir / f"{role_host}.second.log")
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
    max_changed = max(p["role_second_changed"] for p in pairs)
    report = {
        "image": args.image,
        # A synthetic host claims its distribution (README, "Supported hosts"): say so wherever figures go.
        "synthetic": image_label(args.image, "fleet.ecs_anywhere.synthetic") == "true",
        "claims": image_label(args.image, "fleet.ecs_anywhere.claims"),
        "pairs": pairs,
        "median_role_s": statistics.median(p["role_first_s"] for p in pairs),
        "median_shell_s": statistics.median(p["shell_s"] for p in pairs),
        "median_role_second_s": statistics.median(p["role_second_s"] for p in pairs),
        "median_ratio": median_ratio,
        "ratio_goal": RATIO_GOAL,
        "median_second_over_first": median_second,
        "second_goal": SECOND_GOAL,
        "ok": median_ratio <= RATIO_GOAL and median_second <= SECOND_GOAL and max_changed == 0,
        "median_role_cpu_s": statistics.median(p["role_first_cpu_s"] for p in pairs),
        "median_shell_cpu_s": statistics.median(p["shell_cpu_s"] for p in pairs),
        "max_role_second_changed": max_changed,
        "machine": {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]},
        "logs": str(workdir) if args.keep else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
