# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers of a managed host's state, shared by the host_info and converge_record modules.

They only read: files under a root directory, the SSM registration, the ECS agent introspection API, and the
systemd units and packages through one systemctl call and one call to each package database, the host's native one
first (made with the module's run_command). What one module reads, the other reads the same way, so a converge
record written by one compares equal with what the other reads back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat

from ansible.module_utils.urls import open_url

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.aws_names import cluster_name
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import DEB
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import RPM
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import RPM_EVR_FORMAT
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import database_order
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import read_os_release

SSM_REGISTRATION = "var/lib/amazon/ssm/registration"
# The agent's own record of its identity, next to the registration file.
SSM_VAULT_ENTRY = "Vault/Store/RegistrationKey"

SSM_AGENT_UNIT = "amazon-ssm-agent.service"
SSM_AGENT_SNAP_UNIT = "snap.amazon-ssm-agent.amazon-ssm-agent.service"
# How the SSM agent can be installed, in the order services() prefers their units: kind, unit, binary. The deb and the
# rpm both install /usr/bin/amazon-ssm-agent; Ubuntu's snap (preinstalled on some images) runs its own copy.
SSM_AGENT_KINDS = (
    ("package", SSM_AGENT_UNIT, "/usr/bin/amazon-ssm-agent"),
    ("snap", SSM_AGENT_SNAP_UNIT, "/snap/amazon-ssm-agent/current/amazon-ssm-agent"),
)
SERVICES = {
    "amazon-ssm-agent": (SSM_AGENT_UNIT, SSM_AGENT_SNAP_UNIT),
    "ecs": ("ecs.service",),
    "docker": ("docker.service",),
}
# What dpkg and rpm accept as a package name, and nothing they would read as an option or a glob pattern, so the
# names go on their command lines as they are.
PACKAGE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")
DPKG_FORMAT = "${Package}\t${db:Status-Abbrev}\t${Version}\n"
# [epoch:]version-release, as verified_package reads and reports an rpm version, so the two compare equal.
RPM_FORMAT = "%{NAME}\t" + RPM_EVR_FORMAT + "\n"
SYSTEMCTL_PROPERTIES = "Id,LoadState,ActiveState,UnitFileState"
CHECKSUM_CHUNK = 64 * 1024


def under_root(root, path):
    """A path of the host, absolute or not, read under root (os.path.join would drop root before an absolute path)."""
    return os.path.join(root, path.lstrip(os.sep))


def read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def registration_in(registration_file):
    """Managed instance id and region the agent whose registration file this is holds, never anything else from
    its vault (the vault entry counts when the file has no id: the agent will not replace it without -y)."""
    data = read_json(registration_file)
    if isinstance(data, dict) and data.get("ManagedInstanceID"):
        return {
            "managed_instance_id": data["ManagedInstanceID"],
            "region": data.get("Region"),
            "source": "registration",
        }
    vault = read_json(os.path.join(os.path.dirname(registration_file), SSM_VAULT_ENTRY))
    if isinstance(vault, dict) and vault.get("instanceID"):
        return {"managed_instance_id": vault["instanceID"], "region": vault.get("region"), "source": "vault"}
    return {"managed_instance_id": None, "region": None, "source": None}


def ssm_registration(root):
    return registration_in(under_root(root, SSM_REGISTRATION))


def introspection(url, timeout):
    endpoint = url.rstrip("/") + "/v1/metadata"
    try:
        response = open_url(endpoint, timeout=timeout, use_proxy=False, follow_redirects="none")
        data = json.loads(response.read().decode("utf-8"))
    except Exception as e:  # pylint: disable=broad-except
        # Any failure (refused, timeout, HTTP error, garbage) means the same thing: the agent is not answering.
        return {
            "reachable": False,
            "cluster": None,
            "container_instance_arn": None,
            "version": None,
            "error": f"{endpoint}: {e}",
        }
    if not isinstance(data, dict):
        data = {}
    return {
        "reachable": True,
        "cluster": data.get("Cluster"),
        "container_instance_arn": data.get("ContainerInstanceArn"),
        "version": data.get("Version"),
    }


def _first_line(out):
    out = (out or "").strip()
    return out.splitlines()[0].strip() if out else None


def unit_state(module, systemctl, unit):
    """Two calls for one unit; only when systemctl show has no manager to ask (is-enabled reads the unit files)."""
    # is-enabled prints "not-found" for units that do not exist (older systemd prints only an error on stderr).
    dummy, out, err = module.run_command([systemctl, "is-enabled", unit])
    enabled = _first_line(out)
    if enabled is None and err:
        enabled = "not-found"
    dummy, out, err = module.run_command([systemctl, "is-active", unit])
    return {"unit": unit, "active": _first_line(out), "enabled": enabled}


def parse_systemctl_show(out):
    """The KEY=VALUE blocks of systemctl show, one dict per unit, in the order systemctl printed them."""
    blocks, block = [], {}
    for line in (out or "").splitlines():
        if not line.strip():
            if block:
                blocks.append(block)
            block = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            block[key.strip()] = value.strip()
    if block:
        blocks.append(block)
    return blocks


def _shown_state(unit, properties):
    """The is-active/is-enabled answers for one unit, from its systemctl show properties."""
    # UnitFileState is what is-enabled prints (enabled, disabled, static, masked, ...); a unit the manager did not
    # find has none, and is-enabled calls it not-found.
    enabled = properties.get("UnitFileState") or None
    if enabled is None and properties.get("LoadState") == "not-found":
        enabled = "not-found"
    return {"unit": unit, "active": properties.get("ActiveState") or None, "enabled": enabled}


def unit_states(module, systemctl, units):
    """State of each unit, keyed by unit, from one systemctl show call."""
    dummy, out, dummy2 = module.run_command([systemctl, "show", f"--property={SYSTEMCTL_PROPERTIES}", "--", *units])
    blocks = parse_systemctl_show(out)
    if not blocks:
        # No manager to ask (systemd is not PID 1): the per-unit commands answer what they can from the unit files.
        return None
    # One block per unit given, in that order; the Id of a block is the unit an alias resolves to, so the position,
    # not the Id, names the unit. Should a block be missing, the Ids that still match are all that is known.
    if len(blocks) == len(units):
        by_unit = {unit: blocks[index] for index, unit in enumerate(units)}
    else:
        by_unit = {block["Id"]: block for block in blocks if block.get("Id") in units}
    return {
        unit: _shown_state(unit, by_unit[unit]) if unit in by_unit else {"unit": unit, "active": None, "enabled": None}
        for unit in units
    }


def _found(state):
    return state["enabled"] not in (None, "not-found")


def services(module):
    """State of each service; the first existing unit wins (deb/rpm SSM agent before the snap)."""
    systemctl = module.get_bin_path("systemctl")
    result = {}
    if not systemctl:
        return {name: {"unit": units[0], "active": None, "enabled": None} for name, units in SERVICES.items()}
    states = unit_states(module, systemctl, [unit for units in SERVICES.values() for unit in units])
    for name, units in SERVICES.items():
        if states is None:
            tried = []
            for unit in units:
                tried.append(unit_state(module, systemctl, unit))
                if _found(tried[-1]):
                    break
        else:
            tried = [states[unit] for unit in units]
        result[name] = next((state for state in tried if _found(state)), tried[0])
    return result


def parse_dpkg_query(out):
    """Version of each package dpkg knows, null when it is not installed (config-files, half-installed, ...)."""
    known = {}
    for line in (out or "").splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        name, status, version = (field.strip() for field in fields)
        # Status-Abbrev is want, status, error flag: "ii ", or "hi " for a held package. The status is the second.
        if status[1:2] == "i" and version:
            known[name] = version
        else:
            # Other architectures of the same package (multiarch) do not hide an installed one.
            known.setdefault(name, None)
    return known


def parse_rpm_query(out):
    """Version of each installed package; the "package X is not installed" lines have no tab and are skipped."""
    installed = {}
    for line in (out or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 2 and fields[0].strip() and fields[1].strip():
            # Several versions of one package (kernels): the first one printed.
            installed.setdefault(fields[0].strip(), fields[1].strip())
    return installed


def dpkg_versions(module, names):
    """Installed version of the names dpkg reports installed, from one dpkg-query call; None without dpkg."""
    dpkg = module.get_bin_path("dpkg-query")
    if not dpkg:
        return None
    # rc 1 when dpkg knows only some of the names ("no packages found matching X" on stderr); the rest is listed.
    dummy, out, dummy2 = module.run_command([dpkg, "-W", f"-f={DPKG_FORMAT}", *names])
    return {name: version for name, version in parse_dpkg_query(out).items() if version}


def rpm_versions(module, names):
    """Installed version of the names rpm reports installed, from one rpm call; None without rpm."""
    rpm = module.get_bin_path("rpm")
    if not rpm:
        return None
    dummy, out, dummy2 = module.run_command([rpm, "-q", "--qf", RPM_FORMAT, *names])
    return parse_rpm_query(out)


DATABASE_QUERIES = {DEB: dpkg_versions, RPM: rpm_versions}


def package_versions(module, names):
    """Installed version of each package, or null: one call to the host's native package database (by the running
    system's os-release), then one call to the other for what the first does not report installed.

    A host may have both databases (Debian's rpm on a Debian, or the synthetic RPM hosts of the tests, Debian
    containers that claim another distribution); the native one answers for a package both know."""
    versions = dict.fromkeys(names)
    for package_format in database_order(read_os_release()):
        missing = [name for name, version in versions.items() if version is None]
        if not missing:
            break
        installed = DATABASE_QUERIES[package_format](module, missing) or {}
        versions.update((name, installed[name]) for name in missing if name in installed)
    return versions


def ssm_agent(root, service):
    """How the SSM agent is installed (kind package, snap or none), its binary and its unit.

    The unit services() found decides; without one (no systemd to ask, or a unit not installed yet), the binary on
    disk under root does. A package's agent comes before the snap's, as in services().
    """
    for kind, unit, binary in SSM_AGENT_KINDS:
        if _found(service) and service["unit"] == unit:
            return {"kind": kind, "binary": binary, "service": unit}
    for kind, unit, binary in SSM_AGENT_KINDS:
        if os.path.isfile(under_root(root, binary)):
            return {"kind": kind, "binary": binary, "service": unit}
    return {"kind": "none", "binary": None, "service": None}


def check_package_names(module, names):
    # fullmatch: the $ of the pattern alone would let a trailing newline through.
    invalid = [name for name in names if not PACKAGE_NAME_RE.fullmatch(name)]
    if invalid:
        module.fail_json(
            msg=f"Invalid package names in packages: {', '.join(repr(name) for name in invalid)}; a name is letters, "
            "digits and . + _ -, starting with a letter or a digit"
        )


def _file_type(mode):
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    return "other"


def _sha1(path):
    """sha1 of the content of a regular file, following symbolic links; null for anything else or when unreadable."""
    try:
        # Checked first: opening a FIFO would block, and a device could be endless.
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        # sha1 is what the checksum of Ansible's stat, copy and template modules is, so the two compare.
        digest = hashlib.sha1()  # noqa: S324
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHECKSUM_CHUNK), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def file_state(path):
    """Type, mode, owner of a path itself (a link is not followed) and the checksum of its content (it is)."""
    try:
        st = os.lstat(path)
    except OSError:
        return {"exists": False, "type": None, "checksum": None, "mode": None, "uid": None, "gid": None}
    return {
        "exists": True,
        "type": _file_type(st.st_mode),
        "checksum": _sha1(path),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def files(root, paths):
    return {path: file_state(under_root(root, path)) for path in paths}


def record(root, record_path):
    """The JSON object the external_instance role saved after its last converge, or null."""
    if not record_path:
        return None
    data = read_json(under_root(root, record_path))
    return data if isinstance(data, dict) else None


def record_differences(saved, host, expected):
    """Why the host is not as the last converge left it, or [] when it is, so that the run has nothing to do.

    ``saved`` is the record (or None); ``host`` the state just read (files, packages, services, ssm_registration,
    ecs_agent); ``expected`` holds the ``digest`` of the run's inputs and code, the ``region``, the ``cluster`` and
    the ``services`` that must be enabled and running (when None, all of SERVICES).
    """
    if not isinstance(saved, dict):
        return ["no converge record"]
    differences = []
    if saved.get("digest") != expected["digest"]:
        differences.append("the settings or the collection's code changed since the last converge")
    for what in ("files", "packages"):
        before, now = saved.get(what) or {}, host[what]
        changed = sorted(name for name in set(before) | set(now) if before.get(name) != now.get(name))
        if changed:
            differences.append(f"{what} changed: {', '.join(changed)}")
    states = host["services"]
    down = [
        name
        for name in expected.get("services") or SERVICES
        if (states.get(name, {}).get("enabled"), states.get(name, {}).get("active")) != ("enabled", "active")
    ]
    if down:
        differences.append(f"services not enabled and running: {', '.join(down)}")
    registration, agent = host["ssm_registration"], host["ecs_agent"]
    if (registration.get("managed_instance_id") or "") != (saved.get("managed_instance_id") or ""):
        differences.append("the SSM registration is not the recorded one")
    if (registration.get("region") or "") != expected["region"]:
        differences.append(f"the host is not registered in {expected['region']}")
    if (agent.get("container_instance_arn") or "") != (saved.get("container_instance_arn") or ""):
        differences.append("the ECS agent does not run as the recorded container instance")
    if cluster_name(agent.get("cluster")) != cluster_name(expected["cluster"]):
        differences.append(f"the ECS agent is not in cluster {cluster_name(expected['cluster'])}")
    return differences
