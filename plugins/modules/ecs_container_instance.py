#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_container_instance
version_added: 0.1.0
short_description: Manage the status, custom attributes and tags of an ECS container instance, or deregister it
description:
  - Manages an ECS container instance that the ECS agent registered, typically an ECS Anywhere (external)
    host identified by its SSM managed instance id.
  - Container instances are created only by the ECS agent on the host. O(state=present) therefore never registers
    anything; it fails when the instance is missing unless O(wait=true), in which case it waits for the agent to
    register it.
  - Sets the instance status to V(ACTIVE) or V(DRAINING) with C(UpdateContainerInstancesState), manages custom
    attributes with C(PutAttributes)/C(DeleteAttributes) and tags with C(TagResource)/C(UntagResource).
  - O(state=absent) deregisters the container instance. It does not stop the agent on the host, which would register
    again on its next start; stop the C(ecs) service first.
  - All inputs are validated against the ECS API limits before any call that changes anything.
options:
  cluster:
    description:
      - Name or ARN of the ECS cluster the container instance belongs to.
      - The module fails with C(Unable to find ECS cluster) if it does not exist, before any change.
    type: str
    required: true
  container_instance:
    description:
      - ARN or id of the container instance.
      - Mutually exclusive with O(managed_instance_id); one of the two is required.
    type: str
  managed_instance_id:
    description:
      - SSM managed instance id (V(mi-) followed by 17 hex digits) of the external host.
      - Resolved with C(ListContainerInstances) and the filter C(ec2InstanceId == <id>).
      - If the agent registered the host more than once, the newest registration is managed and a warning lists the
        others; O(state=absent) deregisters all of them.
      - Mutually exclusive with O(container_instance); one of the two is required.
    type: str
  state:
    description:
      - V(present) manages status, attributes and tags of a registered container instance.
      - V(absent) deregisters it. Deregistering an instance that is already gone (missing or V(INACTIVE)) reports no
        change.
      - O(status), O(attributes) and O(tags) are ignored when O(state=absent).
    type: str
    choices: ['present', 'absent']
    default: present
  status:
    description:
      - Desired status. Only V(ACTIVE) and V(DRAINING) can be set, and only on an instance that is currently
        V(ACTIVE) or V(DRAINING).
      - When not set, the status is left as it is.
      - With O(wait=true), setting V(DRAINING) waits until no task is running or pending on the instance.
    type: str
    choices: ['ACTIVE', 'DRAINING']
  attributes:
    description:
      - Custom attributes to set, as a dictionary of name to value. Use a null value for an attribute without value.
      - Names are 1-128 letters, digits, hyphens, underscores, forward slashes and periods and must not start with
        V(ecs.); values are 1-128 letters, digits, spaces and C(- _ . / \\ @ :), without leading or trailing spaces.
      - ECS allows at most 10 custom attributes per container instance; the module checks the resulting set before
        any change.
      - When not set, attributes are not modified.
    type: dict
  purge_attributes:
    description:
      - Remove custom attributes that are not in O(attributes).
      - Defaults to V(false), unlike O(purge_tags), because custom attributes usually also come from
        C(ECS_INSTANCE_ATTRIBUTES) on the host and feed task placement constraints; removing them by surprise
        would stop services from placing tasks.
      - Attributes in the V(ecs.) namespace (set by ECS and the agent) are never removed.
      - Has no effect when O(attributes) is not set.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), deregister even if tasks are running or pending on the instance. Those tasks are
        orphaned (they keep running on the host but ECS no longer tracks them).
      - Without it, the module refuses to deregister an instance with running or pending tasks; drain it first with
        O(status=DRAINING) and O(wait=true).
    type: bool
    default: false
  wait:
    description:
      - Wait for the result to be visible in ECS.
      - With O(state=present), wait for the container instance to be registered (when it is looked up by
        O(managed_instance_id)) and for its agent to be connected; after O(status=DRAINING), also wait until no task
        is running or pending.
      - With O(state=absent), wait until the instance is deregistered.
      - In check mode, only the read-only waits (registration and agent connection) are performed.
    type: bool
    default: false
  wait_timeout:
    description:
      - Maximum number of seconds to wait for each of the conditions described in O(wait).
    type: int
    default: 300
  wait_delay:
    description:
      - Seconds between two polls while waiting. Each poll costs one or two API calls.
    type: int
    default: 5
author:
  - Fleet ECS Anywhere maintainers (@fleet)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
notes:
  - Tag limits are 50 tags per instance, keys of 1-128 and values of up to 256 characters; keys starting with
    V(aws:) are rejected.
  - The module supports check mode and diff mode; the diff covers O(status), custom O(attributes) and O(tags).
