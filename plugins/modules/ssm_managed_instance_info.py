#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_managed_instance_info
version_added: 0.1.0
short_description: List AWS Systems Manager hybrid managed instances
description:
  - Lists hybrid managed instances (C(mi-...), C(ResourceType=ManagedInstance)) with DescribeInstanceInformation,
    50 per call, following every page.
  - N instances cost ceil(N/50) calls; O(include_tags=true) adds one ListTagsForResource call per instance.
author:
  - fleet.ecs_anywhere contributors (@fleet)
options:
  instance_ids:
    description:
      - Only these managed instances (C(mi-) followed by 17 lowercase hexadecimal digits).
    type: list
    elements: str
  activation_ids:
    description:
      - Only instances registered with these activations.
    type: list
    elements: str
  ping_status:
    description:
      - Only instances with this agent status.
    type: str
    choices: ['Online', 'ConnectionLost', 'Inactive']
  tags:
    description:
      - Only instances carrying all these tags with these values (sent as C(tag:KEY) filters).
    type: dict
  name:
    description:
      - Only instances whose C(Name) or C(ComputerName) matches this shell-style pattern
        (C(web-*)); matched by the module because the API has no such filter.
    type: str
  include_tags:
    description:
      - Also return each instance's tags. Costs one extra API call per instance.
    type: bool
    default: false
notes:
  - Filters are combined with AND.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List the online managed instances of the production fleet
  fleet.ecs_anywhere.ssm_managed_instance_info:
    ping_status: Online
    tags:
      environment: production
  register: fleet

- name: Find the instances registered with an activation, with their tags
  fleet.ecs_anywhere.ssm_managed_instance_info:
    activation_ids:
      - "{{ activation_id }}"
    include_tags: true
  register: registered

- name: Find a host by its host name
  fleet.ecs_anywhere.ssm_managed_instance_info:
    name: "edge-0*"
  register: edge_hosts
"""

RETURN = r"""
managed_instances:
  description: The managed instances found; empty if none.
  returned: always
  type: list
  elements: dict
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
      description: C(ManagedInstance).
      type: str
      sample: ManagedInstance
    tags:
      description: Tags of the instance.
      type: dict
      returned: when O(include_tags=true)
      sample: {"environment": "production"}
"""

import fnmatch
import itertools

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MAX_FILTER_VALUES
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import AnsibleSSMError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import describe_instance_information
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import list_managed_instance_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import managed_instance_to_ansible
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import validate_managed_instance_id


def chunks(values):
    """Split a filter's values into the 100-value pieces the API accepts; [None] when unfiltered."""
    if not values:
        return [None]
    values = list(dict.fromkeys(values))
    return [values[i : i + MAX_FILTER_VALUES] for i in range(0, len(values), MAX_FILTER_VALUES)]


def build_filter_sets(params):
    """One ``Filters`` list per combination of id chunks (a single list in the usual case)."""
    common = [{"Key": "ResourceType", "Values": ["ManagedInstance"]}]
    if params["ping_status"]:
        common.append({"Key": "PingStatus", "Values": [params["ping_status"]]})
    for key, value in (params["tags"] or {}).items():
        common.append({"Key": f"tag:{key}", "Values": ["" if value is None else str(value)]})
    filter_sets = []
    for ids, activations in itertools.product(chunks(params["instance_ids"]), chunks(params["activation_ids"])):
        filters = list(common)
        if ids:
            filters.append({"Key": "InstanceIds", "Values": ids})
        if activations:
            filters.append({"Key": "ActivationIds", "Values": activations})
        filter_sets.append(filters)
    return filter_sets


def name_matches(info, pattern):
    return any(fnmatch.fnmatchcase(info.get(field) or "", pattern) for field in ("Name", "ComputerName"))


def main():
    argument_spec = dict(
        instance_ids=dict(type="list", elements="str"),
        activation_ids=dict(type="list", elements="str"),
        ping_status=dict(type="str", choices=["Online", "ConnectionLost", "Inactive"]),
        tags=dict(type="dict"),
        name=dict(type="str"),
        include_tags=dict(type="bool", default=False),
    )
    module = FleetAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:
        for instance_id in params["instance_ids"] or []:
            validate_managed_instance_id(instance_id, "instance_ids")
    except ValueError as e:
        module.fail_json(msg=str(e))
    # An explicitly empty id list selects nothing rather than everything.
    if params["instance_ids"] == [] or params["activation_ids"] == []:
        module.exit_json(changed=False, managed_instances=[])

    client = module.retrying_client("ssm")
    instances = []
    seen = set()
    try:
        for filters in build_filter_sets(params):
            for info in describe_instance_information(client, filters):
                if info["InstanceId"] in seen:
                    continue
                if params["name"] is not None and not name_matches(info, params["name"]):
                    continue
                seen.add(info["InstanceId"])
                instances.append(info)
        results = []
        for info in instances:
            tags = None
            if params["include_tags"]:
                tags = list_managed_instance_tags(client, info["InstanceId"])
                if tags is None:
                    # Deregistered between the two calls.
                    continue
            results.append(managed_instance_to_ansible(info, tags))
    except AnsibleSSMError as e:
        module.fail_json_aws_error(e)

    module.exit_json(changed=False, managed_instances=results)


if __name__ == "__main__":
    main()
