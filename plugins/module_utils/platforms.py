# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of the platforms the collection supports, and of those it refuses with the reason.

Every role asks this table (through the ``fleet.ecs_anywhere.platform`` filter) whether it may change a host, and
the README's support table is checked against it. Adding a distribution is one entry here plus its vars files.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import parse_os_release

ARCHITECTURES = ("x86_64", "aarch64")
DOCKER_SOURCES = ("distro", "repo", "none")


@dataclass(frozen=True)
class Platform:
    """A distribution the roles carry tasks for."""

    distribution: str
    label: str
    versions: tuple
    package_format: str
    # The Docker sources that work here, the first being what ``auto`` picks.
    docker_sources: tuple
    # Folder of download.docker.com/linux/ that serves this distribution, when Docker publishes one.
    docker_repo_distro: str = ""
    # The oldest point release within a supported major version, as "major.minor".
    min_version: str = ""
    refused_sources: dict = field(default_factory=dict)
    # How to get a Python that ansible-core can use, where the distribution's default one is too old.
    python_hint: str = ""


@dataclass(frozen=True)
class Refusal:
    """Versions of a distribution that no current ansible-core or ECS Anywhere can serve, and why."""

    distribution: str
    below: str
    reason: str


EL_NO_DISTRO_DOCKER = (
    "{label} ships podman, not Docker, and AWS's installer refuses it too: set ecs_anywhere_docker_install_source "
    "to repo (Docker's repository) or none (an engine installed beforehand)"
)
NO_DOCKER_REPO = (
    "Docker publishes no repository for {label}: set ecs_anywhere_docker_install_source to distro (the "
    "distribution's docker package) or none (an engine installed beforehand)"
)
SUSE_PYTHON = (
    "install SUSE's python311 package (on SLES from the Python 3 module: SUSEConnect -p "
    "sle-module-python3/15.N/<arch>), for example with a raw task (zypper --non-interactive install python311, see "
    "docs/real-aws.md), and set ansible_python_interpreter to /usr/bin/python3.11 for the host"
)
FEDORA_NO_DISTRO_DOCKER = (
    "AWS's installer does not use Fedora's own engine (moby-engine): set ecs_anywhere_docker_install_source to "
    "repo (Docker's repository) or none (an engine installed beforehand)"
)


def _el(distribution, label, docker_repo_distro):
    return Platform(
        distribution,
        label,
        ("9", "10"),
        "rpm",
        ("repo", "none"),
        docker_repo_distro,
        refused_sources={"distro": EL_NO_DISTRO_DOCKER},
    )


PLATFORMS = (
    Platform("Debian", "Debian", ("11", "12", "13"), "deb", DOCKER_SOURCES, "debian"),
    Platform("Ubuntu", "Ubuntu", ("22", "24"), "deb", DOCKER_SOURCES, "ubuntu"),
    _el("RedHat", "Red Hat Enterprise Linux", "rhel"),
    _el("Rocky", "Rocky Linux", "centos"),
    _el("AlmaLinux", "AlmaLinux", "centos"),
    _el("CentOS", "CentOS Stream", "centos"),
    Platform("Amazon", "Amazon Linux", ("2023",), "rpm", ("distro", "none"), refused_sources={"repo": NO_DOCKER_REPO}),
    Platform(
        "Fedora",
        "Fedora",
        ("43", "44", "45"),
        "rpm",
        ("repo", "none"),
        "fedora",
        refused_sources={"distro": FEDORA_NO_DISTRO_DOCKER},
    ),
    Platform(
        "SLES",
        "SUSE Linux Enterprise Server",
        ("15",),
        "rpm",
        ("distro", "none"),
        min_version="15.5",
        refused_sources={"repo": NO_DOCKER_REPO},
        python_hint=SUSE_PYTHON,
    ),
    Platform(
        "openSUSE Leap",
        "openSUSE Leap",
        ("15",),
        "rpm",
        ("distro", "none"),
        min_version="15.6",
        refused_sources={"repo": NO_DOCKER_REPO},
        python_hint=SUSE_PYTHON,
    ),
)

_EL8 = (
    "ansible-core 2.17 and later cannot drive dnf on {label} 8: its dnf Python bindings exist only for "
    "platform-python 3.6, which those releases no longer run modules on (ansible/ansible#83357). Upgrade the host "
    "to {label} 9 or later"
)
_EL7 = (
    "{label} 7 is past its end of life and runs Python 3.6 at best; the last ansible-core that manages it is 2.16. "
    "Upgrade the host to {label} 9 or later"
)

REFUSALS = (
    Refusal(
        "Debian",
        "11",
        "Debian 10 and older are past their support and ECS Anywhere dropped them; use Debian 11 or later",
    ),
    Refusal(
        "Ubuntu",
        "22",
        "Ubuntu 20.04 and older are out of standard support and this collection does not manage them; use Ubuntu "
        "22.04 or 24.04",
    ),
    Refusal(
        "Amazon",
        "2023",
        "Amazon Linux 2 reached its end of life on 2026-06-30 and its yum runs on Python 2, which no ansible-core "
        "from 2.17 on can drive; move the workload to an Amazon Linux 2023 host",
    ),
    Refusal(
        "SLES",
        "15",
        "SLES 12 and older are not supported by ECS Anywhere; use SLES 15 SP5 or later",
    ),
) + tuple(
    Refusal(el.distribution, below, reason.format(label=el.label))
    for el in PLATFORMS
    if el.docker_repo_distro in ("rhel", "centos")
    for below, reason in (("8", _EL7), ("9", _EL8))
)


