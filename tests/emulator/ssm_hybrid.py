"""SSM hybrid activations and managed instances, added to moto's SSM responses.

Spec: docs/aws-emulation.md §2.3, §2.4, §3.2; wire format of the agent-private calls: PROTOCOL.md.
State lives on moto's SSM backend object (``backend.__dict__``) so `POST /moto-api/reset` and the end
of a `mock_aws()` block drop it together with moto's own state.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from moto.iam.models import iam_backends
from moto.ssm.models import ssm_backends

from . import clock
from .common import EmuError
from .common import Pager
from .common import Validator
from .common import access_key_of
from .common import error_response
from .common import handler
from .common import request_params
from .common import sigv4_string_to_sign

MI_PATTERN = r"mi-[0-9a-f]{17}"
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
CREDENTIAL_LIFETIME = dt.timedelta(hours=1)
MAX_TAGS_PER_INSTANCE = 50
ACTIVATION_FILTER_KEYS = ("ActivationIds", "DefaultInstanceName", "IamRole")
INSTANCE_FILTER_KEYS = (
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
)
_ENUM_FILTER_VALUES = {
    "PingStatus": {"Online", "ConnectionLost", "Inactive"},
    "PlatformTypes": {"Windows", "Linux", "MacOS"},
    "ResourceType": {"ManagedInstance", "EC2Instance"},
}
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


@dataclass
class Activation:
    activation_id: str
    code: str
    iam_role: str
    registration_limit: int
    expiration: dt.datetime
    created: dt.datetime
    description: str | None = None
    default_instance_name: str | None = None
    tags: list[dict] = field(default_factory=list)
    registrations: int = 0

    def expired(self) -> bool:
        return clock.now() >= self.expiration


@dataclass
class ManagedInstance:
    instance_id: str
    activation_id: str
    iam_role: str
    name: str | None
    registered: dt.datetime
    public_key: rsa.RSAPublicKey
    fingerprint: str
    tags: dict[str, str]
    last_ping: dt.datetime | None = None
    info: dict[str, str] = field(default_factory=dict)

    def ping_status(self) -> str:
        # AWS lists a node that never pinged as ConnectionLost (docs/aws-emulation.md §3.2).
        if self.last_ping is None:
            return "ConnectionLost"
        age = (clock.now() - self.last_ping).total_seconds()
        return "Online" if age <= clock.setting("ping_timeout_seconds") else "ConnectionLost"


@dataclass
class IssuedCredential:
    access_key: str
    secret_key: str
    session_token: str
    instance_id: str
    expires: dt.datetime


@dataclass
class HybridState:
    activations: dict[str, Activation] = field(default_factory=dict)
    instances: dict[str, ManagedInstance] = field(default_factory=dict)
    credentials: dict[str, IssuedCredential] = field(default_factory=dict)
    # Every activation code handed out, kept after its activation is deleted: a test looks for them where no
    # secret may be (logs, reports, files on hosts and controller).
    issued_codes: list[str] = field(default_factory=list)


def state_of(backend: Any) -> HybridState:
    return backend.__dict__.setdefault("_emu_hybrid", HybridState())


def all_states() -> list[tuple[str, str, HybridState]]:
    """Every (account, region, state) that exists; unsigned and cross-service calls carry no region."""
    found = []
    for account_id, per_region in list(ssm_backends.items()):
        for region, backend in list(per_region.items()):
            state = backend.__dict__.get("_emu_hybrid")
            if state is not None:
                found.append((account_id, region, state))
    return found


def find_instance(instance_id: str) -> tuple[HybridState, ManagedInstance] | None:
    for _, _, state in all_states():
        if instance_id in state.instances:
            return state, state.instances[instance_id]
    return None


def issued_credential(access_key: str | None) -> tuple[HybridState, IssuedCredential] | None:
    """The role credential Systems Manager issued under this access key and has not revoked."""
    if not access_key:
        return None
    for _, _, state in all_states():
        cred = state.credentials.get(access_key)
        if cred is not None:
            return state, cred
    return None


def instance_for_access_key(access_key: str | None) -> ManagedInstance | None:
    """Map SSM-issued role credentials back to their managed instance (used by ECS too)."""
    found = issued_credential(access_key)
    if found is None:
        return None
    state, cred = found
    return state.instances.get(cred.instance_id)


# --- validation helpers -------------------------------------------------------------------------


def _tag_text_ok(text: str) -> bool:
    # SSM's tag pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*
    return all(ch.isalpha() or ch.isnumeric() or ch.isspace() or ch in "_.:/=+-@" for ch in text)


def validate_tags(v: Validator, tags: list, max_items: int, name: str = "Tags") -> list[dict]:
    v.items(name, max_items=max_items, source={name: tags})
    clean = []
    for tag in tags:
        key = v.string("Key", required=True, min_len=1, max_len=128, source=tag)
        value = v.string("Value", required=True, min_len=0, max_len=256, source=tag)
        if not _tag_text_ok(key) or not _tag_text_ok(value):
            v.fail(f"Tag {key!r} contains characters that are not allowed")
        if key.lower().startswith("aws:"):
            v.fail(f"Tag keys beginning with 'aws:' are reserved: {key}")
        clean.append({"Key": key, "Value": value})
    return clean


def _timestamp(v: Validator, name: str) -> dt.datetime | None:
    value = v.params.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        pass
    v.fail(f"Member {name} must be a timestamp")
    return None


def _iam_role_exists(account_id: str, role: str) -> bool:
    name = role.rsplit("/", 1)[-1]
    return any(r.name == name for r in iam_backends[account_id]["aws"].get_roles())


def _random_text(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- public API handlers (ops in botocore's model) -----------------------------------------------


@handler
def create_activation(self: Any, p: dict) -> dict:
    v = Validator(p)
    description = v.string("Description", max_len=256)
    default_name = v.string("DefaultInstanceName", max_len=256)
    if default_name is not None and not _tag_text_ok(default_name):
        v.fail(f"Value '{default_name}' at 'defaultInstanceName' failed to satisfy constraint")
    role = v.string("IamRole", required=True, min_len=1, max_len=64)
    limit = v.integer("RegistrationLimit", 1, 1000, default=1)
    expiration = _timestamp(v, "ExpirationDate")
    tags = validate_tags(v, p.get("Tags") or [], max_items=1000)
    for item in v.items("RegistrationMetadata"):
        v.string("Key", required=True, min_len=1, max_len=256, source=item)
        v.string("Value", required=True, min_len=1, max_len=256, source=item)
    # The console and API take a role *name*; an ARN is looked up as a name and fails (aws/aws-cli#4232).
    if role.startswith("arn:") or (clock.setting("strict_iam") and not _iam_role_exists(self.current_account, role)):
        raise EmuError("ValidationException", f"Not existing role: {role}")
    now = clock.now()
    if expiration is None:
        expiration = now + dt.timedelta(hours=24)
    if expiration <= now or expiration > now + dt.timedelta(days=30):
        raise EmuError(
            "InvalidParameters",
            "Expiration date must be in the future and not more than 30 days from the current date.",
        )
    activation = Activation(
        activation_id=str(uuid.uuid4()),
        code=_random_text(20),
        iam_role=role,
        registration_limit=limit,
        expiration=expiration,
        created=now,
        description=description,
        default_instance_name=default_name,
        tags=tags,
    )
    state = state_of(self.ssm_backend)
    state.activations[activation.activation_id] = activation
    state.issued_codes.append(activation.code)
    return {"ActivationId": activation.activation_id, "ActivationCode": activation.code}


@handler
def describe_activations(self: Any, p: dict) -> dict:
    v = Validator(p)
    max_results = v.integer("MaxResults", 1, 50, default=50)
    token = v.string("NextToken")
    selected = list(state_of(self.ssm_backend).activations.values())
    for flt in v.items("Filters"):
        key = flt.get("FilterKey")
        if key not in ACTIVATION_FILTER_KEYS:
            raise EmuError("InvalidFilter", f"The filter key {key!r} is not valid; use one of {ACTIVATION_FILTER_KEYS}")
        values = set(v.items("FilterValues", kind=str, source=flt))
        attr = {"ActivationIds": "activation_id", "DefaultInstanceName": "default_instance_name", "IamRole": "iam_role"}
        selected = [a for a in selected if getattr(a, attr[key]) in values]
    page, next_token = Pager.page(selected, max_results, token, "InvalidNextToken")
    result: dict = {
        "ActivationList": [
            _drop_none(
                {
                    "ActivationId": a.activation_id,
                    "Description": a.description,
                    "DefaultInstanceName": a.default_instance_name,
                    "IamRole": a.iam_role,
                    "RegistrationLimit": a.registration_limit,
                    "RegistrationsCount": a.registrations,
                    "ExpirationDate": clock.epoch(a.expiration),
                    "Expired": a.expired(),
                    "CreatedDate": clock.epoch(a.created),
                    "Tags": [dict(t) for t in a.tags],
                }
            )
            for a in page
        ]
    }
    if next_token:
        result["NextToken"] = next_token
    return result


@handler
def delete_activation(self: Any, p: dict) -> dict:
    activation_id = p.get("ActivationId")
    activations = state_of(self.ssm_backend).activations
    if not isinstance(activation_id, str) or activation_id not in activations:
        raise EmuError("InvalidActivationId", f"The activation ID is not valid: {activation_id}")
    # Instances registered through it stay registered, as on AWS.
    del activations[activation_id]
    return {}


def _instance_view(mi: ManagedInstance) -> dict:
    info = mi.info
    agent_version = info.get("AgentVersion")
    return _drop_none(
        {
            "InstanceId": mi.instance_id,
            "PingStatus": mi.ping_status(),
            "LastPingDateTime": clock.epoch(mi.last_ping),
            "AgentVersion": agent_version,
            "IsLatestVersion": agent_version == clock.setting("latest_agent_version") if agent_version else None,
            "PlatformType": info.get("PlatformType"),
            "PlatformName": info.get("PlatformName"),
            "PlatformVersion": info.get("PlatformVersion"),
            "ActivationId": mi.activation_id,
            "IamRole": mi.iam_role,
            "RegistrationDate": clock.epoch(mi.registered),
            "ResourceType": "ManagedInstance",
            "Name": mi.name,
            "IPAddress": info.get("IPAddress"),
            "ComputerName": info.get("ComputerName"),
            "SourceId": mi.instance_id,
            "SourceType": "AWS::SSM::ManagedInstance",
        }
    )


def _instance_matches(mi: ManagedInstance, key: str, values: set[str]) -> bool:
    if key.startswith("tag:"):
        return mi.tags.get(key[4:]) in values
    if key == "tag-key":
        return bool(values & set(mi.tags))
    current = {
        "InstanceIds": mi.instance_id,
        "AgentVersion": mi.info.get("AgentVersion"),
        "PingStatus": mi.ping_status(),
        "PlatformTypes": mi.info.get("PlatformType"),
        "ActivationIds": mi.activation_id,
        "IamRole": mi.iam_role,
        "ResourceType": "ManagedInstance",
        "AssociationStatus": None,  # the emulator runs no associations
    }[key]
    return current in values


def _instance_filters(v: Validator) -> list[tuple[str, set[str]]]:
    legacy = v.params.get("InstanceInformationFilterList")
    modern = v.params.get("Filters")
    if legacy and modern:
        raise EmuError("ValidationException", "Use either InstanceInformationFilterList or Filters, not both.")
    if legacy:
        raw, key_name, values_name, extra_keys = v.items("InstanceInformationFilterList"), "key", "valueSet", False
    else:
        raw, key_name, values_name, extra_keys = v.items("Filters"), "Key", "Values", True
    filters = []
    for flt in raw:
        key = flt.get(key_name)
        valid = isinstance(key, str) and (
            key in INSTANCE_FILTER_KEYS
            or (extra_keys and (key == "tag-key" or (key.startswith("tag:") and len(key) > 4)))
        )
        if not valid:
            raise EmuError("InvalidFilterKey", f"The filter key {key!r} is not valid.")
        values = flt.get(values_name)
        if not isinstance(values, list) or not 1 <= len(values) <= 100 or not all(isinstance(x, str) for x in values):
            raise EmuError("InvalidInstanceInformationFilterValue", f"Filter {key} needs 1-100 string values.")
        allowed = _ENUM_FILTER_VALUES.get(key)
        if allowed and not set(values) <= allowed:
            raise EmuError(
                "InvalidInstanceInformationFilterValue", f"Filter {key} values must be in {sorted(allowed)}."
            )
        filters.append((key, set(values)))
    return filters


@handler
def describe_instance_information(self: Any, p: dict) -> dict:
    v = Validator(p)
    filters = _instance_filters(v)
    max_results = v.integer("MaxResults", 5, 50, default=10)
    token = v.string("NextToken")
    instances = sorted(state_of(self.ssm_backend).instances.values(), key=lambda mi: (mi.registered, mi.instance_id))
    selected = [mi for mi in instances if all(_instance_matches(mi, k, vals) for k, vals in filters)]
    page, next_token = Pager.page(selected, max_results, token, "InvalidNextToken")
    result: dict = {"InstanceInformationList": [_instance_view(mi) for mi in page]}
    if next_token:
        result["NextToken"] = next_token
    return result


@handler
def deregister_managed_instance(self: Any, p: dict) -> dict:
    instance_id = Validator(p).string("InstanceId", required=True, pattern=MI_PATTERN)
    state = state_of(self.ssm_backend)
    if instance_id not in state.instances:
        raise EmuError("InvalidInstanceId", f"Instance Id {instance_id} is not valid.")
    del state.instances[instance_id]  # its tags live on the instance object and go with it
    for _, _, any_state in all_states():
        for key in [k for k, c in any_state.credentials.items() if c.instance_id == instance_id]:
            del any_state.credentials[key]
    return {}


# --- tags on ManagedInstance resources ------------------------------------------------------------


def _tagged_instance(self: Any, p: dict) -> ManagedInstance:
    resource_id = p.get("ResourceId")
    mi = state_of(self.ssm_backend).instances.get(resource_id) if isinstance(resource_id, str) else None
    if mi is None:
        raise EmuError("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.")
    return mi


@handler
def _add_tags_managed_instance(self: Any, p: dict) -> dict:
    v = Validator(p)
    tags = validate_tags(v, p.get("Tags") if p.get("Tags") is not None else [], max_items=1000)
    if not tags:
        v.fail("Member Tags must contain at least one tag")
    mi = _tagged_instance(self, p)
    merged = dict(mi.tags)
    merged.update({t["Key"]: t["Value"] for t in tags})
    if len(merged) > MAX_TAGS_PER_INSTANCE:
        raise EmuError("TooManyTagsError", f"A managed instance can have at most {MAX_TAGS_PER_INSTANCE} tags.")
    mi.tags = merged
    return {}


@handler
def _remove_tags_managed_instance(self: Any, p: dict) -> dict:
    keys = Validator(p).items("TagKeys", kind=str, min_items=1)
    mi = _tagged_instance(self, p)
    for key in keys:
        mi.tags.pop(key, None)
    return {}


@handler
def _list_tags_managed_instance(self: Any, p: dict) -> dict:
    mi = _tagged_instance(self, p)
    return {"TagList": [{"Key": k, "Value": val} for k, val in mi.tags.items()]}


def managed_instance_tag_method(ours: Any, original: Any) -> Any:
    """Route ResourceType=ManagedInstance to our store; everything else stays with moto."""

    def method(self: Any) -> Any:
        try:
            params = request_params(self)
        except EmuError as exc:
            return error_response(exc.code, exc.message)
        if params.get("ResourceType") == "ManagedInstance":
            return ours(self)
        return original(self)

    method.__name__ = original.__name__
    method.__emu_handler__ = True  # type: ignore[attr-defined]
    return method


# --- agent-private calls (not in botocore's model; PROTOCOL.md §1-§3) ---------------------------


def _load_public_key(p: dict) -> rsa.RSAPublicKey:
    encoded = p.get("PublicKey")
    key_type = p.get("PublicKeyType", "Rsa")
    if key_type != "Rsa" or not isinstance(encoded, str) or not encoded:
        raise EmuError("InvalidPublicKey", "PublicKey must be a base64 DER RSA public key of type Rsa.")
    try:
        key = load_der_public_key(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise EmuError("InvalidPublicKey", "PublicKey is not a base64 DER SubjectPublicKeyInfo.") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise EmuError("InvalidPublicKey", "PublicKey is not an RSA key.")
    return key


@handler
def register_managed_instance(self: Any, p: dict) -> dict:
    activation_id, code = p.get("ActivationId"), p.get("ActivationCode")
    owner = None
    for _, _, state in all_states():
        activation = state.activations.get(activation_id) if isinstance(activation_id, str) else None
        if activation is not None and isinstance(code, str) and secrets.compare_digest(activation.code, code):
            owner = (state, activation)
            break
    if owner is None:
        raise EmuError("InvalidActivation", "Activation ID or activation code is not valid.")
    state, activation = owner
    if activation.expired():
        raise EmuError("ActivationExpired", "Activation has expired.")
    if activation.registrations >= activation.registration_limit:
        raise EmuError("RegistrationLimitExceeded", "Registration limit of the activation has been reached.")
    public_key = _load_public_key(p)
    fingerprint = p.get("Fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise EmuError("ValidationException", "Fingerprint is required.")
    instance_id = "mi-" + secrets.token_hex(9)[:17]
    activation.registrations += 1
    state.instances[instance_id] = ManagedInstance(
        instance_id=instance_id,
        activation_id=activation.activation_id,
        iam_role=activation.iam_role,
        name=activation.default_instance_name,
        registered=clock.now(),
        public_key=public_key,
        fingerprint=fingerprint,
        tags={t["Key"]: t["Value"] for t in activation.tags},
    )
    return {"InstanceId": instance_id}


_AUTH_RE = re.compile(
    r"^(?P<alg>\S+)\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>\S+)$"
)


def verify_rsa_sigv4(self: Any) -> ManagedInstance:
    """Rebuild the SigV4 string-to-sign from the received request and check the RSA-PSS signature."""
    invalid = EmuError("InvalidInstanceId", "The instance ID is not valid or the request signature is invalid.")
    match = _AUTH_RE.match((self.headers.get("Authorization") or "").strip())
    if not match:
        raise invalid
    scope = match["cred"].split("/")
    if len(scope) != 5 or scope[3] != "ssm" or scope[4] != "aws4_request" or not re.fullmatch(MI_PATTERN, scope[0]):
        raise invalid
    instance_id, _, region, service, _ = scope
    found = find_instance(instance_id)
    amz_date = self.headers.get("X-Amz-Date")
    signed = match["signed"].split(";")
    if found is None or not amz_date or "host" not in signed:
        raise invalid
    headers = {}
    for name in signed:
        value = self.headers.get(name)
        if value is None:
            raise invalid
        headers[name] = value
    url = f"http://{headers['host']}{self.parsed_url.path or '/'}"
    if self.parsed_url.query:
        url += f"?{self.parsed_url.query}"
    body = self.body.encode("utf-8") if isinstance(self.body, str) else (self.body or b"")
    string_to_sign = sigv4_string_to_sign(
        self.method, url, headers, body, algorithm=match["alg"], amz_date=amz_date, scope=scope
    )
    try:
        signature = base64.b64decode(match["sig"], validate=True)
        found[1].public_key.verify(signature, string_to_sign.encode("utf-8"), PSS, hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise invalid from exc
    return found[1]


@handler
def request_managed_instance_role_token(self: Any, p: dict) -> dict:
    mi = verify_rsa_sigv4(self)
    fingerprint = p.get("Fingerprint")
    if not isinstance(fingerprint, str) or not secrets.compare_digest(fingerprint, mi.fingerprint):
        raise EmuError("MachineFingerprintDoesNotMatch", "Fingerprint does not match the registered machine.")
    state = find_instance(mi.instance_id)[0]  # type: ignore[index]
    cred = IssuedCredential(
        access_key="ASIA" + _random_text(16, string.ascii_uppercase + string.digits),
        secret_key=_random_text(40, string.ascii_letters + string.digits + "+/"),
        session_token=base64.b64encode(secrets.token_bytes(96)).decode("ascii"),
        instance_id=mi.instance_id,
        expires=clock.now() + CREDENTIAL_LIFETIME,
    )
    state.credentials[cred.access_key] = cred
    return {
        "AccessKeyId": cred.access_key,
        "SecretAccessKey": cred.secret_key,
        "SessionToken": cred.session_token,
        "TokenExpirationDate": int(cred.expires.timestamp()),
        "UpdateKeyPair": False,
    }


_INFO_FIELDS = (
    "AgentName",
    "AgentVersion",
    "AgentStatus",
    "PlatformName",
    "PlatformType",
    "PlatformVersion",
    "IPAddress",
    "ComputerName",
    "AvailabilityZone",
    "AvailabilityZoneId",
    "SSMConnectionChannel",
)


@handler
def update_instance_information(self: Any, p: dict) -> dict:
    v = Validator(p)
    instance_id = v.string("InstanceId", required=True, min_len=1, max_len=124)
    info = {name: v.string(name, max_len=256) for name in _INFO_FIELDS}
    mi = instance_for_access_key(access_key_of(self))
    if mi is None or mi.instance_id != instance_id:
        raise EmuError("InvalidInstanceId", f"Instance Id {instance_id} is not valid for the caller's credentials.")
    mi.info.update({k: val for k, val in info.items() if val is not None})
    mi.last_ping = clock.now()
    return {}


def _drop_none(data: dict) -> dict:
    return {k: val for k, val in data.items() if val is not None}


def debug_state() -> list[dict]:
    """For GET /_emu/state: everything useful for debugging, nothing secret (codes, keys)."""
    dump = []
    for account, region, state in all_states():
        dump.append(
            {
                "account": account,
                "region": region,
                "activations": [
                    {
                        "ActivationId": a.activation_id,
                        "IamRole": a.iam_role,
                        "RegistrationLimit": a.registration_limit,
                        "RegistrationsCount": a.registrations,
                        "ExpirationDate": a.expiration.isoformat(),
                        "Expired": a.expired(),
                        "Tags": a.tags,
                    }
                    for a in state.activations.values()
                ],
                "instances": [
                    {**_instance_view(mi), "Tags": mi.tags, "CredentialCount": _count_creds(state, mi.instance_id)}
                    for mi in state.instances.values()
                ],
            }
        )
    return dump


def issued_activation_codes() -> list[str]:
    """For GET /_emu/activation-codes: every code issued since the last reset, in every account and region."""
    return [code for _, _, state in all_states() for code in state.issued_codes]


def _count_creds(state: HybridState, instance_id: str) -> int:
    return sum(1 for c in state.credentials.values() if c.instance_id == instance_id)


NEW_METHODS = {
    "create_activation": create_activation,
    "describe_activations": describe_activations,
    "delete_activation": delete_activation,
    "describe_instance_information": describe_instance_information,
    "deregister_managed_instance": deregister_managed_instance,
    "register_managed_instance": register_managed_instance,
    "request_managed_instance_role_token": request_managed_instance_role_token,
    "update_instance_information": update_instance_information,
}
TAG_METHODS = {
    "add_tags_to_resource": _add_tags_managed_instance,
    "remove_tags_from_resource": _remove_tags_managed_instance,
    "list_tags_for_resource": _list_tags_managed_instance,
}
