"""Faults of the RPM families, each failing with a clear message before it changes the host (issue 16).

The Debian versions of several of these are in test_role_faults.py. Here, on one synthetic rocky9 host (Docker's RPM
repository, dnf) reused in order: the SSM agent RPM served with another file's signature; Docker's RPM repository
under a key that does not sign it; an RPM repository that does not answer; then the host converged, its
/var/lib/ecs/ecs.config stripped of ECS_EXTERNAL (as an interrupted run of AWS's script leaves it) and converged
again without a second managed instance; and finally moved to ecs_anywhere_docker_install_source none. On one
synthetic leap156 host each: ecs-init's RPM, installed by zypper there, served with another file's signature; and
the host's Python 3.6 (SLES 15's own), which no module can run on.

Run: .venv/bin/python -m pytest -q tests/roles/test_family_faults.py   (needs Docker, make agents, make images)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import harness  # noqa: E402
from tests.roles.conftest import emulator_clients  # noqa: E402
from tests.roles.conftest import failed_with  # noqa: E402

WORLD = "familyfaults"
REGION = "us-east-1"
CLUSTER = "family-faults"
ARCH = "x86_64"
SSM_RPM = f"amazon-ssm-{REGION}/latest/linux_amd64/amazon-ssm-agent.rpm"
ECS_RPM = f"amazon-ecs-agent-{REGION}/amazon-ecs-init-latest.{ARCH}.rpm"
DOCKER_REPO_FILE = "/etc/yum.repos.d/docker-ce.repo"
DOCKER_PACKAGES = ("docker-ce", "docker-ce-cli", "containerd.io")


@pytest.fixture(scope="module")
def world():
    w = harness.up(WORLD)
    harness.ensure_images("rocky9", "leap156")
    yield w
    harness.down(WORLD)


@pytest.fixture(scope="module")
def aws(world):
    return emulator_clients(world, REGION, CLUSTER)


def new_host(world, image: str):
    host = harness.start_host(world, f"ecsa-{WORLD}-{image}", image)
    harness.wait_systemd(host)
    yield host
    subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)


@pytest.fixture(scope="module")
def rocky(world):
    """The one rocky9 host every test of the RHEL path uses, in order."""
    yield from new_host(world, "rocky9")


@pytest.fixture
def leap(world):
    yield from new_host(world, "leap156")


@pytest.fixture(scope="module")
def bad_mirror(world, workdir):
    """A second mirror on the gateway: the world's tree, with the SSM agent RPM's .sig and ecs-init RPM's .asc
    swapped (each a good signature by the trusted key, of the other file)."""
    overlay = workdir / "swapped-signatures"
    root = harness.MIRROR_ROOT
    for package, other in ((SSM_RPM + ".sig", ECS_RPM + ".asc"), (ECS_RPM + ".asc", SSM_RPM + ".sig")):
        target = overlay / package
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((root / other).read_bytes())
    port_file = workdir / "bad-mirror.port"
    cmd = [sys.executable, "-m", "tests.agents.mirror", "--host", "127.0.0.1", "--host", world.gateway,
           "--port", "0", "--port-file", str(port_file), "--root", str(root), "--overlay", str(overlay)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        port = harness.wait_for(lambda: port_file.exists() and port_file.read_text().strip(), what="the bad mirror")
        yield f"http://{world.gateway}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def base_vars(world) -> dict:
    key = world.signing_key.read_text()
    return {
        "ecs_anywhere_region": REGION,
        "ecs_anywhere_cluster": CLUSTER,
        "ecs_anywhere_ssm_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_ecs_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_package_base_url": world.mirror_for_hosts,
        "ecs_anywhere_signing_keys": [key],
        # Docker's RPM repository for the RHEL family, from the mirror, signed with the test key.
        "ecs_anywhere_docker_repo_url": f"{world.mirror_for_hosts}/docker/linux/centos",
        "ecs_anywhere_docker_repo_key": key,
        "ecs_anywhere_ecs_wait_delay": 1,
        "ecs_anywhere_ecs_wait_retries": 90,
    }


FAKE_ACTIVATION = {
    "ecs_anywhere_activation_id": "00000000-0000-0000-0000-000000000000",
    "ecs_anywhere_activation_code": "x" * 20,
}


def play(world, workdir: Path, host: str, variables: dict) -> subprocess.CompletedProcess:
    return harness.play(world, host, workdir / "play.yml", variables, timeout=900)


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def changed_tasks(result: subprocess.CompletedProcess) -> list[str]:
    """The tasks (and handlers) that reported a change, in order."""
    tasks, current = [], None
    for line in result.stdout.splitlines():
        match = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \*", line)
        if match:
            current = match.group(1)
        elif line.startswith("changed: [") and current:
            tasks.append(current)
    return tasks


def rpm_installed(host: str, *names: str) -> dict[str, str]:
    query = "rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' " + " ".join(names)
    out = harness.host_exec(host, f"{query} || true").stdout
    return dict(line.split() for line in out.splitlines() if "is not installed" not in line and line.strip())


def host_state(host: str) -> dict[str, str]:
    """What a failed run must leave as it found it: the rpm database, dnf's repositories, the engine and agents."""
    script = {
        "packages": "rpm -qa | sort",
        "repositories": 'cd /etc/yum.repos.d && for f in *; do [ -e "$f" ] && echo "== $f" && cat "$f"; done; true',
        "engine": "ls /usr/bin/dockerd /usr/sbin/dockerd /usr/bin/amazon-ssm-agent /usr/bin/amazon-ecs-init 2>&1; true",
        "agent dirs": "ls -d /etc/ecs /var/lib/ecs /var/lib/amazon/ssm 2>&1 || true",
    }
    return {name: harness.host_exec(host, command).stdout for name, command in script.items()}


