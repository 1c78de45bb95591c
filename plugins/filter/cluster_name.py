# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: cluster_name
version_added: 0.2.0
short_description: The name of an ECS cluster given by name or ARN
description:
  - Strips C(arn:<partition>:ecs:<region>:<account>:cluster/) from an ECS cluster ARN; a name is returned as it is.
options:
  _input:
    description: A cluster name or ARN; empty or null gives an empty string.
    type: str
    required: true
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Compare the agent's cluster with the wanted one
  ansible.builtin.assert:
    that: agent_cluster | fleet.ecs_anywhere.cluster_name == ecs_anywhere_cluster | fleet.ecs_anywhere.cluster_name
"""

RETURN = r"""
_value:
  description: The cluster's name.
  type: str
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.aws_names import cluster_name


class FilterModule:
    def filters(self):
        return {"cluster_name": cluster_name}
