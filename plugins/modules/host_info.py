#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_info
version_added: 0.1.0
short_description: Report the ECS Anywhere state of a managed host, without secrets
description:
  - Runs on the managed host and makes no AWS API call. Reports what the host itself knows about its SSM and ECS
    registration, so that playbooks can decide whether to register, repair or clean up a host.
  - SSM registration (managed instance id and region) from C(/var/lib/amazon/ssm/registration), falling back to the
    C(instanceID) and C(region) fields of the SSM vault entry C(/var/lib/amazon/ssm/Vault/Store/RegistrationKey).
    No other field of the vault entry is ever returned; in particular the private key is not.
  - The merged ECS agent configuration, C(/var/lib/ecs/ecs.config) then C(/etc/ecs/ecs.config) (the latter wins, as
    for ecs-init). Values of keys that contain C(SECRET), C(TOKEN), C(PASSWORD), C(CREDENTIAL), C(AUTH),
    C(PRIVATE_KEY) or C(ACCESS_KEY) are replaced by C(<redacted>).
  - The ECS agent introspection metadata (C(GET <introspection_url>/v1/metadata)) when the agent answers.
  - The state of the C(amazon-ssm-agent) (or its snap variant), C(ecs) and C(docker) systemd units, read with one
    C(systemctl show) call, and how the SSM agent is installed (RV(ssm_agent)), as a package or as Ubuntu's snap.
  - The installed versions of the O(packages) (by default C(amazon-ssm-agent) and C(amazon-ecs-init)), read with one
    call to the host's native package database, C(dpkg-query) on the Debian family and C(rpm) on the RHEL, Fedora,
    Amazon Linux and SUSE families (by C(ID) and C(ID_LIKE) of the running system's C(/etc/os-release)), and, for
    what that one does not report installed, one call to the other when the host has it.
  - The age of the shared credentials file C(/root/.aws/credentials) that the SSM agent rotates (its modification
    time). Of its content, only the C([section]) header lines are read, for their names; no key or value in it is
    ever kept or returned.
  - Whether the ECS agent has saved state in C(/var/lib/ecs/data), with its cluster and container instance ARN
    when that state is readable JSON. The real agent stores a BoltDB C(agent.db), which is reported as present but
    unreadable.
  - The names, never the values, of what would make AWS SDKs running as root use credentials other than the SSM
    identity, in RV(credential_chain). These are the AWS credential variables assigned in C(/etc/environment), the
    credential-source settings and the profiles of C(/root/.aws/config), and the profiles of
    C(/root/.aws/credentials).
  - Optionally, whether the host reaches given URLs (O(probe_urls), RV(probes)), fetched from the host with GET
    requests through the proxy of its environment.
  - Optionally, the type, mode, owner and checksum of given paths (O(paths), RV(files)) and the record the
    C(external_instance) role saves after a converge (O(record_path), RV(record)), so that one call answers whether
    a host is already converged.
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
        O(paths) and O(record_path) are read under it too.
      - Commands (systemctl, dpkg-query, rpm) always describe the running system, and so does the
        C(/etc/os-release) that picks the package database asked first.
    type: path
    default: /
  paths:
    description:
      - Paths to describe in RV(files), keyed there by each path as given (after the C(~) expansion of a C(path)
        option). They are read under O(root).
      - Read-only. A regular file is read in full for its checksum.
    type: list
    elements: path
    default: []
  packages:
    description:
      - Packages whose installed version RV(packages) reports.
      - All of them are queried with one call to the host's native package database (C(dpkg-query -W) or
        C(rpm -q)); the ones it does not report installed are then queried with one call to the other database
        when the host has it. A host with an unknown C(/etc/os-release) is asked dpkg first.
      - A name is letters, digits and C(.), C(+), C(_), C(-), starting with a letter or a digit (no version, no
        architecture qualifier, no pattern). Any other name fails the module.
    type: list
    elements: str
    default: [amazon-ssm-agent, amazon-ecs-init]
  record_path:
    description:
      - Path of the JSON document the C(external_instance) role writes after a successful converge, read under
        O(root) and returned in RV(record).
      - When not set, nothing is read and RV(record) is null.
    type: path
  record_expected:
    description:
      - What the record must match for the host to count as converged; RV(record_differences) says how it does not.
      - The record must hold O(record_expected.digest), the files of O(paths) and the packages of O(packages) as they
        are now, and the SSM registration and container instance the host has now; the host must be registered in
        O(record_expected.region), its ECS agent in O(record_expected.cluster), and O(record_expected.services)
        enabled and running.
    type: dict
    suboptions:
      digest:
        description: Digest of the converge's inputs and code, as the record stores it.
        type: str
        required: true
      region:
        description: AWS region the host must be registered in.
        type: str
        required: true
      cluster:
        description: ECS cluster (name or ARN) the agent must run in.
        type: str
        required: true
      services:
        description:
          - Services that must be enabled and active, among those RV(services) reports.
          - When not set, every one of them.
        type: list
        elements: str
  probe_urls:
    description:
      - URLs to fetch from the host, keyed by a label that names each one in RV(probes). The values must be strings.
      - Each URL gets one GET request. Redirects are not followed (the redirect status is the answer).
      - Proxies come from the environment of the module (C(http_proxy), C(https_proxy), C(no_proxy)), so set them
        with the C(environment) keyword of the task.
      - The URLs are fetched in parallel, at most 8 at a time.
    type: dict
    default: {}
  probe_timeout:
    description:
      - Seconds to wait for each URL of O(probe_urls) to answer.
    type: int
    default: 10
  probe_validate_certs:
    description:
      - Whether to validate the TLS certificates of the HTTPS URLs of O(probe_urls).
      - Set to V(false) only for endpoints with certificates the host cannot validate, such as a test endpoint;
        a host that cannot validate the real AWS endpoints cannot run the agents either.
    type: bool
    default: true
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Never reports a change, and supports check mode. The O(probe_urls) requests are read-only and are made in check
    mode too.
