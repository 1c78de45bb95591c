"""Fixtures of the end-to-end tests: an offline world (emulator, mirror, systemd hosts) and a playbook runner.

The playbooks run exactly as a user runs them, `ansible-playbook fleet.ecs_anywhere.<name>` against a generated
inventory, with the controller pointed at the emulator through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ansible_runner
import pytest

from tests import harness
from tests.demo import inventory

REPO = harness.REPO
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)


def world_up(name: str, hosts: int, host_prefix: str | None = None, images: list[str] | None = None) -> harness.World:
    # AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist in moto only when asked for; the emulator
    # inherits this environment.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    return harness.up(name, hosts=hosts, host_prefix=host_prefix, images=images)


# The package of the Docker engine each family's default source installs (roles/docker/vars).
DOCKER_PACKAGE = {"Debian": "docker.io", "RedHat": "docker-ce", "Suse": "docker"}
# Where a real Amazon Linux or SUSE host gets its docker package: its distribution's repository, which the test
# mirror stands in for (as molecule/shared/prepare.yml gives it to the families scenario).


def host_family(container: str) -> tuple[str, str]:
    """(os_family as Ansible names it, os-release ID) of a host container, real or synthetic."""
    out = harness.host_exec(container, '. /etc/os-release; echo "$ID|$ID_LIKE"').stdout.strip()
    distro_id, _, like = out.partition("|")
    words = {distro_id, *like.split()}
    if words & {"debian", "ubuntu"}:
        return "Debian", distro_id
    if words & {"suse", "opensuse"}:
        return "Suse", distro_id
    return "RedHat", distro_id


def world_down(name: str) -> None:
    harness.down(name, quiet=True)


# Runs the command with the SIGINT of an operator's terminal. A runner that blocks or ignores SIGINT (some CI
# supervisors do, and children inherit both through exec) turns the test's Ctrl-C into nothing, and the run goes on to
# its end while the test believes it interrupted.
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


@dataclasses.dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """Per-host totals of the last PLAY RECAP."""
        tail = self.output[self.output.rfind("PLAY RECAP") :]
        return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP.finditer(tail)}

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())


@dataclasses.dataclass
class JobRun(PlaybookRun):
    artifacts: dict
    project: Path

    def report(self) -> dict:
        """The fleet report the job wrote where a job writes it by default."""
        return json.loads((self.project / "ecs-anywhere-fleet.json").read_text())


class Fleet:
    """One world plus its inventory and report, and helpers to drive and inspect it."""

    def __init__(self, world: harness.World, workdir: Path, cluster: str = "e2e", **inventory_kwargs) -> None:
        self.world = world
        self.workdir = workdir
        self.cluster = cluster
        self.report_base = workdir / "fleet"
        self._families: dict[str, tuple[str, str]] = {}
        if any(self.family(host) != "Debian" for host in world.hosts):
            inventory_kwargs.setdefault("host_vars", self.family_host_vars())
        self.inventory_kwargs = inventory_kwargs
        self.inventory = self.write_inventory()

    def write_inventory(self, **changes) -> Path:
        """(Re)write the inventory; ``changes`` replace the inventory arguments the fleet was made with, for good."""
        self.inventory_kwargs.update(changes)
        return inventory.write(
            self.world, self.workdir / "inventory.yml", cluster=self.cluster, report_path=self.report_base,
            **self.inventory_kwargs,
        )  # fmt: skip

    # ------------------------------------------------------------------ mixed fleets
    def family(self, container: str) -> str:
        """Debian, RedHat or Suse (Ansible's os_family) for a host of the fleet."""
        if container not in self._families:
            self._families[container] = host_family(container)
        return self._families[container][0]

    def family_host_vars(self) -> dict[str, dict]:
        """Per-host variables of a mixed fleet: an RPM host that takes Docker from Docker's repository takes it from
        the test mirror, signed with the test key (as molecule/families/molecule.yml sets it)."""
        key = f"{{{{ lookup('ansible.builtin.file', '{self.world.signing_key}') }}}}"
        distro = "{{ (ansible_facts | fleet.ecs_anywhere.platform).docker_repo_distro }}"
        repo = f"{self.world.mirror_for_hosts}/docker/linux/{distro}"
        return {
            host: {"ecs_anywhere_docker_repo_url": repo, "ecs_anywhere_docker_repo_key": key}
            for host in self.world.hosts
            if self.family(host) == "RedHat"
        }

    def give_distribution_repositories(self) -> None:
        for host in self.world.hosts:
            harness.give_distribution_repository(self.world, host)

    def package_version(self, container: str, package: str) -> str | None:
        """The installed version-release of a package through the host family's package database (None: absent)."""
        if self.family(container) == "Debian":
            query = f"dpkg-query -W -f '${{Status}}|${{Version}}' {package}"
            out = self.host(container, query, check=False).stdout
            status, _, version = out.partition("|")
            return version if status.endswith(" installed") else None
        out = self.host(container, f"rpm -q --qf '%{{VERSION}}-%{{RELEASE}}' {package}", check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.world.controller_env())
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
            ANSIBLE_CONFIG=str(REPO / "tests" / "ansible.cfg"),
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_NOCOLOR="1",
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
        return env

    def command(self, playbook: str, *args: str, extra_vars: dict | None = None, limit: str | None = None) -> list[str]:
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), f"fleet.ecs_anywhere.{playbook}", *args]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if limit:
            cmd += ["--limit", limit]
        return cmd

    def run(self, playbook: str, *args: str, extra_vars: dict | None = None, limit: str | None = None,
            timeout: float = 1800) -> PlaybookRun:  # fmt: skip
        start = time.monotonic()
        proc = subprocess.run(
            self.command(playbook, *args, extra_vars=extra_vars, limit=limit),
            cwd=self.workdir, env=self.env(), text=True, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        output = proc.stdout + proc.stderr
        log = self.workdir / f"{playbook}-{int(time.time() * 1000)}.log"
        log.write_text(output)
        return PlaybookRun(proc.returncode, output, time.monotonic() - start)

    def run_job(self, playbook: str, extra_vars: dict | None = None, limit: str | None = None) -> JobRun:
        """Run a playbook the way AWX and Automation Controller run a job template: through ansible-runner, from a
        private data directory holding the example project (docs/examples/awx-project), with the AWS credential in
        the environment; the run's artifacts come from its events, as AWX reads them."""
        start = time.monotonic()
        private = self.workdir / "jobs" / f"{playbook}-{int(time.time() * 1000)}"
        project = private / "project"
        shutil.copytree(REPO / "docs" / "examples" / "awx-project", project)
        # The report goes where a job's report goes by default: the job's working directory (the project).
        job_inventory = private / "inventory.yml"
        job_inventory.write_text(re.sub(r"(?m)^\s*ecs_anywhere_report_path:.*\n", "", self.inventory.read_text()))
        env = self.env()
        envvars = {key: env[key] for key in ("PATH", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_CONFIG", "ANSIBLE_NOCOLOR")}
        envvars.update(self.world.controller_env())
        # A job's PWD need not be its working directory.
        envvars["PWD"] = "/nonexistent"
        job = ansible_runner.run(
            private_data_dir=str(private), playbook=f"{playbook}.yml", inventory=str(job_inventory),
            extravars=extra_vars or {}, limit=limit, envvars=envvars, quiet=True,
        )  # fmt: skip
        output = job.stdout.read()
        (self.workdir / f"{playbook}-job-{private.name}.log").write_text(output)
        (stats,) = [event["event_data"] for event in job.events if event.get("event") == "playbook_on_stats"]
        return JobRun(job.rc, output, time.monotonic() - start, stats.get("artifact_data") or {}, project)

    def start(self, playbook: str, *args: str, extra_vars: dict | None = None,
              limit: str | None = None) -> subprocess.Popen:  # fmt: skip
        """Start a playbook in its own process group, so that it can be interrupted like Ctrl-C."""
        log = open(self.workdir / f"{playbook}-interrupted.log", "w")  # noqa: SIM115 - handed to the child
        command = self.command(playbook, *args, extra_vars=extra_vars, limit=limit)
        return subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, *command],
            cwd=self.workdir, env=self.env(), text=True, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @staticmethod
    def interrupt(proc: subprocess.Popen, grace: float = 15) -> None:
        """Ctrl-C, again if the run does not stop (as an impatient operator), then kill what is left of the run."""
        # Ansible's workers start sessions of their own: a signal to the run's group does not reach them.
        run = _descendants(proc.pid)
        for _ in range(2):
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers and connection clients of the run (docker exec) may outlive it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in run | _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)

    # ------------------------------------------------------------------ emulator views
    def emu(self, method: str, path: str, body: dict | list | None = None) -> dict:
        return harness.emulator(self.world, method, path, body)

    def stats(self) -> dict[str, int]:
        return self.emu("GET", "/_emu/stats")

    def state(self) -> dict:
        return self.emu("GET", "/_emu/state")

    def managed_instances(self) -> list[dict]:
        return [mi for region in self.state()["ssm"] for mi in region["instances"]]

    def activations(self) -> list[dict]:
        return [a for region in self.state()["ssm"] for a in region["activations"]]

    def container_instances(self, status: str | None = None) -> list[dict]:
        found = []
        for cluster in self.state()["ecs"]:
            for ci in cluster["containerInstances"]:
                if status is None or ci.get("status") == status:
                    found.append({**ci, "cluster": cluster["cluster"]})
        return found

    # ------------------------------------------------------------------ hosts and report
    def report(self) -> dict:
        return json.loads(self.report_base.with_suffix(".json").read_text())

    def entries(self) -> dict[str, dict]:
        return {h["host"]: h for h in self.report()["hosts"]}

    def host(self, container: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
        return harness.host_exec(container, script, check=check)

    def agent_leftovers(self, container: str) -> list[str]:
        """What a clean host must not hold: agent state and config directories, installed agent packages, running
        agents (empty when the host is clean)."""
        out = self.host(
            container,
            "ls -d /var/lib/ecs /etc/ecs /var/lib/amazon/ssm /var/log/ecs /var/log/amazon/ssm 2>/dev/null; "
            "dpkg-query -W -f '${Package} ${Status}\\n' amazon-ecs-init amazon-ssm-agent 2>/dev/null"
            " | grep ' installed$'; "
            # RPM hosts (synthetic ones hold dpkg too: both databases are asked).
            "command -v rpm >/dev/null && rpm -q --qf '%{NAME} rpm installed\\n' amazon-ecs-init amazon-ssm-agent"
            " 2>/dev/null | grep ' rpm installed$'; "
            "for unit in ecs amazon-ssm-agent; do systemctl -q is-active $unit && echo $unit active; done",
            check=False,
        ).stdout
        return out.splitlines()


def write_calls(stats: dict[str, int]) -> dict[str, int]:
    """The AWS calls that change something (as counted by the emulator), agents' own calls left out."""
    agent_calls = {"ssm:RegisterManagedInstance", "ssm:UpdateInstanceInformation", "ecs:RegisterContainerInstance"}
    prefixes = (
        "Create",
        "Delete",
        "Deregister",
        "Register",
        "Put",
        "Tag",
        "Untag",
        "Add",
        "Remove",
        "Update",
        "Attach",
    )
    return {
        key: count
        for key, count in stats.items()
        if key.split(":", 1)[1].startswith(prefixes) and key not in agent_calls
    }


def diff_stats(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)
    }


@pytest.fixture(scope="module")
def fleet_factory() -> Iterator:
    """Create worlds for a test module and tear them all down at its end (logs stay in build/e2e/<name>)."""
    names: list[str] = []
    # Runs sharing a Docker engine (two checkouts, CI jobs) need their own containers, networks and state files.
    prefix = os.environ.get("ECSA_WORLD_PREFIX", "")

    def make(name: str, hosts: int, images: list[str] | None = None, **kwargs) -> Fleet:
        name = f"{prefix}{name}"
        names.append(name)
        world = world_up(name, hosts, host_prefix=f"{name}-host" if prefix else None, images=images)
        workdir = harness.BUILD / "e2e" / name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        return Fleet(world, workdir, **kwargs)

    yield make
    if os.environ.get("ECSA_KEEP_WORLD") != "1":
        for name in names:
            world_down(name)


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (from /proc), whatever session they moved to."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name, in parentheses, may hold spaces: the parent pid is the second field after it.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
