"""Package build (dpkg-deb), mirror layout, GPG signatures and the mirror HTTP server."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .conftest import BUILD_MIRROR
from .conftest import HOST_PYTHON
from .conftest import REPO
from .conftest import wait_for

SSM = "3.3.1957.0-1"
SSM_NEXT = "3.3.2299.0-1"
ECS = ("1.105.1-1", "1.106.0-1")
ARCHES = ("amd64", "arm64")


def _deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True,
                          check=True).stdout.strip()


def _deb_files(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].lstrip(".") for line in listing.splitlines()}, listing


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", (SSM, SSM_NEXT))
def test_ssm_package(build, version, arch):
    deb = build / "agents" / f"amazon-ssm-agent_{version}_{arch}.deb"
    assert _deb_field(deb, "Package") == "amazon-ssm-agent"
    assert _deb_field(deb, "Version") == version
    assert _deb_field(deb, "Architecture") == arch
    # None, as the real package: dpkg installs it without apt, its package lists or a download of dependencies.
    assert _deb_field(deb, "Depends") == ""
    files, listing = _deb_files(deb)
    for expected in ("/usr/bin/amazon-ssm-agent", "/usr/bin/ssm-cli", "/lib/systemd/system/amazon-ssm-agent.service",
                     "/etc/amazon/ssm/amazon-ssm-agent.json.template", "/etc/amazon/ssm/seelog.xml.template",
                     "/usr/lib/amazon-ssm-agent/standin/sigv4.py", "/usr/lib/amazon-ssm-agent/standin/rsakey.py"):
        assert expected in files
    assert "root/root" in listing and "-rwxr-xr-x root/root" in listing
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "postinst" in info and "conffiles" in info


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", ECS)
def test_ecs_init_package(build, version, arch):
    deb = build / "agents" / f"amazon-ecs-init_{version}_{arch}.deb"
    assert _deb_field(deb, "Package") == "amazon-ecs-init"
    assert _deb_field(deb, "Version") == version
    assert _deb_field(deb, "Architecture") == arch
    depends = _deb_field(deb, "Depends")
    assert "docker.io" in depends and "iptables" in depends
    assert "cryptography" not in depends
    files, _ = _deb_files(deb)
    for expected in ("/usr/libexec/amazon-ecs-init", "/lib/systemd/system/ecs.service", "/etc/ecs/",
                     "/var/lib/ecs/data/", "/usr/lib/amazon-ecs-init/standin/awsclient.py"):
        assert expected in files


def test_packaged_programs_run_and_carry_their_versions(build, tmp_path):
    for deb in ("amazon-ssm-agent_%s_amd64.deb" % SSM, "amazon-ecs-init_1.106.0-1_amd64.deb"):  # noqa: UP031
        subprocess.run(["dpkg-deb", "-x", str(build / "agents" / deb), str(tmp_path)], check=True)
    unit = (tmp_path / "lib/systemd/system/ecs.service").read_text()
    for line in ("Wants=docker.service", "PartOf=docker.service", "After=docker.service",
                 "EnvironmentFile=-/var/lib/ecs/ecs.config\nEnvironmentFile=-/etc/ecs/ecs.config",
                 "ExecStartPre=/usr/libexec/amazon-ecs-init pre-start", "ExecStopPost=/usr/libexec/amazon-ecs-init "
                 "post-stop"):
        assert line in unit
    assert "ExecStart=/usr/bin/amazon-ssm-agent" in (tmp_path / "lib/systemd/system/amazon-ssm-agent.service"
                                                     ).read_text()
    env = dict(os.environ, STANDIN_LIBDIR=str(tmp_path / "usr/lib/amazon-ssm-agent/standin"))
    out = subprocess.run([HOST_PYTHON, str(tmp_path / "usr/bin/amazon-ssm-agent"), "-version"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "SSM Agent version: 3.3.1957.0"
    env["STANDIN_LIBDIR"] = str(tmp_path / "usr/lib/amazon-ecs-init/standin")
    out = subprocess.run([HOST_PYTHON, str(tmp_path / "usr/libexec/amazon-ecs-init"), "version"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "1.106.0-1" in out


def test_mirror_layout_and_latest_alias(build):
    mirror = build / "mirror"
    for arch in ARCHES:
        assert (mirror / f"amazon-ssm-us-east-1/latest/debian_{arch}/amazon-ssm-agent.deb").is_file()
        assert (mirror / f"amazon-ssm-us-east-1/latest/debian_{arch}/amazon-ssm-agent.deb.sig").is_file()
        bucket = mirror / "amazon-ecs-agent-us-east-1"
        for version in ECS:
            assert (bucket / f"amazon-ecs-init-{version}.{arch}.deb").is_file()
            assert (bucket / f"amazon-ecs-init-{version}.{arch}.deb.asc").read_text().startswith(
                "-----BEGIN PGP SIGNATURE-----")
        latest = (bucket / f"amazon-ecs-init-latest.{arch}.deb").read_bytes()
        assert latest == (bucket / f"amazon-ecs-init-1.106.0-1.{arch}.deb").read_bytes()
    fpr = (mirror / "fleet-test-signing-key.fpr").read_text().strip()
    assert len(fpr) == 40 and all(c in "0123456789ABCDEF" for c in fpr)
    assert "BEGIN PGP PUBLIC KEY BLOCK" in (mirror / "fleet-test-signing-key.asc").read_text()
    assert not (build / "mirror" / "fleet-test-signing-key.asc").read_text().count("PRIVATE")


def test_next_ssm_release_is_staged_outside_the_mirror(build):
    for arch in ARCHES:
        path = f"amazon-ssm-us-east-1/latest/debian_{arch}/amazon-ssm-agent.deb"
        assert _deb_field(build / "mirror" / path, "Version") == SSM
        assert _deb_field(build / "mirror-next" / path, "Version") == SSM_NEXT
        assert (build / "mirror-next" / (path + ".sig")).is_file()
    staged = [p for p in (build / "mirror-next").rglob("*") if p.is_file()]
    # The .deb and the .rpm (linux_<arch>/amazon-ssm-agent.rpm) with their signatures, per architecture.
    assert len(staged) == 4 * len(ARCHES), staged


def _gpg_verify(keyring_home, sig, data):
    return subprocess.run(["gpg", "--homedir", str(keyring_home), "--batch", "--verify", str(sig), str(data)],
                          capture_output=True, text=True, check=False)


def test_signatures_verify_and_tampering_is_detected(build, tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    mirror = build / "mirror"
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import", str(mirror / "fleet-test-signing-key.asc")],
                   capture_output=True, check=True)
    fpr = (mirror / "fleet-test-signing-key.fpr").read_text().strip()
    signed = [(p.with_suffix(".deb.sig"), p) for tree in (mirror, build / "mirror-next")
              for p in tree.glob("amazon-ssm-*/latest/*/amazon-ssm-agent.deb")]
    signed += [(p.parent / (p.name + ".asc"), p) for p in mirror.glob("amazon-ecs-agent-*/*.deb")]
    assert len(signed) == 10
    for sig, deb in signed:
        result = _gpg_verify(home, sig, deb)
        assert result.returncode == 0, result.stderr
        assert fpr in result.stderr.replace(" ", "")
    tampered = tmp_path / "tampered.deb"
    shutil.copy(mirror / "amazon-ecs-agent-us-east-1/amazon-ecs-init-latest.amd64.deb", tampered)
    with open(tampered, "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    result = _gpg_verify(home, mirror / "amazon-ecs-agent-us-east-1/amazon-ecs-init-latest.amd64.deb.asc", tampered)
    assert result.returncode != 0
    assert "BAD signature" in result.stderr
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


def test_rebuild_is_a_fast_no_op(build):
    before = hashlib.sha256((build / "mirror/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb.sig")
                            .read_bytes()).hexdigest()
    result = subprocess.run([str(BUILD_MIRROR), str(build)], capture_output=True, text=True, timeout=30, check=True)
    assert "agents: up to date" in result.stdout and "mirror: up to date" in result.stdout
    after = hashlib.sha256((build / "mirror/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb.sig")
                           .read_bytes()).hexdigest()
    assert before == after


def test_mirror_server_serves_get_and_head_and_refuses_wildcard(build, tmp_path):
    refused = subprocess.run([sys.executable, "-m", "tests.agents.mirror", "--host", "0.0.0.0", "--port", "0",
                              "--root", str(build / "mirror")], cwd=REPO, capture_output=True, text=True, timeout=30,
                             check=False)
    assert refused.returncode != 0 and "refusing to bind 0.0.0.0" in refused.stderr

    port_file = tmp_path / "port"
    log = open(tmp_path / "mirror.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "tests.agents.mirror", "--host", "127.0.0.1", "--port", "0",
                             "--root", str(build / "mirror"), "--port-file", str(port_file)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(port_file.exists, timeout=15, what="mirror port file")
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        path = "/amazon-ecs-agent-us-east-1/amazon-ecs-init-latest.amd64.deb"
        with urllib.request.urlopen(base + path, timeout=5) as resp:
            body = resp.read()
        assert body == (build / "mirror" / path.lstrip("/")).read_bytes()
        head = urllib.request.Request(base + path, method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as resp:
            assert int(resp.headers["Content-Length"]) == len(body)
            assert resp.read() == b""
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/amazon-ecs-agent-us-east-1/nope.deb", timeout=5)
        assert err.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/amazon-ecs-agent-us-east-1/", timeout=5)
        assert err.value.code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log.close()
    assert "GET /amazon-ecs-agent-us-east-1/amazon-ecs-init-latest.amd64.deb" in (tmp_path / "mirror.log").read_text()


def test_mirror_server_serves_an_overlay_in_place_of_the_root(build, tmp_path):
    """What a test publishes (tests.harness.publish) replaces the root's file; everything else still comes from the
    root, and no path leaves either tree."""
    published = "amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb"
    overlay = tmp_path / "overlay"
    (overlay / published).parent.mkdir(parents=True)
    (overlay / published).write_bytes(b"the next release")
    (tmp_path / "outside").write_text("not served")
    port_file = tmp_path / "port"
    log = open(tmp_path / "mirror.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "tests.agents.mirror", "--host", "127.0.0.1", "--port", "0",
                             "--root", str(build / "mirror"), "--overlay", str(overlay), "--port-file", str(port_file)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(port_file.exists, timeout=15, what="mirror port file")
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        with urllib.request.urlopen(f"{base}/{published}", timeout=5) as resp:
            assert resp.read() == b"the next release"
        with urllib.request.urlopen(f"{base}/{published}.sig", timeout=5) as resp:
            assert resp.read() == (build / "mirror" / (published + ".sig")).read_bytes()
        for escape in ("/../outside", "/amazon-ssm-us-east-1/../../outside", "/%2e%2e/outside"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + escape, timeout=5)
            assert err.value.code == 404, escape
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log.close()
