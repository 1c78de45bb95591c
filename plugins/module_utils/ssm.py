# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSM helpers shared by the ssm_activation* and ssm_managed_instance* modules.

The wrappers call AWS through a client made by ``FleetAWSModule.retrying_client("ssm")`` and pass
``aws_retry=True`` on every call.  "Not found" becomes ``None``/``[]``/``False``; any other SDK error
becomes an :class:`AnsibleSSMError` carrying an "Unable to <verb> <resource> <id>" message, which the
modules hand to ``module.fail_json_aws_error()``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re

try:
    import botocore
except ImportError:
    pass  # Modules are responsible for handling this.

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import normalize_boto3_result
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.transformation import boto3_resource_to_ansible_dict
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import retry_decorator

# Set on every activation ssm_activation creates, so that cleanup_expired only touches its own.
MANAGED_TAG_KEY = "fleet.ecs_anywhere:managed"
MANAGED_TAG_VALUE = "true"

MANAGED_INSTANCE_ID_RE = re.compile(r"^mi-[0-9a-f]{17}$")
MAX_ACTIVATION_LIFETIME = datetime.timedelta(days=30)
MAX_REGISTRATION_LIMIT = 1000
MAX_ACTIVATION_TAGS = 1000
MAX_MANAGED_INSTANCE_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
MAX_IAM_ROLE_LENGTH = 64
# DescribeInstanceInformation accepts 5-50, DescribeActivations 1-50; 50 keeps the call count at ceil(N/50).
PAGE_SIZE = 50
# Each Filters entry takes at most 100 values.
MAX_FILTER_VALUES = 100

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^(?:\d+[smhdw])+$")
_DURATION_PART_RE = re.compile(r"(\d+)([smhdw])")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?P<name>.+)$")


class AnsibleSSMError(AnsibleAWSError):
    pass


