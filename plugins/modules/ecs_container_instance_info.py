#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_container_instance_info
version_added: 0.1.0
short_description: List and describe the container instances of an ECS cluster
description:
  - Lists the container instances of an ECS cluster, optionally filtered, and describes them.
  - Pages through C(ListContainerInstances) 100 at a time and describes 100 instances per
    C(DescribeContainerInstances) call, so N instances cost ceil(N/100) calls of each.
  - Fails with C(Unable to find ECS cluster) when the cluster does not exist.
options:
  cluster:
    description:
      - Name or ARN of the ECS cluster.
    type: str
    required: true
  filter:
    description:
      - A cluster query language expression passed unchanged to C(ListContainerInstances), for example
        C(attribute:ecs.capability.external exists) or C(ec2InstanceId == mi-0123456789abcdef0).
      - See U(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html).
    type: str
  managed_instance_ids:
    description:
      - Only return the container instances of these SSM managed instances (C(mi-) ids), for example the hosts of a
        batch that has just registered.
      - Listed 20 ids per C(ListContainerInstances) call (an C(ec2InstanceId in [...]) filter) and described 100 per
        C(DescribeContainerInstances) call, so a batch of N hosts costs ceil(N/20) List and ceil(N/100) Describe
        calls however large the cluster is, instead of a lookup per host.
      - An id without a container instance is simply absent from the result.
      - Mutually exclusive with O(filter).
    type: list
    elements: str
  status:
    description:
      - Only return container instances with this status.
      - When not set, ECS returns instances in every status except V(INACTIVE).
    type: str
    choices: ['ACTIVE', 'DRAINING', 'REGISTERING', 'DEREGISTERING', 'REGISTRATION_FAILED']
  include_tags:
    description:
      - Also return the tags of each container instance.
    type: bool
    default: false
author:
  - Fleet ECS Anywhere maintainers (@fleet)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List the external (ECS Anywhere) instances of a cluster
  fleet.ecs_anywhere.ecs_container_instance_info:
    cluster: edge
    filter: attribute:ecs.capability.external exists
  register: edge_instances

- name: Find the instances whose agent is disconnected
  ansible.builtin.debug:
    msg: "{{ edge_instances.container_instances | rejectattr('agent_connected') | map(attribute='ec2_instance_id') }}"

- name: Read the container instances of two hosts, with their tags, in one call of each kind
  fleet.ecs_anywhere.ecs_container_instance_info:
    cluster: edge
    managed_instance_ids:
      - mi-0123456789abcdef0
      - mi-0fedcba9876543210
    include_tags: true
  register: batch

- name: List draining instances with their tags
  fleet.ecs_anywhere.ecs_container_instance_info:
    cluster: edge
    status: DRAINING
    include_tags: true
"""

RETURN = r"""
container_instances:
  description: The matching container instances, in the order ECS listed them. Empty if none matched.
  returned: always
  type: list
  elements: dict
  contains:
    container_instance_arn:
      description: ARN of the container instance.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0
    ec2_instance_id:
      description: For external instances, the SSM managed instance id of the host.
      type: str
      sample: mi-0123456789abcdef0
    status:
      description: Status of the container instance.
      type: str
      sample: ACTIVE
    agent_connected:
      description: Whether the ECS agent on the host is connected.
      type: bool
    running_tasks_count:
      description: Number of tasks in the RUNNING state.
      type: int
    pending_tasks_count:
      description: Number of tasks in the PENDING state.
      type: int
    version_info:
      description: Agent and Docker versions reported by the agent.
      type: dict
    registered_at:
      description: When the instance registered (ISO 8601).
      type: str
    attributes:
      description: Custom attributes (outside the V(ecs.) namespace) as a dictionary of name to value.
      type: dict
    raw_attributes:
      description: All attributes as returned by ECS.
      type: list
      elements: dict
    tags:
      description: Tags of the container instance; empty unless O(include_tags=true).
      type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import describe_cluster
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import describe_container_instances
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import list_container_instance_arns
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import managed_instance_filters
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import normalize_container_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import validate_managed_instance_id


def describe_in_order(client, cluster, arns, include_tags):
    """Describe ``arns`` (100 per call) and return them in that order: ECS does not promise any."""
    described, dummy = describe_container_instances(client, cluster, arns, include_tags)
    order = {arn: index for index, arn in enumerate(arns)}
    return sorted(described, key=lambda i: order.get(i.get("containerInstanceArn"), len(order)))


def list_and_describe(client, cluster, filter_expression, status, include_tags):
    """Describe each page as soon as it is listed: one Describe call per List page of at most 100."""
    instances = []
    for arns in list_container_instance_arns(client, cluster, filter_expression, status):
        if arns:
            instances.extend(describe_in_order(client, cluster, arns, include_tags))
    return instances


def list_and_describe_managed(client, cluster, managed_instance_ids, status, include_tags):
    """List the instances of every 20 ids, then describe them 100 per call (not one Describe per List)."""
    arns = []
    for expression in managed_instance_filters(managed_instance_ids):
        for page in list_container_instance_arns(client, cluster, expression, status):
            arns.extend(page)
    arns = list(dict.fromkeys(arns))
    if not arns:
        return []
    described = describe_in_order(client, cluster, arns, include_tags)
    # The filter is evaluated by ECS; re-check so that a service ignoring it cannot hand back foreign instances.
    wanted = set(managed_instance_ids)
    return [i for i in described if i.get("ec2InstanceId") in wanted]


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        filter=dict(type="str"),
        managed_instance_ids=dict(type="list", elements="str"),
        status=dict(type="str", choices=["ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"]),
        include_tags=dict(type="bool", default=False),
    )
    module = FleetAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, mutually_exclusive=[("filter", "managed_instance_ids")]
    )
    params = module.params
    ids = params["managed_instance_ids"]
    errors = [validate_managed_instance_id(i) for i in ids or []]
    errors = [e.replace("managed_instance_id ", "managed_instance_ids: ", 1) for e in errors if e]
    if errors:
        module.fail_json(msg="; ".join(errors))
    client = module.retrying_client("ecs")
    try:
        describe_cluster(client, params["cluster"])
        if ids is None:
            instances = list_and_describe(
                client, params["cluster"], params["filter"], params["status"], params["include_tags"]
            )
        else:
            instances = list_and_describe_managed(
                client, params["cluster"], ids, params["status"], params["include_tags"]
            )
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(changed=False, container_instances=[normalize_container_instance(i) for i in instances])


if __name__ == "__main__":
    main()
