#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_agent_config
version_added: 0.1.0
short_description: Write the ECS agent's configuration files and the ECS Exec CA bundle in one call
description:
  - Runs on the managed host. Writes the C(NAME=value) configuration files of the Amazon ECS agent (C(ecs-init)
    reads C(/etc/ecs/ecs.config) and C(/var/lib/ecs/ecs.config)) and copies the CA bundle ECS Exec needs, in one
    remote call instead of one C(file), two C(template) and one C(copy) task.
  - Each file of O(files) is written whole, never appended to. It holds the lines of O(files[].header) as
    comments, then one C(NAME=value) line per setting of O(files[].settings) in the order given, each line ending
    with a newline. This is byte for byte what the C(ecs_agent) role's templates wrote with the default
    C(ansible_managed), so that a host they configured sees no change.
  - Every setting is checked before anything on the host is read or written. A name must be a shell variable name
    and a value a string without a line break or NUL character, which would end the setting there and let the
    rest of the value be read as settings of their own.
  - A file is rewritten only when its content differs, and O(ca_bundle.dest) only when its SHA-1 differs from
    that of O(ca_bundle.src). A file is written to a temporary file in its own directory, then renamed over the
    old one, so that the agent never reads half a file. A mode or owner that differs is fixed without rewriting.
  - Missing parent directories of the destinations are created with mode C(0755). Existing directories are left
    as they are.