def checksums(host: str) -> str:
    files = f"/etc/ecs/ecs.config /var/lib/ecs/ecs.config /etc/amazon/ssm/amazon-ssm-agent.json {DOCKER_REPO_FILE}"
    return harness.host_exec(host, f"md5sum {files}").stdout


def dnf_works(host: str) -> None:
    result = harness.host_exec(host, "dnf -q -y makecache && dnf -q -y repolist", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def managed_instances(aws) -> list[dict]:
    return aws["ssm"].describe_instance_information()["InstanceInformationList"]


def registration(host: str) -> dict:
    return json.loads(harness.host_exec(host, "cat /var/lib/amazon/ssm/registration").stdout)


AGENT_METADATA = (
    "import urllib.request as u; print(u.urlopen('http://127.0.0.1:51678/v1/metadata', timeout=5).read().decode())"
)


def agent_metadata(host: str) -> dict:
    out = harness.host_exec(host, f'python3 -c "{AGENT_METADATA}" 2>/dev/null', check=False).stdout
    return json.loads(out) if out.strip() else {}


# ------------------------------------------------------------------ 1. packages under another file's signature


def test_ssm_agent_rpm_with_another_files_signature(world, workdir, rocky, bad_mirror):
    before = host_state(rocky)
    variables = base_vars(world) | FAKE_ACTIVATION | {"role_under_test": "ssm_agent",
                                                      "ecs_anywhere_package_base_url": bad_mirror}  # fmt: skip
    result = play(world, workdir, rocky, variables)
    failed_with(result, f"Refusing to install {bad_mirror}/{SSM_RPM}", "signature does not verify")
    assert rpm_installed(rocky, "amazon-ssm-agent") == {}
    assert host_state(rocky) == before


def test_ecs_init_rpm_with_another_files_signature_on_suse(world, workdir, leap, bad_mirror):
    # The SUSE path: ecs-init (unsigned on SUSE by AWS) would go to zypper with --no-gpg-checks, so the detached
    # .asc is the only check; a good signature of another file must not pass it.
    before = host_state(leap)
    variables = base_vars(world) | {"role_under_test": "ecs_agent", "ecs_anywhere_package_base_url": bad_mirror}
    result = play(world, workdir, leap, variables)
    failed_with(result, f"Refusing to install {bad_mirror}/{ECS_RPM}", "signature does not verify")
    assert "zypper" not in " ".join(changed_tasks(result))
    assert rpm_installed(leap, "amazon-ecs-init") == {}
    assert host_state(leap) == before


# ------------------------------------------------------------------ 2. and 3. Docker's RPM repository


def test_docker_repository_under_another_key(world, workdir, rocky):
    before = host_state(rocky)
    # Empty = Docker's own key shipped with the role: a mirror given without its key.
    variables = base_vars(world) | {"role_under_test": "docker", "ecs_anywhere_docker_repo_key": ""}
    result = play(world, workdir, rocky, variables)
    failed_with(result, "Unable to install docker-ce, docker-ce-cli, containerd.io from Docker's RPM repository "
                        f"{world.mirror_for_hosts}/docker/linux/centos (9 stable)",
                "Failed to validate GPG signature for docker-ce",
                "Check that ecs_anywhere_docker_repo_key is the key that signs the repository")  # fmt: skip
    assert rpm_installed(rocky, *DOCKER_PACKAGES) == {}
    # The repository dnf cannot verify went again: later dnf runs (the agents' installs) still work.
    assert harness.host_exec(rocky, f"test -e {DOCKER_REPO_FILE}", check=False).returncode != 0
    assert host_state(rocky) == before
    dnf_works(rocky)


def test_rpm_repository_that_does_not_answer(world, workdir, rocky):
    before = host_state(rocky)
    closed = f"http://{world.gateway}:9/docker/linux/centos"
    variables = base_vars(world) | {"role_under_test": "docker", "ecs_anywhere_docker_repo_url": closed}
    result = play(world, workdir, rocky, variables)
    failed_with(result, f"Docker's RPM repository {closed} (9 stable)",
                "Failed to download metadata for repo 'docker-ce-stable'")  # fmt: skip
    assert host_state(rocky) == before
    dnf_works(rocky)


# ------------------------------------------------------------------ 4. converged, then ECS_EXTERNAL lost


def test_lost_ecs_external_converges_without_a_second_instance(world, workdir, aws, rocky):
    created = aws["ssm"].create_activation(IamRole="ECSAnywhereRole", RegistrationLimit=2)
    variables = base_vars(world) | {"ecs_anywhere_activation_id": created["ActivationId"],
                                    "ecs_anywhere_activation_code": created["ActivationCode"]}  # fmt: skip
    # After every fault above, the fixed run converges the host.
    succeeded(play(world, workdir, rocky, variables))
    assert set(rpm_installed(rocky, *DOCKER_PACKAGES)) == set(DOCKER_PACKAGES)
    assert len(managed_instances(aws)) == 1
    registered = registration(rocky)
    arn = agent_metadata(rocky)["ContainerInstanceArn"]
    config = harness.host_exec(rocky, "cat /var/lib/ecs/ecs.config").stdout
    assert "ECS_EXTERNAL=true\n" in config

    # As an interrupted run of AWS's script leaves it: the instance settings without ECS_EXTERNAL, the agent
    # restarted on them (and so unable to start).
    harness.host_exec(rocky, "sed -i '/^ECS_EXTERNAL=/d' /var/lib/ecs/ecs.config && systemctl restart ecs")
    harness.wait_for(lambda: not agent_metadata(rocky), timeout=30, what="the agent to stop on the bad config")

    result = succeeded(play(world, workdir, rocky, variables))
    assert "fleet.ecs_anywhere.ecs_agent : Write the agent configuration and the ECS Exec CA bundle" in changed_tasks(
        result
    )
    assert harness.host_exec(rocky, "cat /var/lib/ecs/ecs.config").stdout == config
    metadata = agent_metadata(rocky)
    assert metadata["Cluster"] == CLUSTER
    # The agent came back as the same container instance of the same managed instance: no second registration.
    assert metadata["ContainerInstanceArn"] == arn
    assert registration(rocky) == registered
    assert len(managed_instances(aws)) == 1
    listed = aws["ecs"].list_container_instances(cluster=CLUSTER)["containerInstanceArns"]
    assert listed == [arn]


# ------------------------------------------------------------------ 5. moved from Docker's repository to none


# A task of the docker role's own (the preflight runs its platform.yml on every run).
DOCKER_ROLE_RAN = "TASK [fleet.ecs_anywhere.docker : Note where the engine is and what is installed]"


def test_switch_to_docker_source_none_leaves_the_engine(world, workdir, aws, rocky):
    variables = base_vars(world) | {"ecs_anywhere_docker_install_source": "none"}
    before = host_state(rocky)
    files = checksums(rocky)
    registered = registration(rocky)

    result = succeeded(play(world, workdir, rocky, variables))
    # The roles ran (a setting changed) and changed nothing but the converge record.
    assert DOCKER_ROLE_RAN in result.stdout
    assert changed_tasks(result) == ["fleet.ecs_anywhere.external_instance : Record what the converge left on the host"]
    assert host_state(rocky) == before
    assert checksums(rocky) == files
    assert harness.host_exec(rocky, "systemctl is-active docker ecs amazon-ssm-agent").stdout.split() == ["active"] * 3
    assert registration(rocky) == registered
    assert len(managed_instances(aws)) == 1

    # Converged under the new setting: the next run is the preflight alone.
    again = succeeded(play(world, workdir, rocky, variables))
    assert changed_tasks(again) == []
    assert DOCKER_ROLE_RAN not in again.stdout


# ------------------------------------------------------------------ 6. a SUSE host still on Python 3.6


def test_suse_host_on_python_3_6_is_told_to_install_python311(world, workdir, leap):
    stand_in = harness.give_python_3_6(leap)
    before = host_state(leap)
    variables = base_vars(world) | FAKE_ACTIVATION | {"ansible_python_interpreter": stand_in}
    result = play(world, workdir, leap, variables)
    failed_with(result, "Ansible's modules cannot run on this openSUSE Leap 15.6 host",
                f"its interpreter {stand_in} is Python 3.6", "install SUSE's python311",
                "set ansible_python_interpreter to /usr/bin/python3.11 for the host")  # fmt: skip
    assert host_state(leap) == before
