# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: python_refusal
version_added: 0.2.0
short_description: Why no module runs on a host whose Python ansible-core cannot use
description:
  - Reads what a C(raw) command printed on a host where a module failed, and says whether the cause is a Python
    older than ansible-core runs modules on, with what to do for the host's distribution (C(python311) on SLES and
    openSUSE Leap 15). A release the collection refuses anyway (RHEL 8, Amazon Linux 2, ...) gets that
    refusal's reason.
  - Returns an empty string when the host's Python is recent enough, so that the module's own error stands.
options:
  _input:
    description:
      - What the raw command printed, a line C(PYTHON_VERSION=<major>.<minor>) from the interpreter Ansible used
        (left out when it does not run) and then the host's C(/etc/os-release).
    type: str
    required: true
  interpreter:
    description: The interpreter Ansible used on the host, for the message.
    type: str
    default: ""
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Refuse a Python that ansible-core cannot use
  ansible.builtin.fail:
    msg: "{{ __probe.stdout | fleet.ecs_anywhere.python_refusal(interpreter='/usr/bin/python3') }}"
  when: __probe.stdout | fleet.ecs_anywhere.python_refusal | length > 0
"""

RETURN = r"""
_value:
  description: The reason and what to do, or an empty string when the host's Python is not the cause.
  type: str
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.platforms import python_refusal


class FilterModule:
    def filters(self):
        return {"python_refusal": python_refusal}