"""

EXAMPLES = r"""
- name: Read the ECS Anywhere state of the host
  fleet.ecs_anywhere.host_info:
  register: ecsa_host

- name: Install the SSM agent only when the host has none, neither as a package nor as Ubuntu's snap
  ansible.builtin.include_tasks: install_ssm_agent.yml
  when: ecsa_host.ssm_agent.kind == 'none'

- name: Register with SSM only when the host is not registered yet
  ansible.builtin.include_tasks: register.yml
  when: ecsa_host.ssm_registration.managed_instance_id is none

- name: Read the credential chain and check the endpoints, in one call
  fleet.ecs_anywhere.host_info:
    probe_urls:
      SSM API: https://ssm.us-east-1.amazonaws.com
      ECS API: https://ecs.us-east-1.amazonaws.com
    probe_timeout: 5
  environment:
    https_proxy: http://proxy.example.com:3128
    no_proxy: localhost,127.0.0.1,169.254.169.254,169.254.170.2
  register: ecsa_host

- name: Refuse a host that does not reach an endpoint
  ansible.builtin.assert:
    that:
      - ecsa_host.probes | dict2items | rejectattr('value.reachable') | list | length == 0
    fail_msg: >-
      Unreachable: {{ ecsa_host.probes | dict2items | rejectattr('value.reachable')
      | map(attribute='key') | join(', ') }}

- name: Read the files, packages and converge record a converge check compares, in one call
  fleet.ecs_anywhere.host_info:
    paths:
      - /etc/ecs/ecs.config
      - /etc/systemd/system/docker.service.d/ecs-anywhere-proxy.conf
    packages:
      - amazon-ssm-agent
      - amazon-ecs-init
      - docker.io
    record_path: /var/lib/ecs-anywhere/converged.json
    record_expected:
      digest: "{{ converge_digest }}"
      region: us-east-1
      cluster: prod
  register: ecsa_host

