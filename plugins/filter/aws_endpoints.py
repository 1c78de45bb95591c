# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: aws_endpoints
version_added: 0.2.0
short_description: Where a host gets the agents from and which SSM and ECS APIs it uses
description:
  - For a region, the base URL of AWS's agent package buckets (C(https://s3.<region>.amazonaws.com), C(.com.cn) in
    China, C(amazonaws.eu) in the European Sovereign Cloud) and the SSM and ECS API endpoints, each replaced by the
    override given when it is not empty.
options:
  _input:
    description: The AWS region.
    type: str
    required: true
  package_base_url:
    description: Mirror of AWS's buckets (O(ecs_anywhere_package_base_url)); a trailing slash is dropped.
    type: str
    default: ""
  ssm_endpoint:
    description: SSM endpoint override.
    type: str
    default: ""
  ecs_endpoint:
    description: ECS endpoint override.
    type: str
    default: ""
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Show where the agents come from
  ansible.builtin.debug:
    msg: "{{ (ecs_anywhere_region | fleet.ecs_anywhere.aws_endpoints(package_base_url=mirror)).packages }}"
  vars:
    mirror: "{{ ecs_anywhere_package_base_url }}"
"""

RETURN = r"""
_value:
  description: The three URLs.
  type: dict
  contains:
    packages:
      description: Base URL of the package buckets, without a trailing slash.
      type: str
    ssm:
      description: SSM API endpoint.
      type: str
    ecs:
      description: ECS API endpoint.
      type: str
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.aws_names import endpoints


class FilterModule:
    def filters(self):
        return {"aws_endpoints": endpoints}
