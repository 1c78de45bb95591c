# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""package_formats: os-release, the native format and front end, and rpm's version order.

The version pairs are those of rpm's own test suite (tests/rpmvercmp.at), with the answer rpm gives; where rpm is
installed, its rpm.vercmp() is asked too, so that the Python order is checked against the real one.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import package_formats

RPMVERCMP_CASES = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),  # letters left over: newer
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10.1", "xyz10", 1),
    ("xyz.4", "8", -1),  # alpha against digit: the digit run is newer
    ("8", "xyz.4", 1),
    ("2", "xyz.4", 1),
    ("6.0.rc1", "6.0", 1),  # without a tilde a suffix is newer
    ("10b2", "10a1", 1),
    ("1.0a", "1.0aa", -1),
    ("10.0001", "10.1", 0),  # leading zeros do not count
    ("10.0001", "10.0039", -1),
    ("4.999.9", "5.0", -1),
    ("20101122", "20101121", 1),
    ("2.0", "2_0", 0),  # separators are all alike
    ("a+", "a_", 0),
    ("+", "_", 0),
    ("1.0~rc1", "1.0", -1),  # tilde: before the end of the version
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),  # caret: after the end, before anything else
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("3.3.1957.0", "3.3.987.0", 1),  # numbers, not strings
    ("1.105.1", "1.105.1", 0),
]


@pytest.mark.parametrize(("left", "right", "expected"), RPMVERCMP_CASES)
def test_rpmvercmp(left, right, expected):
    assert package_formats.rpmvercmp(left, right) == expected
    assert package_formats.rpmvercmp(right, left) == -expected


def test_rpmvercmp_agrees_with_rpm():
    if not shutil.which("rpm"):
        pytest.skip("rpm is needed to compare with rpm.vercmp()")
    calls = "".join(f'print(rpm.vercmp("{left}", "{right}"), " ")' for left, right, dummy in RPMVERCMP_CASES)
    out = subprocess.run(["rpm", "--eval", f"%{{lua:{calls}}}"], capture_output=True, text=True, check=True).stdout
    assert [int(value) for value in out.split()] == [expected for dummy, dummy2, expected in RPMVERCMP_CASES]


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),  # the epoch first
        ("0:2.0-1", "2.0-1", 0),  # no epoch is epoch 0
        ("3:27.3.1-1.el9", "3:27.3.1-1.el9", 0),
        ("1.105.1-1", "1.105.1-1.amzn2023", -1),
        ("1.105.1-2", "1.105.1-10", -1),
        ("3.3.10-1", "3.3.9-1", 1),
        ("1.0~rc1-1", "1.0-1", -1),
    ],
)
def test_compare_evr(left, right, expected):
    assert package_formats.compare_evr(left, right) == expected


@pytest.mark.parametrize(
    ("evr", "expected"),
    [
        ("3:27.3.1-1.el9", (3, "27.3.1", "1.el9")),
        ("3.3.1957.0-1", (0, "3.3.1957.0", "1")),
        ("1.0", (0, "1.0", "")),
        ("a:b-c", (0, "a:b", "c")),
    ],
)
def test_split_evr(evr, expected):
    assert package_formats.split_evr(evr) == expected


# os-release ---------------------------------------------------------------------------------------------------

OS_RELEASES = {
    "debian": ('ID=debian\nVERSION_ID="12"\n', "deb", False),
    "ubuntu": ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "deb", False),
    "mint": ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "deb", False),
    "rhel": ('ID="rhel"\nID_LIKE="fedora"\n', "rpm", False),
    "rocky": ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "rpm", False),
    "al2023": ('ID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n', "rpm", False),
    "fedora": ("ID=fedora\nVERSION_ID=41\n", "rpm", False),
    "sles": ('ID="sles"\nID_LIKE="suse"\n', "rpm", True),
    "leap": ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "rpm", True),
    "alpine": ("ID=alpine\n", None, False),
    "none": ("", None, False),
}


@pytest.mark.parametrize("distro", OS_RELEASES)
def test_native_format_and_suse(distro):
    text, native, suse = OS_RELEASES[distro]
    os_release = package_formats.parse_os_release(text)
    assert package_formats.native_format(os_release) == native
    assert package_formats.is_suse(os_release) is suse
    assert package_formats.database_order(os_release) == (("rpm", "deb") if native == "rpm" else ("deb", "rpm"))


def test_parse_os_release_quotes_and_noise():
    text = '# comment\nNAME="Red Hat \\"Enterprise\\" Linux"\nID=\'rhel\'\n  ID_LIKE="fedora"  \nnot a line\n\n'
    assert package_formats.parse_os_release(text) == {
        "NAME": 'Red Hat "Enterprise" Linux',
        "ID": "rhel",
        "ID_LIKE": "fedora",
    }


def test_read_os_release_falls_back_to_usr_lib(tmp_path, monkeypatch):
    monkeypatch.setattr(package_formats, "HOST_ROOT", str(tmp_path))
    assert package_formats.read_os_release() == {}
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text("ID=fedora\n")
    assert package_formats.read_os_release() == {"ID": "fedora"}
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=sles\n")
    assert package_formats.read_os_release() == {"ID": "sles"}
    assert package_formats.read_os_release(str(tmp_path / "elsewhere")) == {}


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        ("rhel", ("dnf", "dnf5", "yum", "zypper")),
        ("sles", ("zypper", "dnf", "dnf5", "yum")),
        ("debian", ("dnf", "dnf5", "yum", "zypper")),
    ],
)
def test_rpm_installer_candidates(distro, expected):
    os_release = package_formats.parse_os_release(OS_RELEASES[distro][0])
    assert package_formats.installer_candidates("rpm", os_release) == expected
    assert package_formats.installer_candidates("deb", os_release) == ("apt-get",)


def test_dnf_and_zypper_argv():
    rpm = package_formats.RpmBackend
    assert rpm.dnf_argv("/usr/bin/dnf", "/tmp/x/a.rpm", older=False) == [
        "/usr/bin/dnf",
        "install",
        "-y",
        "--setopt=localpkg_gpgcheck=False",
        "/tmp/x/a.rpm",
    ]
    assert rpm.dnf_argv("/usr/bin/dnf5", "/tmp/x/a.rpm", older=True)[1] == "downgrade"
    assert rpm.zypper_argv("/usr/bin/zypper", "/tmp/x/a.rpm", older=True) == [
        "/usr/bin/zypper",
        "--non-interactive",
        "--no-gpg-checks",
        "install",
        "--allow-unsigned-rpm",
        "--oldpackage",
        "/tmp/x/a.rpm",
    ]
