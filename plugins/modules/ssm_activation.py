#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_activation
version_added: 0.1.0
short_description: Create, reuse and delete AWS Systems Manager hybrid activations
description:
  - Creates an SSM hybrid activation, the id and code pair a host needs to register as a managed
    instance (C(mi-...)), for example before installing the ECS Anywhere agents.
  - AWS returns the activation code only once, when the activation is created. To make reruns
    idempotent, give O(code_store_parameter); the module then keeps each code it creates in SSM
    Parameter Store as a C(SecureString) and, on a later run, reuses a still valid activation whose
    code is in the store instead of creating another one.
  - Without O(code_store_parameter) and without O(activation_id), every run with O(state=present)
    creates a new activation and returns RV(created=true). Delete it with O(state=absent) once its hosts
    are registered, as the C(register) playbook does, or give a short O(expires_in).
  - Every activation the module creates carries the tag C(fleet.ecs_anywhere:managed=true), which
    O(cleanup_expired) and O(cleanup_exhausted) use to recognise the activations they may delete. SSM copies
    activation tags onto the instances that register with it.
  - Activations cannot be modified once created; the module never updates one in place.
author:
  - fleet.ecs_anywhere contributors (@fleet)
options:
  state:
    description:
      - V(present) returns the activation given by O(activation_id), or reuses or creates one.
      - V(absent) deletes the activation given by O(activation_id) and its stored code.
        Instances registered with it stay registered.
    type: str
    choices: ['present', 'absent']
    default: present
  activation_id:
    description:
      - Id (a UUID) of an existing activation.
      - With O(state=present) the activation is only read; the module fails if it does not exist.
      - Required with O(state=absent) unless O(cleanup_expired=true) or O(cleanup_exhausted=true).
    type: str
  iam_role:
    description:
      - IAM role the managed instances assume, as a role name (C(ECSAnywhereRole)), a name with its
        path (C(service-role/ECSAnywhereRole)) or a role ARN (C(arn:aws:iam::123456789012:role/path/name)).
      - An ARN is reduced to C(path/name), the form SSM accepts.
      - Required to create an activation. Also restricts which activations O(cleanup_expired) and
        O(cleanup_exhausted) delete.
    type: str
  registration_limit:
    description:
      - How many instances may register with the activation, from 1 to 1000.
    type: int
    default: 1
  expiration_date:
    description:
      - When the activation expires, as an ISO 8601 timestamp such as C(2026-12-31T23:00:00Z).
        A timestamp without a time zone is taken as UTC.
      - Must be in the future and at most 30 days ahead.
      - Mutually exclusive with O(expires_in). Without either, SSM's default of 24 hours applies.
    type: str
  expires_in:
    description:
      - Lifetime of a new activation as a number followed by a unit C(s), C(m), C(h), C(d) or C(w),
        for example V(90m), V(12h) or V(7d); units may be combined (V(1d12h)).
      - At most 30 days. Mutually exclusive with O(expiration_date).
    type: str
  description:
    description:
      - Description of the activation, at most 256 characters.
      - Part of the match when reusing a stored activation.
    type: str
  default_instance_name:
    description:
      - Name given to the instances that register with the activation, at most 256 characters.
      - Part of the match when reusing a stored activation.
    type: str
  tags:
    description:
      - Tags to set on a new activation; SSM copies them onto the instances registering with it.
      - Activation tags cannot be changed later. Keys starting with C(aws:) are rejected, as are more
        than 999 tags (the module adds C(fleet.ecs_anywhere:managed)), keys over 128 and values over
        256 characters.
      - Part of the match when reusing a stored activation.
    type: dict
  code_store_parameter:
    description:
      - SSM Parameter Store name (C(/fleet/ecs/activation)) or prefix ending in C(/)
        (C(/fleet/ecs/activations/)) where activation codes are kept as C(SecureString) parameters.
      - With a name, the parameter holds the code of the latest activation the module created.
        With a prefix, each activation gets its own parameter C(<prefix><activation_id>).
      - When set, O(state=present) without O(activation_id) first looks for an activation created by
        this module that has the same O(iam_role), O(registration_limit), O(description),
        O(default_instance_name) and O(tags), is not expired, has registrations left, expires no
        sooner than O(min_remaining) from now and whose code is in the store, and returns it with
        C(changed=false).
      - The parameter value is a JSON object with the keys C(activation_id) and C(activation_code).
    type: str
  code_store_kms_key_id:
    description:
      - KMS key (id, ARN or alias) used to encrypt the stored codes. Defaults to the account's
        C(alias/aws/ssm) key.
    type: str
  min_remaining:
    description:
      - Shortest remaining lifetime, as for O(expires_in), that a stored activation must have to be
        reused. Gives the hosts time to register before the activation expires.
      - An activation created with a shorter lifetime than this is never reused.
    type: str
    default: 1h
  cleanup_expired:
    description:
      - Also delete the expired activations tagged C(fleet.ecs_anywhere:managed=true) (restricted to
        O(iam_role) when given) and remove their codes from O(code_store_parameter).
      - Works with both states.
    type: bool
    default: false
  cleanup_exhausted:
    description:
      - Also delete the activations tagged C(fleet.ecs_anywhere:managed=true) (restricted to O(iam_role) when
        given) whose registration limit is reached, and remove their codes from O(code_store_parameter).
        No host can register with them any more; a run interrupted after its hosts registered leaves
        such an activation behind until it expires.
      - Activations with registrations left are kept, even when no one has their code, because another run
        may be using them.
      - Works with both states.
    type: bool
    default: false
