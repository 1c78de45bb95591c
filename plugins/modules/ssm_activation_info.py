#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_activation_info
version_added: 0.1.0
short_description: List AWS Systems Manager hybrid activations
description:
  - Lists SSM hybrid activations, optionally filtered, following every page of DescribeActivations.
  - Activation codes are never returned; AWS shows them only once, at creation.
author:
  - fleet.ecs_anywhere contributors (@fleet)
options:
  activation_ids:
    description:
      - Only these activations. Unknown ids are left out of the result.
    type: list
    elements: str
  iam_role:
    description:
      - Only activations for this IAM role, given as a role name (with its path, if any) or a role ARN.
    type: str
  default_instance_name:
    description:
      - Only activations with this default instance name.
    type: str
notes:
  - Filters are combined with AND.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List the activations for the ECS Anywhere role
  fleet.ecs_anywhere.ssm_activation_info:
    iam_role: ECSAnywhereRole
  register: activations

- name: Show how many registrations are left on each activation that has not expired
  ansible.builtin.debug:
    msg: "{{ item.activation_id }}: {{ item.registration_limit - item.registrations_count }} left"
  loop: "{{ activations.activations | rejectattr('expired') }}"
  loop_control:
    label: "{{ item.activation_id }}"
"""

RETURN = r"""
activations:
  description: The activations found; empty if none.
  returned: always
  type: list
  elements: dict
  contains:
    activation_id:
      description: Id of the activation.
      type: str
      sample: 4b3a1c7e-6f5d-4b5a-9f6e-0c1d2e3f4a5b
    description:
      description: Description of the activation.
      type: str
      sample: ECS Anywhere hosts
    default_instance_name:
      description: Name given to instances registering with the activation.
      type: str
      sample: ecs-anywhere
    iam_role:
      description: IAM role name (with path) the instances assume.
      type: str
      sample: ECSAnywhereRole
    registration_limit:
      description: Most instances that may register.
      type: int
      sample: 10
    registrations_count:
      description: Instances registered so far.
      type: int
      sample: 2
    expiration_date:
      description: When the activation expires (ISO 8601).
      type: str
      sample: "2026-12-03T10:00:00+00:00"
    expired:
      description: Whether the activation has expired.
      type: bool
      sample: false
    created_date:
      description: When the activation was created (ISO 8601).
      type: str
      sample: "2026-11-26T10:00:00+00:00"
    tags:
      description: Tags of the activation.
      type: dict
      sample: {"environment": "production"}
"""

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import AnsibleSSMError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import activation_to_ansible
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import describe_activations
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import normalize_iam_role


def main():
    argument_spec = dict(
        activation_ids=dict(type="list", elements="str"),
        iam_role=dict(type="str"),
        default_instance_name=dict(type="str"),
    )
    module = FleetAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    iam_role = None
    if module.params["iam_role"] is not None:
        try:
            iam_role = normalize_iam_role(module.params["iam_role"])
        except ValueError as e:
            module.fail_json(msg=str(e))
    activation_ids = module.params["activation_ids"]
    if activation_ids is not None and not activation_ids:
        module.exit_json(changed=False, activations=[])

    client = module.retrying_client("ssm")
    try:
        activations = describe_activations(
            client,
            activation_ids=activation_ids,
            iam_role=iam_role,
            default_instance_name=module.params["default_instance_name"],
        )
    except AnsibleSSMError as e:
        module.fail_json_aws_error(e)

    module.exit_json(changed=False, activations=[activation_to_ansible(a) for a in activations])


if __name__ == "__main__":
    main()
