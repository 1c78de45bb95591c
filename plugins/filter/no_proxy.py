# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: no_proxy
version_added: 0.2.0
short_description: The NO_PROXY list of an agent or the engine
description:
  - C(localhost), C(127.0.0.1) and the instance metadata endpoint C(169.254.169.254), then the component's own
    exceptions, then the user's comma-separated ones (O(ecs_anywhere_no_proxy)), each once, joined with commas.
options:
  _input:
    description: The user's comma-separated exceptions; may be empty.
    type: str
    required: true
  extra:
    description: The component's own exceptions, for example the ECS task metadata endpoint C(169.254.170.2).
    type: list
    elements: str
    default: []
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Show the engine's exceptions
  ansible.builtin.debug:
    msg: "{{ ecs_anywhere_no_proxy | fleet.ecs_anywhere.no_proxy(extra=['169.254.170.2', '/var/run/docker.sock']) }}"
"""

RETURN = r"""
_value:
  description: The comma-separated list.
  type: str
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.aws_names import no_proxy


class FilterModule:
    def filters(self):
        return {"no_proxy": no_proxy}