notes:
  - "B(The activation code is a secret.) Set C(no_log: true) on the task, and never print or C(debug) the
    registered result; hand RV(activation_code) only to the task that registers the host."
  - RV(activation_code) is returned only when the module created the activation in this run or read
    its code from O(code_store_parameter); never in check mode, and never in the diff.
  - Supports check mode and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Get an activation for ten hosts, reusing the stored one on reruns
  fleet.ecs_anywhere.ssm_activation:
    iam_role: ECSAnywhereRole
    registration_limit: 10
    expires_in: 7d
    default_instance_name: ecs-anywhere
    tags:
      environment: production
    code_store_parameter: /fleet/ecs-anywhere/activations/
  register: ssm_activation
  no_log: true

- name: Create a one-off activation from a role ARN (no store, a new activation every run)
  fleet.ecs_anywhere.ssm_activation:
    iam_role: arn:aws:iam::123456789012:role/service-role/ECSAnywhereRole
    expiration_date: "2026-12-31T23:00:00Z"
  register: ssm_activation
  no_log: true

- name: Delete an activation and its stored code
  fleet.ecs_anywhere.ssm_activation:
    state: absent
    activation_id: "{{ activation_id }}"
    code_store_parameter: /fleet/ecs-anywhere/activations/

- name: Delete the expired activations this collection created
  fleet.ecs_anywhere.ssm_activation:
    state: absent
    cleanup_expired: true
    code_store_parameter: /fleet/ecs-anywhere/activations/
"""

RETURN = r"""
activation:
  description:
    - The activation. Empty after O(state=absent).
    - In check mode, the predicted activation of a create has no RV(activation.activation_id).
  returned: always
  type: dict
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
      sample: service-role/ECSAnywhereRole
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
      sample: {"environment": "production", "fleet.ecs_anywhere:managed": "true"}
activation_code:
  description:
    - The activation code. B(Secret); run the task with C(no_log) and do not print it.
  returned: >-
    when the activation was created in this run or its code was read from O(code_store_parameter),
    never in check mode
  type: str
  sample: AbCdEfGhIjKlMnOpQrSt