- name: Skip the converge when the host is as the last one left it
  ansible.builtin.set_fact:
    ecsa_converged: "{{ ecsa_host.record_differences == [] }}"

- name: Refuse a host where root has its own AWS credentials
  ansible.builtin.assert:
    that:
      - ecsa_host.credential_chain.environment_variables | length == 0
      - ecsa_host.credential_chain.config_sources | length == 0
      - not ecsa_host.credential_chain.credentials_present
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
  description:
    - State of the systemd units, keyed by service (amazon-ssm-agent, ecs, docker). For amazon-ssm-agent, the deb/rpm
      unit when it exists, else the snap unit C(snap.amazon-ssm-agent.amazon-ssm-agent.service) when that exists,
      else the deb/rpm unit.
    - Each entry has C(unit) (the unit), C(active) (its C(ActiveState), as C(systemctl is-active) prints it, such as
      V(active), V(inactive) or V(failed)) and C(enabled) (its C(UnitFileState), as C(systemctl is-enabled) prints it,
      such as V(enabled), V(disabled), V(static) or V(masked), and V(not-found) for a unit systemd does not know).
    - All the units are read with one C(systemctl show) call. Where that has no systemd manager to ask (systemd is
      not PID 1), C(systemctl is-enabled) and C(systemctl is-active) are asked for each unit instead, and C(active) is
      usually null. Both are null when there is no C(systemctl).
  returned: always
  type: dict
  sample: {"ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"}}
packages:
  description:
    - Installed version of each package of O(packages), keyed by its name, null when it is not installed.
    - The version the native package database reports installed, else the one the other reports. A dpkg version is
      as C(dpkg-query) prints it (held packages included), an rpm version is C([EPOCH:]VERSION-RELEASE), the epoch
      only when the package has one.
  returned: always
  type: dict
  sample: {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": null}
ssm_agent:
  description:
    - How the SSM agent is installed, so that a play uses the agent the host has and never installs a second one.
    - Decided by the unit RV(services) reports for C(amazon-ssm-agent) when it exists, else by the agent's binary
      under O(root). A package's agent wins over the snap's.
  returned: always
  type: dict
  contains:
    kind:
      description:
        - V(package) for the deb or rpm agent (unit C(amazon-ssm-agent.service), binary
          C(/usr/bin/amazon-ssm-agent)), V(snap) for Ubuntu's snap (unit
          C(snap.amazon-ssm-agent.amazon-ssm-agent.service), binary C(/snap/amazon-ssm-agent/current/amazon-ssm-agent)),
          V(none) when neither is there.
      type: str
      sample: snap
    binary:
      description: Path of the agent's binary for that kind (run it as C(<binary> -register ...)); null for V(none).
      type: str
      sample: /snap/amazon-ssm-agent/current/amazon-ssm-agent
    service:
      description: The systemd unit of the agent for that kind; null for V(none).
      type: str
      sample: snap.amazon-ssm-agent.amazon-ssm-agent.service
files:
  description:
    - The state of each path of O(paths), keyed by the path as given; empty when O(paths) is empty.
    - Each entry has C(exists) (whether the path exists; a dangling symbolic link does), C(type) (V(file),
      V(directory), V(link) or V(other) for a device, FIFO or socket), C(checksum), C(mode) (the permission bits in
      octal with the setuid, setgid and sticky bits, as V(0644) or V(1777)), C(uid) and C(gid) (owner and group ids).
      All but C(exists) are null when the path does not exist.
    - C(type), C(mode), C(uid) and C(gid) describe the path itself; a symbolic link is not followed.
    - C(checksum) is the SHA-1 of the content in hex, as the C(checksum) of M(ansible.builtin.stat) and
      M(ansible.builtin.copy), of a regular file or of the regular file a symbolic link leads to (the link resolved as
      the system resolves it, so an absolute target is not under O(root)). It is null for anything else, and for a file
      that cannot be read.
    - A path whose parent directory cannot be searched reads as not existing.
  returned: always
  type: dict
  sample:
    /etc/ecs/ecs.config: {"exists": true, "type": "file", "checksum": "2dacbb53a67a41c0f03ca547e048d07b34190b07",
                          "mode": "0600", "uid": 0, "gid": 0}
    /nonexistent: {"exists": false, "type": null, "checksum": null, "mode": null, "uid": null, "gid": null}
