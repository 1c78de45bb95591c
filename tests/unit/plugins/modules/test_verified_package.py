# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""verified_package against a fake dpkg host, file:// and local HTTP mirrors, and the real gpgv and sqv.

The host's package tools are replaced by ``FakeHost`` (run_command and get_bin_path): nothing is ever installed on
the machine running the tests. gpgv, sqv, dpkg-deb and ``dpkg --compare-versions`` run for real in the tests marked
so, against throwaway keys (tests/unit/signing.py) and real .deb files. Elsewhere a stand-in gpgv reports a good
signature by the ECS key, with the status lines the real one prints, for the tests of what happens around the
check; the verdict itself is only ever tested with the real verifiers (here and in test_signature_check.py).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import types

import pytest
import yaml
from ansible.module_utils import basic

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import package_formats
from ansible_collections.fleet.ecs_anywhere.plugins.modules import verified_package

REPO = pathlib.Path(__file__).resolve().parents[4]
SSM_KEYS = (REPO / "roles/ssm_agent/files/amazon-ssm-agent.asc").read_text()
ECS_KEYS = (REPO / "roles/ecs_agent/files/amazon-ecs-agent.asc").read_text()
ECS_KEYRING, ECS_FPRS = verified_package.read_keys([ECS_KEYS])
NAME = "amazon-ssm-agent"
TMP_PREFIX = "ansible-verified-package."

# RFC 9580 appendix A.3 (v6 certificate) and A.1 (v4 Ed25519 legacy key), with the fingerprints the RFC gives.
RFC9580_V6_CERT = """-----BEGIN PGP PUBLIC KEY BLOCK-----

xioGY4d/4xsAAAAg+U2nu0jWCmHlZ3BqZYfQMxmZu52JGggkLq2EVD34laPCsQYf
GwoAAABCBYJjh3/jAwsJBwUVCg4IDAIWAAKbAwIeCSIhBssYbE8GCaaX5NUt+mxy
KwwfHifBilZwj2Ul7Ce62azJBScJAgcCAAAAAK0oIBA+LX0ifsDm185Ecds2v8lw
gyU2kCcUmKfvBXbAf6rhRYWzuQOwEn7E/aLwIwRaLsdry0+VcallHhSu4RN6HWaE
QsiPlR4zxP/TP7mhfVEe7XWPxtnMUMtf15OyA51YBM4qBmOHf+MZAAAAIIaTJINn
+eUBXbki+PSAld2nhJh/LVmFsS+60WyvXkQ1wpsGGBsKAAAALAWCY4d/4wKbDCIh
BssYbE8GCaaX5NUt+mxyKwwfHifBilZwj2Ul7Ce62azJAAAAAAQBIKbpGG2dWTX8
j+VjFM21J0hqWlEg+bdiojWnKfA5AQpWUWtnNwDEM0g12vYxoWM8Y81W+bHBw805
I8kWVkXU6vFOi+HWvv/ira7ofJu16NnoUkhclkUrk0mXubZvyl4GBg==
-----END PGP PUBLIC KEY BLOCK-----
"""
RFC9580_V6_FPR = "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9"
RFC9580_V4_KEY = """-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEU/NfCxYJKwYBBAHaRw8BAQdAPwmJlL3ZFu1AUxl5NOSofIBzOhKA1i+AEJku
Q+47JAY=
-----END PGP PUBLIC KEY BLOCK-----
"""
RFC9580_V4_FPR = "C959BDBAFA32A2F89A153B678CFDE12197965A9A"


def armor(data, checksum="=AAAA", headers=("Comment: test",)):
    body = base64.b64encode(data).decode()
    lines = ["-----BEGIN PGP PUBLIC KEY BLOCK-----", *headers, ""]
    lines += [body[i : i + 64] for i in range(0, len(body), 64)]
    if checksum:
        lines.append(checksum)  # never checked (RFC 9580 section 6.1)
    lines.append("-----END PGP PUBLIC KEY BLOCK-----")
    return "\n".join(lines) + "\n"


def version_key(version):
    """Enough of Debian version ordering for the fake dpkg: the versions used here are dotted numbers."""
    return [int(part) for part in version.replace("-", ".").split(".")]


# The fake host ----------------------------------------------------------------------------------------------------


def fake_deb(fields):
    return "".join(f"{key}: {value}\n" for key, value in fields.items()).encode()


def parse_fake_deb(path):
    fields = {}
    for line in pathlib.Path(path).read_text().splitlines():
        key, dummy, value = line.partition(": ")
        fields[key] = value
    return fields


def fake_signature(package_bytes):
    return b"good " + hashlib.sha256(package_bytes).hexdigest().encode()