created:
  description: Whether a new activation was created (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
reused:
  description: Whether an activation from O(code_store_parameter) was reused instead of creating one.
  returned: always
  type: bool
  sample: false
deleted_activation_ids:
  description: Ids of the activations deleted (or, in check mode, to be deleted).
  returned: always
  type: list
  elements: str
  sample: ["4b3a1c7e-6f5d-4b5a-9f6e-0c1d2e3f4a5b"]
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MANAGED_TAG_KEY
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MANAGED_TAG_VALUE
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MAX_ACTIVATION_TAGS
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import MAX_REGISTRATION_LIMIT
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import AnsibleSSMError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import activation_expiry
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import activation_is_expired
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import activation_is_managed
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import activation_to_ansible
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import code_store_is_prefix
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import create_activation
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import delete_activation
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import delete_stored_code
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import describe_activations
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import get_activation
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import normalize_iam_role
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import parse_duration
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import parse_expiration_date
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import parse_expires_in
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import read_stored_activation_id
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import read_stored_code
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import stringify_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import utcnow
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import validate_tags
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.ssm import write_stored_code

DEFAULT_LIFETIME = datetime.timedelta(hours=24)
MAX_TEXT_LENGTH = 256


def validate_params(module):
    """Check every option before any AWS call; returns the normalised values.

    :return: dict with ``iam_role`` (normalised or None), ``expiration`` (datetime or None),
             ``min_remaining`` (timedelta) and ``tags`` (str values, without the managed tag)
    """
    params = module.params
    now = utcnow()
    try:
        limit = params["registration_limit"]
        if not 1 <= limit <= MAX_REGISTRATION_LIMIT:
            raise ValueError(
                f"registration_limit={limit} is out of range: give a number from 1 to {MAX_REGISTRATION_LIMIT}"
            )
        expiration = None
        if params["expires_in"] is not None:
            expiration = parse_expires_in(params["expires_in"], now)
        elif params["expiration_date"] is not None:
            expiration = parse_expiration_date(params["expiration_date"], now)
        min_remaining = parse_duration(params["min_remaining"], "min_remaining")
        iam_role = normalize_iam_role(params["iam_role"]) if params["iam_role"] is not None else None
        validate_tags(params["tags"], MAX_ACTIVATION_TAGS - 1, "tags")
        for name in ("description", "default_instance_name"):
            if params[name] is not None and len(params[name]) > MAX_TEXT_LENGTH:
                raise ValueError(f"{name} is {len(params[name])} characters long: SSM allows at most {MAX_TEXT_LENGTH}")
        store = params["code_store_parameter"]
        if store is not None and (not store.strip("/") or (code_store_is_prefix(store) and not store.startswith("/"))):
            raise ValueError(
                f"code_store_parameter={store!r} is not usable: give a parameter name (/fleet/activation) or a "
                "prefix that starts and ends with / (/fleet/activations/)"
            )
    except ValueError as e:
        module.fail_json(msg=str(e))

    if (
        params["state"] == "absent"
        and not params["activation_id"]
        and not (params["cleanup_expired"] or params["cleanup_exhausted"])
    ):
        module.fail_json(
            msg="state=absent needs activation_id, or cleanup_expired=true or cleanup_exhausted=true to delete "
            "leftover activations"
        )
    if params["state"] == "present" and not params["activation_id"] and iam_role is None:
        module.fail_json(msg="iam_role is required to create an activation: give the role name or ARN")

    return {
        "iam_role": iam_role,
        "expiration": expiration,
        "min_remaining": min_remaining,
        "tags": stringify_tags(params["tags"]),
    }


def user_tags(activation):
    tags = boto3_tag_list_to_ansible_dict(activation.get("Tags") or [])
    tags.pop(MANAGED_TAG_KEY, None)
    return tags


def matches_request(activation, module, wanted):
    """Whether ``activation`` was made with the same settings as this task asks for."""
    params = module.params
    return (
        activation_is_managed(activation)
        and (activation.get("IamRole") or "").strip("/") == wanted["iam_role"]
        and activation.get("RegistrationLimit") == params["registration_limit"]
        and (activation.get("Description") or "") == (params["description"] or "")
        and (activation.get("DefaultInstanceName") or "") == (params["default_instance_name"] or "")
        and user_tags(activation) == wanted["tags"]
    )


def is_reusable(activation, min_remaining, now):
    expiry = activation_expiry(activation)
    return (
        not activation_is_expired(activation, now)
        and activation.get("RegistrationsCount", 0) < activation.get("RegistrationLimit", 1)
        and expiry is not None
        and expiry - now >= min_remaining
    )


def find_reusable(client, module, wanted):
    """Return ``(activation, code)`` of a stored activation that fits, or ``(None, None)``."""
    store = module.params["code_store_parameter"]
    now = utcnow()
    candidates = [
        a
        for a in describe_activations(client, iam_role=wanted["iam_role"])
        if matches_request(a, module, wanted) and is_reusable(a, wanted["min_remaining"], now)
    ]
    if not candidates:
        return None, None
    if not code_store_is_prefix(store):
        stored_id = read_stored_activation_id(client, store)
        candidates = [a for a in candidates if a["ActivationId"] == stored_id]
    # Prefer the activation that lives longest.
    candidates.sort(key=activation_expiry, reverse=True)
    for activation in candidates:
        code = read_stored_code(client, store, activation["ActivationId"])
        if code:
            return activation, code
    return None, None


def predicted_activation(module, wanted):
    params = module.params
    now = utcnow()
    tags = dict(wanted["tags"], **{MANAGED_TAG_KEY: MANAGED_TAG_VALUE})
    activation = {
        "ActivationId": None,
        "IamRole": wanted["iam_role"],
        "RegistrationLimit": params["registration_limit"],
        "RegistrationsCount": 0,
        "ExpirationDate": wanted["expiration"] or now + DEFAULT_LIFETIME,
        "Expired": False,
        "CreatedDate": now,
        "Tags": ansible_dict_to_boto3_tag_list(tags),
    }
    if params["description"] is not None:
        activation["Description"] = params["description"]
    if params["default_instance_name"] is not None:
        activation["DefaultInstanceName"] = params["default_instance_name"]
    return activation


def is_exhausted(activation):
    return activation.get("RegistrationsCount", 0) >= activation.get("RegistrationLimit", 1)


def cleanup_leftovers(client, module, wanted):
    """Delete the activations this module created that ``cleanup_expired``/``cleanup_exhausted`` select.

    :return: dict ``{"expired": [ids], "exhausted": [ids]}`` of the deleted activations; one that is both
             counts as expired when ``cleanup_expired`` is set
    """
    params = module.params
    store = params["code_store_parameter"]
    now = utcnow()
    deleted = {"expired": [], "exhausted": []}
    for activation in describe_activations(client, iam_role=wanted["iam_role"]):
        if not activation_is_managed(activation):
            continue
        if params["cleanup_expired"] and activation_is_expired(activation, now):
            reason = "expired"
        elif params["cleanup_exhausted"] and is_exhausted(activation):
            reason = "exhausted"
        else:
            continue
        activation_id = activation["ActivationId"]
        if module.check_mode:
            deleted[reason].append(activation_id)
            continue
        if delete_activation(client, activation_id):
            deleted[reason].append(activation_id)
        if store:
            delete_stored_code(client, store, activation_id)
    return deleted


def ensure_present(client, module, wanted, result):
    params = module.params
    store = params["code_store_parameter"]

    if params["activation_id"]:
        activation = get_activation(client, params["activation_id"])
        if activation is None:
            module.fail_json(
                msg=f"Activation {params['activation_id']} does not exist: omit activation_id to create one",
                **result,
            )
        result["activation"] = activation_to_ansible(activation)
        if store and not module.check_mode:
            code = read_stored_code(client, store, params["activation_id"])
            if code:
                result["activation_code"] = code
        return

    if store:
        activation, code = find_reusable(client, module, wanted)
        if activation is not None:
            result["activation"] = activation_to_ansible(activation)
            result["reused"] = True
            if not module.check_mode:
                result["activation_code"] = code
            return

    result["changed"] = True
    result["created"] = True
    predicted = predicted_activation(module, wanted)
    if module.check_mode:
        result["activation"] = activation_to_ansible(predicted)
        result["diff"]["after"] = dict(result["activation"])
        return

    tags = dict(wanted["tags"], **{MANAGED_TAG_KEY: MANAGED_TAG_VALUE})
    activation_id, code = create_activation(
        client,
        wanted["iam_role"],
        registration_limit=params["registration_limit"],
        expiration_date=wanted["expiration"],
        description=params["description"],
        default_instance_name=params["default_instance_name"],
        tags=tags,
    )
    result["activation_code"] = code
    # Without a store a new activation on every run is the documented contract (a playbook creates one per batch and
    # deletes it), so there is no warning: it would show on every such run.
    if store:
        try:
            write_stored_code(client, store, activation_id, code, params["code_store_kms_key_id"])
        except AnsibleSSMError:
            # An activation whose code is lost can never be reused; do not leave it behind.
            delete_activation(client, activation_id)
            raise
    activation = get_activation(client, activation_id)
    if activation is None:
        predicted["ActivationId"] = activation_id
        activation = predicted
    result["activation"] = activation_to_ansible(activation)
    result["diff"]["after"] = dict(result["activation"])


def ensure_absent(client, module, result):
    params = module.params
    activation_id = params["activation_id"]
    store = params["code_store_parameter"]
    activation = get_activation(client, activation_id)
    if activation is None:
        # Already gone; a leftover stored code is still removed.
        if store and not module.check_mode and delete_stored_code(client, store, activation_id):
            result["changed"] = True
        return
    result["diff"]["before"].update(activation_to_ansible(activation))
    result["changed"] = True
    result["deleted_activation_ids"].append(activation_id)
    if module.check_mode:
        return
    if not delete_activation(client, activation_id):
        result["changed"] = False
        result["deleted_activation_ids"].remove(activation_id)
    if store:
        delete_stored_code(client, store, activation_id)


def main():
    argument_spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        activation_id=dict(type="str"),
        iam_role=dict(type="str"),
        registration_limit=dict(type="int", default=1),
        expiration_date=dict(type="str"),
        expires_in=dict(type="str"),
        description=dict(type="str"),
        default_instance_name=dict(type="str"),
        tags=dict(type="dict"),
        code_store_parameter=dict(type="str", no_log=False),
        code_store_kms_key_id=dict(type="str", no_log=False),
        min_remaining=dict(type="str", default="1h"),
        cleanup_expired=dict(type="bool", default=False),
        cleanup_exhausted=dict(type="bool", default=False),
    )
    module = FleetAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["expiration_date", "expires_in"]],
        supports_check_mode=True,
    )
    wanted = validate_params(module)

    result = {
        "changed": False,
        "created": False,
        "reused": False,
        "activation": {},
        "deleted_activation_ids": [],
        "diff": {"before": {}, "after": {}},
    }
    client = module.retrying_client("ssm")
    try:
        if module.params["cleanup_expired"] or module.params["cleanup_exhausted"]:
            for reason, deleted in cleanup_leftovers(client, module, wanted).items():
                if deleted:
                    result["changed"] = True
                    result["deleted_activation_ids"].extend(deleted)
                    result["diff"]["before"][f"{reason}_activation_ids"] = list(deleted)
        if module.params["state"] == "present":
            ensure_present(client, module, wanted, result)
        elif module.params["activation_id"]:
            ensure_absent(client, module, result)
    except AnsibleSSMError as e:
        module.fail_json_aws_error(e)

    if result["activation"] and not result["diff"]["after"]:
        result["diff"]["before"].update(result["activation"])
        result["diff"]["after"] = dict(result["diff"]["before"])
        result["diff"]["after"].pop("expired_activation_ids", None)
        result["diff"]["after"].pop("exhausted_activation_ids", None)
    if not module._diff:
        del result["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