record_differences:
  description:
    - Why the host does not match its converge record (O(record_expected)); empty when it does, so that a converge has
      nothing to do. Null when O(record_expected) is not set.
  returned: always
  type: list
  elements: str
  sample: ["the settings or the collection's code changed since the last converge", "packages changed: docker-ce"]
record:
  description:
    - The JSON object at O(record_path), as saved by the C(external_instance) role after a successful converge.
    - Null when O(record_path) is not set, the file is missing or unreadable, or it does not hold a JSON object.
  returned: always
  type: dict
  sample: {"format": 1, "managed_instance_id": "mi-0123456789abcdef0",
           "packages": {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": "1.89.2-1"}}
systemd_running:
  description:
    - Whether systemd is running as the init system (C(/run/systemd/system) is a directory), as C(sd_booted) decides it.
    - The agents are systemd services; a host (or container) without it cannot run them.
  returned: always
  type: bool
  sample: true
shared_credentials:
  description: The SSM-rotated shared credentials file, by its modification time (profiles in RV(credential_chain)).
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
credential_chain:
  description:
    - What would make AWS SDKs running as root pick up credentials other than the SSM identity.
    - Names only. No value of a variable, a setting or a key is ever returned. Missing or unreadable files give empty
      lists.
  returned: always
  type: dict
  contains:
    environment_variables:
      description:
        - AWS credential variables assigned in C(/etc/environment), with or without C(export), sorted and unique.
        - Looked for are C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_SESSION_TOKEN), C(AWS_PROFILE),
          C(AWS_DEFAULT_PROFILE), C(AWS_ROLE_ARN), C(AWS_WEB_IDENTITY_TOKEN_FILE),
          C(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), C(AWS_CONTAINER_CREDENTIALS_FULL_URI),
          C(AWS_SHARED_CREDENTIALS_FILE) and C(AWS_CONFIG_FILE).
      returned: always
      type: list
      elements: str
      sample: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    config_sources:
      description:
        - Settings of C(/root/.aws/config) that plug in another credential source, sorted and unique.
        - Looked for are C(credential_process), C(role_arn), C(web_identity_token_file), C(credential_source),
          C(source_profile), C(sso_start_url), C(sso_session) and C(aws_access_key_id).
      returned: always
      type: list
      elements: str
      sample: ["role_arn", "source_profile"]
    config_profiles:
      description: Section names of C(/root/.aws/config) in file order, with a leading C(profile) stripped.
      returned: always
      type: list
      elements: str
      sample: ["default", "ops", "sso-session corp"]
    credentials_present:
      description: Whether C(/root/.aws/credentials) exists.
      returned: always
      type: bool
      sample: true
    credentials_profiles:
      description: Section names of C(/root/.aws/credentials) in file order; only the section header lines are read.
      returned: always
      type: list
      elements: str
      sample: ["default"]
probes:
  description:
    - The answer to each URL of O(probe_urls), keyed by its label; empty when O(probe_urls) is empty.
    - Each entry has C(url) (the URL), C(reachable) (true when any HTTP status came back, 4xx, 5xx and redirects
      included, since the host then reached the endpoint), C(status) (the HTTP status, or null) and C(error) (why
      nothing answered, or null).
  returned: always
  type: dict
  sample:
    SSM API: {"url": "https://ssm.us-east-1.amazonaws.com", "reachable": true, "status": 404, "error": null}
    ECS API: {"url": "https://ecs.us-east-1.amazonaws.com", "reachable": false, "status": null,
              "error": "[Errno -3] Temporary failure in name resolution"}
"""

import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from urllib.error import URLError
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import check_package_names
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import files
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import introspection
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import package_versions
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import read_json
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import record
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import record_differences
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import services
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import ssm_agent
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import ssm_registration
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import under_root

REDACTED = "<redacted>"
SECRET_KEY_RE = re.compile(r"SECRET|TOKEN|PASSWORD|CREDENTIAL|AUTH|PRIVATE_KEY|ACCESS_KEY", re.IGNORECASE)

ECS_CONFIG_FILES = ("var/lib/ecs/ecs.config", "etc/ecs/ecs.config")
SHARED_CREDENTIALS = "root/.aws/credentials"
SYSTEMD_RUNTIME_DIR = "run/systemd/system"
ECS_DATA_DIR = "var/lib/ecs/data"
ECS_STATE_FILES = ("agent.db", "ecs_agent_data.json")
ENVIRONMENT_FILE = "etc/environment"
AWS_CONFIG = "root/.aws/config"

# What an SDK run as root would pick up ahead of the SSM identity (the semantics of the external_instance role's
# credential patterns). Only the name is captured, so no value can reach the result.
CREDENTIAL_ENV_RE = re.compile(
    r"^\s*(?:export\s+)?(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_PROFILE|AWS_DEFAULT_PROFILE"
    r"|AWS_ROLE_ARN|AWS_WEB_IDENTITY_TOKEN_FILE|AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    r"|AWS_CONTAINER_CREDENTIALS_FULL_URI|AWS_SHARED_CREDENTIALS_FILE|AWS_CONFIG_FILE)\s*=",
    re.MULTILINE,
)
CREDENTIAL_CONFIG_RE = re.compile(
    r"^\s*(credential_process|role_arn|web_identity_token_file|credential_source|source_profile|sso_start_url"
    r"|sso_session|aws_access_key_id)\s*=",
    re.MULTILINE,
)
# Matched one line at a time: across lines, a malformed header could swallow the key lines that follow it.
SECTION_RE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
PROFILE_PREFIX_RE = re.compile(r"^profile\s+")

PROBE_WORKERS = 8
PROBE_SCHEMES = ("http", "https")

PACKAGES = ("amazon-ssm-agent", "amazon-ecs-init")


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
        path = under_root(root, relative)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        files.append(path)
        merged.update(parse_env_file(text))
    return redact(merged), files


def shared_credentials(root, now=None):
    path = under_root(root, SHARED_CREDENTIALS)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return {"path": path, "present": False, "age_seconds": None}
    now = time.time() if now is None else now
    return {"path": path, "present": True, "age_seconds": max(0, int(now - mtime))}


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def _section_names(lines):
    names = []
    for line in lines:
        match = SECTION_RE.match(line)
        if match:
            names.append(match.group(1))
    return names


def _credentials_profiles(path):
    """Section names of a shared credentials file; every other line is dropped as soon as it is read."""
    try:
        with open(path, "rb") as f:
            return _section_names(raw.decode("utf-8", errors="replace") for raw in f)
    except OSError:
        return []


def credential_chain(root):
    """Names of the credential sources root's AWS SDKs would use ahead of the SSM identity, never their values."""
    environment = _read_text(under_root(root, ENVIRONMENT_FILE)) or ""
    config = _read_text(under_root(root, AWS_CONFIG)) or ""
    credentials = under_root(root, SHARED_CREDENTIALS)
    return {
        "environment_variables": sorted(set(CREDENTIAL_ENV_RE.findall(environment))),
        "config_sources": sorted(set(CREDENTIAL_CONFIG_RE.findall(config))),
        "config_profiles": [PROFILE_PREFIX_RE.sub("", name) for name in _section_names(config.splitlines())],
        "credentials_present": os.path.exists(credentials),
        "credentials_profiles": _credentials_profiles(credentials),
    }


def _probe_error(error, timeout):
    reason = error.reason if isinstance(error, URLError) else error
    # socket.timeout only became an alias of TimeoutError in Python 3.10.
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout} seconds"
    return str(reason) or type(reason).__name__