options:
  files:
    description:
      - The configuration files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - Absolute path of the file, for example C(/etc/ecs/ecs.config).
        type: path
        required: true
      header:
        description:
          - Comment lines written first, each as C(# ) followed by the line.
          - A line may not hold a line break or NUL character.
        type: list
        elements: str
        default: []
      settings:
        description:
          - The settings, written in this order as C(name=value) lines.
          - A name may be given only once per file.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description:
              - Letters, digits and C(_), not starting with a digit, for example V(ECS_CLUSTER).
            type: str
            required: true
          value:
            description:
              - A string, written as it is, without quotes. Render lists, dicts, numbers and booleans first, for
                example with C(to_json).
              - A line break (C(\n) or C(\r)) or a NUL character is refused.
            type: raw
            required: true
      mode:
        description:
          - Mode of the file, an octal string such as V('0600').
        type: raw
        default: '0600'
  ca_bundle:
    description:
      - A CA bundle to copy on the host, for example the system bundle to
        C(/var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem) for ECS Exec.
    type: dict
    suboptions:
      src:
        description:
          - Absolute path of the bundle on the host. It must be a file (a link to one is followed) and not be empty.
        type: path
        required: true
      dest:
        description:
          - Absolute path of the copy.
        type: path
        required: true
      mode:
        description:
          - Mode of the copy, an octal string such as V('0400').
        type: raw
        default: '0400'
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Supports check mode. The host is read as in a real run and the result predicts what would be written, created
    or fixed; nothing is written. Missing directories are no reason to fail in check mode.
  - Supports diff mode. The diff shows, for each file of O(files), its text before and after (settings included,
    as M(ansible.builtin.template) shows them); for O(ca_bundle) the SHA-1 and mode before and after; and each
    directory created. A fixed mode or owner of a configuration file does not show in it.
  - The owner of what the module writes or creates is root (uid 0, gid 0) when the module runs as root, as the
    C(ecs_agent) role runs it. Run as another user, for example in a test, the owner is neither checked nor changed.
  - Outside the diff, the result never holds the content of a file, since a setting may be a secret.
  - Linux only.
seealso:
  - module: fleet.ecs_anywhere.host_info
"""

EXAMPLES = r"""
- name: Write the agent configuration and the ECS Exec CA bundle
  fleet.ecs_anywhere.ecs_agent_config:
    files:
      - path: /etc/ecs/ecs.config
        header:
          - Ansible managed
          - User settings of the ECS agent; they win over /var/lib/ecs/ecs.config.
        settings:
          - name: ECS_CLUSTER
            value: edge
          - name: ECS_INSTANCE_ATTRIBUTES
            value: "{{ {'site': 'paris'} | to_json(sort_keys=true, separators=[',', ':']) }}"
      - path: /var/lib/ecs/ecs.config
        settings:
          - name: AWS_DEFAULT_REGION
            value: us-east-1
          - name: ECS_EXTERNAL
            value: "true"
    ca_bundle:
      src: /etc/ssl/certs/ca-certificates.crt
      dest: /var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem
  notify: Restart ecs
"""

RETURN = r"""
changed_files:
  description:
    - Paths of O(files) and O(ca_bundle.dest) that were written, or whose mode or owner was fixed (in check mode,
      would be), in the order given.
  returned: always
  type: list
  elements: str
  sample: ["/etc/ecs/ecs.config", "/var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem"]
created_directories:
  description: Directories that were created (in check mode, would be), parents first.
  returned: always
  type: list
  elements: str
  sample: ["/var/lib/ecs", "/var/lib/ecs/deps", "/var/lib/ecs/deps/execute-command",
           "/var/lib/ecs/deps/execute-command/certs"]
"""

import hashlib
import os
import re
import stat
from collections import namedtuple

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import drifted
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import existing
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import root_owner
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import set_attributes
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_files import write_atomically

DIRECTORY_MODE = 0o755
SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OCTAL_MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
# The agent reads one setting per line: any of these in a value would end it and start a setting of its own.
FORBIDDEN_CHARACTERS = ("\n", "\r", "\0")
CA_BUNDLE_HINT = "Install the CA certificates package or set ecs_anywhere_ecs_ca_bundle"
# Where an operator of the role finds a setting that is not one of the role's own (cluster, region, proxy, ...).
SETTINGS_HINT = "The ecs_agent role writes each setting of ecs_anywhere_ecs_extra_config under its own name."

# What one destination gets: its bytes, its mode, and whether it is the CA bundle (shown by checksum in a diff).
Target = namedtuple("Target", "path data mode is_bundle")


class Refused(ValueError):
    """The options describe something the module will not write."""


class RefusedSettings(Refused):
    """A setting or a header line cannot be written safely."""


def parse_mode(value, where):
    """The mode bits of an octal string such as '0600'; an integer is taken as the bits themselves."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    if isinstance(value, str) and OCTAL_MODE_RE.match(value):
        return int(value, 8)
    raise Refused(f"{where}: mode must be an octal string such as '0600', got {value!r}")


def has_forbidden_character(text):
    return any(character in text for character in FORBIDDEN_CHARACTERS)


def render(path, header, settings):
    """The file's text; Refused lists every setting or header line that cannot be written safely."""
    problems = []
    lines = []
    for number, comment in enumerate(header, 1):
        if has_forbidden_character(comment):
            problems.append(f"{path}: header line {number} contains a line break or a NUL character")
        lines.append(f"# {comment}")
    seen = set()
    for setting in settings:
        name, value = setting["name"], setting["value"]
        if not SETTING_NAME_RE.match(name):
            problems.append(
                f"{path}: setting name {name!r} is not a variable name (letters, digits and _, not starting with a "
                "digit)"
            )
            continue
        if name in seen:
            problems.append(f"{path}: setting {name} is given more than once")
        seen.add(name)
        if not isinstance(value, str):
            problems.append(
                f"{path}: setting {name} has a value of type {type(value).__name__}; values must be strings "
                "(render lists, dicts, numbers and booleans as JSON first)"
            )
            continue
        if has_forbidden_character(value):
            problems.append(
                f"{path}: the value of setting {name} contains a line break or a NUL character, which would end the "
                "setting there and let the rest of the value be read as further settings"
            )
            continue
        lines.append(f"{name}={value}")
    if problems:
        raise RefusedSettings("; ".join(problems))
    return "".join(f"{line}\n" for line in lines)


def missing_directories(paths):
    """Directories to create so that every path has its parent, parents first; Refused when one is in the way."""
    missing = []
    for path in paths:
        chain = []
        directory = os.path.dirname(path)
        while directory not in missing:
            st = existing(directory, follow=True)
            if st is not None:
                if not stat.S_ISDIR(st.st_mode):
                    raise Refused(f"{directory} is in the way of {path}: it exists and is not a directory")
                break
            chain.append(directory)
            directory = os.path.dirname(directory)
        missing.extend(reversed(chain))
    return missing


def sha1(data):
    # SHA-1 is what ansible.builtin.copy and host_info compare and report; this is no security check.
    return hashlib.sha1(data).hexdigest()  # noqa: S324


def read_regular(path, st):
    """The bytes of path when it is a regular file (not followed through a link), else None."""
    if st is None or not stat.S_ISREG(st.st_mode):
        return None
    with open(path, "rb") as f:
        return f.read()


def create_directory(path, owner):
    os.mkdir(path, DIRECTORY_MODE)
    # mkdir applies the umask; the agent's directories are readable by all, as ansible.builtin.file created them.
    set_attributes(path, DIRECTORY_MODE, owner)


def plan_files(files):
    """A Target for each configuration file; Refused lists every problem of every file."""
    targets = []
    problems = []
    settings_refused = False
    for index, item in enumerate(files):
        path = item["path"]
        try:
            if not os.path.isabs(path):
                raise Refused(f"files[{index}].path must be an absolute path, got {path!r}")
            mode = parse_mode(item["mode"], path)
            text = render(path, item["header"], item["settings"])
        except Refused as e:
            problems.append(str(e))
            settings_refused = settings_refused or isinstance(e, RefusedSettings)
            continue
        targets.append(Target(os.path.normpath(path), to_bytes(text, errors="surrogate_or_strict"), mode, False))
    if problems:
        raise (RefusedSettings if settings_refused else Refused)("; ".join(problems))
    return targets


def read_ca_bundle(src):
    """The bytes of the CA bundle at src; Refused when it is missing, not a file or empty."""
    try:
        st = existing(src, follow=True)
        if st is None:
            raise Refused(f"there is no file {src}")
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{src} is not a file")
        with open(src, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Refused(f"{src} cannot be read: {e}") from e
    if not data:
        raise Refused(f"{src} is empty")
    return data


def attributes(path, st, data):
    """What the diff shows of a CA bundle: its checksum stands for some hundred certificates."""
    if st is None:
        return dict(path=path, state="absent")
    return dict(
        path=path,
        state="file" if data is not None else "other",
        checksum=None if data is None else sha1(data),
        mode=f"{stat.S_IMODE(st.st_mode):04o}",
    )


def diff(targets, current, directories):
    """Before and after of each directory created and each destination, as the builtin modules show them."""
    entries = [
        dict(
            before_header=directory,
            after_header=directory,
            before=dict(path=directory, state="absent"),
            after=dict(path=directory, state="directory", mode=f"{DIRECTORY_MODE:04o}"),
        )
        for directory in directories
    ]
    for target in targets:
        st, before = current[target.path]
        if target.is_bundle:
            before_shown = attributes(target.path, st, before)
            after_shown = dict(path=target.path, state="file", checksum=sha1(target.data), mode=f"{target.mode:04o}")
        else:
            before_shown = (before or b"").decode("utf-8", errors="replace")
            after_shown = target.data.decode("utf-8", errors="replace")
        entries.append(
            dict(before_header=target.path, after_header=target.path, before=before_shown, after=after_shown)
        )
    return entries


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    path=dict(type="path", required=True),
                    header=dict(type="list", elements="str", default=[]),
                    settings=dict(
                        type="list",
                        elements="dict",
                        required=True,
                        options=dict(
                            name=dict(type="str", required=True),
                            value=dict(type="raw", required=True),
                        ),
                    ),
                    mode=dict(type="raw", default="0600"),
                ),
            ),
            ca_bundle=dict(
                type="dict",
                options=dict(
                    src=dict(type="path", required=True),
                    dest=dict(type="path", required=True),
                    mode=dict(type="raw", default="0400"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    params = module.params
    ca_bundle = params["ca_bundle"]
    owner = root_owner()

    # What to write, checked whole before the host is read ------------------------------------------------------
    try:
        targets = plan_files(params["files"])
        destinations = [target.path for target in targets]
        if ca_bundle is not None:
            for field in ("src", "dest"):
                if not os.path.isabs(ca_bundle[field]):
                    raise Refused(f"ca_bundle.{field} must be an absolute path, got {ca_bundle[field]!r}")
            ca_mode = parse_mode(ca_bundle["mode"], ca_bundle["dest"])
            destinations.append(os.path.normpath(ca_bundle["dest"]))
        for path in destinations:
            if destinations.count(path) > 1:
                raise Refused(f"{path} is given more than once")
    except Refused as e:
        hint = f" {SETTINGS_HINT}" if isinstance(e, RefusedSettings) else ""
        module.fail_json(msg=f"Refusing to write the agent configuration, nothing was written: {e}.{hint}")

    # Current state --------------------------------------------------------------------------------------------
    if ca_bundle is not None:
        try:
            targets.append(Target(destinations[-1], read_ca_bundle(ca_bundle["src"]), ca_mode, True))
        except Refused as e:
            module.fail_json(
                msg=f"No CA bundle to copy to {ca_bundle['dest']} for ECS Exec: {e}. {CA_BUNDLE_HINT}. Nothing was "
                "written."
            )
    try:
        directories = missing_directories(destinations)
        current = {}
        for target in targets:
            st = existing(target.path)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise Refused(f"{target.path} is a directory")
            current[target.path] = (st, read_regular(target.path, st))
    except (Refused, OSError) as e:
        module.fail_json(msg=f"Unable to write the agent configuration, nothing was written: {e}.")

    # Compare --------------------------------------------------------------------------------------------------
    pending = {}
    for target in targets:
        st, before = current[target.path]
        # A link or a special file in a destination's place is replaced by a file, as ansible.builtin.copy does.
        if before is None or sha1(before) != sha1(target.data):
            pending[target.path] = "write"
        elif drifted(st, target.mode, owner):
            pending[target.path] = "fix attributes"
    changed_files = [target.path for target in targets if target.path in pending]

    # Act ------------------------------------------------------------------------------------------------------
    if not module.check_mode:
        done = []
        try:
            for directory in directories:
                create_directory(directory, owner)
                done.append(directory)
            for target in targets:
                if target.path not in pending:
                    continue
                if pending[target.path] == "write":
                    write_atomically(module, target.path, target.data, target.mode, owner)
                else:
                    set_attributes(target.path, target.mode, owner)
                done.append(target.path)
        except Exception as e:  # pylint: disable=broad-except
            # atomic_move raises a bare Exception. Each file is the old one or the new one, never half of one.
            module.fail_json(
                msg=f"Unable to write the agent configuration: {e}. Done before the failure: "
                f"{', '.join(done) or 'nothing'}.",
                changed=bool(done),
                changed_files=[path for path in changed_files if path in done],
                created_directories=[directory for directory in directories if directory in done],
            )

    result = dict(changed=bool(directories or pending), changed_files=changed_files, created_directories=directories)
    if module._diff:
        result["diff"] = diff(targets, current, directories)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