class FakeHost:
    """run_command and get_bin_path of a dpkg host; the tools in ``real`` run for real (never dpkg -i/apt-get)."""

    def __init__(self, real_run_command):
        self.real_run_command = real_run_command
        self.status = {}  # package -> (dpkg status abbreviation, version)
        self.rpm_status = {}  # package -> [epoch:]version-release, as rpm -q prints it
        self.calls = []
        self.missing = set()
        self.real = set()
        self.verified = []  # (keyring path, keyring bytes, mode of the download directory) per gpgv or sqv call
        self.install_results = []  # queued (rc, stdout, stderr) of install commands; success when empty

    def install(self, name, version):
        self.status[name] = ("ii ", version)

    def installed(self, name):
        status, version = self.status.get(name, (None, None))
        return version if status and status.startswith("ii") else None

    def commands(self, tool):
        return [call for call in self.calls if os.path.basename(call[0]) == tool]

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if name in self.missing:
            return None
        if name in self.real:
            return shutil.which(name)
        return f"/fake/bin/{name}"

    def run_command(self, module, args, **kwargs):
        self.calls.append(list(args))
        tool = os.path.basename(args[0])
        if tool == "dpkg" and args[1] == "--compare-versions" and "dpkg" in self.real:
            return self.real_run_command(module, args, **kwargs)
        if tool in self.real and tool != "dpkg":
            result = self.real_run_command(module, args, **kwargs)
            if tool in ("gpgv", "sqv"):
                self.record_verification(args)
            return result
        return getattr(self, "fake_" + tool.replace("-", "_"))(args, kwargs)

    def record_verification(self, args):
        keyring = args[args.index("--keyring") + 1]
        directory_mode = stat.S_IMODE(os.stat(os.path.dirname(args[-1])).st_mode)
        self.verified.append((keyring, pathlib.Path(keyring).read_bytes(), directory_mode))

    def fake_dpkg_query(self, args, kwargs):
        assert args[1:3] == ["-W", "-f=${db:Status-Abbrev}\t${Version}\n"]
        name = args[-1]
        if name not in self.status:
            return 1, "", f"dpkg-query: no packages found matching {name}\n"
        status, version = self.status[name]
        return 0, f"{status}\t{version}\n", ""

    def signature_matches(self, args):
        """Record the verification and tell whether the (fake) signature matches the downloaded file."""
        self.record_verification(args)
        signature, package = args[-2], args[-1]
        return pathlib.Path(signature).read_bytes() == fake_signature(pathlib.Path(package).read_bytes())

    def fake_gpgv(self, args, kwargs):
        assert args[args.index("--status-fd") + 1] == "1"
        key = ECS_FPRS[0]
        if self.signature_matches(args):
            status = (
                f"[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG {key[-16:]} Amazon ECS <ecs-security@amazon.com>\n"
                f"[GNUPG:] VALIDSIG {key} 2024-01-01 1704067200 0 4 0 1 8 00 {key}\n"
            )
            return 0, status, "gpgv: Good signature\n"
        return 1, f"[GNUPG:] NEWSIG\n[GNUPG:] BADSIG {key[-16:]} fake key\n", "gpgv: BAD signature from fake key\n"

    def fake_dpkg_deb(self, args, kwargs):
        assert args[1] == "-f"
        try:
            fields = parse_fake_deb(args[2])
        except (OSError, UnicodeDecodeError):
            return 2, "", f"dpkg-deb: error: '{args[2]}' is not a Debian format archive\n"
        if "Package" not in fields:
            return 2, "", f"dpkg-deb: error: '{args[2]}' is not a Debian format archive\n"
        return 0, "".join(f"{key}: {fields[key]}\n" for key in args[3:] if key in fields), ""

    def read_fields(self, path):
        if "dpkg-deb" in self.real:
            out = subprocess.run(
                ["dpkg-deb", "-f", path, "Package", "Version"], check=True, capture_output=True, text=True
            )
            return dict(line.split(": ", 1) for line in out.stdout.splitlines())
        return parse_fake_deb(path)

    def fake_dpkg(self, args, kwargs):
        if args[1] == "--compare-versions":
            left, operator, right = version_key(args[2]), args[3], version_key(args[4])
            answer = {"lt": left < right, "gt": left > right, "ne": left != right, "eq": left == right}[operator]
            return (0 if answer else 1), "", ""
        assert args[-2] == "-i"
        return self.fake_install(args[-1], kwargs)

    # rpm, dnf and zypper: the same fake package files, with Package read as NAME and Version as [EPOCH:]V-R.

    def fake_rpm(self, args, kwargs):
        if args[1] == "-q":
            assert args[2:4] == ["--qf", package_formats.RPM_EVR_FORMAT + "\n"]
            name = args[4]
            if name not in self.rpm_status:
                return 1, f"package {name} is not installed\n", ""
            return 0, f"{self.rpm_status[name]}\n", ""
        assert args[1:5] == ["-qp", "--nomanifest", "--qf", package_formats.RPM_FILE_FORMAT]
        fields = parse_fake_deb(args[5])
        if "Package" not in fields:
            return 1, "", ""
        requires = "".join(f"{name.strip()}\n" for name in fields.get("Depends", "").split(",") if name.strip())
        return 0, f"{fields['Package']}\t{fields['Version']}\n{requires}", ""

    def fake_dnf(self, args, kwargs):
        assert args[1] in ("install", "downgrade") and args[2:4] == ["-y", "--setopt=localpkg_gpgcheck=False"]
        return self.fake_rpm_install(args[-1])

    fake_dnf5 = fake_dnf
    fake_yum = fake_dnf

    def fake_zypper(self, args, kwargs):
        assert kwargs.get("environ_update") == {"ZYPP_LOCK_TIMEOUT": "60"}
        return self.fake_rpm_install(args[-1])

    def fake_rpm_install(self, path):
        if self.install_results:
            result = self.install_results.pop(0)
            if result[0] != 0:
                return result
            if result[1] == "Nothing to do.\n":
                return result
        fields = parse_fake_deb(path)
        self.rpm_status[fields["Package"]] = fields["Version"]
        return 0, "Complete!\n", ""

    def fake_apt_get(self, args, kwargs):
        if args[1] == "update":
            return 0, "", ""
        assert args[1] == "install"
        return self.fake_install(args[-1], kwargs)

    def fake_install(self, path, kwargs):
        assert kwargs.get("environ_update") == {"DEBIAN_FRONTEND": "noninteractive"}
        if self.install_results:
            result = self.install_results.pop(0)
            if result[0] != 0:
                return result
        fields = self.read_fields(path)
        self.install(fields["Package"], fields["Version"])
        return 0, "", ""


@pytest.fixture
def host(monkeypatch, tmp_path):
    fake = FakeHost(basic.AnsibleModule.run_command)

    # Plain functions, so that the module instance still comes first once they are methods of AnsibleModule.
    def run_command(module, *args, **kwargs):
        return fake.run_command(module, *args, **kwargs)

    def get_bin_path(module, *args, **kwargs):
        return fake.get_bin_path(*args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    # Every temporary directory of the module lands here, so a test can see that none is left behind.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fake.scratch = scratch
    # A Debian host, whatever the machine running the tests is; a test may write another os-release here.
    fake.root = tmp_path / "host"
    (fake.root / "etc").mkdir(parents=True)
    (fake.root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    monkeypatch.setattr(package_formats, "HOST_ROOT", str(fake.root))
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return fake


@pytest.fixture
def downloads(monkeypatch):
    """Spy on open_url: the URLs fetched and the arguments they were fetched with."""
    calls = []
    real_open_url = verified_package.open_url

    def spy(url, **kwargs):
        calls.append((url, kwargs))
        return real_open_url(url, **kwargs)

    monkeypatch.setattr(verified_package, "open_url", spy)
    return calls


class Mirror:
    def __init__(self, root, host):
        self.root = root
        self.host = host
        self.signer = None  # a Signer (real keys), else fake signatures

    def publish(self, version, name=NAME, depends=None, file_name=None, signer=None):
        file_name = file_name or f"{name}_{version}.deb"
        path = self.root / file_name
        fields = {"Package": name, "Version": version}
        if depends:
            fields["Depends"] = depends
        if "dpkg-deb" in self.host.real:
            build_deb(path, fields)
        else:
            path.write_bytes(fake_deb(fields))
        signer = signer or self.signer
        signature = self.root / (file_name + ".sig")
        if signer is None:
            signature.write_bytes(fake_signature(path.read_bytes()))
        else:
            signer.sign(path, signature)
        return path.as_uri(), signature.as_uri()


@pytest.fixture
def mirror(tmp_path, host):
    root = tmp_path / "mirror"
    root.mkdir()
    return Mirror(root, host)


@pytest.fixture
def keyring(tmp_path):
    return str(tmp_path / "etc" / "ecs-anywhere" / "keyring" / "amazon-ssm-agent.gpg")


@pytest.fixture
def vp(run_module, host, mirror, keyring, downloads):
    """What most tests need: ``vp.run(args, check_mode=False, diff=False)``, the host, mirror, keyring and downloads."""

    def run(args, **kwargs):
        return run_module(verified_package, args, **kwargs)

    return types.SimpleNamespace(run=run, host=host, mirror=mirror, keyring=keyring, downloads=downloads)


def args_for(urls, keyring_path, **extra):
    url, signature_url = urls
    args = {"name": NAME, "url": url, "signature_url": signature_url, "keys": [ECS_KEYS], "keyring": keyring_path}
    args.update(extra)
    return args


def assert_nothing_left(host):
    assert os.listdir(host.scratch) == []


# Keys: dearmor and fingerprints ------------------------------------------------------------------------------------


def pinned(role, variable):
    return yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())[variable]


def test_bundled_aws_keys_have_the_pinned_fingerprints():
    dummy, ssm = verified_package.read_keys([SSM_KEYS])
    assert ssm == pinned("ssm_agent", "__ecs_anywhere_ssm_aws_key_fingerprints")
    assert ECS_FPRS == pinned("ecs_agent", "__ecs_anywhere_ecs_aws_key_fingerprints")


def test_several_blocks_and_items_make_one_keyring():
    blocks = verified_package.dearmor(SSM_KEYS)
    assert len(blocks) == 5 and all(block[0] == 0x99 for block in blocks)  # old-format public key packets
    keyring, fingerprints = verified_package.read_keys([SSM_KEYS, ECS_KEYS])
    assert keyring == b"".join(blocks) + ECS_KEYRING
    assert fingerprints == pinned("ssm_agent", "__ecs_anywhere_ssm_aws_key_fingerprints") + ECS_FPRS
    # The same key twice is one fingerprint.
    assert verified_package.read_keys([ECS_KEYS, ECS_KEYS])[1] == ECS_FPRS


@pytest.mark.parametrize(("text", "expected"), [(RFC9580_V6_CERT, RFC9580_V6_FPR), (RFC9580_V4_KEY, RFC9580_V4_FPR)])
def test_rfc9580_sample_keys(text, expected):
    # New-format packet headers and armor without a checksum line; v6 fingerprints are SHA-256.
    assert verified_package.read_keys([text])[1] == [expected]


def test_armor_noise_is_tolerated():
    text = "Key of the vendor, fetched 2024-01-01:\r\n\r\n" + ECS_KEYS.replace("\n", "\r\n") + "\n  trailing words\n"
    assert verified_package.read_keys([text]) == (ECS_KEYRING, ECS_FPRS)
    # Several armor headers, and none at all.
    data = verified_package.dearmor(ECS_KEYS)[0]
    assert verified_package.dearmor(armor(data, headers=("Version: GnuPG v2", "Comment: a: b")))[0] == data
    assert verified_package.dearmor(armor(data, headers=()))[0] == data


def test_armor_checksum_is_ignored_and_the_pins_catch_an_altered_key(vp):
    lines = ECS_KEYS.splitlines()
    crc_index = next(i for i, line in enumerate(lines) if line.startswith("="))
    assert lines[crc_index] == "=LqgN"
    # RFC 9580 section 6.1: a wrong, malformed or missing checksum line changes nothing.
    for checksum in (["=LqgM"], ["=not base64!"], []):
        text = "\n".join(lines[:crc_index] + checksum + lines[crc_index + 1 :])
        assert verified_package.read_keys([text]) == (ECS_KEYRING, ECS_FPRS)
    # One altered character of the key itself makes another key, which the pinned fingerprint refuses.
    body = lines[5]
    altered = "\n".join(lines[:5] + [body[:10] + ("A" if body[10] != "A" else "B") + body[11:]] + lines[6:])
    assert verified_package.read_keys([altered])[1] != ECS_FPRS
    result = vp.run(
        args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring, keys=[altered], pinned_fingerprints=ECS_FPRS)
    )
    assert result["failed"] and f"where exactly {ECS_FPRS[0]} are pinned" in result["msg"]
    assert vp.host.calls == [] and not os.path.exists(vp.keyring)


