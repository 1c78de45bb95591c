#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_info
version_added: 0.1.0
short_description: Report the ECS Anywhere state of a managed host, without secrets
description:
  - Runs on the managed host and makes no AWS call. Reports what the host itself knows about its SSM and ECS
    registration, so that playbooks can decide whether to register, repair or clean up a host.
  - SSM registration (managed instance id and region) from C(/var/lib/amazon/ssm/registration), falling back to the
    C(instanceID) and C(region) fields of the SSM vault entry C(/var/lib/amazon/ssm/Vault/Store/RegistrationKey).
    No other field of the vault entry is ever returned; in particular the private key is not.
  - The merged ECS agent configuration, C(/var/lib/ecs/ecs.config) then C(/etc/ecs/ecs.config) (the latter wins, as
    for ecs-init). Values of keys that contain C(SECRET), C(TOKEN), C(PASSWORD), C(CREDENTIAL), C(AUTH),
    C(PRIVATE_KEY) or C(ACCESS_KEY) are replaced by C(<redacted>).
  - The ECS agent introspection metadata (C(GET <introspection_url>/v1/metadata)) when the agent answers.
  - The state of the C(amazon-ssm-agent) (or its snap variant), C(ecs) and C(docker) systemd units, and the
    installed versions of the C(amazon-ssm-agent) and C(amazon-ecs-init) packages (dpkg or rpm).
  - The age of the shared credentials file C(/root/.aws/credentials) that the SSM agent rotates (its modification
    time only; the file is never read).
  - Whether the ECS agent has saved state in C(/var/lib/ecs/data), with its cluster and container instance ARN
    when that state is readable JSON. The real agent stores a BoltDB C(agent.db), which is reported as present but
    unreadable.
  - Linux only. On Windows the equivalent files are C(C:\\ProgramData\\Amazon\\SSM\\InstanceData\\registration),
    C(C:\\ProgramData\\Amazon\\SSM\\InstanceData\\Vault\\Store\\RegistrationKey) and
    C(C:\\ProgramData\\Amazon\\ECS\\ecs.config); they are not read by this module.
options:
  introspection_url:
    description:
      - Base URL of the ECS agent introspection API.
    type: str
    default: http://127.0.0.1:51678
  timeout:
    description:
      - Seconds to wait for the ECS agent introspection API to answer.
    type: int
    default: 2
  root:
    description:
      - Path prefix under which the host's files are read, for example a mounted image or a test fixture.
      - Commands (systemctl, dpkg-query, rpm) always describe the running system.
    type: path
    default: /
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Never reports a change, and supports check mode.
"""

EXAMPLES = r"""
- name: Read the ECS Anywhere state of the host
  fleet.ecs_anywhere.host_info:
  register: ecsa_host

- name: Register with SSM only when the host is not registered yet
  ansible.builtin.include_tasks: register.yml
  when: ecsa_host.ssm_registration.managed_instance_id is none
"""

RETURN = r"""
ssm_registration:
  description: SSM registration of the host.
  returned: always
  type: dict
  contains:
    managed_instance_id:
      description: The SSM managed instance id, or null when the host is not registered.
      type: str
      sample: mi-0123456789abcdef0
    region:
      description: The region the host registered in.
      type: str
      sample: us-east-1
    source:
      description: Where the values came from, V(registration), V(vault) or null.
      type: str
      sample: registration
ecs_config:
  description: Merged ECS agent configuration, with secret-looking values redacted.
  returned: always
  type: dict
  sample: {"ECS_CLUSTER": "edge", "ECS_EXTERNAL": "true", "AWS_DEFAULT_REGION": "us-east-1"}
ecs_config_files:
  description: The configuration files that exist, in the order they are merged.
  returned: always
  type: list
  elements: str
ecs_agent:
  description: Answer of the ECS agent introspection API.
  returned: always
  type: dict
  contains:
    reachable:
      description: Whether the agent answered.
      type: bool
    cluster:
      description: Cluster the agent is running for.
      type: str
    container_instance_arn:
      description: ARN of the container instance; null until the agent has registered.
      type: str
    version:
      description: Agent version string.
      type: str
    error:
      description: Why the agent could not be queried.
      type: str
      returned: when O(introspection_url) did not answer
services:
  description: State of the systemd units, keyed by service (amazon-ssm-agent, ecs, docker).
  returned: always
  type: dict
  sample: {"ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"}}
