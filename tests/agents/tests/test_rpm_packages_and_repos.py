"""The RPM side of the stand-ins: AWS's agent RPMs (rpmbuild from the same sources as the .debs), their bucket paths
and detached signatures, Docker's RPM repositories, the distributions' own docker repositories, and Docker's Ubuntu
apt repository. Headers are read with ``rpm -qp``, signatures checked with ``gpgv`` against the test key; no host
container is needed.
"""

import gzip
import hashlib
import io
import subprocess
import tarfile
import xml.etree.ElementTree as ET

import pytest

SSM = ("3.3.1957.0-1", "3.3.2299.0-1")
ECS = ("1.105.1-1", "1.106.0-1")
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
DOCKER = ("27.3.1-1", "27.5.1-1")
CONTAINERD = ("1.7.24-1", "1.7.25-1")
DOCKER_RPM_REPOS = {("centos", "9"): "el9", ("centos", "10"): "el10", ("rhel", "9"): "el9", ("rhel", "10"): "el10",
                    ("fedora", "43"): "fc43", ("fedora", "44"): "fc44", ("fedora", "45"): "fc45"}
UBUNTU = {"jammy": "22.04", "noble": "24.04"}
# The distributions' own packages: (name, epoch, version, release).
DISTRO_REPOS = {
    "amazonlinux/2023": [("docker", "0", "27.3.1", "1.amzn2023.0.1"), ("docker", "0", "27.5.1", "1.amzn2023.0.1"),
                         ("containerd", "0", "1.7.24", "1.amzn2023.0.1"),
                         ("containerd", "0", "1.7.25", "1.amzn2023.0.1"), ("runc", "0", "1.2.2", "1.amzn2023.0.1")],
    "suse/15": [("docker", "0", "27.3.1_ce", "150000.1"), ("docker", "0", "27.5.1_ce", "150000.1"),
                ("containerd", "0", "1.7.24", "150000.1"), ("containerd", "0", "1.7.25", "150000.1"),
                ("runc", "0", "1.2.2", "150000.1")],
}
RPMLIB = "rpmlib("
NS = {"c": "http://linux.duke.edu/metadata/common", "rpm": "http://linux.duke.edu/metadata/rpm",
      "r": "http://linux.duke.edu/metadata/repo"}


def rpmq(rpm, *args) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True, check=True).stdout


def header(rpm) -> dict:
    fmt = "%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{BUILDTIME}"
    name, epoch, version, release, arch, buildtime = rpmq(rpm, "--qf", fmt).split("|")
    return {"name": name, "epoch": epoch, "version": version, "release": release, "arch": arch,
            "buildtime": int(buildtime)}


def requires(rpm) -> set[str]:
    return {r for r in rpmq(rpm, "--requires").splitlines() if not r.startswith(RPMLIB)}


def scriptlet(rpm, tag) -> str:
    out = rpmq(rpm, "--qf", "%{" + tag + "}")
    return "" if out == "(none)" else out


def rpm_files(rpm) -> set[str]:
    return set(rpmq(rpm, "--list").split())


def deb_files(deb) -> set[str]:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].lstrip(".").rstrip("/") for line in listing.splitlines()} - {""}


@pytest.fixture(scope="module")
def keyring(build, tmp_path_factory):
    """The public test key as a keyring gpgv reads (dearmored)."""
    path = tmp_path_factory.mktemp("keyring") / "test-key.gpg"
    armored = (build / "mirror" / "fleet-test-signing-key.asc").read_bytes()
    path.write_bytes(subprocess.run(["gpg", "--dearmor"], input=armored, capture_output=True, check=True).stdout)
    return path


def gpgv(keyring, *args):
    return subprocess.run(["gpgv", "--keyring", str(keyring), *map(str, args)], capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def rpmdb(build, tmp_path_factory):
    """An rpm database of its own holding only the test key (for ``rpm -K``)."""
    db = tmp_path_factory.mktemp("rpmdb")
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], capture_output=True, check=True)
    subprocess.run(["rpm", "--dbpath", str(db), "--import", str(build / "mirror" / "fleet-test-signing-key.asc")],
                   capture_output=True, check=True)
    return db


# ------------------------------------------------------------------ AWS's agent RPMs