def v3_key():
    body = bytes([3]) + b"\x00" * 7 + b"\x01" + b"\x00\x08\xff"
    return bytes([0x98, len(body)]) + body  # old format, tag 6, one-byte length


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just some text", "holds no -----BEGIN PGP PUBLIC KEY BLOCK----- block"),
        (ECS_KEYS.replace("-----END PGP PUBLIC KEY BLOCK-----", ""), "without its END line"),
        (ECS_KEYS.replace("mQINBFq1", "mQIN$q1"), "not valid base64"),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n",
            "holds a PGP PRIVATE KEY BLOCK",
        ),
        (armor(bytes([0x95, 0x00, 0x01, 0x04])), "secret key material"),
        (armor(b"\xb4\x01a"), "starts with a tag 13 packet"),
        (armor(v3_key()), "version 3 primary key; only version 4 and version 6"),
        (armor(b"\x99\x01\x0d\x04"), "truncated packet"),
        (armor(b"\x42garbage"), "not OpenPGP data"),
        ("-----END PGP PUBLIC KEY BLOCK-----\n", "without a BEGIN line"),
    ],
)
def test_bad_key_material_is_rejected(text, message):
    with pytest.raises(verified_package.KeyMaterialError, match=message):
        verified_package.read_keys([ECS_KEYS, text])
    with pytest.raises(verified_package.KeyMaterialError, match="item 2 of the keys option"):
        verified_package.read_keys([ECS_KEYS, text])


def test_bad_keys_fail_before_the_host_is_looked_at(vp):
    result = vp.run(
        args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring, keys=[ECS_KEYS.replace("mQINBFq1", "mQIN$q1")])
    )
    assert result["failed"]
    assert "Unable to read the trusted keys for amazon-ssm-agent: item 1 of the keys option" in result["msg"]
    assert "not valid base64" in result["msg"] and "never installed" in result["msg"]
    assert vp.host.calls == [] and not os.path.exists(vp.keyring)


# Pinned fingerprints ------------------------------------------------------------------------------------------


def test_pins_must_match_exactly(vp):
    urls = vp.mirror.publish("3.3.1-1")
    result = vp.run(
        args_for(urls, vp.keyring, pinned_fingerprints=[ECS_FPRS[0], "8108A07A9EBE248E3F1C63F254F4F56E693ECA21"])
    )
    assert result["failed"]
    assert f"found primary keys {ECS_FPRS[0]} where exactly" in result["msg"]
    assert "8108A07A9EBE248E3F1C63F254F4F56E693ECA21" in result["msg"] and "Nothing was changed" in result["msg"]
    assert result["fingerprints"] == ECS_FPRS
    assert vp.host.calls == [] and vp.downloads == [] and not os.path.exists(vp.keyring)


def test_pins_are_compared_in_upper_case_without_spaces(vp):
    fpr = ECS_FPRS[0].lower()
    spaced = " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4))
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring, pinned_fingerprints=[spaced]))
    assert not result.get("failed") and result["installed"] is True
    assert result["fingerprints"] == ECS_FPRS


def test_malformed_pin_is_refused(vp):
    result = vp.run(args_for(("file:///p", "file:///s"), vp.keyring, pinned_fingerprints=["BCE9D9A42D51784F"]))
    assert result["failed"] and "(40 or 64 hexadecimal digits), got BCE9D9A42D51784F" in result["msg"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"name": "-rf"}, "name must be a package name"),
        ({"url": "ftp://mirror/p.deb"}, "url must be an http, https or file URL"),
        ({"signature_url": "/srv/p.deb.sig"}, "signature_url must be an http, https or file URL"),
        ({"keyring": "keyring.gpg"}, "keyring must be an absolute path"),
        ({"keys": []}, "keys must hold at least one armored OpenPGP public key"),
        ({"version": "--force-all"}, "version must be 'latest' or a package version"),
        ({"timeout": 0}, "timeout must be at least 1 second"),
    ],
)
def test_invalid_options(vp, extra, message):
    result = vp.run(args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring, **extra))
    assert result["failed"] and message in result["msg"]
    assert vp.host.calls == []