packages:
  description: Installed versions of amazon-ssm-agent and amazon-ecs-init, null when not installed.
  returned: always
  type: dict
  sample: {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": null}
shared_credentials:
  description: The SSM-rotated shared credentials file (never read).
  returned: always
  type: dict
  contains:
    path:
      description: Path of the file.
      type: str
    present:
      description: Whether the file exists.
      type: bool
    age_seconds:
      description: Seconds since the file was last written, null when absent.
      type: int
ecs_agent_state:
  description: Saved state of the ECS agent.
  returned: always
  type: dict
  contains:
    present:
      description: Whether the agent data directory holds saved state.
      type: bool
    readable:
      description: Whether the state could be parsed.
      type: bool
    cluster:
      description: Cluster found in the state.
      type: str
    container_instance_arn:
      description: Container instance ARN found in the state.
      type: str
"""

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

REDACTED = "<redacted>"
SECRET_KEY_RE = re.compile(r"SECRET|TOKEN|PASSWORD|CREDENTIAL|AUTH|PRIVATE_KEY|ACCESS_KEY", re.IGNORECASE)

SSM_REGISTRATION = "var/lib/amazon/ssm/registration"
SSM_VAULT_KEY = "var/lib/amazon/ssm/Vault/Store/RegistrationKey"
ECS_CONFIG_FILES = ("var/lib/ecs/ecs.config", "etc/ecs/ecs.config")
SHARED_CREDENTIALS = "root/.aws/credentials"
ECS_DATA_DIR = "var/lib/ecs/data"
ECS_STATE_FILES = ("agent.db", "ecs_agent_data.json")

SERVICES = {
    "amazon-ssm-agent": ("amazon-ssm-agent.service", "snap.amazon-ssm-agent.amazon-ssm-agent.service"),
    "ecs": ("ecs.service",),
    "docker": ("docker.service",),
}
PACKAGES = ("amazon-ssm-agent", "amazon-ecs-init")


def _path(root, relative):
    return os.path.join(root, relative)


def _read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def ssm_registration(root):
    """Managed instance id and region, never anything else from the vault."""
    data = _read_json(_path(root, SSM_REGISTRATION))
    if isinstance(data, dict) and data.get("ManagedInstanceID"):
        return {
            "managed_instance_id": data["ManagedInstanceID"],
            "region": data.get("Region"),
            "source": "registration",
        }
    vault = _read_json(_path(root, SSM_VAULT_KEY))
    if isinstance(vault, dict) and vault.get("instanceID"):
        return {"managed_instance_id": vault["instanceID"], "region": vault.get("region"), "source": "vault"}
    return {"managed_instance_id": None, "region": None, "source": None}


def parse_env_file(text):
    """KEY=VALUE lines as systemd EnvironmentFile reads them: comments and blanks skipped, last assignment wins."""
    values = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key:
            values[key] = value
    return values


def redact(config):
    return {k: (REDACTED if SECRET_KEY_RE.search(k) else v) for k, v in config.items()}


def ecs_config(root):
    merged, files = {}, []
    for relative in ECS_CONFIG_FILES:
        path = _path(root, relative)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        files.append(path)
        merged.update(parse_env_file(text))
    return redact(merged), files


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
    # is-enabled prints "not-found" for units that do not exist (older systemd prints only an error on stderr).
    dummy, out, err = module.run_command([systemctl, "is-enabled", unit])
    enabled = _first_line(out)
    if enabled is None and err:
        enabled = "not-found"
    dummy, out, err = module.run_command([systemctl, "is-active", unit])
    return {"unit": unit, "active": _first_line(out), "enabled": enabled}


def services(module):
    """is-active/is-enabled of each service; the first existing unit wins (deb/rpm SSM agent before the snap)."""
    systemctl = module.get_bin_path("systemctl")
    result = {}
    for name, units in SERVICES.items():
        if not systemctl:
            result[name] = {"unit": units[0], "active": None, "enabled": None}
            continue
        states = []
        for unit in units:
            states.append(unit_state(module, systemctl, unit))
            if states[-1]["enabled"] not in (None, "not-found"):
                break
        result[name] = states[-1] if states[-1]["enabled"] not in (None, "not-found") else states[0]
    return result


def package_versions(module):
    dpkg = module.get_bin_path("dpkg-query")
    rpm = module.get_bin_path("rpm")
    versions = {}
    for package in PACKAGES:
        version = None
        if dpkg:
            rc, out, dummy = module.run_command([dpkg, "-W", "-f=${Status}\t${Version}", package])
            if rc == 0 and "\t" in out:
                status, dpkg_version = out.split("\t", 1)
                if status.strip().endswith(" installed"):
                    version = dpkg_version.strip() or None
        if version is None and rpm:
            rc, out, dummy = module.run_command([rpm, "-q", "--qf", "%{VERSION}-%{RELEASE}", package])
            if rc == 0 and out.strip() and "not installed" not in out:
                version = out.strip()
        versions[package] = version
    return versions


def shared_credentials(root, now=None):
    path = _path(root, SHARED_CREDENTIALS)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return {"path": path, "present": False, "age_seconds": None}
    now = time.time() if now is None else now
    return {"path": path, "present": True, "age_seconds": max(0, int(now - mtime))}


def _normalise_key(key):
    return re.sub(r"[^a-z]", "", str(key).lower())


_STATE_KEYS = {
    "cluster": ("cluster", "clustername"),
    "container_instance_arn": ("containerinstancearn",),
}


def _find_keys(data, found):
    if isinstance(data, dict):
        for key, value in data.items():
            normalised = _normalise_key(key)
            for field, names in _STATE_KEYS.items():
                if normalised in names and isinstance(value, str) and value and field not in found:
                    found[field] = value
            _find_keys(value, found)
    elif isinstance(data, list):
        for value in data:
            _find_keys(value, found)


def ecs_agent_state(root):
    data_dir = _path(root, ECS_DATA_DIR)
    result = {"path": data_dir, "present": False, "readable": False, "cluster": None, "container_instance_arn": None}
    for name in ECS_STATE_FILES:
        path = os.path.join(data_dir, name)
        if not os.path.isfile(path):
            continue
        result["present"] = True
        data = _read_json(path)
        if data is None:
            continue
        found = {}
        _find_keys(data, found)
        result["readable"] = True
        result.update(found)
        break
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            introspection_url=dict(type="str", default="http://127.0.0.1:51678"),
            timeout=dict(type="int", default=2),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    root = module.params["root"]
    timeout = module.params["timeout"]
    config, config_files = ecs_config(root)
    module.exit_json(
        changed=False,
        ssm_registration=ssm_registration(root),
        ecs_config=config,
        ecs_config_files=config_files,
        ecs_agent=introspection(module.params["introspection_url"], timeout),
        services=services(module),
        packages=package_versions(module),
        shared_credentials=shared_credentials(root),
        ecs_agent_state=ecs_agent_state(root),
    )


if __name__ == "__main__":
    main()