"""

EXAMPLES = r"""
- name: Wait for the host's ECS agent to register and connect, then label it
  fleet.ecs_anywhere.ecs_container_instance:
    cluster: edge
    managed_instance_id: mi-0123456789abcdef0
    attributes:
      site: lyon
      rack: r12
    tags:
      owner: platform
    wait: true

- name: Drain a host before maintenance and wait until its tasks have moved
  fleet.ecs_anywhere.ecs_container_instance:
    cluster: edge
    managed_instance_id: mi-0123456789abcdef0
    status: DRAINING
    wait: true
    wait_timeout: 900

- name: Put it back into service
  fleet.ecs_anywhere.ecs_container_instance:
    cluster: edge
    managed_instance_id: mi-0123456789abcdef0
    status: ACTIVE

- name: Deregister the container instance (after stopping the ecs service on the host)
  fleet.ecs_anywhere.ecs_container_instance:
    cluster: edge
    container_instance: arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0
    state: absent
    wait: true
"""

RETURN = r"""
container_instance:
  description:
    - The container instance after the change (the predicted state in check mode).
    - Empty when O(state=absent) and the instance did not exist.
  returned: always
  type: dict
  contains:
    container_instance_arn:
      description: ARN of the container instance.
      type: str
      returned: when the instance exists
      sample: arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0
    ec2_instance_id:
      description: For external instances, the SSM managed instance id of the host.
      type: str
      returned: when the instance exists
      sample: mi-0123456789abcdef0
    status:
      description: Status of the container instance (V(ACTIVE), V(DRAINING), V(INACTIVE), ...).
      type: str
      returned: when the instance exists
      sample: ACTIVE
    agent_connected:
      description: Whether the ECS agent on the host is connected to ECS.
      type: bool
      returned: when the instance exists
    running_tasks_count:
      description: Number of tasks in the RUNNING state.
      type: int
      returned: when the instance exists
    pending_tasks_count:
      description: Number of tasks in the PENDING state.
      type: int
      returned: when the instance exists
    version_info:
      description: Agent and Docker versions reported by the agent.
      type: dict
      returned: when the instance exists
      sample: {"agent_version": "1.89.2", "agent_hash": "d9b3d5a4", "docker_version": "DockerVersion: 25.0.3"}
    registered_at:
      description: When the instance registered (ISO 8601).
      type: str
      returned: when the instance exists
    attributes:
      description: Custom attributes (outside the V(ecs.) namespace) as a dictionary of name to value.
      type: dict
      returned: when the instance exists
      sample: {"site": "lyon"}
    raw_attributes:
      description: All attributes, including the V(ecs.*) ones, as returned by ECS.
      type: list
      elements: dict
      returned: when the instance exists
      sample: [{"name": "ecs.capability.external", "value": null}, {"name": "site", "value": "lyon"}]
    tags:
      description: Tags of the container instance.
      type: dict
      returned: when the instance exists
      sample: {"owner": "platform"}