# Decisions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (None, "3.3.1-1", {}, True, True, "3.3.1-1"),
        ("3.3.1-1", "3.3.2-1", {}, False, False, "3.3.1-1"),
        ("3.3.1-1", "3.3.1-1", {"upgrade": True}, True, False, "3.3.1-1"),
        ("3.3.1-1", "3.3.2-1", {"upgrade": True}, True, True, "3.3.2-1"),
        ("3.3.2-1", "3.3.1-1", {"upgrade": True}, True, False, "3.3.2-1"),
        ("3.3.2-1", "3.3.1-1", {"upgrade": True, "allow_downgrade": True}, True, True, "3.3.1-1"),
        ("3.3.1-1", "3.3.1-1", {"version": "3.3.1-1"}, False, False, "3.3.1-1"),
        ("3.3.1-1", "3.3.2-1", {"version": "3.3.2-1"}, True, True, "3.3.2-1"),
        (None, "3.3.2-1", {"version": "3.3.2-1"}, True, True, "3.3.2-1"),
        ("3.3.2-1", "3.3.1-1", {"version": "3.3.1-1", "allow_downgrade": True}, True, True, "3.3.1-1"),
    ],
)
def test_decision_table(vp, case):
    installed, file_version, options, downloaded, expect_install, expect_version = case
    if installed:
        vp.host.install(NAME, installed)
    urls = vp.mirror.publish(file_version)
    result = vp.run(args_for(urls, vp.keyring, **options))

    assert not result.get("failed"), result["msg"]
    assert [url for url, dummy in vp.downloads] == (list(urls) if downloaded else [])
    assert result["installed"] is expect_install
    assert any("-i" in call for call in vp.host.commands("dpkg")) is expect_install
    assert result["version_before"] == installed
    assert result["version"] == expect_version == vp.host.installed(NAME)
    assert result["keyring_changed"] is True  # a fresh keyring in every case
    assert result["changed"] is True
    assert result["url"] == urls[0] and result["name"] == NAME and result["fingerprints"] == ECS_FPRS
    if options.get("upgrade") and not expect_install and installed != file_version:
        assert result["warnings"] == [
            f"Not installing {urls[0]}: its version {file_version} is older than the installed {installed}; "
            "set allow_downgrade to install it."
        ]
    else:
        assert result["warnings"] == []
    assert_nothing_left(vp.host)


def test_converged_host_reports_no_change(vp):
    urls = vp.mirror.publish("3.3.1-1")
    assert vp.run(args_for(urls, vp.keyring))["changed"] is True
    calls = len(vp.host.calls)
    result = vp.run(args_for(urls, vp.keyring))
    assert result["changed"] is False and result["installed"] is False and result["keyring_changed"] is False
    assert result["version_before"] == result["version"] == "3.3.1-1"
    # One dpkg-query and nothing else: no download, no gpgv.
    assert [call[0] for call in vp.host.calls[calls:]] == ["/fake/bin/dpkg-query"]
    assert len(vp.downloads) == 2


def test_pinned_version_older_than_installed_needs_allow_downgrade(vp):
    vp.host.install(NAME, "3.3.2-1")
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring, version="3.3.1-1"))
    assert result["failed"]
    assert result["msg"] == (
        "Refusing to downgrade amazon-ssm-agent from 3.3.2-1 to 3.3.1-1: set allow_downgrade to install an older "
        "version. Nothing was changed."
    )
    assert vp.downloads == [] and not os.path.exists(vp.keyring) and vp.host.installed(NAME) == "3.3.2-1"


def test_file_without_the_pinned_version_is_refused(vp):
    urls = vp.mirror.publish("3.3.3-1")
    result = vp.run(args_for(urls, vp.keyring, version="3.3.2-1"))
    assert result["failed"]
    assert result["msg"] == (
        f"Refusing to install {urls[0]}: it has version 3.3.3-1, not the pinned version 3.3.2-1 (option version)."
    )
    assert vp.host.installed(NAME) is None and not os.path.exists(vp.keyring)
    assert_nothing_left(vp.host)


def test_file_of_another_package_is_refused(vp):
    urls = vp.mirror.publish("1.106.0-1", name="amazon-ecs-init", file_name="amazon-ssm-agent.deb")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"]
    assert f"Refusing to install {urls[0]}: it holds package amazon-ecs-init version 1.106.0-1" in result["msg"]
    assert vp.host.status == {}
    assert_nothing_left(vp.host)


def test_only_ii_counts_as_installed(vp):
    vp.host.status[NAME] = ("rc ", "3.3.1-1")  # removed, configuration files left
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    assert result["version_before"] is None and result["installed"] is True and result["version"] == "3.3.1-1"


# Installation commands -----------------------------------------------------------------------------------------


def test_package_without_dependencies_goes_to_dpkg(vp):
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    assert result["installed"] is True
    install = vp.host.commands("dpkg")[-1]
    assert install[:-1] == ["/fake/bin/dpkg", "--force-confdef", "--force-confold", "-i"]
    assert install[-1].startswith(str(vp.host.scratch)) and install[-1].endswith("/amazon-ssm-agent.deb")
    assert vp.host.commands("apt-get") == []


@pytest.mark.parametrize("allow_downgrade", [False, True])
def test_package_with_dependencies_goes_to_apt(vp, allow_downgrade):
    urls = vp.mirror.publish("3.3.1-1", depends="python3, python3-cryptography")
    result = vp.run(args_for(urls, vp.keyring, allow_downgrade=allow_downgrade))
    assert result["installed"] is True and result["version"] == "3.3.1-1"
    assert [call for call in vp.host.commands("dpkg") if "-i" in call] == []
    (install,) = vp.host.commands("apt-get")
    expected = ["/fake/bin/apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=60"]
    expected += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    assert install[:-1] == expected + (["--allow-downgrades"] if allow_downgrade else [])


UNMET = (
    100,
    "The following packages have unmet dependencies:\n amazon-ssm-agent : Depends: python3-cryptography but it is "
    "not installable\n",
    "E: Unable to correct problems, you have held broken packages.\n",
)


def test_unresolved_dependencies_refresh_the_package_lists_once(vp):
    vp.host.install_results = [UNMET]
    urls = vp.mirror.publish("3.3.1-1", depends="python3-cryptography")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["installed"] is True and result["version"] == "3.3.1-1"
    assert [call[1] for call in vp.host.commands("apt-get")] == ["install", "update", "install"]


def test_dependencies_still_unresolved_after_the_refresh_fail(vp):
    vp.host.install_results = [UNMET, UNMET]
    urls = vp.mirror.publish("3.3.1-1", depends="python3-cryptography")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"] and result["rc"] == 100
    assert "python3-cryptography but it is not installable" in result["stdout"]
    assert [call[1] for call in vp.host.commands("apt-get")] == ["install", "update", "install"]
    assert vp.host.installed("amazon-ssm-agent") is None


def test_failed_install_reports_the_tool_output(vp):
    vp.host.install_results = [(1, "", "dpkg: error processing archive: corrupted\n")]
    urls = vp.mirror.publish("3.3.1-1")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"] and result["rc"] == 1
    assert result["msg"] == (
        f"Unable to install amazon-ssm-agent from {urls[0]} (its signature verified): dpkg exited with 1: "
        "dpkg: error processing archive: corrupted"
    )
    assert_nothing_left(vp.host)


def test_dpkg_lock_is_waited_for(vp, monkeypatch):
    monkeypatch.setattr(package_formats, "DPKG_LOCK_RETRY_DELAY", 0)
    lock = "dpkg: error: dpkg frontend lock was locked by another process with pid 4242\n"
    vp.host.install_results = [(2, "", lock), (2, "", lock)]
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    assert not result.get("failed") and result["installed"] is True
    assert len([call for call in vp.host.commands("dpkg") if "-i" in call]) == 3


# Keyring -------------------------------------------------------------------------------------------------------


def test_keyring_is_written_world_readable_whatever_the_umask(vp):
    old = os.umask(0o077)
    try:
        result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    finally:
        os.umask(old)
    assert result["keyring_changed"] is True
    assert pathlib.Path(vp.keyring).read_bytes() == ECS_KEYRING
    assert stat.S_IMODE(os.stat(vp.keyring).st_mode) == 0o644
    for directory in (os.path.dirname(vp.keyring), os.path.dirname(os.path.dirname(vp.keyring))):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    if os.geteuid() == 0:
        assert os.stat(vp.keyring).st_uid == 0 and os.stat(vp.keyring).st_gid == 0
    assert os.listdir(os.path.dirname(vp.keyring)) == ["amazon-ssm-agent.gpg"]  # no temporary file left


