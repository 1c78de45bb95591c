"""Bad input and faults of the host roles, each failing with a clear message (issue 4).

Drives ansible-playbook against one systemd host container on a harness world (emulator + mirror). The
argument and preflight failures, the missing engine and a package whose signature does not match (served by a
second mirror) run first on the fresh host; the registration faults follow on the same host, which is then
fixed and must converge without a second managed instance, and finally refuses, then performs, a cluster move.
On the host that leaves converged, the converge record must skip the roles only while nothing drifted.

Run: .venv/bin/python -m pytest -q tests/roles/test_role_faults.py   (needs Docker, make agents, make images)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import harness  # noqa: E402
from tests.emulator import agent_protocol  # noqa: E402
from tests.roles.conftest import emulator_clients  # noqa: E402
from tests.roles.conftest import failed_with  # noqa: E402

REGION = "us-east-1"
CLUSTER = "faults"
@pytest.fixture(scope="module")
def world():
    name = "faults"
    w = harness.up(name)
    harness.ensure_images("debian12")
    yield w
    harness.down(name)


@pytest.fixture(scope="module")
def aws(world):
    return emulator_clients(world, REGION, CLUSTER, "other")


def new_host(world, name: str) -> str:
    host = harness.start_host(world, f"ecsa-faults-{name}", "debian12")
    harness.wait_systemd(host)
    return host


@pytest.fixture(scope="module")
def fresh_host(world):
    host = new_host(world, "fresh")
    yield host
    subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)


def base_vars(world) -> dict:
    return {
        "ecs_anywhere_region": REGION,
        "ecs_anywhere_cluster": CLUSTER,
        "ecs_anywhere_ssm_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_ecs_endpoint": world.emulator_for_hosts,
        "ecs_anywhere_package_base_url": world.mirror_for_hosts,
        "ecs_anywhere_signing_keys": [Path(world.signing_key).read_text()],
        "ecs_anywhere_ecs_wait_delay": 1,
        "ecs_anywhere_ecs_wait_retries": 60,
    }


def play(world, workdir: Path, host: str, variables: dict, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return harness.play(world, host, workdir / "play.yml", {k: v for k, v in variables.items() if k not in drop})


def activation(aws, limit: int = 1, **extra) -> tuple[str, str]:
    created = aws["ssm"].create_activation(IamRole="ECSAnywhereRole", RegistrationLimit=limit, **extra)
    return created["ActivationId"], created["ActivationCode"]


def instances_of(aws, activation_id: str) -> list[dict]:
    return aws["ssm"].describe_instance_information(Filters=[{"Key": "ActivationIds", "Values": [activation_id]}])[
        "InstanceInformationList"
    ]


# ------------------------------------------------------------------ input and preflight faults (no change on the host)


@pytest.mark.parametrize("missing", ["ecs_anywhere_region", "ecs_anywhere_cluster"])
def test_missing_required_variable(world, workdir, fresh_host, missing):
    result = play(world, workdir, fresh_host, base_vars(world), drop=(missing,))
    failed_with(result, "missing required arguments", missing)


def test_missing_activation_on_unregistered_host(world, workdir, fresh_host):
    result = play(world, workdir, fresh_host, base_vars(world))
    failed_with(result, "not registered with Systems Manager", "ecs_anywhere_activation_id")


def test_unreachable_mirror_and_endpoint(world, workdir, fresh_host):
    variables = base_vars(world) | {
        "ecs_anywhere_activation_id": "00000000-0000-0000-0000-000000000000",
        "ecs_anywhere_activation_code": "x" * 20,
        # A closed port on the test's own gateway.
        "ecs_anywhere_package_base_url": f"http://{world.gateway}:9",
        "ecs_anywhere_ecs_endpoint": f"http://{world.gateway}:9",
    }
    result = play(world, workdir, fresh_host, variables)
    failed_with(result, "The host cannot reach", "ECS API at", "package downloads at")
    assert "SSM API at" not in result.stdout


def test_credential_chain_that_would_hijack_the_agents(world, workdir, fresh_host):
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYFAULTSECRET"
    config = f"[default]\\ncredential_process = /bin/echo {secret}\\n[profile ops]\\nregion = us-east-1\\n"
    harness.host_exec(fresh_host, f"mkdir -p /root/.aws && printf '{config}' > /root/.aws/config && "
                                  "echo 'AWS_ACCESS_KEY_ID=AKIAFAULTTEST' >> /etc/environment")  # fmt: skip
    variables = base_vars(world) | {
        "ecs_anywhere_activation_id": "00000000-0000-0000-0000-000000000000",
        "ecs_anywhere_activation_code": "x" * 20,
    }
    try:
        result = play(world, workdir, fresh_host, variables)
        failed_with(result, "Root has AWS credentials configured", "AWS_ACCESS_KEY_ID", "credential_process",
                    "profiles other than [default] (ops)", "ecs_anywhere_allow_existing_credentials")  # fmt: skip
        assert secret not in result.stdout + result.stderr
        assert "AKIAFAULTTEST" not in result.stdout + result.stderr

        # Allowed explicitly, the preflight goes on to its next check (here: an endpoint on a closed port).
        allowed = variables | {
            "ecs_anywhere_allow_existing_credentials": True,
            "ecs_anywhere_ecs_endpoint": f"http://{world.gateway}:9",
        }
        result = play(world, workdir, fresh_host, allowed)
        failed_with(result, "The host cannot reach", "ECS API at")
        assert "Root has AWS credentials configured" not in result.stdout
    finally:
        harness.host_exec(fresh_host, "rm -rf /root/.aws && sed -i '/AKIAFAULTTEST/d' /etc/environment")
    assert harness.host_exec(fresh_host, "dpkg-query -W amazon-ssm-agent", check=False).returncode != 0


def rocky(version: str) -> dict:
    os_release = f'ID="rocky"\nID_LIKE="rhel centos fedora"\nNAME="Rocky Linux"\nVERSION_ID="{version}"\n'
    return {"/etc/os-release": os_release, "/etc/redhat-release": f"Rocky Linux release {version}\n"}


# What the host claims (os-release, plus the release file Ansible reads first on the RHEL family), the extra
# variables of the run, and what the refusal must say.
REFUSED_HOSTS = {
    "ubuntu2004": ({"/etc/os-release": 'ID=ubuntu\nID_LIKE=debian\nNAME=Ubuntu\nVERSION_ID="20.04"\n'}, {},
                   ["Ubuntu 20.04 and older are out of standard support"]),
    "amazon2": ({"/etc/os-release": 'ID="amzn"\nID_LIKE="centos rhel fedora"\nNAME="Amazon Linux"\nVERSION_ID="2"\n'},
                {}, ["Amazon Linux 2 reached its end of life", "Amazon Linux 2023"]),
    "rocky8": (rocky("8.10"), {},
               ["cannot drive dnf on Rocky Linux 8", "ansible/ansible#83357"]),
    "rocky9-distro-docker": (rocky("9.5"), {"ecs_anywhere_docker_install_source": "distro"},
                             ["Rocky Linux ships podman, not Docker", "ecs_anywhere_docker_install_source to repo"]),
}  # fmt: skip


@pytest.mark.parametrize("claimed", REFUSED_HOSTS)
def test_refused_platforms_change_nothing(world, workdir, fresh_host, claimed):
    # The fresh host claims another release for one run (the preflight changes nothing), then Debian again.
    files, extra_vars, messages = REFUSED_HOSTS[claimed]
    harness.host_exec(fresh_host, "cp /etc/os-release /root/os-release.orig && mv /etc/debian_version /root/")
    try:
        for path, content in files.items():
            harness.host_exec(fresh_host, f"printf '{content}' > {path}")
        result = play(world, workdir, fresh_host, base_vars(world) | extra_vars)
        failed_with(result, *messages, "nothing was changed on the host")
    finally:
        harness.host_exec(fresh_host, "cat /root/os-release.orig > /etc/os-release && rm /root/os-release.orig "
                                      "&& rm -f /etc/redhat-release && mv /root/debian_version /etc/")  # fmt: skip
    untouched = harness.host_exec(fresh_host, "test ! -e /etc/ecs-anywhere -a ! -e /var/lib/ecs", check=False)
    assert untouched.returncode == 0


def test_docker_none_without_engine(world, workdir, fresh_host):
    variables = base_vars(world) | {"ecs_anywhere_docker_install_source": "none", "role_under_test": "docker"}
    result = play(world, workdir, fresh_host, variables)
    failed_with(result, "ecs_anywhere_docker_install_source is 'none' but no Docker engine")


def test_bad_signature_in_mirror(world, workdir, fresh_host):
    # A second mirror on the same gateway serving the packages with each other's signatures.
    root = workdir / "bad-mirror"
    shutil.copytree(REPO / "build" / "mirror", root)
    ssm_dir = root / f"amazon-ssm-{REGION}" / "latest" / "debian_amd64"
    ecs_sig = root / f"amazon-ecs-agent-{REGION}" / "amazon-ecs-init-latest.amd64.deb.asc"
    shutil.copy(ecs_sig, ssm_dir / "amazon-ssm-agent.deb.sig")
    port_file = workdir / "bad-mirror.port"
    mirror = [sys.executable, "-m", "tests.agents.mirror", "--host", "127.0.0.1", "--host", world.gateway,
              "--port", "0", "--port-file", str(port_file), "--root", str(root)]  # fmt: skip
    proc = subprocess.Popen(mirror, cwd=REPO)
    try:
        for _ in range(100):
            if port_file.exists() and port_file.read_text().strip():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        port = port_file.read_text().strip()
        variables = base_vars(world) | {
            "role_under_test": "ssm_agent",
            "ecs_anywhere_package_base_url": f"http://{world.gateway}:{port}",
            "ecs_anywhere_activation_id": "00000000-0000-0000-0000-000000000000",
            "ecs_anywhere_activation_code": "x" * 20,
        }
        result = play(world, workdir, fresh_host, variables)
        failed_with(result, "Refusing to install", "signature does not verify")
        probe = harness.host_exec(fresh_host, "dpkg-query -W amazon-ssm-agent", check=False)
        assert probe.returncode != 0, "the badly signed package was installed"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------ registration faults, then the fix


def test_registration_faults_then_fix_and_cluster_guard(world, workdir, aws, fresh_host):
    # The host that went through every fault above: the fixed run must converge on it all the same.
    host = fresh_host
    variables = base_vars(world)
    # The registration faults through the role that registers (the fixed run goes through external_instance).
    ssm_only = variables | {"role_under_test": "ssm_agent"}

    good_id, good_code = activation(aws)
    wrong = ssm_only | {"ecs_anywhere_activation_id": good_id, "ecs_anywhere_activation_code": "W" * 20}
    failed_with(play(world, workdir, host, wrong), "Unable to register the host", "InvalidActivation")

    expired_id, expired_code = activation(aws)
    harness.emulator(world, "POST", "/_emu/clock", {"advance_seconds": 25 * 3600})
    good_id, good_code = activation(aws)  # created after the jump: still valid
    expired = ssm_only | {"ecs_anywhere_activation_id": expired_id, "ecs_anywhere_activation_code": expired_code}
    failed_with(play(world, workdir, host, expired), "Unable to register the host", "ActivationExpired")

    used_id, used_code = activation(aws, limit=1)
    agent_protocol.register(world.emulator_local, used_id, used_code)
    exhausted = ssm_only | {"ecs_anywhere_activation_id": used_id, "ecs_anywhere_activation_code": used_code}
    failed_with(play(world, workdir, host, exhausted), "Unable to register the host", "RegistrationLimitExceeded")

    fixed = variables | {"ecs_anywhere_activation_id": good_id, "ecs_anywhere_activation_code": good_code}
    result = play(world, workdir, host, fixed)
    assert result.returncode == 0, result.stdout[-3000:]
    assert len(instances_of(aws, good_id)) == 1
    # The failed attempts registered nothing: the expired activation has no instance, the exhausted one only
    # the instance that used it up.
    assert instances_of(aws, expired_id) == []
    assert len(instances_of(aws, used_id)) == 1
    registration = json.loads(harness.host_exec(host, "cat /var/lib/amazon/ssm/registration").stdout)

    moved = fixed | {"ecs_anywhere_cluster": "other"}
    # The cluster guard through the role that holds it; the move itself through external_instance.
    guarded = play(world, workdir, host, moved | {"role_under_test": "ecs_agent"})
    failed_with(guarded, "registered as an ECS container instance", "in cluster 'faults'",
                "ecs_anywhere_ecs_allow_cluster_change")  # fmt: skip

    result = play(world, workdir, host, moved | {"ecs_anywhere_ecs_allow_cluster_change": True})
    assert result.returncode == 0, result.stdout[-3000:]
    listed = aws["ecs"].list_container_instances(
        cluster="other", filter=f"ec2InstanceId == {registration['ManagedInstanceID']}"
    )
    assert len(listed["containerInstanceArns"]) == 1
    # Same managed instance throughout: no second registration.
    assert json.loads(harness.host_exec(host, "cat /var/lib/amazon/ssm/registration").stdout) == registration
    assert len(instances_of(aws, good_id)) == 1


# ------------------------------------------------------------------ the converge record


def recap_changed(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    counts = [int(line.split("changed=")[1].split()[0]) for line in result.stdout.splitlines() if " changed=" in line]
    assert len(counts) == 1, result.stdout[-2000:]
    return counts[0]


def ran_roles(result: subprocess.CompletedProcess) -> bool:
    # A task of the role's own (the preflight runs its platform.yml on every run).
    return "TASK [fleet.ecs_anywhere.ecs_agent : Check the region, the cluster and the agent settings]" in result.stdout


def test_converge_record_skips_only_a_host_that_did_not_drift(world, workdir, aws, fresh_host):
    # The host the test above left converged in cluster 'other'.
    host = fresh_host
    variables = base_vars(world) | {"ecs_anywhere_cluster": "other", "ecs_anywhere_ecs_allow_cluster_change": True}

    # Written by the last converge, readable by root only, without the activation or any key.
    record_file = "/var/lib/ecs-anywhere/converged.json"
    mode, record = harness.host_exec(host, f"stat -c %a {record_file}; cat {record_file}").stdout.split("\n", 1)
    assert mode == "600"
    record = json.loads(record)
    assert record["managed_instance_id"].startswith("mi-")
    assert record["files"]["/etc/ecs/ecs.config"]["checksum"]
    assert "activation" not in json.dumps(record).lower()

    # Nothing drifted: the preflight alone decides, the roles do not run.
    quiet = play(world, workdir, host, variables)
    assert recap_changed(quiet) == 0
    assert not ran_roles(quiet)

    # An edited agent configuration is put back.
    user_config = harness.host_exec(host, "cat /etc/ecs/ecs.config").stdout
    harness.host_exec(host, "echo ECS_LOGLEVEL=debug >> /etc/ecs/ecs.config")
    repaired = play(world, workdir, host, variables)
    assert ran_roles(repaired)
    assert recap_changed(repaired) > 0
    assert harness.host_exec(host, "cat /etc/ecs/ecs.config").stdout == user_config

    # A stopped agent is started again.
    harness.host_exec(host, "systemctl stop ecs")
    restarted = play(world, workdir, host, variables)
    assert ran_roles(restarted)
    assert recap_changed(restarted) > 0
    assert harness.host_exec(host, "systemctl is-active ecs", check=False).stdout.strip() == "active"

    # A changed setting runs the roles, which apply it.
    tagged = variables | {"ecs_anywhere_instance_attributes": {"stage": "record"}}
    applied = play(world, workdir, host, tagged)
    assert ran_roles(applied)
    assert recap_changed(applied) > 0
    assert 'ECS_INSTANCE_ATTRIBUTES={"stage":"record"}' in harness.host_exec(host, "cat /etc/ecs/ecs.config").stdout

    # Converged again: back to the preflight alone.
    settled = play(world, workdir, host, tagged)
    assert recap_changed(settled) == 0
    assert not ran_roles(settled)
