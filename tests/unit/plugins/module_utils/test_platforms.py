# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.platforms import PLATFORMS
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.platforms import lookup

SUPPORTED = [
    ("Debian", "12", "12.8", "distro", "deb"),
    ("Debian", "13", "13.1", "distro", "deb"),
    ("Ubuntu", "22", "22.04", "distro", "deb"),
    ("Ubuntu", "24", "24.04", "distro", "deb"),
    ("RedHat", "9", "9.5", "repo", "rpm"),
    ("Rocky", "10", "10.0", "repo", "rpm"),
    ("AlmaLinux", "9", "9.5", "repo", "rpm"),
    ("CentOS", "9", "9", "repo", "rpm"),
    ("Amazon", "2023", "2023", "distro", "rpm"),
    ("Fedora", "43", "43", "repo", "rpm"),
    ("SLES", "15", "15.6", "distro", "rpm"),
    ("openSUSE Leap", "15", "15.6", "distro", "rpm"),
]


@pytest.mark.parametrize("distribution, major, version, source, package_format", SUPPORTED)
def test_supported_platforms_pick_their_own_docker_source(distribution, major, version, source, package_format):
    result = lookup(distribution, major, version)
    assert result["supported"], result["reason"]
    assert result["reason"] == ""
    assert result["docker_source"] == source
    assert result["package_format"] == package_format


@pytest.mark.parametrize(
    "distribution, major, version, expected",
    [
        ("Amazon", "2", "2", "Amazon Linux 2 reached its end of life"),
        ("CentOS", "7", "7.9", "CentOS Stream 7 is past its end of life"),
        ("RedHat", "7", "7.9", "the last ansible-core that manages it is 2.16"),
        ("Rocky", "8", "8.10", "cannot drive dnf on Rocky Linux 8"),
        ("AlmaLinux", "8", "8.10", "platform-python 3.6"),
        ("RedHat", "8", "8.10", "Upgrade the host to Red Hat Enterprise Linux 9 or later"),
        ("Ubuntu", "20", "20.04", "Ubuntu 20.04 and older"),
        ("Ubuntu", "18", "18.04", "Ubuntu 20.04 and older"),
        ("Debian", "10", "10.13", "Debian 10 and older"),
        ("SLES", "12", "12.5", "SLES 12 and older"),
        ("SLES", "15", "15.4", "SUSE Linux Enterprise Server 15.4 is too old for ECS Anywhere; update it to 15.5"),
        ("openSUSE Leap", "15", "15.5", "update it to 15.6 or later"),
        ("Debian", "14", "14", "supported Debian releases: 11, 12, 13"),
        ("Archlinux", "", "", "Archlinux is not a distribution this collection supports. Supported: Debian 11,"),
    ],
)
def test_refused_releases_say_why_and_change_nothing(distribution, major, version, expected):
    result = lookup(distribution, major, version)
    assert not result["supported"]
    assert expected in result["reason"]
    assert result["reason"].endswith("nothing was changed on the host.")


@pytest.mark.parametrize(
    "distribution, major, source, expected",
    [
        ("Rocky", "9", "distro", "Rocky Linux ships podman, not Docker"),
        ("RedHat", "9", "distro", "set ecs_anywhere_docker_install_source to repo"),
        ("Amazon", "2023", "repo", "Docker publishes no repository for Amazon Linux"),
        ("SLES", "15", "repo", "Docker publishes no repository for SUSE Linux Enterprise Server"),
        ("Fedora", "44", "distro", "moby-engine"),
        ("Debian", "12", "podman", "must be one of auto, distro, repo, none; got 'podman'"),
    ],
)
def test_docker_sources_a_platform_does_not_offer_are_refused(distribution, major, source, expected):
    result = lookup(distribution, major, "15.6" if distribution == "SLES" else major, docker_source=source)
    assert not result["supported"]
    assert expected in result["reason"]


@pytest.mark.parametrize("source", ["none", "auto", ""])
def test_none_and_auto_are_accepted_everywhere(source):
    for platform in PLATFORMS:
        result = lookup(platform.distribution, platform.versions[-1], platform.min_version, docker_source=source)
        assert result["supported"], result["reason"]


def test_architecture_and_selinux_are_refused_on_any_platform():
    assert "architecture ppc64le" in lookup("Debian", "12", "12", architecture="ppc64le")["reason"]
    assert "SELinux is enforcing" in lookup("Rocky", "9", "9.5", selinux_mode="enforcing")["reason"]
    assert lookup("Rocky", "9", "9.5", selinux_mode="permissive", architecture="aarch64")["supported"]


def test_docker_repository_folders_follow_docker_download_site():
    folders = {p.distribution: p.docker_repo_distro for p in PLATFORMS}
    assert folders["RedHat"] == "rhel"
    assert {folders[d] for d in ("Rocky", "AlmaLinux", "CentOS")} == {"centos"}
    assert folders["Ubuntu"] == "ubuntu" and folders["Fedora"] == "fedora"
    assert folders["Amazon"] == "" and folders["SLES"] == ""