def test_changed_keys_rewrite_the_keyring_without_a_download(vp):
    vp.host.install(NAME, "3.3.1-1")
    os.makedirs(os.path.dirname(vp.keyring))
    pathlib.Path(vp.keyring).write_bytes(b"old keys")
    before_inode = os.stat(vp.keyring).st_ino
    result = vp.run(args_for(("file:///nowhere.deb", "file:///nowhere.deb.sig"), vp.keyring), diff=True)
    assert result["changed"] is True and result["keyring_changed"] is True and result["installed"] is False
    assert pathlib.Path(vp.keyring).read_bytes() == ECS_KEYRING
    assert os.stat(vp.keyring).st_ino != before_inode  # replaced by a rename, not rewritten in place
    assert vp.downloads == []
    assert result["diff"] == {
        "before": f"amazon-ssm-agent 3.3.1-1\nkeyring {hashlib.sha256(b'old keys').hexdigest()}\n",
        "after": f"amazon-ssm-agent 3.3.1-1\nkeyring {hashlib.sha256(ECS_KEYRING).hexdigest()}\n",
    }


def test_verification_uses_the_keyring_on_disk_when_it_is_current(vp):
    os.makedirs(os.path.dirname(vp.keyring))
    pathlib.Path(vp.keyring).write_bytes(ECS_KEYRING)
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    assert result["keyring_changed"] is False and result["installed"] is True
    assert [(path, data) for path, data, dummy in vp.host.verified] == [(vp.keyring, ECS_KEYRING)]


def test_keyring_that_is_a_directory_fails(vp):
    os.makedirs(vp.keyring)
    result = vp.run(args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring))
    assert result["failed"] and result["msg"].startswith(f"Unable to read the keyring {vp.keyring}: ")


# Check mode and diff --------------------------------------------------------------------------------------------


def test_check_mode_predicts_and_writes_nothing(vp):
    urls = vp.mirror.publish("3.3.1-1")
    result = vp.run(args_for(urls, vp.keyring), check_mode=True, diff=True)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True and result["installed"] is True and result["keyring_changed"] is True
    assert result["version_before"] is None and result["version"] == "3.3.1-1"
    assert result["diff"] == {
        "before": "amazon-ssm-agent (not installed)\nkeyring (absent)\n",
        "after": f"amazon-ssm-agent 3.3.1-1\nkeyring {hashlib.sha256(ECS_KEYRING).hexdigest()}\n",
    }
    # Downloaded and verified, against a temporary keyring in the private directory (mode 0700) ...
    assert [url for url, dummy in vp.downloads] == list(urls)
    ((verified_with, verified_bytes, directory_mode),) = vp.host.verified
    assert verified_with.startswith(os.path.join(str(vp.host.scratch), TMP_PREFIX)) and verified_bytes == ECS_KEYRING
    assert directory_mode == 0o700
    # ... and nothing else: no keyring, not even its directory, no install, no temporary directory left.
    assert not os.path.exists(os.path.dirname(os.path.dirname(vp.keyring)))
    assert vp.host.installed(NAME) is None
    assert [call for call in vp.host.calls if "-i" in call or os.path.basename(call[0]) == "apt-get"] == []
    assert_nothing_left(vp.host)


def test_check_mode_of_an_upgrade_verifies_against_a_temporary_keyring(vp):
    vp.host.install(NAME, "3.3.1-1")
    os.makedirs(os.path.dirname(vp.keyring))
    pathlib.Path(vp.keyring).write_bytes(ECS_KEYRING)
    result = vp.run(args_for(vp.mirror.publish("3.3.2-1"), vp.keyring, upgrade=True), check_mode=True)
    assert result["changed"] is True and result["installed"] is True and result["keyring_changed"] is False
    assert result["version_before"] == "3.3.1-1" and result["version"] == "3.3.2-1"
    assert vp.host.installed(NAME) == "3.3.1-1"
    assert vp.host.verified[0][0] != vp.keyring
    assert_nothing_left(vp.host)


def test_check_mode_of_a_converged_host(vp):
    vp.host.install(NAME, "3.3.1-1")
    os.makedirs(os.path.dirname(vp.keyring))
    pathlib.Path(vp.keyring).write_bytes(ECS_KEYRING)
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring), check_mode=True, diff=True)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]


# Signature failures ------------------------------------------------------------------------------------------


def test_bad_signature_installs_nothing_and_cleans_up(vp):
    urls = vp.mirror.publish("3.3.1-1")
    pathlib.Path(urls[1][len("file://") :]).write_bytes(b"forged")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"]
    assert result["msg"] == (
        f"Refusing to install {urls[0]}: its signature does not verify against the trusted keys (keys, fingerprints "
        f"{ECS_FPRS[0]}): the package does not match the signature: the package or its signature was altered; an "
        "unsigned package is never installed. gpgv said: gpgv: BAD signature from fake key"
    )
    assert vp.host.installed(NAME) is None
    assert not os.path.exists(vp.keyring)  # the new keyring is only written once a verified install goes ahead
    assert_nothing_left(vp.host)


def test_missing_signature_fails_naming_the_url(vp):
    url, signature_url = vp.mirror.publish("3.3.1-1")
    os.unlink(signature_url[len("file://") :])
    result = vp.run(args_for((url, signature_url), vp.keyring))
    assert result["failed"]
    assert result["msg"].startswith(f"Unable to download {signature_url} (its signature, option signature_url): ")
    assert "No such file or directory" in result["msg"]
    assert result["msg"].endswith("an unsigned package is never installed.")
    assert vp.host.commands("gpgv") == [] and vp.host.installed(NAME) is None
    assert_nothing_left(vp.host)


def test_file_that_is_not_a_deb_is_refused(vp):
    path = vp.mirror.root / "junk.deb"
    path.write_bytes(b"<html>Not found</html>")
    (vp.mirror.root / "junk.deb.sig").write_bytes(fake_signature(path.read_bytes()))
    urls = (path.as_uri(), (vp.mirror.root / "junk.deb.sig").as_uri())
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"] and result["msg"].startswith(f"Unable to read {urls[0]}: it is not a Debian package.")
    assert_nothing_left(vp.host)


# Missing tools -------------------------------------------------------------------------------------------------


def test_host_without_dpkg_query_is_not_supported(vp):
    vp.host.missing.add("dpkg-query")
    result = vp.run(args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring))
    assert result["failed"]
    assert "dpkg-query was not found on the host" in result["msg"]
    assert "A .deb package needs dpkg, which hosts of the Debian family (Debian, Ubuntu) have" in result["msg"]


def test_host_without_a_verifier_fails_before_downloading(vp):
    vp.host.missing.update({"gpgv", "sqv"})
    result = vp.run(args_for(vp.mirror.publish("3.3.1-1"), vp.keyring))
    assert result["failed"]
    assert "gpgv was not found on the host. Install the gpgv or the sqv package" in result["msg"]
    assert "an unsigned package is never installed" in result["msg"]
    assert vp.downloads == [] and not os.path.exists(vp.keyring)


def test_converged_host_needs_no_gpgv(vp):
    vp.host.missing.update({"gpgv", "dpkg-deb", "dpkg", "apt-get"})
    vp.host.install(NAME, "3.3.1-1")
    result = vp.run(args_for(("file:///p.deb", "file:///p.deb.sig"), vp.keyring))
    assert not result.get("failed") and result["installed"] is False and result["keyring_changed"] is True


# Downloads over HTTP -------------------------------------------------------------------------------------------


@pytest.fixture
def http_mirror():
    """A local HTTP server that also answers proxy requests (absolute URLs); records path and Authorization."""
    files = {}
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append((self.path, self.headers.get("Authorization")))
            body = files.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files, requests
    server.shutdown()
    server.server_close()


