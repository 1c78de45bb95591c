# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: aws_region
version_added: 0.2.0
short_description: Whether a value is spelt as an AWS region name
description:
  - True for names such as C(us-east-1), C(eu-central-2), C(cn-north-1) or C(us-gov-west-1); false for anything else,
    including an empty value.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Require a region
  ansible.builtin.assert:
    that: ecs_anywhere_region is fleet.ecs_anywhere.aws_region
"""

RETURN = r"""
_value:
  description: Whether it is a region name.
  type: bool
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.aws_names import is_region


class TestModule:
    def tests(self):
        return {"aws_region": is_region}
