"""fleet.ecs_anywhere.docker with the engine from Docker's apt repository (ecs_anywhere_docker_install_source=repo).

Docker's repository is out of reach, so the role installs from the mirror's copy of it (build/mirror/docker/linux/
debian: stand-in docker-ce, docker-ce-cli and containerd.io in two versions, signed with the test key), served on a
harness world of its own. On a fresh debian12 host: the pinned older version, then a rerun and a check-mode run that
change nothing, the newer version, and no version (the pin goes). On a second fresh host: the repository under a key
that does not sign it fails with a clear message, installs nothing and leaves the host's apt working.

Run: .venv/bin/python -m pytest -q tests/roles/test_docker_repo.py   (needs Docker, make agents, make images)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import harness  # noqa: E402

WORLD = "dockerrepo"
CODENAME = "bookworm"
OLD = "5:27.3.1-1~debian.12~bookworm"
NEW = "5:27.5.1-1~debian.12~bookworm"
SOURCE = "/etc/apt/sources.list.d/docker.sources"
PIN = "/etc/apt/preferences.d/docker.pref"
KEY = "/etc/apt/keyrings/docker.asc"
PLAYBOOK = """
- name: Apply the docker role of the collection
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role under test
      ansible.builtin.include_role:
        name: fleet.ecs_anywhere.docker
"""


@pytest.fixture(scope="module")
def world():
    w = harness.up(WORLD)
    harness.ensure_images("debian12")
    yield w
    harness.down(WORLD)


def new_host(world, name: str):
    host = harness.start_host(world, f"{WORLD}-{name}", "debian12")
    harness.wait_systemd(host)
    yield host
    subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)


@pytest.fixture(scope="module")
def host(world):
    yield from new_host(world, "host")


@pytest.fixture(scope="module")
def fault_host(world):
    yield from new_host(world, "fault")


def repo_url(world) -> str:
    return f"{world.mirror_for_hosts}/docker/linux/debian"


def repo_vars(world, version: str) -> dict:
    return {
        "ecs_anywhere_docker_install_source": "repo",
        "ecs_anywhere_docker_repo_url": repo_url(world),
        "ecs_anywhere_docker_repo_key": world.signing_key.read_text(),
        "ecs_anywhere_docker_version": version,
    }


def play(world, workdir: Path, host: str, variables: dict, *args: str) -> subprocess.CompletedProcess:
    return harness.play(world, host, workdir / "play.yml", variables, *args, timeout=900)


def changed(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    recap = re.search(r"\bchanged=(\d+)", result.stdout)
    assert recap, result.stdout[-3000:]
    return int(recap.group(1))


def installed(host: str) -> dict[str, str]:
    out = harness.host_exec(host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' "
                                  "docker-ce docker-ce-cli containerd.io", check=False).stdout  # fmt: skip
    return {name: version for name, version, status in (line.split() for line in out.splitlines()) if status == "ii"}


def read(host: str, path: str) -> str | None:
    result = harness.host_exec(host, f"cat {path}", check=False)
    return result.stdout if result.returncode == 0 else None


def engine_version(host: str) -> str:
    return harness.host_exec(host, "docker version --format '{{.Server.Version}}'").stdout.strip()


# ------------------------------------------------------------------ install, converge, upgrade, unpin


def test_installs_the_pinned_version_from_the_repository(world, workdir, host):
    assert changed(play(world, workdir, host, repo_vars(world, OLD))) > 0
    assert installed(host) == {"docker-ce": OLD, "docker-ce-cli": OLD, "containerd.io": "1.7.25-1"}
    assert read(host, SOURCE) == (
        "# Ansible managed\n"
        "Types: deb\n"
        f"URIs: {repo_url(world)}\n"
        f"Suites: {CODENAME}\n"
        "Components: stable\n"
        "Architectures: amd64\n"
        f"Signed-By: {KEY}\n"
    )
    assert read(host, PIN) == (
        f"# Ansible managed\nPackage: docker-ce docker-ce-cli\nPin: version {OLD}\nPin-Priority: 1001\n"
    )
    assert read(host, KEY) == world.signing_key.read_text().strip() + "\n"
    assert harness.host_exec(host, "systemctl is-active docker").stdout.strip() == "active"
    assert harness.host_exec(host, "systemctl is-enabled docker").stdout.strip() == "enabled"
    assert engine_version(host) == "27.3.1"


def test_rerun_and_check_mode_change_nothing(world, workdir, host):
    assert changed(play(world, workdir, host, repo_vars(world, OLD))) == 0
    assert changed(play(world, workdir, host, repo_vars(world, OLD), "--check", "--diff")) == 0
    assert installed(host)["docker-ce"] == OLD


def test_newer_version_upgrades(world, workdir, host):
    assert changed(play(world, workdir, host, repo_vars(world, NEW))) > 0
    assert installed(host) == {"docker-ce": NEW, "docker-ce-cli": NEW, "containerd.io": "1.7.25-1"}
    assert f"Pin: version {NEW}\n" in read(host, PIN)
    assert harness.host_exec(host, "systemctl is-active docker").stdout.strip() == "active"
    assert engine_version(host) == "27.5.1"


def test_no_version_removes_the_pin(world, workdir, host):
    assert changed(play(world, workdir, host, repo_vars(world, ""))) > 0
    assert read(host, PIN) is None
    assert installed(host)["docker-ce"] == NEW
    assert read(host, SOURCE) is not None


# ------------------------------------------------------------------ a key that does not sign the repository


def test_repository_under_another_key_fails_clearly_and_installs_nothing(world, workdir, fault_host):
    # Empty = Docker's own key shipped with the role: the mistake of pointing at a mirror and forgetting its key.
    variables = repo_vars(world, OLD) | {"ecs_anywhere_docker_repo_key": ""}
    result = play(world, workdir, fault_host, variables)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out[-3000:]
    for fragment in (f"Unable to install docker-ce, docker-ce-cli, containerd.io version {OLD} from Docker's apt "
                     f"repository {repo_url(world)} ({CODENAME} stable)", "NO_PUBKEY", "is not signed",
                     "Check that ecs_anywhere_docker_repo_key is the key that signs the repository"):  # fmt: skip
        assert fragment in out, f"{fragment!r} not in: {out[-3000:]}"
    assert installed(fault_host) == {}
    assert harness.host_exec(fault_host, "test -e /usr/bin/dockerd", check=False).returncode != 0
    # The source that apt cannot verify went again: the host's apt (and every later role using it) still works.
    assert read(fault_host, SOURCE) is None
    update = harness.host_exec(fault_host, "apt-get update -qq", check=False)
    assert update.returncode == 0, update.stdout + update.stderr