def test_http_download_sends_no_netrc_credentials(vp, http_mirror, tmp_path, monkeypatch):
    base, files, requests = http_mirror
    files["p.deb"] = fake_deb({"Package": NAME, "Version": "3.3.1-1"})
    files["p.deb.sig"] = fake_signature(files["p.deb"])
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login mirror password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    result = vp.run(args_for((f"{base}/p.deb", f"{base}/p.deb.sig"), vp.keyring, timeout=7, validate_certs=False))
    assert not result.get("failed"), result["msg"]
    assert result["installed"] is True and result["version"] == "3.3.1-1"
    assert requests == [("/p.deb", None), ("/p.deb.sig", None)]
    for kwargs in [call[1] for call in vp.downloads]:
        assert kwargs["use_netrc"] is False and kwargs["timeout"] == 7 and kwargs["validate_certs"] is False
        assert kwargs["use_proxy"] is True


def test_http_download_goes_through_the_proxy_of_the_environment(vp, http_mirror, monkeypatch):
    proxy, files, requests = http_mirror
    files["p.deb"] = fake_deb({"Package": NAME, "Version": "3.3.1-1"})
    files["p.deb.sig"] = fake_signature(files["p.deb"])
    monkeypatch.setenv("http_proxy", proxy)
    urls = ("http://mirror.invalid/pool/p.deb", "http://mirror.invalid/pool/p.deb.sig")
    result = vp.run(args_for(urls, vp.keyring))
    assert not result.get("failed"), result["msg"]
    assert [path for path, dummy in requests] == list(urls)


def test_http_error_names_the_url(vp, http_mirror):
    base, files, dummy = http_mirror
    result = vp.run(args_for((f"{base}/absent.deb", f"{base}/absent.deb.sig"), vp.keyring))
    assert result["failed"]
    assert result["msg"] == (
        f"Unable to download {base}/absent.deb (the package, option url): HTTP Error 404: Not Found. Check the URL, "
        "the proxy settings in the environment of the task and that the host reaches that URL; an unsigned package "
        "is never installed."
    )
    assert_nothing_left(vp.host)


def test_silent_server_is_bounded_by_the_timeout(vp):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/p.deb"
        start = time.monotonic()
        result = vp.run(args_for((url, url + ".sig"), vp.keyring, timeout=1))
        assert time.monotonic() - start < 5
    finally:
        listener.close()
    assert result["failed"] and result["msg"].startswith(f"Unable to download {url} (the package, option url): ")
    assert_nothing_left(vp.host)


# Real gpgv, dpkg-deb and dpkg --compare-versions ---------------------------------------------------------------


class Signer:
    """Signs a published package with a key of the session's real keys (tests/unit/signing.py)."""

    def __init__(self, signing, name, armored=False):
        self.signing = signing
        self.name = name
        self.armored = armored

    def sign(self, path, signature):
        extra = ["--armor"] if self.armored else []
        key = self.signing.signer(self.name) + "!"
        self.signing.gpg("--local-user", key, *extra, "--detach-sign", "-o", str(signature), str(path))


def build_deb(path, fields):
    root = pathlib.Path(tempfile.mkdtemp(prefix="vp-deb-"))
    try:
        (root / "DEBIAN").mkdir()
        control = dict(fields, Architecture="all", Maintainer="Test <t@example.invalid>", Description="test package")
        (root / "DEBIAN" / "control").write_text(fake_deb(control).decode())
        (root / "usr/share/doc/test").mkdir(parents=True)
        (root / "usr/share/doc/test/README").write_text("test\n")
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), str(path)], check=True, capture_output=True
        )
    finally:
        shutil.rmtree(root)


@pytest.fixture(params=["gpgv", "sqv"])
def real_tools(request, host, mirror, signing):
    """The real verifier of the parameter (the other one missing, as on Debian 13 for gpgv), dpkg-deb and dpkg."""
    verifier = request.param
    if not shutil.which(verifier):
        pytest.skip(f"{verifier} is not installed; tests/harness/ensure-build-tools.sh signatures installs it")
    if not (shutil.which("dpkg-deb") and shutil.which("dpkg")):
        pytest.skip("dpkg-deb and dpkg are needed for the real package tests")
    host.real.update({verifier, "dpkg-deb", "dpkg"})
    host.missing.add("sqv" if verifier == "gpgv" else "gpgv")
    mirror.signer = Signer(signing, "trusted")
    signing.verifier = verifier
    return signing


def real_args(urls, keyring, signing, **extra):
    return args_for(
        urls, keyring, keys=[signing.armored["trusted"]], pinned_fingerprints=[signing.fingerprints["trusted"]], **extra
    )


def test_real_keyring_equals_gpg_dearmor(signing):
    keyring, fingerprints = verified_package.read_keys([signing.armored["trusted"], ECS_KEYS])
    exported = subprocess.run(
        ["gpg", "--dearmor"], input=signing.armored["trusted"].encode(), capture_output=True, check=True
    ).stdout
    assert keyring == exported + ECS_KEYRING
    assert fingerprints == [signing.fingerprints["trusted"], *ECS_FPRS]


@pytest.mark.parametrize("armored", [False, True])
def test_real_good_signature_installs(vp, real_tools, armored):
    vp.mirror.signer = Signer(real_tools, "trusted", armored=armored)
    urls = vp.mirror.publish("3.3.1-1", depends="python3")
    result = vp.run(real_args(urls, vp.keyring, real_tools))
    assert not result.get("failed"), result["msg"]
    assert result["installed"] is True and result["version"] == "3.3.1-1" == vp.host.installed(NAME)
    assert result["fingerprints"] == [real_tools.fingerprints["trusted"]]
    trusted = real_tools.fingerprints["trusted"]
    assert result["signer"] == {"key": trusted, "primary": trusted}
    (call,) = vp.host.commands(real_tools.verifier)
    assert call[call.index("--keyring") + 1] == vp.host.verified[0][0]
    assert len(vp.host.commands("apt-get")) == 1  # real dpkg-deb saw the Depends field
    # Verified against the new keyring in the private directory, which then became the keyring on disk.
    assert vp.host.verified[0][0].startswith(os.path.join(str(vp.host.scratch), TMP_PREFIX))
    assert pathlib.Path(vp.keyring).read_bytes() == vp.host.verified[0][1]
    assert_nothing_left(vp.host)
    # Now converged: the same call changes nothing, and with upgrade it verifies against the keyring on disk.
    again = vp.run(real_args(urls, vp.keyring, real_tools, upgrade=True))
    assert again["changed"] is False and again["installed"] is False
    assert vp.host.verified[-1][0] == vp.keyring


def test_real_signature_by_a_subkey_of_the_pinned_key(vp, real_tools):
    vp.mirror.signer = Signer(real_tools, "split")
    urls = vp.mirror.publish("3.3.1-1")
    split = real_tools.fingerprints["split"]
    result = vp.run(args_for(urls, vp.keyring, keys=[real_tools.armored["split"]], pinned_fingerprints=[split]))
    assert not result.get("failed"), result["msg"]
    assert result["signer"] == {"key": real_tools.subkeys["split"], "primary": split}


def test_real_tampered_file_is_refused(vp, real_tools):
    url, signature_url = vp.mirror.publish("3.3.1-1")
    with open(url[len("file://") :], "ab") as f:
        f.write(b"\0")
    result = vp.run(real_args((url, signature_url), vp.keyring, real_tools))
    assert result["failed"]
    assert result["msg"].startswith(
        f"Refusing to install {url}: its signature does not verify against the trusted keys (keys, fingerprints "
        f"{real_tools.fingerprints['trusted']}): the package does not match the signature: the package or its "
        "signature was altered; an unsigned package is never installed. "
        f"{real_tools.verifier} said: "
    )
    assert ("BAD signature" if real_tools.verifier == "gpgv" else "Message has been manipulated") in result["msg"]
    assert vp.host.installed(NAME) is None and not os.path.exists(vp.keyring)
    assert_nothing_left(vp.host)