def _unit_moved(path):
    return "/usr" + path if path.startswith("/lib/systemd/") else path


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", SSM)
def test_ssm_rpm_header_scriptlets_and_files(build, version, arch):
    rpm = build / "agents" / f"amazon-ssm-agent-{version}.{ARCHES[arch]}.rpm"
    upstream, revision = version.rsplit("-", 1)
    assert header(rpm) == {"name": "amazon-ssm-agent", "epoch": "0", "version": upstream, "release": revision,
                           "arch": ARCHES[arch], "buildtime": 1767225600}
    # As the real one: nothing beyond the scriptlets' shell (no python3, no systemd package).
    assert requires(rpm) == {"/bin/sh"}
    post, preun, postun = (scriptlet(rpm, t) for t in ("POSTIN", "PREUN", "POSTUN"))
    assert "systemctl enable amazon-ssm-agent" in post and "systemctl restart amazon-ssm-agent" in post
    assert '"$1" -eq 0' in preun and "systemctl stop amazon-ssm-agent" in preun and "disable" in preun
    assert "daemon-reload" in postun
    assert "%" not in post + preun + postun, "an unexpanded rpm macro in a scriptlet"
    # The same files as the .deb, the unit under /usr/lib/systemd/system; the .deb's conffiles are %config.
    deb = build / "agents" / f"amazon-ssm-agent_{version}_{arch}.deb"
    shared = {"/etc", "/usr", "/usr/bin", "/usr/lib", "/usr/lib/systemd", "/usr/lib/systemd/system", "/usr/share",
              "/usr/share/doc", "/var", "/var/lib", "/var/log", "/lib", "/lib/systemd", "/lib/systemd/system"}
    assert rpm_files(rpm) == {_unit_moved(p) for p in deb_files(deb)} - shared
    assert set(rpmq(rpm, "--configfiles").split()) == {"/etc/amazon/ssm/amazon-ssm-agent.json.template",
                                                       "/etc/amazon/ssm/seelog.xml.template"}
    flags = rpmq(rpm, "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]")
    assert "/etc/amazon/ssm/seelog.xml.template cn" in flags  # c = config, n = noreplace
    modes = rpmq(rpm, "--qf", "[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME}\n]")
    assert "/usr/bin/amazon-ssm-agent -rwxr-xr-x root" in modes


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", ECS)
def test_ecs_init_rpm_header_scriptlets_and_files(build, version, arch):
    rpm = build / "agents" / f"amazon-ecs-init-{version}.{ARCHES[arch]}.rpm"
    upstream, revision = version.rsplit("-", 1)
    hdr = header(rpm)
    assert (hdr["name"], hdr["epoch"], hdr["version"], hdr["release"], hdr["arch"]) == (
        "amazon-ecs-init", "0", upstream, revision, ARCHES[arch])
    assert requires(rpm) == {"/bin/sh", "systemd", "iptables", "procps"}
    post, preun = scriptlet(rpm, "POSTIN"), scriptlet(rpm, "PREUN")
    assert "daemon-reload" in post and "enable" not in post and "start" not in post
    assert "systemctl stop ecs.service" in preun and '"$1" -eq 0' in preun
    files = rpm_files(rpm)
    for expected in ("/usr/libexec/amazon-ecs-init", "/usr/lib/systemd/system/ecs.service", "/etc/ecs",
                     "/var/lib/ecs/data", "/var/cache/ecs/state", "/usr/lib/amazon-ecs-init/standin/awsclient.py"):
        assert expected in files
    assert not any(f.startswith("/lib/") for f in files)


