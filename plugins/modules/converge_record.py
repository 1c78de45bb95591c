#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: converge_record
version_added: 0.1.0
short_description: Write the record of what a converge left on an ECS Anywhere host, in one call
description:
  - Runs on the managed host and makes no AWS API call. Writes the JSON document the C(external_instance) role keeps
    after a successful converge, so that a later run which reads the same inputs and live state (with
    M(fleet.ecs_anywhere.host_info) and its O(fleet.ecs_anywhere.host_info#module:record_path)) knows there is
    nothing to do.
  - Reads the host the way M(fleet.ecs_anywhere.host_info) does, with the same code. These are the type, mode,
    owner and checksum of the O(paths), the installed versions of the O(packages) (one call to the host's native
    package database, C(dpkg-query) or C(rpm) as its C(/etc/os-release) says, then one call to the other for what
    the first does not report installed), the state of the C(amazon-ssm-agent), C(ecs) and
    C(docker) systemd units (one C(systemctl show) call), the SSM registration and the answer of the ECS agent
    introspection API.
  - The record is a JSON object with the keys C(format), C(digest), C(files), C(packages), C(managed_instance_id) and
    C(container_instance_arn), written with keys sorted, an indent of 2 and a trailing newline, as the role wrote it
    with the C(ansible.builtin.to_nice_json) filter before this module existed. It holds no secret.
  - The record is rewritten when its parsed content differs from the one to write (or it is not a regular file);
    a file with the same content in another layout is left as it is. It is written to a temporary file in its own
    directory, then renamed over the old one, so that a reader never sees half a record.
  - The directory of O(path) belongs to the record. It is created when missing, and it and the record are kept
    owned by root with modes C(0700) and C(0600).
  - Refuses to write a record without a managed instance id or a container instance ARN. The next run would
    compare the host with a record that cannot describe a registered host, and could skip work it has to do.
options:
  path:
    description:
      - Absolute path of the record file, for example C(/var/lib/ecs-anywhere/converged.json). Written under
        O(root).
      - Its directory is the record's own; it is created, and its mode set to C(0700), as needed. Never point this
        into a directory something else uses, such as C(/tmp); a file directly under C(/) is refused.
    type: path
    required: true
  digest:
    description:
      - Digest of what shaped the converge (the role's settings and code), stored as the record's C(digest) as given.
    type: str
    required: true
  format:
    description:
      - Version of the record's layout, stored as the record's C(format).
    type: int
    default: 1
  paths:
    description:
      - Paths whose state the record's C(files) holds, keyed by each path as given (after the C(~) expansion of a
        C(path) option) and described as in RV(fleet.ecs_anywhere.host_info#module:files). They are read under
        O(root).
      - The directory of O(path) is left out when it is among them, since its mode is this module's to set.
      - Read-only. A regular file is read in full for its checksum.
    type: list
    elements: path
    default: []
  packages:
    description:
      - Packages whose installed version the record's C(packages) holds, keyed by name, null when not installed.
      - A name is letters, digits and C(.), C(+), C(_), C(-), starting with a letter or a digit (no version, no
        architecture qualifier, no pattern). Any other name fails the module.
    type: list
    elements: str
    default: []
  introspection_url:
    description:
      - Base URL of the ECS agent introspection API, which reports the container instance ARN.
    type: str
    default: http://127.0.0.1:51678
  timeout:
    description:
      - Seconds to wait for the ECS agent introspection API to answer.
    type: int
    default: 2
  root:
    description:
      - Path prefix under which the host's files are read and the record is written, for example a mounted image or
        a test fixture. O(path) and O(paths) are taken under it.
      - Commands (systemctl, dpkg-query, rpm) and the introspection API always describe the running system.
    type: path
    default: /
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Supports check mode. The host is read as in a real run and the result predicts whether the record, its mode or
    its directory would change; nothing is written.
  - In check mode, a host without a managed instance id or a container instance ARN (the roles did not register
    it, being in check mode themselves) is not refused. The module then predicts nothing, returns C(changed=false)
    and RV(record=null) with the reason in RV(msg), and still returns RV(host).
  - Supports diff mode. The diff shows the text of the record before and after; a fixed mode or owner does not show
    in it.
  - The owner is root (uid 0, gid 0) when the module runs as root, as the role runs it. Run as another user, for
    example in a test with O(root), the owner of the record and its directory is neither checked nor changed.
  - Linux only.
seealso:
  - module: fleet.ecs_anywhere.host_info
"""

EXAMPLES = r"""
- name: Record what the converge left on the host
  fleet.ecs_anywhere.converge_record:
    path: /var/lib/ecs-anywhere/converged.json
    digest: "{{ settings_and_code | to_json(sort_keys=true) | hash('sha256') }}"
    paths:
      - /etc/ecs/ecs.config
      - /etc/amazon/ssm/amazon-ssm-agent.json
    packages:
      - amazon-ssm-agent
      - amazon-ecs-init
      - docker.io
  register: ecsa_record

- name: Publish the registration the record holds
  ansible.builtin.set_fact:
    ecsa_managed_instance_id: "{{ ecsa_record.host.ssm_registration.managed_instance_id }}"
    ecsa_container_instance_arn: "{{ ecsa_record.host.ecs_agent.container_instance_arn }}"

- name: On a later run, read the host and the record in one call
  fleet.ecs_anywhere.host_info:
    paths:
      - /etc/ecs/ecs.config
      - /etc/amazon/ssm/amazon-ssm-agent.json
    packages:
      - amazon-ssm-agent
      - amazon-ecs-init
      - docker.io
    record_path: /var/lib/ecs-anywhere/converged.json
  register: ecsa_host

- name: Skip the converge when the host is as the last one left it
  ansible.builtin.set_fact:
    ecsa_converged: >-
      {{ ecsa_host.record is mapping
         and ecsa_host.record.files == ecsa_host.files
         and ecsa_host.record.packages == ecsa_host.packages
         and ecsa_host.record.managed_instance_id == ecsa_host.ssm_registration.managed_instance_id
         and ecsa_host.record.container_instance_arn == ecsa_host.ecs_agent.container_instance_arn }}
"""

RETURN = r"""
record:
  description:
    - The record as written, or as check mode predicts it would be written.
    - Null in check mode when the host has no managed instance id or no container instance ARN yet.
  returned: success
  type: dict
  contains:
    format:
      description: The record's layout, O(format).
      type: int
      sample: 1
    digest:
      description: The digest of the converge's inputs, O(digest).
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    files:
      description: The state of each path of O(paths) but the record's directory, as in RV(host.files).
      type: dict
      sample:
        /etc/ecs/ecs.config: {"exists": true, "type": "file", "checksum": "2dacbb53a67a41c0f03ca547e048d07b34190b07",
                              "mode": "0600", "uid": 0, "gid": 0}
    packages:
      description: The installed version of each package of O(packages), as in RV(host.packages).
      type: dict
      sample: {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": "1.89.2-1", "docker.io": null}
    managed_instance_id:
      description: The SSM managed instance id of the host.
      type: str
      sample: mi-0123456789abcdef0
    container_instance_arn:
      description: The ARN of the container instance the ECS agent reports.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0
host:
  description:
    - What the module read of the host, in the shapes M(fleet.ecs_anywhere.host_info) returns them, so that one call
      both records and reports the host.
    - Also returned when the module refuses to write the record.
  returned: always
  type: dict
  contains:
    files:
      description:
        - The state of each path of O(paths) but the record's directory, keyed by the path as given.
        - Each entry has C(exists), C(type) (V(file), V(directory), V(link) or V(other)), C(checksum) (SHA-1 in hex,
          of a regular file or of the file a link leads to), C(mode) (as V(0644)), C(uid) and C(gid); all but
          C(exists) are null for a missing path. See RV(fleet.ecs_anywhere.host_info#module:files).
      type: dict
      sample:
        /etc/ecs/ecs.config: {"exists": true, "type": "file", "checksum": "2dacbb53a67a41c0f03ca547e048d07b34190b07",
                              "mode": "0600", "uid": 0, "gid": 0}
        /nonexistent: {"exists": false, "type": null, "checksum": null, "mode": null, "uid": null, "gid": null}
    packages:
      description:
        - Installed version of each package of O(packages), keyed by its name, null when it is not installed.
        - The version the native package database reports installed, else the one the other reports. A dpkg version
          is as C(dpkg-query) prints it (held packages included), an rpm version is C([EPOCH:]VERSION-RELEASE), the
          epoch only when the package has one.
      type: dict
      sample: {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": null}
    services:
      description:
        - State of the systemd units, keyed by service (amazon-ssm-agent, ecs, docker), each with C(unit), C(active)
          (its C(ActiveState), as V(active)) and C(enabled) (its C(UnitFileState), as V(enabled), and V(not-found)
          for a unit systemd does not know). See RV(fleet.ecs_anywhere.host_info#module:services).
      type: dict
      sample: {"ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"}}
    ssm_registration:
      description: SSM registration of the host.
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
    ecs_agent:
      description: Answer of the ECS agent introspection API.
      type: dict
      contains:
        reachable:
          description: Whether the agent answered.
          type: bool
          sample: true
        cluster:
          description: Cluster the agent is running for.
          type: str
          sample: edge
        container_instance_arn:
          description: ARN of the container instance; null until the agent has registered.
          type: str
          sample: arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0
        version:
          description: Agent version string.
          type: str
          sample: Amazon ECS Agent - v1.89.2 (d9b3d5a4)
        error:
          description: Why the agent could not be queried.
          type: str
          returned: when O(introspection_url) did not answer
msg:
  description: Why check mode predicts nothing about the record.
  returned: in check mode, when the host has no managed instance id or no container instance ARN yet
  type: str
  sample: >-
    Not predicting the converge record /var/lib/ecs-anywhere/converged.json: the host has no SSM managed instance id
    (the host is not registered with Systems Manager) and no container instance ARN (the ECS agent did not answer:
    http://127.0.0.1:51678/v1/metadata: [Errno 111] Connection refused).
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import drifted
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import existing
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import root_owner
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import set_attributes
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import write_atomically
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import check_package_names
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import files
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import introspection
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import package_versions
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import record
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import services
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import ssm_registration
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import under_root

DIRECTORY_MODE = 0o700
RECORD_MODE = 0o600


def render(content):
    """The record's text as the role's to_nice_json(indent=2) wrote it, so that old and new records match."""
    return json.dumps(content, indent=2, sort_keys=True, separators=(",", ": ")) + "\n"


def read_text(path):
    """The record's current text for the diff; empty when there is none to read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def missing_ids(registration, agent, introspection_url):
    """Why the record cannot name the registration, one reason per missing id."""
    reasons = []
    if not registration["managed_instance_id"]:
        reasons.append("no SSM managed instance id (the host is not registered with Systems Manager)")
    if not agent["container_instance_arn"]:
        if agent["reachable"]:
            why = f"the ECS agent at {introspection_url} answered without one"
        else:
            why = f"the ECS agent did not answer: {agent['error']}"
        reasons.append(f"no container instance ARN ({why})")
    return reasons


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            digest=dict(type="str", required=True),
            format=dict(type="int", default=1),
            paths=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="str", default=[]),
            introspection_url=dict(type="str", default="http://127.0.0.1:51678"),
            timeout=dict(type="int", default=2),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = params["root"]
    path = os.path.normpath(params["path"])
    directory = os.path.dirname(path)
    # The directory's mode is set to 0700: never that of / itself, nor of a directory a relative path lands in.
    if not os.path.isabs(path) or directory == os.sep:
        module.fail_json(
            msg=f"path must be an absolute path in a directory of the record's own (its mode is set to 0700), got "
            f"{params['path']!r}; nothing was written."
        )
    check_package_names(module, params["packages"])

    # Current state ---------------------------------------------------------------------------------------------
    record_paths = [item for item in params["paths"] if os.path.normpath(item) != directory]
    host = {
        "files": files(root, record_paths),
        "packages": package_versions(module, params["packages"]),
        "services": services(module),
        "ssm_registration": ssm_registration(root),
        "ecs_agent": introspection(params["introspection_url"], params["timeout"]),
    }
    reasons = missing_ids(host["ssm_registration"], host["ecs_agent"], params["introspection_url"])
    if reasons:
        if module.check_mode:
            module.exit_json(
                changed=False,
                record=None,
                host=host,
                msg=f"Not predicting the converge record {path}: the host has {' and '.join(reasons)}.",
            )
        module.fail_json(
            msg=f"Refusing to write the converge record {path}: the host has {' and '.join(reasons)}. A record needs "
            "both, or the next run could skip work the host still needs; nothing was written.",
            host=host,
        )
    wanted = {
        "format": params["format"],
        "digest": params["digest"],
        "files": host["files"],
        "packages": host["packages"],
        "managed_instance_id": host["ssm_registration"]["managed_instance_id"],
        "container_instance_arn": host["ecs_agent"]["container_instance_arn"],
    }
    text = render(wanted)
    record_file = under_root(root, path)
    record_directory = os.path.dirname(record_file)
    owner = root_owner()
    try:
        directory_stat = existing(record_directory, follow=True)
        file_stat = existing(record_file, follow=False)
    except OSError as e:
        module.fail_json(msg=f"Unable to read the converge record {path}: {e}", host=host)
    if directory_stat is not None and not stat.S_ISDIR(directory_stat.st_mode):
        module.fail_json(msg=f"Unable to write the converge record {path}: {directory} is not a directory.", host=host)
    if file_stat is not None and stat.S_ISDIR(file_stat.st_mode):
        module.fail_json(msg=f"Unable to write the converge record {path}: it is a directory.", host=host)

    # Compare ---------------------------------------------------------------------------------------------------
    create_directory = directory_stat is None
    fix_directory = not create_directory and drifted(directory_stat, DIRECTORY_MODE, owner)
    # A link or a special file in the record's place is replaced by the record, as ansible.builtin.copy did.
    write_file = file_stat is None or not stat.S_ISREG(file_stat.st_mode) or record(root, path) != json.loads(text)
    fix_file = not write_file and drifted(file_stat, RECORD_MODE, owner)
    before_text = read_text(record_file) if module._diff else ""

    # Act -------------------------------------------------------------------------------------------------------
    if not module.check_mode:
        try:
            if create_directory:
                os.makedirs(os.path.dirname(record_directory), exist_ok=True)
                os.mkdir(record_directory, DIRECTORY_MODE)
            if create_directory or fix_directory:
                set_attributes(record_directory, DIRECTORY_MODE, owner)
            if write_file:
                write_atomically(module, record_file, text.encode("utf-8"), RECORD_MODE, owner)
            elif fix_file:
                set_attributes(record_file, RECORD_MODE, owner)
        except Exception as e:  # pylint: disable=broad-except
            # atomic_move raises a bare Exception; any failure here leaves the old record or none, never half of one.
            module.fail_json(msg=f"Unable to write the converge record {path}: {e}", host=host)

    result = dict(
        changed=create_directory or fix_directory or write_file or fix_file,
        record=wanted,
        host=host,
    )
    if module._diff:
        result["diff"] = dict(before_header=path, after_header=path, before=before_text, after=text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