def test_real_signature_by_another_key_is_refused(vp, real_tools):
    urls = vp.mirror.publish("3.3.1-1", signer=Signer(real_tools, "stranger"))
    result = vp.run(real_args(urls, vp.keyring, real_tools))
    assert result["failed"] and "its signature does not verify" in result["msg"]
    assert (
        f"it was made by key {real_tools.fingerprints['stranger']}, which is not among the trusted keys"
        in (result["msg"])
    )
    assert ("No public key" if real_tools.verifier == "gpgv" else "Missing key") in result["msg"]
    assert vp.host.installed(NAME) is None
    assert_nothing_left(vp.host)


def test_real_package_signed_by_a_key_that_has_expired_since_is_refused(vp, real_tools):
    # The downgrade path of issue 17: an old package, signed while its key was valid.
    root = real_tools.root
    package, signature = vp.mirror.root / "old.deb", vp.mirror.root / "old.deb.sig"
    shutil.copy(root / "package.deb", package)
    shutil.copy(root / "expired.sig", signature)
    expired = real_tools.fingerprints["expired"]
    args = args_for(
        (package.as_uri(), signature.as_uri()),
        vp.keyring,
        keys=[real_tools.armored["expired"]],
        pinned_fingerprints=[expired],
    )
    result = vp.run(args)
    assert result["failed"]
    assert (
        f"(keys, fingerprints {expired}): it was made by key {expired}, which expired on 2020-01-02; a package signed "
        "by a key that has expired is never trusted; an unsigned package is never installed." in result["msg"]
    )
    assert vp.host.commands("dpkg-deb") == [] and vp.host.installed(NAME) is None
    assert not os.path.exists(vp.keyring)
    assert_nothing_left(vp.host)


def test_real_upgrade_and_downgrade_use_dpkg_version_order(vp, real_tools):
    vp.host.install(NAME, "3.3.10-1")  # newer than 3.3.9-1 for dpkg, older as a string
    urls = vp.mirror.publish("3.3.9-1")
    result = vp.run(real_args(urls, vp.keyring, real_tools, upgrade=True), check_mode=True)
    assert result["installed"] is False and result["version"] == "3.3.10-1"
    assert "older than the installed 3.3.10-1" in result["warnings"][0]
    urls = vp.mirror.publish("3.3.11~rc1-1")
    result = vp.run(real_args(urls, vp.keyring, real_tools, upgrade=True), check_mode=True)
    assert result["installed"] is True and result["version"] == "3.3.11~rc1-1"
    assert_nothing_left(vp.host)


# RPM packages ----------------------------------------------------------------------------------------------------

RHEL = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
AL2023 = 'NAME="Amazon Linux"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n'
SLES = 'NAME="SLES"\nID="sles"\nID_LIKE="suse"\nVERSION_ID="15.6"\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'


def claim(host, os_release):
    """The host says it is another distribution, as the synthetic test hosts do (a Debian with rpm, dnf, zypper)."""
    (host.root / "etc/os-release").write_text(os_release)


def publish_rpm(mirror, version, name=NAME, **kwargs):
    return mirror.publish(version, name=name, file_name=f"{name}-{version}.x86_64.rpm", **kwargs)


def install_commands(host):
    return [call for call in host.calls if os.path.basename(call[0]) in ("dnf", "dnf5", "yum", "zypper")]


@pytest.mark.parametrize("os_release", [RHEL, AL2023])
def test_rpm_installs_through_dnf_without_gpgcheck_of_the_local_file(vp, os_release):
    claim(vp.host, os_release)
    vp.host.install(NAME, "3.2.0-1")  # the Debian side of a synthetic host: not what an .rpm is compared with
    urls = publish_rpm(vp.mirror, "3.3.1957.0-1", depends="/bin/sh")
    result = vp.run(args_for(urls, vp.keyring))
    assert not result.get("failed"), result["msg"]
    assert result["format"] == "rpm" and result["installed"] is True
    assert result["version_before"] is None and result["version"] == "3.3.1957.0-1"
    ((dnf, *rest, path),) = install_commands(vp.host)
    assert [dnf, *rest] == ["/fake/bin/dnf", "install", "-y", "--setopt=localpkg_gpgcheck=False"]
    assert path.startswith(str(vp.host.scratch)) and path.endswith("/amazon-ssm-agent.rpm")
    assert vp.host.commands("dpkg") == [] and vp.host.commands("dpkg-deb") == [] and vp.host.commands("apt-get") == []
    # Installed version, the file's fields, the installed version once more.
    assert [call[1] for call in vp.host.commands("rpm")] == ["-q", "-qp", "-q"]
    assert_nothing_left(vp.host)


def test_rpm_installs_through_zypper_on_suse(vp):
    # SUSE: zypper, even where dnf is there too (the synthetic hosts carry both).
    claim(vp.host, SLES)
    result = vp.run(args_for(publish_rpm(vp.mirror, "1.105.1-1"), vp.keyring))
    assert not result.get("failed"), result["msg"]
    assert result["format"] == "rpm" and result["version"] == "1.105.1-1"
    ((*argv, path),) = install_commands(vp.host)
    assert argv == ["/fake/bin/zypper", "--non-interactive", "--no-gpg-checks", "install", "--allow-unsigned-rpm"]
    assert path.endswith("/amazon-ssm-agent.rpm")


@pytest.mark.parametrize(("os_release", "tool", "downgrade"), [(RHEL, "dnf", ["downgrade"]), (SLES, "zypper", [])])
def test_rpm_downgrade(vp, os_release, tool, downgrade):
    claim(vp.host, os_release)
    vp.host.rpm_status[NAME] = "3.3.10-1"
    urls = publish_rpm(vp.mirror, "3.3.9-1")
    result = vp.run(args_for(urls, vp.keyring, version="3.3.9-1", allow_downgrade=True))
    assert not result.get("failed"), result["msg"]
    assert result["version_before"] == "3.3.10-1" and result["version"] == "3.3.9-1"
    (argv,) = install_commands(vp.host)
    if tool == "dnf":
        assert argv[1] == "downgrade"
    else:
        assert argv[-2] == "--oldpackage"


def test_rpm_upgrade_uses_rpm_version_order(vp):
    claim(vp.host, RHEL)
    vp.host.rpm_status[NAME] = "3.3.10-1"  # newer than 3.3.9-1 for rpm, older as a string
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.9-1"), vp.keyring, upgrade=True))
    assert result["installed"] is False and result["version"] == "3.3.10-1"
    assert "older than the installed 3.3.10-1" in result["warnings"][0]
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.11-1"), vp.keyring, upgrade=True))
    assert result["installed"] is True and result["version"] == "3.3.11-1"
    assert vp.host.commands("dpkg") == []  # compared in Python, not by dpkg


def test_rpm_pinned_downgrade_needs_allow_downgrade(vp):
    claim(vp.host, RHEL)
    vp.host.rpm_status[NAME] = "1:1.0-1"
    result = vp.run(args_for(publish_rpm(vp.mirror, "2.0-1"), vp.keyring, version="2.0-1"))
    assert result["failed"] and result["msg"].startswith("Refusing to downgrade amazon-ssm-agent from 1:1.0-1 to 2.0-1")
    assert vp.downloads == []


