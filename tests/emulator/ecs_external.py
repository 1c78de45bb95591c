"""ECS container-instance fixes for external (ECS Anywhere) hosts, added to moto's ECS responses.

Spec: docs/aws-emulation.md §1.1, §2.5, §3.3. We reuse moto's cluster and container-instance storage so
the rest of moto (tasks, services) keeps working, and replace only the container-instance handlers.
Deregistered instances move to a side table so they stay describable as INACTIVE, as on AWS.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from moto.ecs.models import ContainerInstance
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.models import ecs_backends
from moto.moto_api._internal import mock_random

from . import clock
from . import query_language
from . import ssm_hybrid
from .common import EmuError
from .common import Pager
from .common import Validator
from .common import access_key_of
from .common import error_response
from .common import handler
from .common import request_params

ATTR_NAME_RE = r"[A-Za-z0-9\-_/.]{1,128}"
ATTR_VALUE_RE = r"[A-Za-z0-9\-_./\\@: ]{1,128}"
MAX_CUSTOM_ATTRIBUTES = 10
MAX_TAGS = 50
BUILTIN_ATTRIBUTE_PREFIXES = ("ecs.", "com.amazonaws.ecs.")
INSTANCE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):container-instance/(?:(?P<cluster>[^/]+)/)?(?P<id>[^/]+)$"
)
STATUSES = ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED")


class ExternalContainerInstance(ContainerInstance):
    """A container instance whose identity is an SSM managed instance instead of a moto EC2 instance."""

    # moto's model metaclass derives the service from the module path.
    __module__ = "moto.ecs.models"

    def __init__(self, mi_id: str, cluster_name: str, backend: EC2ContainerServiceBackend):
        # Deliberately not calling ContainerInstance.__init__: it looks the id up in moto's EC2 backend.
        template = {
            "CPU": ("INTEGER", 1024),
            "MEMORY": ("INTEGER", 1024),
        }
        self.ec2_instance_id = mi_id
        self.agent_connected = True
        self.status = "ACTIVE"
        self.registered_resources = [
            {"name": name, "type": kind, "integerValue": value, "doubleValue": 0.0, "longValue": 0}
            for name, (kind, value) in template.items()
        ]
        self.remaining_resources = copy.deepcopy(self.registered_resources)
        self.pending_tasks_count = 0
        self.running_tasks_count = 0
        self.version_info: dict = {}
        self.attributes: dict[str, str | None] = {}
        self.registered_at = clock.now()
        self.region_name = backend.region_name
        self.id = _new_uuid()
        self.cluster_name = cluster_name
        self._account_id = backend.account_id
        self._backend = backend


def _new_uuid() -> str:
    # moto's seeded RNG, so `POST /moto-api/seed` makes ids repeatable like moto's own.
    return str(mock_random.uuid4())


# --- lookups ------------------------------------------------------------------------------------


def _inactive(backend: Any) -> dict[str, dict[str, ContainerInstance]]:
    return backend.__dict__.setdefault("_emu_inactive", {})


def _cluster_name(backend: Any, ref: Any) -> str:
    if ref is None:
        ref = "default"
    if not isinstance(ref, str) or not ref:
        raise EmuError("InvalidParameterException", "cluster must be a non-empty string")
    name = ref.split("/")[-1]
    if name not in backend.clusters:
        raise EmuError("ClusterNotFoundException", "Cluster not found.")
    return name


def _active(backend: Any, cluster: str) -> dict[str, ContainerInstance]:
    return backend.container_instances.setdefault(cluster, {})


def _instance_id(ref: Any) -> str:
    if not isinstance(ref, str) or not ref:
        raise EmuError("InvalidParameterException", "container instance must be a non-empty string")
    return ref.split("/")[-1]


def _connected(ci: ContainerInstance) -> bool:
    if ci.status == "INACTIVE":
        return False
    last_seen = getattr(ci, "emu_last_seen", None)
    if last_seen is None:
        return True
    return (clock.now() - last_seen).total_seconds() <= clock.setting("agent_timeout_seconds")


def _render(ci: ContainerInstance, include_tags: bool) -> dict:
    view = {
        "containerInstanceArn": ci.container_instance_arn,
        "ec2InstanceId": ci.ec2_instance_id,
        "version": getattr(ci, "emu_version", 1),
        "versionInfo": ci.version_info,
        "remainingResources": ci.remaining_resources,
        "registeredResources": ci.registered_resources,
        "status": ci.status,
        "agentConnected": _connected(ci),
        "runningTasksCount": ci.running_tasks_count,
        "pendingTasksCount": ci.pending_tasks_count,
        "attributes": [{"name": n} if v is None else {"name": n, "value": v} for n, v in ci.attributes.items()],
        "registeredAt": clock.epoch(ci.registered_at),
    }
    if include_tags:
        view["tags"] = list(getattr(ci, "emu_tags", []))
    return view


# --- validation ---------------------------------------------------------------------------------


def _attributes(v: Validator, items: list, require_target: bool) -> list[dict]:
    clean = []
    for attr in items:
        name = v.string("name", required=True, pattern=ATTR_NAME_RE, source=attr)
        value = v.string("value", pattern=ATTR_VALUE_RE, source=attr)
        if value is not None and value != value.strip():
            v.fail(f"Attribute value of {name} must not start or end with a space")
        target_type = v.string("targetType", source=attr)
        if target_type is not None and target_type != "container-instance":
            v.fail("targetType must be container-instance")
        target_id = v.string("targetId", required=require_target, min_len=1, source=attr)
        clean.append({"name": name, "value": value, "targetType": target_type, "targetId": target_id})
    return clean


def _custom_count(attributes: dict) -> int:
    return sum(1 for name in attributes if not name.startswith(BUILTIN_ATTRIBUTE_PREFIXES))


def _tags(v: Validator, tags: list) -> list[dict]:
    clean = []
    for tag in tags:
        key = v.string("key", required=True, min_len=1, max_len=128, source=tag)
        value = v.string("value", max_len=256, source=tag) or ""
        if key.lower().startswith("aws:"):
            v.fail(f"Tag keys with the aws: prefix are reserved: {key}")
        clean.append({"key": key, "value": value})
    return clean


def _merge_tags(existing: list[dict], new: list[dict]) -> list[dict]:
    merged = {t["key"]: t["value"] for t in existing}
    merged.update({t["key"]: t["value"] for t in new})
    if len(merged) > MAX_TAGS:
        raise EmuError("InvalidParameterException", f"A resource can have at most {MAX_TAGS} tags.")
    return [{"key": k, "value": val} for k, val in merged.items()]


def _resources(v: Validator) -> list[dict] | None:
    items = v.items("totalResources")
    for res in items:
        v.string("name", required=True, min_len=1, source=res)
        v.string("type", required=True, min_len=1, source=res)
    return copy.deepcopy(items) if items else None


# --- handlers -----------------------------------------------------------------------------------


@handler
def register_container_instance(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    document = v.string("instanceIdentityDocument")
    attributes = _attributes(v, v.items("attributes"), require_target=False)
    if _custom_count({a["name"]: a["value"] for a in attributes}) > MAX_CUSTOM_ATTRIBUTES:
        raise EmuError("AttributeLimitExceededException", "At most 10 custom attributes per container instance.")
    tags = _tags(v, v.items("tags", max_items=MAX_TAGS))
    resources = _resources(v)
    version_info = p.get("versionInfo")
    if version_info is not None and (
        not isinstance(version_info, dict) or not all(isinstance(x, str) for x in version_info.values())
    ):
        v.fail("versionInfo must map names to strings")
    existing_ref = v.string("containerInstanceArn")

    if document:
        # EC2 path: keep moto's behaviour (instance must exist in moto's EC2 backend).
        try:
            ec2_id = json.loads(document)["instanceId"]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmuError("ClientException", "instanceIdentityDocument is not a valid identity document") from exc
        if not isinstance(ec2_id, str):
            raise EmuError("ClientException", "instanceIdentityDocument has no instanceId")
        ci = backend.register_container_instance(cluster, ec2_id)
    else:
        # External path: AWS derives the node identity from the caller's SSM role credentials.
        mi = ssm_hybrid.instance_for_access_key(access_key_of(self))
        if mi is None:
            raise EmuError(
                "ClientException", "The caller's credentials do not belong to a registered managed instance."
            )
        if existing_ref:
            ci = _active(backend, cluster).get(_instance_id(existing_ref))
            if ci is None or ci.ec2_instance_id != mi.instance_id:
                raise EmuError("ClientException", f"Container instance {existing_ref} is not registered to this host.")
            ci.emu_version = getattr(ci, "emu_version", 1) + 1
            ci.attributes = {}
        else:
            ci = ExternalContainerInstance(mi.instance_id, cluster, backend)
            _active(backend, cluster)[ci.id] = ci
            backend.clusters[cluster].registered_container_instances_count += 1
    if attributes:
        ci.attributes.update({a["name"]: a["value"] for a in attributes})
    if tags or not hasattr(ci, "emu_tags"):
        ci.emu_tags = tags
    if resources:
        ci.registered_resources = resources
        ci.remaining_resources = copy.deepcopy(resources)
    if version_info:
        ci.version_info = dict(version_info)
    ci.emu_last_seen = clock.now()  # a freshly registered agent is connected
    return {"containerInstance": _render(ci, include_tags=True)}


@handler
def deregister_container_instance(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    ref = v.string("containerInstance", required=True, min_len=1)
    force = v.boolean("force")
    instance_id = _instance_id(ref)
    ci = _active(backend, cluster).get(instance_id)
    if ci is None:
        raise EmuError("InvalidParameterException", f"Container instance {ref} not found.")
    if ci.running_tasks_count > 0:
        if not force:
            raise EmuError("InvalidParameterException", "Found running tasks on the instance.")
        backend.container_instances.setdefault("orphaned", {})[instance_id] = ci
    del backend.container_instances[cluster][instance_id]
    ci.status = "INACTIVE"
    ci.agent_connected = False
    _inactive(backend).setdefault(cluster, {})[instance_id] = ci
    count = backend.clusters[cluster].registered_container_instances_count
    backend.clusters[cluster].registered_container_instances_count = max(0, count - 1)
    return {"containerInstance": _render(ci, include_tags=False)}


@handler
def list_container_instances(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    status = v.string("status")
    if status is not None and status not in STATUSES:
        v.fail(f"status must be one of {STATUSES}")
    max_results = v.integer("maxResults", 1, 100, default=100)
    token = v.string("nextToken")
    expression = v.string("filter")
    predicate = None
    if expression is not None:
        try:
            predicate = query_language.parse(expression)
        except query_language.QueryError as exc:
            raise EmuError("InvalidParameterException", f"Invalid filter expression: {exc}") from exc
    selected = []
    for ci in _active(backend, cluster).values():
        if status is not None and ci.status != status:
            continue
        candidate = query_language.Candidate(ci.ec2_instance_id, dict(ci.attributes), _connected(ci))
        if predicate is None or predicate(candidate):
            selected.append(ci.container_instance_arn)
    page, next_token = Pager.page(sorted(selected), max_results, token, "InvalidParameterException")
    result: dict = {"containerInstanceArns": page}
    if next_token:
        result["nextToken"] = next_token
    return result


def _failure(backend: Any, cluster: str, ref: str, reason: str) -> dict:
    arn = ref
    if not ref.startswith("arn:"):
        if backend.enable_long_arn_for_name(name="containerInstanceLongArnFormat"):
            arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:container-instance/{cluster}/{ref}"
        else:
            arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:container-instance/{ref}"
    return {"arn": arn, "reason": reason}


@handler
def describe_container_instances(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    refs = v.items("containerInstances", kind=str, max_items=100)
    if not refs:
        raise EmuError("ClientException", "Container Instances cannot be empty.")
    include = v.items("include", kind=str)
    if not set(include) <= {"TAGS", "CONTAINER_INSTANCE_HEALTH"}:
        v.fail("include must contain only TAGS or CONTAINER_INSTANCE_HEALTH")
    found, failures = [], []
    for ref in refs:
        instance_id = _instance_id(ref)
        ci = _active(backend, cluster).get(instance_id) or _inactive(backend).get(cluster, {}).get(instance_id)
        if ci is None:
            failures.append(_failure(backend, cluster, ref, "MISSING"))
        else:
            found.append(_render(ci, include_tags="TAGS" in include))
    return {"containerInstances": found, "failures": failures}


@handler
def update_container_instances_state(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    refs = v.items("containerInstances", kind=str, min_items=1, max_items=10)
    status = v.string("status", required=True)
    if status not in ("ACTIVE", "DRAINING"):
        v.fail("Container instance status should be one of [ACTIVE, DRAINING]")
    updated, failures = [], []
    for ref in refs:
        instance_id = _instance_id(ref)
        ci = _active(backend, cluster).get(instance_id)
        if ci is None:
            inactive = _inactive(backend).get(cluster, {}).get(instance_id)
            failures.append(_failure(backend, cluster, ref, "INACTIVE" if inactive else "MISSING"))
            continue
        if status == "DRAINING" and ci.status not in ("ACTIVE", "DRAINING"):
            failures.append(_failure(backend, cluster, ref, f"Cannot drain a container instance in {ci.status}"))
            continue
        ci.status = status
        updated.append(_render(ci, include_tags=False))
    return {"containerInstances": updated, "failures": failures}


def _target(backend: Any, cluster: str, target_id: str) -> ContainerInstance:
    ci = _active(backend, cluster).get(target_id.rsplit("/", 1)[-1])
    if ci is None:
        raise EmuError("TargetNotFoundException", f"Could not find {target_id}")
    return ci


@handler
def put_attributes(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    raw = v.items("attributes")
    if not raw:
        v.fail("attributes can not be empty")
    if len(raw) > MAX_CUSTOM_ATTRIBUTES:
        raise EmuError("AttributeLimitExceededException", "You can put at most 10 attributes per call.")
    attributes = _attributes(v, raw, require_target=True)
    planned: dict[str, dict] = {}
    for attr in attributes:
        ci = _target(backend, cluster, attr["targetId"])
        planned.setdefault(ci.id, dict(ci.attributes))[attr["name"]] = attr["value"]
    for instance_id, attrs in planned.items():
        if _custom_count(attrs) > MAX_CUSTOM_ATTRIBUTES:
            raise EmuError(
                "AttributeLimitExceededException",
                f"Container instance {instance_id} would exceed 10 custom attributes.",
            )
    for instance_id, attrs in planned.items():
        _active(backend, cluster)[instance_id].attributes = attrs
    return {"attributes": [_drop_none(a) for a in attributes]}


@handler
def delete_attributes(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    raw = v.items("attributes")
    if not raw:
        v.fail("attributes value is required")
    attributes = _attributes(v, raw, require_target=True)
    targets = [(_target(backend, cluster, a["targetId"]), a["name"]) for a in attributes]
    for ci, name in targets:  # by name only: AWS ignores the value on delete
        ci.attributes.pop(name, None)
    return {"attributes": [_drop_none(a) for a in attributes]}


@handler
def list_attributes(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    cluster = _cluster_name(backend, p.get("cluster"))
    if v.string("targetType", required=True) != "container-instance":
        v.fail("targetType must be container-instance")
    name = v.string("attributeName", pattern=ATTR_NAME_RE)
    value = v.string("attributeValue")
    if value is not None and name is None:
        v.fail("attributeValue can only be used together with attributeName")
    max_results = v.integer("maxResults", 1, 100, default=100)
    token = v.string("nextToken")
    rows = []
    for ci in sorted(_active(backend, cluster).values(), key=lambda c: c.container_instance_arn):
        for attr_name, attr_value in ci.attributes.items():
            if (name is None or attr_name == name) and (value is None or attr_value == value):
                row = {"name": attr_name, "targetType": "container-instance", "targetId": ci.container_instance_arn}
                if attr_value is not None:
                    row["value"] = attr_value
                rows.append(row)
    page, next_token = Pager.page(rows, max_results, token, "InvalidParameterException")
    result: dict = {"attributes": page}
    if next_token:
        result["nextToken"] = next_token
    return result


@handler
def discover_poll_endpoint(self: Any, p: dict) -> dict:
    backend = self.ecs_backend
    v = Validator(p, "InvalidParameterException")
    ref = v.string("containerInstance")
    cluster = _cluster_name(backend, p.get("cluster"))
    if ref is not None:
        ci = _active(backend, cluster).get(_instance_id(ref))
        if ci is None:
            raise EmuError("ClientException", f"Container instance {ref} is not registered in cluster {cluster}.")
        ci.emu_last_seen = clock.now()
    # There is no ACS/TCS websocket service here; point the agent back at the emulator itself.
    base = f"http://{self.headers.get('Host', '127.0.0.1')}/"
    return {"endpoint": base, "telemetryEndpoint": base, "serviceConnectEndpoint": base}


# --- tags on container-instance ARNs --------------------------------------------------------------


def _tag_target(backend: Any, arn: Any) -> ContainerInstance:
    match = INSTANCE_ARN_RE.match(arn) if isinstance(arn, str) else None
    if match is None:
        raise EmuError("ClientException", f"The ARN {arn!r} is not a valid container instance ARN.")
    for cluster, instances in backend.container_instances.items():
        if match["cluster"] in (None, cluster) and match["id"] in instances:
            return instances[match["id"]]
    raise EmuError("ResourceNotFoundException", "The specified resource could not be found.")


@handler
def _tag_container_instance(self: Any, p: dict) -> dict:
    v = Validator(p, "InvalidParameterException")
    tags = _tags(v, v.items("tags", min_items=1, max_items=MAX_TAGS))
    ci = _tag_target(self.ecs_backend, p.get("resourceArn"))
    ci.emu_tags = _merge_tags(getattr(ci, "emu_tags", []), tags)
    return {}


@handler
def _untag_container_instance(self: Any, p: dict) -> dict:
    keys = set(Validator(p, "InvalidParameterException").items("tagKeys", kind=str, min_items=1))
    ci = _tag_target(self.ecs_backend, p.get("resourceArn"))
    ci.emu_tags = [t for t in getattr(ci, "emu_tags", []) if t["key"] not in keys]
    return {}


@handler
def _list_tags_container_instance(self: Any, p: dict) -> dict:
    ci = _tag_target(self.ecs_backend, p.get("resourceArn"))
    return {"tags": list(getattr(ci, "emu_tags", []))}


def container_instance_tag_method(ours: Any, original: Any) -> Any:
    """Container-instance ARNs go to our store; others to moto, whose NotImplementedError becomes a 4xx."""

    def method(self: Any) -> Any:
        try:
            arn = request_params(self).get("resourceArn")
        except EmuError as exc:
            return error_response(exc.code, exc.message)
        if isinstance(arn, str) and ":container-instance/" in arn:
            return ours(self)
        if not isinstance(arn, str) or not arn:
            return error_response("InvalidParameterException", "resourceArn is required")
        try:
            return original(self)
        except NotImplementedError:
            return error_response("InvalidParameterException", f"Tagging is not supported for {arn}")

    method.__name__ = original.__name__
    method.__emu_handler__ = True  # type: ignore[attr-defined]
    return method


def _drop_none(data: dict) -> dict:
    return {k: val for k, val in data.items() if val is not None}


def debug_state() -> list[dict]:
    dump = []
    for account, per_region in list(ecs_backends.items()):
        for region, backend in list(per_region.items()):
            for cluster, instances in list(backend.container_instances.items()):
                every = list(instances.values()) + list(_inactive(backend).get(cluster, {}).values())
                if every:
                    dump.append(
                        {
                            "account": account,
                            "region": region,
                            "cluster": cluster,
                            "containerInstances": [_render(ci, include_tags=True) for ci in every],
                        }
                    )
    return dump


NEW_METHODS = {
    "register_container_instance": register_container_instance,
    "deregister_container_instance": deregister_container_instance,
    "list_container_instances": list_container_instances,
    "describe_container_instances": describe_container_instances,
    "update_container_instances_state": update_container_instances_state,
    "put_attributes": put_attributes,
    "delete_attributes": delete_attributes,
    "list_attributes": list_attributes,
    "discover_poll_endpoint": discover_poll_endpoint,
}
TAG_METHODS = {
    "tag_resource": _tag_container_instance,
    "untag_resource": _untag_container_instance,
    "list_tags_for_resource": _list_tags_container_instance,
}