@contextlib.contextmanager
def ssm_errors(message):
    """Turn SDK errors raised in the block into AnsibleSSMError(message)."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise AnsibleSSMError(message=message, exception=e) from e


# ---------------------------------------------------------------------------
# Input parsing and validation (pure functions, no AWS calls)
# ---------------------------------------------------------------------------


def utcnow():
    return datetime.datetime.now(datetime.UTC)


def parse_duration(value, param="expires_in"):
    """Parse a duration such as ``90m``, ``12h``, ``7d`` or ``1d12h``.

    :param value: the string given by the user
    :param param: option name used in the error message
    :return: a ``datetime.timedelta`` greater than zero
    :raises ValueError: with a message naming ``param`` and the accepted format
    """
    text = str(value).strip().lower().replace(" ", "")
    if not _DURATION_RE.match(text):
        raise ValueError(
            f"{param}={value!r} is not a duration: use a number followed by a unit s, m, h, d or w, "
            "for example 90m, 12h or 7d (units may be combined, as in 1d12h)"
        )
    seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART_RE.findall(text))
    if seconds <= 0:
        raise ValueError(f"{param}={value!r} must be longer than zero")
    return datetime.timedelta(seconds=seconds)


def parse_expires_in(value, now=None):
    """Expiry timestamp for ``expires_in``; at most 30 days ahead as CreateActivation requires."""
    delta = parse_duration(value, "expires_in")
    if delta > MAX_ACTIVATION_LIFETIME:
        raise ValueError(
            f"expires_in={value!r} is longer than the 30 days SSM allows for an activation: use at most 30d (720h)"
        )
    return (now or utcnow()) + delta


def parse_expiration_date(value, now=None):
    """Parse an ISO 8601 ``expiration_date``; naive values are taken as UTC.

    :raises ValueError: when unparsable, not in the future, or more than 30 days ahead
    """
    now = now or utcnow()
    text = str(value).strip()
    try:
        parsed = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError(
            f"expiration_date={value!r} is not an ISO 8601 timestamp: use for example 2026-12-31T23:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    if parsed <= now:
        raise ValueError(
            f"expiration_date={value!r} is in the past: give a time in the next 30 days, or use expires_in"
        )
    if parsed - now > MAX_ACTIVATION_LIFETIME:
        raise ValueError(f"expiration_date={value!r} is more than 30 days ahead, the most SSM allows for an activation")
    return parsed


def normalize_iam_role(role):
    """Return the IamRole value CreateActivation wants: the role name, with its path if any.

    ``arn:aws:iam::123456789012:role/path/name`` becomes ``path/name``; a plain name is kept.
    :raises ValueError: for an ARN that is not an IAM role ARN or a name longer than 64 characters
    """
    role = str(role).strip()
    if role.startswith("arn:"):
        match = _ROLE_ARN_RE.match(role)
        if not match:
            raise ValueError(
                f"iam_role={role!r} is not an IAM role ARN: give the role name (optionally with its path) "
                "or an ARN of the form arn:aws:iam::123456789012:role/path/name"
            )
        role = match.group("name")
    role = role.strip("/")
    if not role:
        raise ValueError("iam_role must not be empty: give the name of the role the managed instances assume")
    if len(role) > MAX_IAM_ROLE_LENGTH:
        raise ValueError(f"iam_role={role!r} is longer than the {MAX_IAM_ROLE_LENGTH} characters SSM accepts")
    return role


def validate_tags(tags, max_tags, param="tags"):
    """Check tags against the SSM limits before any call.

    :param tags: dict of tags (may be None)
    :param max_tags: most tags allowed on the resource
    :param param: option name used in the error message
    :raises ValueError: naming the option and the fix
    """
    if not tags:
        return
    if len(tags) > max_tags:
        raise ValueError(f"{param} has {len(tags)} tags but SSM allows at most {max_tags}: remove some tags")
    for raw_key, value in tags.items():
        key = str(raw_key)
        if key.lower().startswith("aws:"):
            raise ValueError(
                f"{param} key {key!r} uses the reserved aws: prefix: use a key that does not start with aws:"
            )
        if not key or len(key) > MAX_TAG_KEY_LENGTH:
            raise ValueError(
                f"{param} key {key[:40]!r}... must be 1 to {MAX_TAG_KEY_LENGTH} characters long (it has {len(key)})"
                if key
                else f"{param} contains an empty key: every tag needs a key"
            )
        if value is not None and len(str(value)) > MAX_TAG_VALUE_LENGTH:
            raise ValueError(
                f"{param} value of key {key!r} is {len(str(value))} characters long: "
                f"SSM allows at most {MAX_TAG_VALUE_LENGTH}"
            )


def validate_managed_instance_id(instance_id, param="instance_id"):
    """:raises ValueError: unless ``instance_id`` matches ``^mi-[0-9a-f]{17}$``"""
    if not isinstance(instance_id, str) or not MANAGED_INSTANCE_ID_RE.match(instance_id):
        raise ValueError(
            f"{param}={instance_id!r} is not a managed instance id: expected mi- followed by 17 lowercase "
            "hexadecimal digits, for example mi-0123456789abcdef0"
        )


def stringify_tags(tags):
    """Tags as SSM stores them: string values, None becomes the empty string."""
    return {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()}


# ---------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------


def paginate(client, operation, result_key, **params):
    """Fetch every item of a paginated SSM operation, retrying each page on its own.

    Pages are fetched through the botocore paginator one page at a time (``MaxItems`` =
    ``PageSize`` = 50, resumed with ``StartingToken``), so a throttled page is retried alone
    instead of restarting the whole listing, and N items cost ceil(N/50) calls.

    :param client: an SSM client (``retrying_client`` wrapper or plain boto3 client)
    :param operation: the paginator name, e.g. ``describe_instance_information``
    :param result_key: the list key in the response, e.g. ``InstanceInformationList``
    :return: list of items
    """
    paginator = client.get_paginator(operation)

    @retry_decorator()
    def _one_page(token):
        config = {"PageSize": PAGE_SIZE, "MaxItems": PAGE_SIZE}
        if token:
            config["StartingToken"] = token
        return paginator.paginate(PaginationConfig=config, **params).build_full_result()

    items = []
    token = None
    while True:
        page = _one_page(token)
        items.extend(page.get(result_key, []))
        token = page.get("NextToken")
        if not token:
            return items


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def activation_to_ansible(activation):
    """Snake-case an ActivationList entry; tags as a dict, timestamps as ISO 8601 strings."""
    if not activation:
        return {}
    result = boto3_resource_to_ansible_dict(activation)
    result.setdefault("tags", {})
    return result


def activation_expiry(activation):
    expiry = activation.get("ExpirationDate")
    if isinstance(expiry, str):
        expiry = datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    if isinstance(expiry, datetime.datetime) and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=datetime.UTC)
    return expiry


def activation_is_expired(activation, now=None):
    if activation.get("Expired"):
        return True
    expiry = activation_expiry(activation)
    return expiry is not None and expiry <= (now or utcnow())


def activation_is_managed(activation):
    tags = boto3_tag_list_to_ansible_dict(activation.get("Tags") or [])
    return tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


def describe_activations(client, activation_ids=None, iam_role=None, default_instance_name=None):
    """List activations matching all given filters (all activations when none is given).

    An unknown activation id gives an empty list.
    """
    filters = []
    if activation_ids:
        filters.append({"FilterKey": "ActivationIds", "FilterValues": list(activation_ids)})
    if iam_role:
        filters.append({"FilterKey": "IamRole", "FilterValues": [iam_role]})
    if default_instance_name:
        filters.append({"FilterKey": "DefaultInstanceName", "FilterValues": [default_instance_name]})
    params = {"Filters": filters} if filters else {}
    what = f"activations {', '.join(activation_ids)}" if activation_ids else "activations"
    with ssm_errors(f"Unable to describe {what}"):
        try:
            return paginate(client, "describe_activations", "ActivationList", **params)
        except is_boto3_error_code(["InvalidActivationId", "InvalidActivation"]):
            return []


def get_activation(client, activation_id):
    """The ActivationList entry for ``activation_id``, or None."""
    for activation in describe_activations(client, activation_ids=[activation_id]):
        if activation.get("ActivationId") == activation_id:
            return activation
    return None


def create_activation(
    client, iam_role, *, registration_limit, expiration_date, description, default_instance_name, tags
):
    """CreateActivation; returns ``(activation_id, activation_code)``."""
    params = {"IamRole": iam_role, "RegistrationLimit": registration_limit}
    if expiration_date is not None:
        params["ExpirationDate"] = expiration_date
    if description is not None:
        params["Description"] = description
    if default_instance_name is not None:
        params["DefaultInstanceName"] = default_instance_name
    if tags:
        params["Tags"] = ansible_dict_to_boto3_tag_list(tags)
    with ssm_errors(f"Unable to create activation for role {iam_role}"):
        response = client.create_activation(aws_retry=True, **params)
    return response["ActivationId"], response["ActivationCode"]


def delete_activation(client, activation_id):
    """DeleteActivation; returns False when it was already gone."""
    with ssm_errors(f"Unable to delete activation {activation_id}"):
        try:
            client.delete_activation(aws_retry=True, ActivationId=activation_id)
        except is_boto3_error_code(["InvalidActivationId", "InvalidActivation"]):
            return False
    return True


# ---------------------------------------------------------------------------
# Activation code store (SSM Parameter Store, SecureString)
# ---------------------------------------------------------------------------


def code_store_is_prefix(store):
    return store.endswith("/")


def code_store_name(store, activation_id):
    """Parameter holding the code: ``<prefix><activation_id>`` for a prefix, else the name itself."""
    return f"{store}{activation_id}" if code_store_is_prefix(store) else store


def _read_store(client, name):
    """The JSON object stored under parameter ``name``, or None when it is missing or not ours."""
    with ssm_errors(f"Unable to read parameter {name}"):
        try:
            response = client.get_parameter(aws_retry=True, Name=name, WithDecryption=True)
        except is_boto3_error_code("ParameterNotFound"):
            return None
    try:
        stored = json.loads(response["Parameter"]["Value"])
    except (ValueError, TypeError, KeyError):
        return None
    return stored if isinstance(stored, dict) else None


def read_stored_code(client, store, activation_id):
    """The code stored for ``activation_id``, or None when the store does not hold it.

    The value is JSON ``{"activation_id": ..., "activation_code": ...}`` so a single-name store never
    hands out the code of another activation.
    """
    stored = _read_store(client, code_store_name(store, activation_id))
    if not stored or stored.get("activation_id") != activation_id:
        return None
    return stored.get("activation_code") or None


def read_stored_activation_id(client, store):
    """For a single-name store: the activation id it currently holds, or None."""
    stored = _read_store(client, store)
    return stored.get("activation_id") if stored else None


def write_stored_code(client, store, activation_id, activation_code, kms_key_id=None):
    name = code_store_name(store, activation_id)
    params = {
        "Name": name,
        "Description": f"SSM activation code of {activation_id} (fleet.ecs_anywhere.ssm_activation)",
        "Value": json.dumps({"activation_id": activation_id, "activation_code": activation_code}),
        "Type": "SecureString",
        "Overwrite": True,
    }
    if kms_key_id:
        params["KeyId"] = kms_key_id
    with ssm_errors(f"Unable to store the code of activation {activation_id} in parameter {name}"):
        client.put_parameter(aws_retry=True, **params)


def delete_stored_code(client, store, activation_id):
    """Remove the stored code of ``activation_id``; returns False if the store did not hold it."""
    name = code_store_name(store, activation_id)
    if not code_store_is_prefix(store) and read_stored_activation_id(client, store) != activation_id:
        return False
    with ssm_errors(f"Unable to delete parameter {name}"):
        try:
            client.delete_parameter(aws_retry=True, Name=name)
        except is_boto3_error_code("ParameterNotFound"):
            return False
    return True


# ---------------------------------------------------------------------------
# Managed instances
# ---------------------------------------------------------------------------


def describe_instance_information(client, filters):
    """DescribeInstanceInformation with the ``Filters`` style, 50 per page."""
    with ssm_errors("Unable to describe managed instances"):
        try:
            return paginate(client, "describe_instance_information", "InstanceInformationList", Filters=filters)
        except is_boto3_error_code("InvalidInstanceId"):
            return []


def get_managed_instance(client, instance_id):
    """The InstanceInformationList entry of ``instance_id``, or None."""
    with ssm_errors(f"Unable to describe managed instance {instance_id}"):
        try:
            response = client.describe_instance_information(
                aws_retry=True, Filters=[{"Key": "InstanceIds", "Values": [instance_id]}], MaxResults=PAGE_SIZE
            )
        except is_boto3_error_code("InvalidInstanceId"):
            return None
    for info in response.get("InstanceInformationList", []):
        if info.get("InstanceId") == instance_id:
            return info
    return None


def list_managed_instance_tags(client, instance_id):
    """Tags of a managed instance as a dict; None when the instance is unknown."""
    with ssm_errors(f"Unable to list tags of managed instance {instance_id}"):
        try:
            response = client.list_tags_for_resource(
                aws_retry=True, ResourceType="ManagedInstance", ResourceId=instance_id
            )
        except is_boto3_error_code(["InvalidResourceId", "InvalidInstanceId"]):
            return None
    return boto3_tag_list_to_ansible_dict(response.get("TagList", []))


def add_managed_instance_tags(client, instance_id, tags):
    with ssm_errors(f"Unable to add tags {sorted(tags)} to managed instance {instance_id}"):
        client.add_tags_to_resource(
            aws_retry=True,
            ResourceType="ManagedInstance",
            ResourceId=instance_id,
            Tags=ansible_dict_to_boto3_tag_list(dict(sorted(tags.items()))),
        )


def remove_managed_instance_tags(client, instance_id, keys):
    with ssm_errors(f"Unable to remove tags {sorted(keys)} from managed instance {instance_id}"):
        client.remove_tags_from_resource(
            aws_retry=True, ResourceType="ManagedInstance", ResourceId=instance_id, TagKeys=sorted(keys)
        )


def deregister_managed_instance(client, instance_id):
    """DeregisterManagedInstance; returns False when the instance was already gone."""
    with ssm_errors(f"Unable to deregister managed instance {instance_id}"):
        try:
            client.deregister_managed_instance(aws_retry=True, InstanceId=instance_id)
        except is_boto3_error_code("InvalidInstanceId"):
            return False
    return True


def managed_instance_to_ansible(info, tags=None):
    """Snake-case an InstanceInformationList entry; ``tags`` is added only when given."""
    if not info:
        return {}
    result = boto3_resource_to_ansible_dict(normalize_boto3_result(info), transform_tags=False, force_tags=False)
    if tags is not None:
        result["tags"] = tags
    return result
