"""The stand-ins of Docker's packages and the mirror of Docker's Debian repository (download.docker.com).

Checks the packages (names, versions, relations, files), the signed indexes, the programs themselves on this
machine, and finally apt on systemd host containers: ``apt-get update`` with the test key, a pinned install, the
engine's units running, and the refusal of the repository under another key.
"""

import email.parser
import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from tests import harness

from .conftest import REPO
from .conftest import wait_for

CODENAMES = {"bullseye": "11", "bookworm": "12", "trixie": "13"}
IMAGES = {"debian11": "bullseye", "debian12": "bookworm", "debian13": "trixie"}
DOCKER = ("27.3.1-1", "27.5.1-1")
CONTAINERD = ("1.7.24-1", "1.7.25-1")
WORLD = "dockerrepo-apt"


def docker_version(upstream: str, codename: str) -> str:
    return f"5:{upstream}~debian.{CODENAMES[codename]}~{codename}"


def repo(build):
    return build / "mirror" / "docker" / "linux" / "debian"


def deb_field(deb, field) -> str:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True, check=True).stdout
    return out.strip()


def deb_files(deb) -> set[str]:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].lstrip(".") for line in listing.splitlines()}


def stanzas(text: str) -> list[dict[str, str]]:
    return [dict(email.parser.Parser().parsestr(block)) for block in text.strip().split("\n\n")]


# ------------------------------------------------------------------ packages and indexes


@pytest.mark.parametrize("codename", sorted(CODENAMES))
def test_packages_carry_dockers_versions_and_relations(build, codename):
    pool = repo(build) / "dists" / codename / "pool" / "stable" / "amd64"
    for upstream in DOCKER:
        version = docker_version(upstream, codename)
        engine = pool / f"docker-ce_{version.split(':', 1)[1]}_amd64.deb"
        cli = pool / f"docker-ce-cli_{version.split(':', 1)[1]}_amd64.deb"
        assert deb_field(engine, "Package") == "docker-ce" and deb_field(engine, "Version") == version
        assert deb_field(cli, "Package") == "docker-ce-cli" and deb_field(cli, "Version") == version
        depends = deb_field(engine, "Depends")
        assert "containerd.io (>= " in depends and "docker-ce-cli" in depends and "iptables" in depends
        assert "docker.io" in deb_field(engine, "Conflicts") and "docker.io" in deb_field(cli, "Conflicts")
        assert {"/usr/bin/dockerd", "/lib/systemd/system/docker.service", "/lib/systemd/system/docker.socket"} <= (
            deb_files(engine)
        )
        assert "/usr/bin/docker" in deb_files(cli)
    for version in CONTAINERD:
        runtime = pool / f"containerd.io_{version}_amd64.deb"
        assert deb_field(runtime, "Version") == version
        assert deb_field(runtime, "Provides") == "containerd, runc"
        assert {"/usr/bin/containerd", "/usr/bin/runc", "/usr/bin/ctr", "/lib/systemd/system/containerd.service",
                "/etc/containerd/config.toml"} <= deb_files(runtime)  # fmt: skip
    # Only this codename's builds: apt must never see another release's docker-ce.
    assert sorted(p.name for p in pool.iterdir() if f"~debian.{CODENAMES[codename]}~" not in p.name) == [
        f"containerd.io_{v}_amd64.deb" for v in CONTAINERD
    ]