def test_rpm_converged_host_with_an_epoch_makes_one_rpm_call(vp):
    claim(vp.host, RHEL)
    vp.host.rpm_status[NAME] = "3:27.3.1-1.el9"
    os.makedirs(os.path.dirname(vp.keyring))
    pathlib.Path(vp.keyring).write_bytes(ECS_KEYRING)
    result = vp.run(args_for(("file:///p.rpm", "file:///p.rpm.sig"), vp.keyring, version="3:27.3.1-1.el9"))
    assert result["changed"] is False and result["version"] == "3:27.3.1-1.el9"
    assert [call[:2] for call in vp.host.calls] == [["/fake/bin/rpm", "-q"]]


def test_dnf_that_installs_nothing_fails(vp):
    claim(vp.host, RHEL)
    vp.host.install_results = [(0, "Nothing to do.\n", "")]
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.1-1"), vp.keyring))
    assert result["failed"]
    assert result["msg"] == (
        f"amazon-ssm-agent was installed from {result['url']}, but rpm reports it not installed instead of 3.3.1-1."
    )


def test_failed_dnf_install_names_dnf(vp):
    claim(vp.host, RHEL)
    vp.host.install_results = [(1, "", "Error: Problem: nothing provides python3 needed by amazon-ssm-agent\n")]
    urls = publish_rpm(vp.mirror, "3.3.1-1")
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"] and result["rc"] == 1
    assert result["msg"] == (
        f"Unable to install amazon-ssm-agent from {urls[0]} (its signature verified): dnf exited with 1: "
        "Error: Problem: nothing provides python3 needed by amazon-ssm-agent"
    )
    assert_nothing_left(vp.host)


def test_zypper_informational_exit_code_is_success(vp):
    claim(vp.host, SLES)
    real = vp.host.fake_zypper

    def reboot_needed(args, kwargs):
        rc, out, err = real(args, kwargs)
        return 102, out, err  # ZYPPER_EXIT_INF_REBOOT_NEEDED

    vp.host.fake_zypper = reboot_needed
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.1-1"), vp.keyring))
    assert not result.get("failed"), result["msg"]
    assert result["installed"] is True and result["version"] == "3.3.1-1"


@pytest.mark.parametrize(
    ("os_release", "present", "expected"),
    [
        (RHEL, {"dnf", "yum", "zypper"}, "dnf"),
        (RHEL, {"dnf5", "yum"}, "dnf5"),
        (RHEL, {"yum"}, "yum"),
        (SLES, {"dnf", "zypper"}, "zypper"),
        (SLES, {"dnf"}, "dnf"),
    ],
)
def test_installer_choice(vp, os_release, present, expected):
    claim(vp.host, os_release)
    vp.host.missing.update({"dnf", "dnf5", "yum", "zypper"} - present)
    vp.run(args_for(publish_rpm(vp.mirror, "3.3.1-1"), vp.keyring))
    assert os.path.basename(install_commands(vp.host)[0][0]) == expected


def test_rpm_host_without_an_installer_fails_before_downloading(vp):
    claim(vp.host, RHEL)
    vp.host.missing.update({"dnf", "dnf5", "yum", "zypper"})
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.1-1"), vp.keyring))
    assert result["failed"]
    assert result["msg"].startswith("Unable to install amazon-ssm-agent: none of dnf, dnf5, yum, zypper was found")
    assert "An .rpm package needs rpm and dnf, yum or zypper" in result["msg"]
    assert vp.downloads == []


def test_file_that_is_not_an_rpm_is_refused(vp):
    claim(vp.host, RHEL)
    path = vp.mirror.root / "junk.rpm"
    path.write_bytes(b"<html>Not found</html>")
    (vp.mirror.root / "junk.rpm.sig").write_bytes(fake_signature(path.read_bytes()))
    urls = (path.as_uri(), (vp.mirror.root / "junk.rpm.sig").as_uri())
    result = vp.run(args_for(urls, vp.keyring))
    assert result["failed"] and result["msg"].startswith(f"Unable to read {urls[0]}: it is not an RPM package.")
    assert_nothing_left(vp.host)


@pytest.mark.parametrize(
    ("os_release", "url", "option", "expected"),
    [
        (RHEL, "https://mirror/amazon-ssm-agent.deb", "auto", "deb"),  # the file name wins over the host
        (UBUNTU, "https://mirror/pool/amazon-ssm-agent.RPM?x=1", "auto", "rpm"),
        (RHEL, "https://mirror/latest/amazon-ssm-agent", "auto", "rpm"),  # no ending: the host's own format
        (UBUNTU, "https://mirror/latest/amazon-ssm-agent", "auto", "deb"),
        ("", "https://mirror/latest/amazon-ssm-agent", "auto", "deb"),  # unknown distribution: deb, as before
        (UBUNTU, "https://mirror/amazon-ssm-agent.deb", "rpm", "rpm"),  # the option wins over both
    ],
)
def test_format_choice(os_release, url, option, expected):
    assert package_formats.choose_format(option, url, package_formats.parse_os_release(os_release)) == expected


def test_format_option_picks_the_backend(vp):
    claim(vp.host, UBUNTU)
    urls = vp.mirror.publish("3.3.1-1", file_name="download")
    result = vp.run(args_for(urls, vp.keyring, format="rpm"))
    assert not result.get("failed"), result["msg"]
    assert result["format"] == "rpm" and install_commands(vp.host)
    assert vp.host.commands("dpkg-query") == []


def test_rpm_check_mode_installs_nothing(vp):
    claim(vp.host, RHEL)
    result = vp.run(args_for(publish_rpm(vp.mirror, "3.3.1-1"), vp.keyring), check_mode=True, diff=True)
    assert result["changed"] is True and result["installed"] is True and result["version"] == "3.3.1-1"
    assert install_commands(vp.host) == [] and vp.host.rpm_status == {}
    assert result["diff"]["after"].startswith("amazon-ssm-agent 3.3.1-1\n")
    assert_nothing_left(vp.host)


# Real rpm: the query formats as rpm itself reads them -------------------------------------------------------------


@pytest.fixture(scope="module")
def built_rpm(tmp_path_factory):
    if not (shutil.which("rpm") and shutil.which("rpmbuild")):
        pytest.skip("rpm and rpmbuild are needed for the real rpm tests")
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "test.spec"
    spec.write_text(
        "Name: amazon-ssm-agent\nEpoch: 3\nVersion: 3.3.1957.0\nRelease: 1\nSummary: test\nLicense: MIT\n"
        "BuildArch: noarch\nRequires: python3\n%description\ntest\n%files\n"
    )
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_rpmdir {top}/out", str(spec)],
        check=True,
        capture_output=True,
    )
    return next((top / "out").rglob("*.rpm"))


def test_real_rpm_reads_the_file_fields(built_rpm, tmp_path):
    def run_command(args):
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    module = types.SimpleNamespace(get_bin_path=shutil.which, run_command=run_command)

    def fail(msg, **kwargs):
        raise AssertionError(msg)

    backend = package_formats.RpmBackend(module, fail, NAME, "file:///p.rpm")
    fields = backend.file_fields(str(built_rpm))
    assert fields["name"] == NAME and fields["version"] == "3:3.3.1957.0-1"
    assert "python3" in fields["requires"]
    # A package rpm has never heard of: not installed, not an error.
    backend.name = "fleet-ecs-anywhere-never-installed"
    assert backend.installed_version() is None
    junk = tmp_path / "junk.rpm"
    junk.write_text("/etc/passwd\n")  # a manifest to rpm without --nomanifest
    with pytest.raises(AssertionError, match="it is not an RPM package"):
        backend.file_fields(str(junk))