def test_rpm_payload_runs_and_carries_its_version(build, tmp_path):
    """The packaged programs (unpacked with rpm2archive) are the same stand-ins as the .debs'."""
    for rpm in (build / "agents" / "amazon-ecs-init-1.106.0-1.x86_64.rpm",
                build / "agents" / f"amazon-ssm-agent-{SSM[0]}.aarch64.rpm"):
        with open(rpm, "rb") as fh:
            archive = subprocess.run(["rpm2archive", "-"], stdin=fh, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp_path, filter="tar")
    out = subprocess.run(["/usr/bin/python3", str(tmp_path / "usr/bin/amazon-ssm-agent"), "-version"],
                         env={"STANDIN_LIBDIR": str(tmp_path / "usr/lib/amazon-ssm-agent/standin")},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "SSM Agent version: 3.3.1957.0"
    out = subprocess.run(["/usr/bin/python3", str(tmp_path / "usr/libexec/amazon-ecs-init"), "version"],
                         env={"STANDIN_LIBDIR": str(tmp_path / "usr/lib/amazon-ecs-init/standin")},
                         capture_output=True, text=True, check=True).stdout
    assert "1.106.0-1" in out


def test_agent_rpms_in_the_buckets_with_detached_signatures(build, keyring):
    mirror, bucket = build / "mirror", build / "mirror" / "amazon-ecs-agent-us-east-1"
    signed = []
    for arch, rpm_arch in ARCHES.items():
        for tree, version in ((mirror, SSM[0]), (build / "mirror-next", SSM[1])):
            path = tree / f"amazon-ssm-us-east-1/latest/linux_{arch}/amazon-ssm-agent.rpm"
            hdr = header(path)
            assert (hdr["version"], hdr["release"], hdr["arch"]) == (*version.rsplit("-", 1), rpm_arch)
            signed.append((path.parent / "amazon-ssm-agent.rpm.sig", path))
        for version in (*ECS, "latest"):
            path = bucket / f"amazon-ecs-init-{version}.{rpm_arch}.rpm"
            signed.append((path.parent / (path.name + ".asc"), path))
        assert (bucket / f"amazon-ecs-init-latest.{rpm_arch}.rpm").read_bytes() == (
            bucket / f"amazon-ecs-init-1.106.0-1.{rpm_arch}.rpm").read_bytes()
    for sig, data in signed:
        assert sig.read_bytes()[:1] != b"-" if sig.suffix == ".sig" else sig.read_text().startswith(
            "-----BEGIN PGP SIGNATURE-----")
        result = gpgv(keyring, sig, data)
        assert result.returncode == 0, (sig, result.stderr)
    # A signature of another file does not verify.
    assert gpgv(keyring, signed[0][0], signed[-1][1]).returncode != 0


# ------------------------------------------------------------------ Docker's and the distributions' RPMs

@pytest.mark.parametrize("tag", sorted(set(DOCKER_RPM_REPOS.values())))
def test_docker_rpms_carry_dockers_versions_relations_and_scriptlets(build, tag):
    rpms = build / "agents" / "docker" / "rpm"
    for version in DOCKER:
        upstream, revision = version.rsplit("-", 1)
        engine = rpms / f"docker-ce-{version}.{tag}.x86_64.rpm"
        cli = rpms / f"docker-ce-cli-{version}.{tag}.x86_64.rpm"
        for rpm, name in ((engine, "docker-ce"), (cli, "docker-ce-cli")):
            hdr = header(rpm)
            assert (hdr["name"], hdr["epoch"], hdr["version"], hdr["release"], hdr["arch"]) == (
                name, "3", upstream, f"{revision}.{tag}", "x86_64")
            assert "docker" in rpmq(rpm, "--conflicts").split()
        assert requires(engine) == {"/bin/sh", "containerd.io >= 1.6.24", "docker-ce-cli", "iptables", "systemd"}
        assert requires(cli) == set()
        assert "groupadd -r docker" in scriptlet(engine, "PREIN")
        post, preun, postun = (scriptlet(engine, t) for t in ("POSTIN", "PREUN", "POSTUN"))
        assert 'UNITS="docker.socket docker.service"' in post and "systemctl start $UNITS" in post
        assert "systemctl stop $UNITS" in preun and "systemctl disable $UNITS" in preun
        assert 'SERVICES="docker.service"' in postun and "try-restart $SERVICES" in postun
        # Debian's docker.io split as Docker splits its packages: the engine at Debian's path, the CLI apart.
        assert {"/usr/sbin/dockerd", "/usr/sbin/docker-proxy", "/usr/bin/docker-init", "/usr/bin/tini-static",
                "/usr/lib/systemd/system/docker.service", "/usr/lib/systemd/system/docker.socket"} <= rpm_files(engine)
        assert "/usr/bin/docker" not in rpm_files(engine)
        assert "/usr/bin/docker" in rpm_files(cli) and "/usr/sbin/dockerd" not in rpm_files(cli)
        assert rpmq(engine, "--configfiles").split() == ["/etc/default/docker"]
        assert "Payload: docker.io 20.10" in " ".join(rpmq(engine, "--qf", "%{DESCRIPTION}").split())
    for version in CONTAINERD:
        runtime = rpms / f"containerd.io-{version}.{tag}.x86_64.rpm"
        hdr = header(runtime)
        assert (hdr["name"], hdr["epoch"], hdr["version"], hdr["release"]) == (
            "containerd.io", "0", version.split("-")[0], f"{version.split('-')[1]}.{tag}")
        provides = rpmq(runtime, "--provides").split("\n")
        assert "containerd" in provides and "runc" in provides
        assert {"/usr/bin/containerd", "/usr/bin/runc", "/usr/sbin/runc", "/usr/bin/ctr",
                "/usr/bin/containerd-shim-runc-v2", "/usr/lib/systemd/system/containerd.service",
                "/etc/containerd/config.toml"} <= rpm_files(runtime)
        assert rpmq(runtime, "--configfiles").split() == ["/etc/containerd/config.toml"]
        assert "UNITS=\"containerd.service\"" in scriptlet(runtime, "POSTIN")
        # The shared template creates the docker group only for packages that ship docker.socket.
        assert 'UNITS="containerd.service"' in scriptlet(runtime, "PREIN")


@pytest.mark.parametrize("repo", DISTRO_REPOS)
def test_distribution_docker_rpms(build, repo):
    rpms = sorted((build / "agents" / "docker" / "rpm" / repo).glob("*.rpm"))
    assert sorted((h["name"], h["epoch"], h["version"], h["release"]) for h in map(header, rpms)) == sorted(
        DISTRO_REPOS[repo])
    engine = next(r for r in rpms if r.name.startswith("docker-27.5.1"))
    assert requires(engine) == {"/bin/sh", "containerd", "runc", "iptables", "systemd"}
    assert {"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/lib/systemd/system/docker.socket"} <= rpm_files(engine)
    assert "groupadd -r docker" in scriptlet(engine, "PREIN")
    containerd = next(r for r in rpms if r.name.startswith("containerd-"))
    assert requires(containerd) == {"/bin/sh", "runc"}
    assert "/usr/bin/runc" not in rpm_files(containerd)
    runc = next(r for r in rpms if r.name.startswith("runc-"))
    assert rpm_files(runc) >= {"/usr/bin/runc"} and scriptlet(runc, "POSTIN") == ""


def test_docker_rpms_carry_debians_engine(build):
    """The payload is Debian's real programs (ELF, x86-64), zstd-compressed; /lib moved to /usr/lib."""
    rpms = build / "agents" / "docker" / "rpm"
    for rpm, program in ((rpms / f"docker-ce-{DOCKER[-1]}.el9.x86_64.rpm", "./usr/sbin/dockerd"),
                         (rpms / f"containerd.io-{CONTAINERD[-1]}.el9.x86_64.rpm", "./usr/sbin/runc")):
        assert rpmq(rpm, "--qf", "%{PAYLOADCOMPRESSOR}") == "zstd"
        assert not any(f == "/lib" or f.startswith("/lib/") for f in rpm_files(rpm))
        archive = subprocess.run(["rpm2archive", "-"], input=rpm.read_bytes(), capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            head = tar.extractfile(program).read(20)
        assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 62  # EM_X86_64
        assert "from Debian 12 (bookworm, amd64)" in " ".join(rpmq(rpm, "--qf", "%{DESCRIPTION}").split())


def _primary(repo_dir):
    repomd = ET.parse(repo_dir / "repodata" / "repomd.xml").getroot()  # noqa: S314 - our own build output
    href = next(d.find("r:location", NS).get("href") for d in repomd.findall("r:data", NS)
                if d.get("type") == "primary")
    root = ET.fromstring(gzip.decompress((repo_dir / href).read_bytes()))  # noqa: S314
    for pkg in root.findall("c:package", NS):
        v = pkg.find("c:version", NS)
        yield {"name": pkg.find("c:name", NS).text, "epoch": v.get("epoch"), "version": v.get("ver"),
               "release": v.get("rel"), "arch": pkg.find("c:arch", NS).text,
               "href": pkg.find("c:location", NS).get("href"), "sha256": pkg.find("c:checksum", NS).text}


def _check_rpm_repo(repo_dir, keyring, rpmdb, expected):
    result = gpgv(keyring, repo_dir / "repodata/repomd.xml.asc", repo_dir / "repodata/repomd.xml")
    assert result.returncode == 0, result.stderr
    packages = list(_primary(repo_dir))
    assert sorted((p["name"], p["epoch"], p["version"], p["release"], p["arch"]) for p in packages) == sorted(
        expected)
    for pkg in packages:
        assert pkg["href"].startswith("Packages/")
        assert hashlib.sha256((repo_dir / pkg["href"]).read_bytes()).hexdigest() == pkg["sha256"]
    # The packages are signed in their headers with the test key (dnf/zypper gpgcheck).
    checked = subprocess.run(["rpm", "--dbpath", str(rpmdb), "-K", *(str(repo_dir / p["href"]) for p in packages)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.count("digests signatures OK") == len(packages), checked.stdout


@pytest.mark.parametrize(("distro", "releasever"), sorted(DOCKER_RPM_REPOS))
def test_docker_rpm_repository(build, keyring, rpmdb, distro, releasever):
    base = build / "mirror" / "docker" / "linux" / distro
    tag = DOCKER_RPM_REPOS[(distro, releasever)]
    expected = [(name, "3", v.split("-")[0], f"{v.split('-')[1]}.{tag}", "x86_64")
                for name in ("docker-ce", "docker-ce-cli") for v in DOCKER]
    expected += [("containerd.io", "0", v.split("-")[0], f"{v.split('-')[1]}.{tag}", "x86_64") for v in CONTAINERD]
    _check_rpm_repo(base / releasever / "x86_64" / "stable", keyring, rpmdb, expected)
    assert (base / "gpg").read_bytes() == (build / "mirror" / "fleet-test-signing-key.asc").read_bytes()
    repo_file = (base / "docker-ce.repo").read_text()
    assert repo_file.startswith("[docker-ce-stable]\n")
    assert f"baseurl=https://download.docker.com/linux/{distro}/$releasever/$basearch/stable\n" in repo_file
    assert f"gpgkey=https://download.docker.com/linux/{distro}/gpg\n" in repo_file


@pytest.mark.parametrize("repo", DISTRO_REPOS)
def test_distribution_repository(build, keyring, rpmdb, repo):
    repo_dir = build / "mirror" / "distro" / repo / "x86_64"
    _check_rpm_repo(repo_dir, keyring, rpmdb, [(*p, "x86_64") for p in DISTRO_REPOS[repo]])
    assert (repo_dir / "repodata/repomd.xml.key").read_bytes() == (build / "mirror/distro/gpg").read_bytes()


def test_tampered_repository_metadata_is_refused(build, keyring, tmp_path):
    repodata = build / "mirror" / "distro" / "suse" / "15" / "x86_64" / "repodata"
    tampered = tmp_path / "repomd.xml"
    tampered.write_text((repodata / "repomd.xml").read_text().replace("<revision>", "<revision>1"))
    assert gpgv(keyring, repodata / "repomd.xml.asc", tampered).returncode != 0


# ------------------------------------------------------------------ Docker's Ubuntu apt repository

@pytest.mark.parametrize("codename", UBUNTU)
def test_ubuntu_apt_repository(build, keyring, codename):
    repo = build / "mirror" / "docker" / "linux" / "ubuntu"
    dist = repo / "dists" / codename
    for args in ((dist / "InRelease",), (dist / "Release.gpg", dist / "Release")):
        result = gpgv(keyring, *args)
        assert result.returncode == 0, result.stderr
    release = (dist / "Release").read_text()
    assert f"Codename: {codename}\n" in release and "Description: Docker CE for Ubuntu" in release
    packages = (dist / "stable/binary-amd64/Packages").read_text()
    listed = sorted((s.split("Package: ")[1].split("\n")[0], s.split("\nVersion: ")[1].split("\n")[0])
                    for s in packages.strip().split("\n\n"))
    suffix = f"~ubuntu.{UBUNTU[codename]}~{codename}"
    assert listed == sorted([("containerd.io", v) for v in CONTAINERD]
                            + [(p, f"5:{v}{suffix}") for p in ("docker-ce", "docker-ce-cli") for v in DOCKER])
    for line in packages.splitlines():
        if line.startswith("Filename: "):
            assert (repo / line.split(": ", 1)[1]).is_file()
    assert (repo / "gpg").read_bytes() == (build / "mirror" / "fleet-test-signing-key.asc").read_bytes()