def test_indexes_are_signed_with_the_test_key_and_match_the_pool(build, tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    key = repo(build) / "gpg"
    assert key.read_bytes() == (build / "mirror" / "fleet-test-signing-key.asc").read_bytes()
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import", str(key)], capture_output=True, check=True)
    fpr = (build / "mirror" / "fleet-test-signing-key.fpr").read_text().strip()
    try:
        for codename in CODENAMES:
            dist = repo(build) / "dists" / codename
            for args in (["--verify", str(dist / "InRelease")], ["--verify", str(dist / "Release.gpg"), str(dist / "Release")]):  # fmt: skip  # noqa: E501
                verified = subprocess.run(["gpg", "--homedir", str(home), "--batch", *args], capture_output=True,
                                          text=True, check=False)  # fmt: skip
                assert verified.returncode == 0, verified.stderr
                assert fpr in verified.stderr.replace(" ", "")
            release = stanzas((dist / "Release").read_text())[0]
            assert (release["Suite"], release["Codename"], release["Components"]) == (codename, codename, "stable")
            assert release["Architectures"] == "amd64"
            assert (dist / "Release").read_text() in (dist / "InRelease").read_text()
            listed = {line.split()[2]: line.split()[:2] for line in release["SHA256"].strip().splitlines()}
            assert set(listed) == {"stable/binary-amd64/Packages", "stable/binary-amd64/Packages.gz"}
            for rel, (digest, size) in listed.items():
                data = (dist / rel).read_bytes()
                assert (hashlib.sha256(data).hexdigest(), len(data)) == (digest, int(size))
            packages = (dist / "stable/binary-amd64/Packages").read_text()
            assert gzip.decompress((dist / "stable/binary-amd64/Packages.gz").read_bytes()).decode() == packages
            entries = stanzas(packages)
            assert sorted((e["Package"], e["Version"]) for e in entries) == sorted(
                [("containerd.io", v) for v in CONTAINERD]
                + [(p, docker_version(v, codename)) for p in ("docker-ce", "docker-ce-cli") for v in DOCKER]
            )
            for entry in entries:
                assert entry["Filename"].startswith(f"dists/{codename}/pool/stable/amd64/")
                deb = (repo(build) / entry["Filename"]).read_bytes()
                assert hashlib.sha256(deb).hexdigest() == entry["SHA256"] and len(deb) == int(entry["Size"])
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


# ------------------------------------------------------------------ the programs, on this machine


@pytest.fixture
def engine_root(build):
    """docker-ce, docker-ce-cli and containerd.io unpacked under a short path (sun_path is 108 bytes)."""
    root = tempfile.mkdtemp(prefix="dk", dir="/tmp")
    pool = repo(build) / "dists" / "bookworm" / "pool" / "stable" / "amd64"
    for deb in pool.glob("*.deb"):
        if "27.3.1" in deb.name or deb.name.startswith("containerd.io_1.7.24"):
            subprocess.run(["dpkg-deb", "-x", str(deb), root], check=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_engine_cli_and_containerd_answer_like_the_real_ones(engine_root):
    bin_dir = os.path.join(engine_root, "usr", "bin")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    env.pop("DOCKER_HOST", None)
    containerd_sock, docker_sock = os.path.join(engine_root, "c.sock"), os.path.join(engine_root, "d.sock")

    def cli(*args):
        return subprocess.run([sys.executable, os.path.join(bin_dir, "docker"), "-H", f"unix://{docker_sock}", *args],
                              capture_output=True, text=True, env=env, timeout=30, check=False)  # fmt: skip

    down = cli("ps")
    assert down.returncode == 1
    assert f"Cannot connect to the Docker daemon at unix://{docker_sock}. Is the docker daemon running?" in down.stderr
    bad_config = os.path.join(engine_root, "daemon.json")
    with open(bad_config, "w", encoding="utf-8") as fh:
        fh.write("{not json")
    dockerd = [sys.executable, os.path.join(bin_dir, "dockerd"), "-H", f"unix://{docker_sock}",
               f"--containerd={containerd_sock}", "--pidfile", os.path.join(engine_root, "docker.pid"),
               "--data-root", os.path.join(engine_root, "docker"), "--config-file", bad_config]  # fmt: skip
    refused = subprocess.run(dockerd, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert refused.returncode != 0 and "unable to configure the Docker daemon with file" in refused.stderr
    os.unlink(bad_config)

    procs = [subprocess.Popen([sys.executable, os.path.join(bin_dir, "containerd"), "--address", containerd_sock],
                              stderr=subprocess.DEVNULL, env=env)]  # fmt: skip
    try:
        procs.append(subprocess.Popen(dockerd, stderr=subprocess.DEVNULL, env=env))
        wait_for(lambda: cli("version").returncode == 0, timeout=20, what="the stand-in engine")
        assert cli("version", "--format", "{{.Client.Version}} {{.Server.Version}}").stdout == "27.3.1 27.3.1\n"
        components = cli("version", "--format", "{{json .Server.Components}}").stdout
        assert '"Name":"containerd","Version":"1.7.24"' in components and '"Name":"runc"' in components
        assert cli("info", "--format", "{{.ServerVersion}}|{{.DockerRootDir}}").stdout == (
            f"27.3.1|{os.path.join(engine_root, 'docker')}\n"
        )
        assert "Server Version: 27.3.1" in cli("system", "info").stdout
        assert cli("ps", "-q").stdout == "" and cli("images").returncode == 0
        unknown = cli("info", "--format", "{{.NoSuchField}}")
        assert unknown.returncode == 1 and 'map has no entry for key "NoSuchField"' in unknown.stderr
        assert cli("run", "hello-world").returncode == 1
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    assert not os.path.exists(docker_sock) and not os.path.exists(os.path.join(engine_root, "docker.pid"))


# ------------------------------------------------------------------ apt on host containers


@pytest.fixture(scope="module")
def served(build, tmp_path_factory):
    """The freshly built mirror, served on the gateway of a harness world of its own."""
    world = harness.up(WORLD)
    workdir = tmp_path_factory.mktemp("served")
    port_file = workdir / "port"
    log = open(workdir / "mirror.log", "w")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen([sys.executable, "-m", "tests.agents.mirror", "--host", "127.0.0.1", "--host",
                             world.gateway, "--port", "0", "--root", str(build / "mirror"), "--port-file",
                             str(port_file)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: port_file.exists() and port_file.read_text().strip(), timeout=15, what="mirror port file")
        yield world, f"http://{world.gateway}:{port_file.read_text().strip()}/docker/linux/debian"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()
        harness.down(WORLD, quiet=True)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_apt_updates_with_the_key_and_installs_a_pinned_version(build, served, image):
    # debian12 is what every suite runs on; the other releases run where their images were built (make images).
    if image == "debian12":
        harness.ensure_images(image)
    elif harness.run(["docker", "image", "inspect", f"ecsa-host:{image}"], check=False).returncode:
        pytest.skip(f"ecsa-host:{image} is not built (make images)")
    world, url = served
    codename = IMAGES[image]
    old = docker_version(DOCKER[0], codename)
    host = harness.start_host(world, f"{WORLD}-{image}", image)
    try:
        harness.wait_systemd(host)
        harness.host_exec(host, "mkdir -p /etc/apt/keyrings")
        subprocess.run(["docker", "cp", str(repo(build) / "gpg"), f"{host}:/etc/apt/keyrings/docker.asc"], check=True)
        source = (f"Types: deb\nURIs: {url}\nSuites: {codename}\nComponents: stable\nArchitectures: amd64\n"
                  "Signed-By: /etc/apt/keyrings/docker.asc\n")  # fmt: skip
        source_path = "/etc/apt/sources.list.d/docker.sources"
        harness.host_exec(host, f"printf '{source}' > {source_path}")
        update = harness.host_exec(host, "apt-get update", check=False)
        assert update.returncode == 0, update.stdout + update.stderr
        assert f"{url} {codename} InRelease" in update.stdout and "NO_PUBKEY" not in update.stdout + update.stderr
        madison = harness.host_exec(host, "apt-cache madison docker-ce").stdout
        assert all(docker_version(v, codename) in madison for v in DOCKER), madison

        apt_install = "DEBIAN_FRONTEND=noninteractive apt-get install -yq --no-install-recommends"
        install = harness.host_exec(host, f"{apt_install} docker-ce={old} docker-ce-cli={old}", check=False)
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr
        installed = harness.host_exec(host, "dpkg-query -W docker-ce docker-ce-cli containerd.io").stdout
        assert installed.split() == ["containerd.io", CONTAINERD[-1], "docker-ce", old, "docker-ce-cli", old]
        # As with the real packages, installing starts and enables the engine and containerd.
        units = "docker.socket docker containerd"
        assert harness.host_exec(host, f"systemctl is-active {units}").stdout.split() == ["active"] * 3
        assert harness.host_exec(host, f"systemctl is-enabled {units}").stdout.split() == ["enabled"] * 3
        assert harness.host_exec(host, "docker version --format '{{.Server.Version}}'").stdout == "27.3.1\n"
        assert harness.host_exec(host, "stat -c %G /run/docker.sock").stdout == "docker\n"

        # The same repository under another key (Docker's real one) is refused. Without its lists, that is:
        # apt falls back on lists it verified before, with a mere warning.
        harness.host_exec(host, "rm -f /var/lib/apt/lists/*_docker_linux_debian_*")
        docker_key = REPO / "roles" / "docker" / "files" / "docker-archive-keyring.asc"
        subprocess.run(["docker", "cp", str(docker_key), f"{host}:/etc/apt/keyrings/docker.asc"], check=True)
        only_docker = "-o Dir::Etc::SourceParts=/nonexistent -o Dir::Etc::SourceList=" + source_path
        refused = harness.host_exec(host, f"apt-get update {only_docker}", check=False)
        assert refused.returncode != 0
        assert f"{url} {codename} InRelease' is not signed" in refused.stdout + refused.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", host], capture_output=True, check=False)