def _version_tuple(text):
    parts = []
    for part in str(text).split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _refusal_for(distribution, major):
    """The refusal with the lowest bound above ``major``: the one that names the host's own release."""
    matching = [
        r for r in REFUSALS if r.distribution == distribution and _version_tuple(major) < _version_tuple(r.below)
    ]
    return min(matching, key=lambda r: _version_tuple(r.below)).reason if matching else ""


def supported_summary():
    """One line naming every supported distribution and its versions, for messages."""
    return "; ".join(f"{p.label} {', '.join(p.versions)}" for p in PLATFORMS)


def lookup(distribution, major, version="", *, architecture="x86_64", selinux_mode="", docker_source=""):
    """What the collection makes of a host, as a dict a role can branch on.

    ``supported`` is false with a ``reason`` that says what to do when the roles must not touch the host.
    ``docker_source`` is the source the docker role uses: the requested one, or the platform's own for ``auto``.
    """
    platform = next((p for p in PLATFORMS if p.distribution == distribution), None)
    result = {
        "supported": False,
        "reason": "",
        "distribution": distribution,
        "label": platform.label if platform else distribution,
        "package_format": platform.package_format if platform else "",
        "docker_sources": list(platform.docker_sources) if platform else [],
        "docker_source": "",
        "docker_repo_distro": platform.docker_repo_distro if platform else "",
    }
    where = f"{distribution} {version or major}".strip()
    if architecture not in ARCHITECTURES:
        result["reason"] = (
            f"The host architecture {architecture} is not supported by ECS Anywhere; use an x86_64 or aarch64 host"
        )
    elif platform is None:
        result["reason"] = f"{where} is not a distribution this collection supports. Supported: {supported_summary()}"
    elif major not in platform.versions:
        result["reason"] = _refusal_for(distribution, major) or (
            f"{where} is not supported by this release of fleet.ecs_anywhere; supported {platform.label} releases: "
            f"{', '.join(platform.versions)}"
        )
    elif platform.min_version and version and _version_tuple(version) < _version_tuple(platform.min_version):
        result["reason"] = (
            f"{platform.label} {version} is too old for ECS Anywhere; update it to {platform.min_version} or later"
        )
    elif selinux_mode == "enforcing":
        result["reason"] = (
            "SELinux is enforcing on this host, which ECS Anywhere does not support. Switch it to permissive "
            "(setenforce 0 and SELINUX=permissive in /etc/selinux/config) or use another host"
        )
    else:
        result["docker_source"] = platform.docker_sources[0] if docker_source in ("", "auto") else docker_source
        if result["docker_source"] in platform.refused_sources:
            result["reason"] = platform.refused_sources[result["docker_source"]].format(label=platform.label)
        elif result["docker_source"] not in DOCKER_SOURCES:
            result["reason"] = (
                f"ecs_anywhere_docker_install_source must be one of auto, {', '.join(DOCKER_SOURCES)}; got "
                f"{docker_source!r}"
            )
        else:
            result["supported"] = True
    if result["reason"]:
        result["reason"] += "; nothing was changed on the host."
    return result


# ansible-core 2.19 to 2.21 run modules on Python 3.8 and later only.
MIN_MODULE_PYTHON = (3, 8)
# os-release IDs of the distributions in the tables, by the name Ansible's facts give them.
OS_RELEASE_IDS = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "rhel": "RedHat",
    "rocky": "Rocky",
    "almalinux": "AlmaLinux",
    "centos": "CentOS",
    "amzn": "Amazon",
    "fedora": "Fedora",
    "sles": "SLES",
    "sles_sap": "SLES",
    "opensuse-leap": "openSUSE Leap",
}


def python_refusal(probe_output, interpreter=""):
    """Why no module can run on a host whose Python ansible-core cannot use; empty when that is not the cause.

    ``probe_output`` is what a raw command printed: ``PYTHON_VERSION=<major>.<minor>`` from the interpreter Ansible
    used (missing when it does not run), then the host's /etc/os-release, in its KEY=value format.
    """
    values = parse_os_release(str(probe_output))
    python = _version_tuple(values.get("PYTHON_VERSION", ""))
    if python and python >= MIN_MODULE_PYTHON:
        return ""
    distribution = OS_RELEASE_IDS.get(values.get("ID", ""), values.get("NAME", "") or "this host")
    version_id = values.get("VERSION_ID", "")
    refusal = _refusal_for(distribution, version_id.split(".")[0]) if version_id else ""
    if refusal:
        return f"{refusal}; nothing was changed on the host."
    platform = next((p for p in PLATFORMS if p.distribution == distribution), None)
    found = f"Python {values['PYTHON_VERSION']}" if python else "no working Python"
    need = ".".join(map(str, MIN_MODULE_PYTHON))
    hint = (
        platform.python_hint
        if platform and platform.python_hint
        else f"install Python {need} or later and set ansible_python_interpreter to it for the host"
    )
    where = f"{platform.label if platform else distribution} {version_id}".strip()
    return (
        f"Ansible's modules cannot run on this {where} host: its interpreter {interpreter or 'python3'} is {found}, "
        f"and ansible-core runs modules on Python {need} or later only. To fix it, {hint}; nothing was changed on "
        "the host."
    )