def probe(url, timeout, validate_certs):
    result = {"url": url, "reachable": False, "status": None, "error": None}
    try:
        # open_url would also read file: and ftp: URLs; a probe is about the network path to an endpoint.
        if urlsplit(url).scheme.lower() not in PROBE_SCHEMES:
            raise ValueError("not an http or https URL")
        # No netrc: a reachability check has no business sending the host's stored credentials anywhere.
        response = open_url(
            url,
            method="GET",
            timeout=timeout,
            validate_certs=validate_certs,
            use_proxy=True,
            follow_redirects="none",
            use_netrc=False,
        )
    except HTTPError as e:
        # Any status, errors and unfollowed redirects included, means the request reached the endpoint.
        e.close()
        result.update(reachable=True, status=e.code)
    except Exception as e:  # pylint: disable=broad-except
        result["error"] = _probe_error(e, timeout)
    else:
        response.close()
        result.update(reachable=True, status=response.getcode())
    return result


def probes(urls, timeout, validate_certs):
    """GET each URL in parallel, so that the slowest one, not the sum of all, bounds the wait."""
    if not urls:
        return {}
    # open_url installs its opener process-wide; harmless across threads since every probe builds the same one.
    with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(urls))) as pool:
        futures = {label: pool.submit(probe, url, timeout, validate_certs) for label, url in urls.items()}
    return {label: future.result() for label, future in futures.items()}


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
    data_dir = under_root(root, ECS_DATA_DIR)
    result = {"path": data_dir, "present": False, "readable": False, "cluster": None, "container_instance_arn": None}
    for name in ECS_STATE_FILES:
        path = os.path.join(data_dir, name)
        if not os.path.isfile(path):
            continue
        result["present"] = True
        data = read_json(path)
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
            probe_urls=dict(type="dict", default={}),
            probe_timeout=dict(type="int", default=10),
            probe_validate_certs=dict(type="bool", default=True),
            paths=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="str", default=list(PACKAGES)),
            record_path=dict(type="path"),
            record_expected=dict(
                type="dict",
                options=dict(
                    digest=dict(type="str", required=True),
                    region=dict(type="str", required=True),
                    cluster=dict(type="str", required=True),
                    services=dict(type="list", elements="str"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    root = module.params["root"]
    timeout = module.params["timeout"]
    probe_urls = module.params["probe_urls"]
    # A dict option cannot declare the type of its values.
    not_strings = sorted(str(label) for label, url in probe_urls.items() if not isinstance(url, str))
    if not_strings:
        module.fail_json(msg=f"Unable to probe {', '.join(not_strings)}: probe_urls values must be URL strings")
    if module.params["probe_timeout"] < 1:
        module.fail_json(msg=f"probe_timeout must be at least 1 second, got {module.params['probe_timeout']}")
    check_package_names(module, module.params["packages"])
    config, config_files = ecs_config(root)
    service_states = services(module)
    host = dict(
        ssm_registration=ssm_registration(root),
        ecs_agent=introspection(module.params["introspection_url"], timeout),
        services=service_states,
        packages=package_versions(module, module.params["packages"]),
        files=files(root, module.params["paths"]),
        record=record(root, module.params["record_path"]),
    )
    expected = module.params["record_expected"]
    module.exit_json(
        changed=False,
        ecs_config=config,
        ecs_config_files=config_files,
        systemd_running=os.path.isdir(under_root(root, SYSTEMD_RUNTIME_DIR)),
        ssm_agent=ssm_agent(root, service_states["amazon-ssm-agent"]),
        shared_credentials=shared_credentials(root),
        ecs_agent_state=ecs_agent_state(root),
        credential_chain=credential_chain(root),
        probes=probes(probe_urls, module.params["probe_timeout"], module.params["probe_validate_certs"]),
        record_differences=record_differences(host["record"], host, expected) if expected else None,
        **host,
    )


if __name__ == "__main__":
    main()
