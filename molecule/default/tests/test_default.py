"""Host-side checks of a converged ECS Anywhere external instance (testinfra).

Run by molecule/shared/verify.yml with ``--hosts=docker://<container>``; the expected values come from the
scenario's inventory through ECSA_EXPECTED_* environment variables.
"""

# ruff: noqa: S101 - pytest (testinfra) tests assert.

from __future__ import annotations

import json
import os

import pytest

CLUSTER = os.environ.get("ECSA_EXPECTED_CLUSTER", "molecule")
REGION = os.environ.get("ECSA_EXPECTED_REGION", "us-east-1")
ENDPOINT = os.environ.get("ECSA_EXPECTED_ENDPOINT", "")
ATTRIBUTES = json.loads(os.environ.get("ECSA_EXPECTED_ATTRIBUTES", "{}"))
TAGS = json.loads(os.environ.get("ECSA_EXPECTED_TAGS", "{}"))


def _settings(text: str) -> list[tuple[str, str]]:
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs.append((name, value))
    return pairs


SNAP_UNIT = "snap.amazon-ssm-agent.amazon-ssm-agent"


def _ssm_unit(host):
    # The synthetic Ubuntu host carries the agent as Ubuntu's snap, which the role uses instead of a package.
    return SNAP_UNIT if host.file(f"/etc/systemd/system/{SNAP_UNIT}.service").exists else "amazon-ssm-agent"


@pytest.mark.parametrize("service", ["docker", "amazon-ssm-agent", "ecs"])
def test_services_enabled_and_running(host, service):
    unit = host.service(_ssm_unit(host) if service == "amazon-ssm-agent" else service)
    assert unit.is_enabled
    assert unit.is_running


def test_one_ssm_agent(host):
    snap = _ssm_unit(host) == SNAP_UNIT
    assert _installed(host, "amazon-ssm-agent") != snap


def test_docker_engine_answers(host):
    out = host.check_output("docker info --format '{{.ServerVersion}}'")
    assert out.strip()


def _native_rpm(host):
    """Whether the host's own package database is rpm's (the synthetic hosts carry dpkg's too)."""
    return host.system_info.distribution not in ("debian", "ubuntu")


def _installed(host, name):
    # testinfra picks dpkg for distributions it does not list (amzn, sles), and synthetic hosts have dpkg too.
    if _native_rpm(host):
        return host.run(f"rpm -q {name}").rc == 0
    return host.package(name).is_installed


def test_ecs_init_installed(host):
    assert _installed(host, "amazon-ecs-init")


def test_an_engine_package_is_installed(host):
    # docker.io (Debian, Ubuntu), docker (Amazon Linux, SUSE) or docker-ce (Docker's repositories).
    assert [name for name in ("docker.io", "docker", "docker-ce") if _installed(host, name)]


def test_user_config_is_whole_and_exact(host):
    config = host.file("/etc/ecs/ecs.config")
    assert config.user == "root"
    assert config.mode == 0o600
    pairs = _settings(config.content_string)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"duplicate settings: {names}"
    values = dict(pairs)
    assert values["ECS_CLUSTER"] == CLUSTER
    assert json.loads(values["ECS_INSTANCE_ATTRIBUTES"]) == ATTRIBUTES
    assert json.loads(values["ECS_CONTAINER_INSTANCE_TAGS"]) == TAGS


def test_instance_config_is_whole_and_exact(host):
    config = host.file("/var/lib/ecs/ecs.config")
    assert config.mode == 0o600
    pairs = _settings(config.content_string)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"duplicate settings: {names}"
    values = dict(pairs)
    assert values["AWS_DEFAULT_REGION"] == REGION
    assert values["ECS_EXTERNAL"] == "true"
    if ENDPOINT:
        assert values["ECS_BACKEND_HOST"] == ENDPOINT
    assert "ECS_ENABLE_GPU_SUPPORT" not in values


def test_ssm_endpoint_override(host):
    config = json.loads(host.file("/etc/amazon/ssm/amazon-ssm-agent.json").content_string)
    if ENDPOINT:
        assert config["Ssm"]["Endpoint"] == ENDPOINT


def test_registration_is_readable_and_vault_private(host):
    registration = json.loads(host.file("/var/lib/amazon/ssm/registration").content_string)
    assert registration["Region"] == REGION
    assert registration["ManagedInstanceID"].startswith("mi-")
    vault = host.file("/var/lib/amazon/ssm/Vault/Store/RegistrationKey")
    assert vault.exists
    assert vault.mode & 0o077 == 0


def test_exec_ca_bundle(host):
    bundle = host.file("/var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem")
    assert bundle.is_file
    assert bundle.mode == 0o400
    assert bundle.user == "root"
    assert "BEGIN CERTIFICATE" in bundle.content_string


def test_signature_trust_not_weakened(host):
    # Dedicated keyrings, nothing imported into root's GnuPG home.
    # A snap SSM agent is used as it is: no package, so no keyring of its own.
    for name in ("amazon-ecs-agent",) if _ssm_unit(host) == SNAP_UNIT else ("amazon-ssm-agent", "amazon-ecs-agent"):
        keyring = host.file(f"/etc/ecs-anywhere/keyring/{name}.gpg")
        assert keyring.is_file
        assert keyring.user == "root"
        assert keyring.mode & 0o022 == 0
    # rpm_key runs gpg to read a key's id, which creates root's GnuPG home; no key may be in it.
    assert "pub:" not in host.run("gpg --batch --with-colons --list-keys 2>/dev/null || true").stdout
    if _native_rpm(host):
        _rpm_trust_not_weakened(host)
    else:
        _apt_trust_not_weakened(host)


def _rpm_trust_not_weakened(host):
    # dnf and zypper still check package signatures in every repository and in their main configuration.
    config = host.run(
        "cat /etc/dnf/dnf.conf /etc/yum.repos.d/*.repo /etc/zypp/zypp.conf /etc/zypp/repos.d/*.repo 2>/dev/null || true"
    ).stdout.replace(" ", "")
    assert "gpgcheck=0" not in config and "gpgcheck=False" not in config.replace("false", "False")


def _apt_trust_not_weakened(host):
    # apt still checks signatures everywhere.
    apt_config = host.run("apt-config dump").stdout
    for flag in ("AllowUnauthenticated", "AllowInsecureRepositories", "AllowDowngradeToInsecureRepositories"):
        assert f'{flag} "true"' not in apt_config and f'{flag} "1"' not in apt_config
    sources = host.run("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true").stdout
    assert "trusted=yes" not in sources.replace(" ", "")


def test_no_download_left_behind(host):
    pattern = r"\( -name '*.ecs-anywhere*' -o -name '*.deb' -o -name '*.rpm' -o -name '*.sig' -o -name '*.asc' \)"
    leftovers = host.run(f"find /tmp /var/tmp /root -maxdepth 2 {pattern} -print").stdout
    assert leftovers.strip() == ""


INTROSPECT = (
    'python3 -c "import urllib.request; '
    "print(urllib.request.urlopen('http://127.0.0.1:51678/v1/metadata', timeout=5).read().decode())\""
)


def test_introspection_reports_cluster(host):
    metadata = json.loads(host.check_output(INTROSPECT))
    assert metadata["Cluster"] == CLUSTER
    assert metadata["ContainerInstanceArn"]
