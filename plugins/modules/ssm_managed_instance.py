#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_managed_instance
version_added: 0.1.0
short_description: Tag or deregister an AWS Systems Manager managed instance
description:
  - Manages the tags of a hybrid managed instance (C(mi-...)), or deregisters it from Systems Manager.
  - Instances are created by registering a host with an activation (see M(fleet.ecs_anywhere.ssm_activation));
    this module does not register hosts.
author:
  - fleet.ecs_anywhere contributors (@fleet)
options:
  instance_id:
    description:
      - Id of the managed instance, C(mi-) followed by 17 lowercase hexadecimal digits.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the instance is registered and sets its tags; the module fails if the
        instance is not registered.
      - V(absent) deregisters the instance. An instance that is not registered gives C(changed=false).
        The host keeps running; its agent loses access to AWS.
    type: str
    choices: ['present', 'absent']
    default: present
  tags:
    description:
      - Tags to set on the managed instance, at most 50 in all. Keys starting with C(aws:) are rejected,
        as are keys over 128 and values over 256 characters.
      - If not set, the tags are left alone.
    type: dict
    aliases: ['resource_tags']
  purge_tags:
    description:
      - Remove tags not listed in O(tags) (tags starting with C(aws:) are never removed).
      - Has no effect unless O(tags) is set.
    type: bool
    default: true
notes:
  - Supports check mode and diff mode (the diff shows the tags).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Tag a managed instance, removing other tags
  fleet.ecs_anywhere.ssm_managed_instance:
    instance_id: mi-0123456789abcdef0
    tags:
      environment: production
      role: ecs-anywhere

- name: Add one tag, keeping the others
  fleet.ecs_anywhere.ssm_managed_instance:
    instance_id: mi-0123456789abcdef0
    tags:
      patch-group: weekly
    purge_tags: false

- name: Deregister a decommissioned host
  fleet.ecs_anywhere.ssm_managed_instance:
    instance_id: mi-0123456789abcdef0
    state: absent
"""

RETURN = r"""
managed_instance:
  description:
    - The managed instance as DescribeInstanceInformation shows it, plus its tags. Empty after O(state=absent).
    - In check mode, RV(managed_instance.tags) are the predicted tags.
  returned: always
  type: dict
  contains:
    instance_id:
      description: Id of the managed instance.
      type: str
      sample: mi-0123456789abcdef0
    activation_id:
      description: Activation the instance registered with.
      type: str
      sample: 4b3a1c7e-6f5d-4b5a-9f6e-0c1d2e3f4a5b
    ping_status:
      description: C(Online), C(ConnectionLost) or C(Inactive).
      type: str
      sample: Online
    last_ping_date_time:
      description: Last heartbeat of the SSM agent (ISO 8601).
      type: str
      sample: "2026-11-26T10:00:00+00:00"
    agent_version:
      description: SSM agent version.
      type: str
      sample: 3.3.0.0
    platform_type:
      description: Operating system type.
      type: str
      sample: Linux
    platform_name:
      description: Operating system name.
      type: str
      sample: Debian GNU/Linux
    platform_version:
      description: Operating system version.
      type: str
      sample: "12"
    ip_address:
      description: IP address reported by the agent.
      type: str
      sample: 172.29.0.2
    computer_name:
      description: Host name reported by the agent.
      type: str
      sample: host-1
    name:
      description: Name of the instance (the activation's default instance name).
      type: str
      sample: ecs-anywhere
    iam_role:
      description: IAM role the instance assumes.
      type: str
      sample: ECSAnywhereRole
    registration_date:
      description: When the instance registered (ISO 8601).
      type: str
      sample: "2026-11-26T09:00:00+00:00"
    resource_type:
      description: C(ManagedInstance) for hybrid instances.
      type: str
      sample: ManagedInstance
    tags:
      description: Tags of the instance.
      type: dict
      sample: {"environment": "production"}
added_tags:
  description: Tags added or changed.
  returned: when tags were added or changed
  type: dict
  sample: {"environment": "production"}
removed_tags:
  description: Tags removed, with their former values.
  returned: when tags were removed
  type: dict
  sample: {"old": "value"}
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MAX_MANAGED_INSTANCE_TAGS
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import AnsibleSSMError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import add_managed_instance_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import deregister_managed_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import get_managed_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import list_managed_instance_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import managed_instance_to_ansible
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import remove_managed_instance_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import stringify_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import validate_managed_instance_id
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import validate_tags


def ensure_present(client, module, instance_id, result):
    info = get_managed_instance(client, instance_id)
    current_tags = list_managed_instance_tags(client, instance_id) if info is not None else None
    if info is None or current_tags is None:
        module.fail_json(
            msg=f"Managed instance {instance_id} is not registered: register the host with an activation first",
            **result,
        )

    tags = module.params["tags"]
    new_tags = dict(current_tags)
    if tags is not None:
        wanted = stringify_tags(tags)
        to_set, to_unset = compare_aws_tags(current_tags, wanted, module.params["purge_tags"])
        for key in to_unset:
            new_tags.pop(key)
        new_tags.update(to_set)
        if len(new_tags) > MAX_MANAGED_INSTANCE_TAGS:
            module.fail_json(
                msg=f"tags would leave managed instance {instance_id} with {len(new_tags)} tags but SSM allows at "
                f"most {MAX_MANAGED_INSTANCE_TAGS}: set purge_tags=true or remove tags",
                **result,
            )
        if to_unset:
            result["removed_tags"] = {k: current_tags[k] for k in to_unset}
        if to_set:
            result["added_tags"] = to_set
        if to_set or to_unset:
            result["changed"] = True
            if not module.check_mode:
                if to_unset:
                    remove_managed_instance_tags(client, instance_id, to_unset)
                if to_set:
                    add_managed_instance_tags(client, instance_id, to_set)
                new_tags = list_managed_instance_tags(client, instance_id) or {}

    result["diff"] = {"before": {"tags": current_tags}, "after": {"tags": new_tags}}
    result["managed_instance"] = managed_instance_to_ansible(info, new_tags)


def ensure_absent(client, module, instance_id, result):
    info = get_managed_instance(client, instance_id)
    if info is None:
        result["diff"] = {"before": {}, "after": {}}
        return
    tags = list_managed_instance_tags(client, instance_id) or {}
    result["diff"] = {"before": managed_instance_to_ansible(info, tags), "after": {}}
    result["changed"] = True
    if not module.check_mode:
        # The instance may have gone between describe and deregister.
        result["changed"] = deregister_managed_instance(client, instance_id)


def main():
    argument_spec = dict(
        instance_id=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = FleetAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    instance_id = module.params["instance_id"]
    try:
        validate_managed_instance_id(instance_id)
        validate_tags(module.params["tags"], MAX_MANAGED_INSTANCE_TAGS, "tags")
    except ValueError as e:
        module.fail_json(msg=str(e))

    result = {"changed": False, "managed_instance": {}}
    client = module.retrying_client("ssm")
    try:
        if module.params["state"] == "present":
            ensure_present(client, module, instance_id, result)
        else:
            ensure_absent(client, module, instance_id, result)
    except AnsibleSSMError as e:
        module.fail_json_aws_error(e)

    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
