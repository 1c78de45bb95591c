# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin ECS wrappers for the container-instance modules.

Every wrapper expects a client from ``FleetAWSModule.retrying_client("ecs")`` and calls it with
``aws_retry=True``. AWS errors become :class:`AnsibleECSError` (a ``AnsibleAWSError``) carrying a
"Unable to <verb> <resource> <id>" message, which ``main()`` turns into ``fail_json_aws_error``.
"""

from __future__ import annotations

import re
import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.transformation import boto3_resource_to_ansible_dict

# API limits (ECS API reference: PutAttributes, TagResource, UpdateContainerInstancesState,
# DescribeContainerInstances, ListContainerInstances).
MAX_CUSTOM_ATTRIBUTES = 10
MAX_ATTRIBUTES_PER_CALL = 10
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
MAX_UPDATE_STATE_BATCH = 10
MAX_DESCRIBE_BATCH = 100
MAX_LIST_RESULTS = 100
# ECS documents no length limit for a ListContainerInstances filter; 20 ids keep an expression near 500 characters.
MAX_IDS_PER_FILTER = 20

ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9\-_/.]{1,128}$")
ATTRIBUTE_VALUE_RE = re.compile(r"^[A-Za-z0-9\-_./\\@: ]{1,128}$")
MANAGED_INSTANCE_ID_RE = re.compile(r"^mi-[0-9a-f]{17}$")
# Attributes under this prefix are set by ECS and the agent; the modules never write or purge them.
# The agent owns both namespaces: ecs.* (os type, architecture, external) and the capability attributes it
# reports as com.amazonaws.ecs.capability.*; neither counts towards the 10 custom attributes.
RESERVED_ATTRIBUTE_PREFIXES = ("ecs.", "com.amazonaws.ecs.")

# Container instance states from which UpdateContainerInstancesState accepts a change.
UPDATABLE_STATUSES = ("ACTIVE", "DRAINING")
GONE_STATUSES = ("INACTIVE",)


class AnsibleECSError(AnsibleAWSError):
    """An ECS call failed, or the request cannot be satisfied."""


class ClusterNotFound(AnsibleECSError):
    pass


def _raise(e, message):
    raise AnsibleECSError(message=message, exception=e) from e


def is_custom_attribute(name):
    """:return: True for attributes that users own (anything outside the agent's namespaces)."""
    return not name.startswith(RESERVED_ATTRIBUTE_PREFIXES)


def validate_managed_instance_id(value):
    """:return: an error message, or None if ``value`` looks like an SSM managed-instance id."""
    if value is None or MANAGED_INSTANCE_ID_RE.match(value):
        return None
    return (
        f"managed_instance_id {value!r} is not a managed instance id; expected 'mi-' followed by 17 lowercase "
        "hex digits (for example mi-0123456789abcdef0)"
    )


def validate_tags(tags):
    """Check a tags dict against the TagResource limits before any call.

    :param tags: dict of tag key -> value (already text), or None
    :return: list of error messages (empty when valid)
    """
    if tags is None:
        return []
    errors = []
    if len(tags) > MAX_TAGS:
        errors.append(f"tags has {len(tags)} entries; ECS allows at most {MAX_TAGS} tags per container instance")
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            errors.append(f"tags key {key!r} uses the reserved 'aws:' prefix; remove it from tags")
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            errors.append(f"tags key {key[:40]!r}... must be 1-{MAX_TAG_KEY_LENGTH} characters (got {len(key)})")
        if value is not None and len(value) > MAX_TAG_VALUE_LENGTH:
            errors.append(
                f"tags value for key {key!r} must be at most {MAX_TAG_VALUE_LENGTH} characters (got {len(value)})"
            )
    return errors


def validate_attributes(attributes):
    """Check custom attributes against the PutAttributes rules before any call.

    :param attributes: dict of attribute name -> value (text) or None for a valueless attribute
    :return: list of error messages (empty when valid)
    """
    if attributes is None:
        return []
    errors = []
    if len(attributes) > MAX_CUSTOM_ATTRIBUTES:
        errors.append(
            f"attributes has {len(attributes)} entries; ECS allows at most {MAX_CUSTOM_ATTRIBUTES} custom attributes "
            "per container instance"
        )
    for name, value in attributes.items():
        if not ATTRIBUTE_NAME_RE.match(name):
            errors.append(
                f"attributes name {name!r} is invalid; use 1-128 letters, digits, hyphens, underscores, "
                "forward slashes and periods"
            )
        elif not is_custom_attribute(name):
            errors.append(
                f"attributes name {name!r} is in the agent's reserved namespaces ('ecs.', 'com.amazonaws.ecs.'); "
                "only custom attributes can be set"
            )
        if value is None:
            continue
        if not ATTRIBUTE_VALUE_RE.match(value) or value != value.strip():
            errors.append(
                f"attributes value {value!r} for {name!r} is invalid; use 1-128 letters, digits, spaces and "
                "- _ . / \\ @ :, without leading or trailing spaces (use null for an attribute without value)"
            )
    return errors


def attributes_to_dict(attributes, custom_only=True):
    """Convert the ECS ``[{name, value}]`` list into a dict (value None for valueless attributes)."""
    return {a["name"]: a.get("value") for a in attributes or [] if not custom_only or is_custom_attribute(a["name"])}


def describe_cluster(client, cluster):
    """Return the cluster, raising ClusterNotFound when it is missing or INACTIVE (deleted)."""
    try:
        result = client.describe_clusters(clusters=[cluster], aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        _raise(e, f"Unable to describe ECS cluster {cluster}")
    clusters = [c for c in result.get("clusters", []) if c.get("status") != "INACTIVE"]
    if not clusters:
        raise ClusterNotFound(message=f"Unable to find ECS cluster {cluster}: check the cluster parameter")
    return clusters[0]


def _cluster_not_found(cluster, e):
    raise ClusterNotFound(message=f"Unable to find ECS cluster {cluster}: check the cluster parameter", exception=e)


def list_container_instance_arns(client, cluster, filter_expression=None, status=None):
    """Yield pages (lists of ARNs) of ListContainerInstances, 100 per call.

    Pages are fetched one call at a time so that a retried call repeats only that page.
    """
    params = {"cluster": cluster, "maxResults": MAX_LIST_RESULTS}
    if filter_expression:
        params["filter"] = filter_expression
    if status:
        params["status"] = status
    while True:
        try:
            page = client.list_container_instances(aws_retry=True, **params)
        except is_boto3_error_code("ClusterNotFoundException") as e:
            _cluster_not_found(cluster, e)
        except is_boto3_error_code("InvalidParameterException") as e:  # pylint: disable=duplicate-except
            hint = f": check the filter parameter ({filter_expression})" if filter_expression else ""
            _raise(e, f"Unable to list container instances in ECS cluster {cluster}{hint}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            _raise(e, f"Unable to list container instances in ECS cluster {cluster}")
        yield page.get("containerInstanceArns", [])
        token = page.get("nextToken")
        if not token:
            return
        params["nextToken"] = token


def describe_container_instances(client, cluster, container_instances, include_tags=False):
    """Describe container instances by id or ARN, 100 per call.

    :return: (instances, failures) where failures are the API's ``failures[]`` entries (for example MISSING)
    """
    instances, failures = [], []
    container_instances = list(container_instances)
    for start in range(0, len(container_instances), MAX_DESCRIBE_BATCH):
        batch = container_instances[start : start + MAX_DESCRIBE_BATCH]
        params = {"cluster": cluster, "containerInstances": batch}
        if include_tags:
            params["include"] = ["TAGS"]
        try:
            result = client.describe_container_instances(aws_retry=True, **params)
        except is_boto3_error_code("ClusterNotFoundException") as e:
            _cluster_not_found(cluster, e)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            _raise(e, f"Unable to describe container instances in ECS cluster {cluster}")
        instances.extend(result.get("containerInstances", []))
        failures.extend(result.get("failures", []))
    return instances, failures


def describe_container_instance(client, cluster, container_instance, include_tags=True):
    """:return: the container instance, or None when ECS reports it MISSING."""
    instances, failures = describe_container_instances(client, cluster, [container_instance], include_tags)
    if instances:
        return instances[0]
    for failure in failures:
        if failure.get("reason") != "MISSING":
            raise AnsibleECSError(
                message=f"Unable to describe container instance {container_instance}: {failure.get('reason')}"
                f" {failure.get('detail', '')}".rstrip()
            )
    return None


def managed_instance_filters(managed_instance_ids):
    """Yield cluster query language expressions that select ``managed_instance_ids``, MAX_IDS_PER_FILTER at a time."""
    ids = list(dict.fromkeys(managed_instance_ids))
    for start in range(0, len(ids), MAX_IDS_PER_FILTER):
        chunk = ids[start : start + MAX_IDS_PER_FILTER]
        yield "ec2InstanceId in [" + ", ".join(f"'{i}'" for i in chunk) + "]"


def find_by_managed_instance_id(client, cluster, managed_instance_id, include_tags=True):
    """Find the container instances registered by an SSM managed instance (newest first).

    ListContainerInstances without ``status`` returns every state except INACTIVE, so a deregistered
    instance is not found. Several matches mean the agent registered more than once
    (ecs:RegisterContainerInstance is not idempotent).
    """
    arns = []
    for page in list_container_instance_arns(client, cluster, f"ec2InstanceId == {managed_instance_id}"):
        arns.extend(page)
    if not arns:
        return []
    instances, dummy = describe_container_instances(client, cluster, arns, include_tags)
    # The filter is evaluated by ECS; re-check so a service that ignores it cannot pick a foreign instance.
    instances = [i for i in instances if i.get("ec2InstanceId") == managed_instance_id]
    return sorted(instances, key=lambda i: str(i.get("registeredAt") or ""), reverse=True)


def update_container_instances_state(client, cluster, arns, status):
    """Set ACTIVE/DRAINING on up to any number of instances, 10 per call; failures[] raise."""
    arns = list(arns)
    updated = []
    for start in range(0, len(arns), MAX_UPDATE_STATE_BATCH):
        batch = arns[start : start + MAX_UPDATE_STATE_BATCH]
        try:
            result = client.update_container_instances_state(
                cluster=cluster, containerInstances=batch, status=status, aws_retry=True
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            _raise(e, f"Unable to set status {status} on container instance {', '.join(batch)}")
        failures = result.get("failures") or []
        if failures:
            details = "; ".join(f"{f.get('arn')}: {f.get('reason')} {f.get('detail', '')}".strip() for f in failures)
            raise AnsibleECSError(message=f"Unable to set status {status} on container instance {details}")
        updated.extend(result.get("containerInstances", []))
    return updated


def _attribute_payload(arn, name, value=None, with_value=True):
    # The full ARN identifies the target on its own; AWS accepts targetType alongside it but does not need it.
    attribute = {"name": name, "targetId": arn}
    if with_value and value is not None:
        attribute["value"] = value
    return attribute


def _in_batches(call, verb, cluster, arn, items):
    """Send ``items`` to PutAttributes or DeleteAttributes, at most 10 a call (the API's limit)."""
    for start in range(0, len(items), MAX_ATTRIBUTES_PER_CALL):
        batch = items[start : start + MAX_ATTRIBUTES_PER_CALL]
        try:
            call(cluster=cluster, attributes=batch, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            _raise(e, f"Unable to {verb} attributes {', '.join(a['name'] for a in batch)} on container instance {arn}")


def put_attributes(client, cluster, arn, attributes):
    """PutAttributes, 10 per call. ``attributes`` is a dict name -> value."""
    items = [_attribute_payload(arn, n, v) for n, v in sorted(attributes.items())]
    _in_batches(client.put_attributes, "put", cluster, arn, items)


def delete_attributes(client, cluster, arn, names):
    """DeleteAttributes by name, 10 per call."""
    items = [_attribute_payload(arn, n, with_value=False) for n in sorted(names)]
    _in_batches(client.delete_attributes, "delete", cluster, arn, items)


def tag_resource(client, arn, tags):
    try:
        client.tag_resource(
            resourceArn=arn, tags=[{"key": k, "value": v} for k, v in sorted(tags.items())], aws_retry=True
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        _raise(e, f"Unable to tag container instance {arn}")


def untag_resource(client, arn, keys):
    try:
        client.untag_resource(resourceArn=arn, tagKeys=sorted(keys), aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        _raise(e, f"Unable to untag container instance {arn}")


def deregister_container_instance(client, cluster, arn, force=False):
    """:return: the deregistered container instance, or None if ECS no longer knows it."""
    try:
        result = client.deregister_container_instance(
            cluster=cluster, containerInstance=arn, force=force, aws_retry=True
        )
    except is_boto3_error_code("ClusterNotFoundException") as e:
        _cluster_not_found(cluster, e)
    except is_boto3_error_code(["InvalidParameterException", "ClientException"]) as e:  # pylint: disable=duplicate-except
        # A concurrent deregistration (or a stale ARN) leaves nothing to do; anything else is a real failure.
        if describe_container_instance(client, cluster, arn, include_tags=False) is None:
            return None
        _raise(e, f"Unable to deregister container instance {arn}")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        _raise(e, f"Unable to deregister container instance {arn}")
    return result.get("containerInstance")


def tags_to_dict(tags):
    return {t["key"]: t.get("value", "") for t in tags or []}


def normalize_container_instance(instance):
    """Turn a DescribeContainerInstances entry into the module's snake_case return value.

    ``attributes`` is the dict of custom attributes (the shape of the module option), ``raw_attributes``
    keeps the full name/value list including the ``ecs.*`` ones, ``tags`` is a plain dict.
    """
    if not instance:
        return {}
    raw = instance.get("attributes") or []
    tags = instance.get("tags")
    result = boto3_resource_to_ansible_dict(
        {k: v for k, v in instance.items() if k not in ("attributes", "tags")},
        transform_tags=False,
        force_tags=False,
    )
    result["attributes"] = attributes_to_dict(raw)
    result["raw_attributes"] = [{"name": a["name"], "value": a.get("value")} for a in raw]
    result["tags"] = tags_to_dict(tags)
    return result


def is_drained(instance):
    return instance.get("runningTasksCount", 0) == 0 and instance.get("pendingTasksCount", 0) == 0


def wait_for(check, timeout, delay, what, *, sleep=None, clock=None):
    """Poll ``check()`` until it returns something truthy or the deadline passes.

    botocore has no waiter for container-instance states, so this bounds the number of API calls to
    about ``timeout / delay`` (each check is one or two calls).

    :param check: callable returning a truthy value when done (returned to the caller)
    :param timeout: seconds before giving up
    :param delay: seconds between polls
    :param what: description used in the timeout error, e.g. "container instance X to drain"
    :return: the truthy value returned by ``check``
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout
    while True:
        result = check()
        if result:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            raise AnsibleECSError(message=f"Timeout after {timeout} seconds waiting for {what}")
        sleep(min(delay, remaining))