"""

import copy

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import GONE_STATUSES
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import MAX_CUSTOM_ATTRIBUTES
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import MAX_TAGS
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import UPDATABLE_STATUSES
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import AnsibleECSError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import attributes_to_dict
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import delete_attributes
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import deregister_container_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import describe_cluster
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import describe_container_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import find_by_managed_instance_id
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import is_drained
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import normalize_container_instance
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import put_attributes
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import tag_resource
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import tags_to_dict
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import untag_resource
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import update_container_instances_state
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import validate_attributes
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import validate_managed_instance_id
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import validate_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ecs import wait_for


def _text_dict(value, allow_none):
    if value is None:
        return None
    return {
        to_text(k): (None if v is None and allow_none else to_text("" if v is None else v)) for k, v in value.items()
    }


def validate_params(module):
    """Reject bad input before any AWS call."""
    params = module.params
    errors = []
    mi_error = validate_managed_instance_id(params["managed_instance_id"])
    if mi_error:
        errors.append(mi_error)
    if params["state"] == "present":
        errors.extend(validate_attributes(params["attributes"]))
        errors.extend(validate_tags(params["tags"]))
    if params["wait_timeout"] < 0 or params["wait_delay"] < 1:
        errors.append("wait_timeout must be >= 0 and wait_delay >= 1")
    if errors:
        module.fail_json(msg="Invalid parameters: " + "; ".join(errors), errors=errors)


class ContainerInstanceManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.cluster = module.params["cluster"]
        self.container_instance = module.params["container_instance"]
        self.managed_instance_id = module.params["managed_instance_id"]
        self.wait = module.params["wait"]
        self.wait_timeout = module.params["wait_timeout"]
        self.wait_delay = module.params["wait_delay"]
        self.identifier = self.container_instance or self.managed_instance_id
        # Set as soon as a write succeeded, so that a later failure (a wait timing out) still reports the change.
        self.changed = False

    # -- lookup ---------------------------------------------------------------------------------------------------

    def lookup(self, include_gone=False):
        """:return: list of matching container instances (newest first); INACTIVE ones only with include_gone."""
        if self.container_instance:
            instance = describe_container_instance(self.client, self.cluster, self.container_instance)
            matches = [instance] if instance else []
        else:
            matches = find_by_managed_instance_id(self.client, self.cluster, self.managed_instance_id)
        if include_gone:
            return matches
        return [m for m in matches if m.get("status") not in GONE_STATUSES]

    def refresh(self, arn):
        return describe_container_instance(self.client, self.cluster, arn)

    def _wait(self, check, what):
        return wait_for(check, self.wait_timeout, self.wait_delay, what)

    # -- present --------------------------------------------------------------------------------------------------

    def ensure_present(self):
        matches = self.lookup(include_gone=True)
        if not matches and self.wait:
            what = f"container instance {self.identifier} to register in cluster {self.cluster}"
            matches = self._wait(self.lookup, what)
        if not matches:
            hint = " (set wait=true to wait for the ECS agent to register it)" if self.managed_instance_id else ""
            raise AnsibleECSError(
                message=f"Unable to find container instance {self.identifier} in ECS cluster {self.cluster}{hint}"
            )
        if len(matches) > 1:
            self.module.warn(
                f"Managed instance {self.managed_instance_id} has {len(matches)} container instances in cluster "
                f"{self.cluster}; managing the newest, {matches[0]['containerInstanceArn']}. Older registrations: "
                + ", ".join(m["containerInstanceArn"] for m in matches[1:])
            )
        instance = matches[0]
        arn = instance["containerInstanceArn"]

        if self.wait and not instance.get("agentConnected"):
            instance = self._wait(lambda: self._connected(arn), f"the ECS agent of container instance {arn} to connect")

        changes = self.plan_present(instance)
        changed = any(changes.values())
        if changed and not self.module.check_mode:
            self.apply_present(arn, changes)
            self.changed = True

        if self.module.check_mode:
            after = self.predict(instance, changes)
        else:
            after = self.refresh(arn) if changed else instance
            if self.wait and self.module.params["status"] == "DRAINING" and not is_drained(after):
                after = self._wait(lambda: self._drained(arn), f"container instance {arn} to drain its tasks")
        return changed, instance, after

    def _connected(self, arn):
        instance = self.refresh(arn)
        if instance is None or instance.get("status") in GONE_STATUSES:
            raise AnsibleECSError(message=f"Container instance {arn} was deregistered while waiting for its agent")
        return instance if instance.get("agentConnected") else None

    def _drained(self, arn):
        instance = self.refresh(arn)
        if instance is None:
            raise AnsibleECSError(message=f"Container instance {arn} disappeared while draining")
        return instance if is_drained(instance) else None

    def plan_present(self, instance):
        params = self.module.params
        arn = instance["containerInstanceArn"]
        current_status = instance.get("status")
        changes = {"status": None, "put_attributes": {}, "delete_attributes": [], "set_tags": {}, "unset_tags": []}

        desired_status = params["status"]
        if current_status in GONE_STATUSES or (desired_status and current_status not in UPDATABLE_STATUSES):
            wanted = f"set status {desired_status} on" if desired_status else "manage"
            raise AnsibleECSError(
                message=f"Unable to {wanted} container instance {arn}: it is {current_status}, and only an ACTIVE or "
                "DRAINING instance can be changed (a deregistered instance must be registered again by its ECS agent)"
            )
        if desired_status and desired_status != current_status:
            changes["status"] = desired_status

        desired_attributes = _text_dict(params["attributes"], allow_none=True)
        if desired_attributes is not None:
            current = attributes_to_dict(instance.get("attributes"))
            changes["put_attributes"] = {
                k: v for k, v in desired_attributes.items() if k not in current or current[k] != v
            }
            if params["purge_attributes"]:
                changes["delete_attributes"] = sorted(k for k in current if k not in desired_attributes)
            resulting = (set(current) | set(desired_attributes)) - set(changes["delete_attributes"])
            if len(resulting) > MAX_CUSTOM_ATTRIBUTES:
                raise AnsibleECSError(
                    message=f"attributes would leave {len(resulting)} custom attributes on container instance {arn} "
                    f"(existing: {', '.join(sorted(current))}); ECS allows at most {MAX_CUSTOM_ATTRIBUTES}. "
                    "Set purge_attributes=true or remove entries from attributes"
                )

        desired_tags = _text_dict(params["tags"], allow_none=False)
        if desired_tags is not None:
            current_tags = tags_to_dict(instance.get("tags"))
            to_set, to_unset = compare_aws_tags(current_tags, desired_tags, params["purge_tags"])
            changes["set_tags"], changes["unset_tags"] = to_set, sorted(to_unset)
            resulting_tags = (set(current_tags) | set(to_set)) - set(to_unset)
            if len(resulting_tags) > MAX_TAGS:
                raise AnsibleECSError(
                    message=f"tags would leave {len(resulting_tags)} tags on container instance {arn}; ECS allows at "
                    f"most {MAX_TAGS}. Set purge_tags=true or remove entries from tags"
                )
        return changes

    def apply_present(self, arn, changes):
        # Attributes first: placement constraints see the new labels before the instance is (re)activated.
        if changes["delete_attributes"]:
            delete_attributes(self.client, self.cluster, arn, changes["delete_attributes"])
        if changes["put_attributes"]:
            put_attributes(self.client, self.cluster, arn, changes["put_attributes"])
        if changes["unset_tags"]:
            untag_resource(self.client, arn, changes["unset_tags"])
        if changes["set_tags"]:
            tag_resource(self.client, arn, changes["set_tags"])
        if changes["status"]:
            update_container_instances_state(self.client, self.cluster, [arn], changes["status"])

    @staticmethod
    def predict(instance, changes):
        after = copy.deepcopy(instance)
        if changes["status"]:
            after["status"] = changes["status"]
        attributes = [a for a in after.get("attributes", []) if a["name"] not in changes["delete_attributes"]]
        attributes = [a for a in attributes if a["name"] not in changes["put_attributes"]]
        attributes.extend({"name": k, "value": v} for k, v in changes["put_attributes"].items())
        after["attributes"] = attributes
        tags = tags_to_dict(after.get("tags"))
        for key in changes["unset_tags"]:
            tags.pop(key, None)
        tags.update(changes["set_tags"])
        after["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        return after

    # -- absent ---------------------------------------------------------------------------------------------------

    def ensure_absent(self):
        matches = self.lookup()
        if not matches:
            return False, {}, {}
        force = self.module.params["force"]
        if not force:
            busy = [m for m in matches if not is_drained(m)]
            if busy:
                details = ", ".join(
                    f"{m['containerInstanceArn']} ({m.get('runningTasksCount', 0)} running, "
                    f"{m.get('pendingTasksCount', 0)} pending)"
                    for m in busy
                )
                raise AnsibleECSError(
                    message=f"Refusing to deregister container instance {details}: tasks would be orphaned. Drain it "
                    "first (status=DRAINING, wait=true) or set force=true"
                )
        before = matches[0]
        if self.module.check_mode:
            after = copy.deepcopy(before)
            after.update(status="INACTIVE", agentConnected=False)
            return True, before, after

        after = None
        for match in reversed(matches):
            result = deregister_container_instance(self.client, self.cluster, match["containerInstanceArn"], force)
            self.changed = True
            if match is before:
                after = result
        if self.wait:
            arns = [m["containerInstanceArn"] for m in matches]
            self._wait(
                lambda: all(self._gone(a) for a in arns),
                f"container instance {', '.join(arns)} to deregister",
            )
            after = self.refresh(before["containerInstanceArn"]) or after
        if after is None:
            after = dict(before, status="INACTIVE", agentConnected=False)
        return True, before, after

    def _gone(self, arn):
        instance = self.refresh(arn)
        return instance is None or instance.get("status") in GONE_STATUSES


def diff_view(instance):
    if not instance:
        return {}
    return {
        "status": instance.get("status"),
        "attributes": attributes_to_dict(instance.get("attributes")),
        "tags": tags_to_dict(instance.get("tags")),
    }


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        container_instance=dict(type="str"),
        managed_instance_id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        status=dict(type="str", choices=["ACTIVE", "DRAINING"]),
        attributes=dict(type="dict"),
        purge_attributes=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        force=dict(type="bool", default=False),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        wait_delay=dict(type="int", default=5),
    )
    module = FleetAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["container_instance", "managed_instance_id"]],
        required_one_of=[["container_instance", "managed_instance_id"]],
        supports_check_mode=True,
    )
    validate_params(module)

    client = module.retrying_client("ecs")
    manager = ContainerInstanceManager(module, client)
    try:
        describe_cluster(client, module.params["cluster"])
        if module.params["state"] == "present":
            changed, before, after = manager.ensure_present()
        else:
            changed, before, after = manager.ensure_absent()
    except AnsibleAWSError as e:
        if e.exception:
            module.fail_json_aws(e.exception, msg=e.message, changed=manager.changed)
        module.fail_json(msg=e.message, changed=manager.changed)

    result = {"changed": changed, "container_instance": normalize_container_instance(after)}
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
