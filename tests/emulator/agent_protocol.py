"""Controller-side client of the agent protocol (PROTOCOL.md): register hosts without a host.

Used by tests and benchmarks. The Debian stand-in agent implements the same wire format on its own;
this module is the executable reference for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

JSON_CT = "application/x-amz-json-1.1"
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class AgentProtocolError(Exception):
    """An AWS-shaped error answer: `code` is the `__type`, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class ManagedIdentity:
    instance_id: str
    region: str
    private_key: rsa.RSAPrivateKey
    fingerprint: str

    def public_key_b64(self) -> str:
        return public_key_b64(self.private_key)


@dataclass
class RoleCredentials:
    access_key: str
    secret_key: str
    session_token: str
    expires: dt.datetime
    raw: dict = field(repr=False, default_factory=dict)

    def boto3_session(self, region: str) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.session_token,
            region_name=region,
        )


def public_key_b64(private_key: rsa.RSAPrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _post(endpoint: str, target: str, body: dict, headers: dict | None = None) -> dict:
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(endpoint, data=data, method="POST")
    request.add_header("Content-Type", JSON_CT)
    request.add_header("X-Amz-Target", target)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - test endpoint URL
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            error = json.loads(payload)
            code = str(error.get("__type", "Unknown")).rsplit("#", 1)[-1]
            message = error.get("message") or error.get("Message") or ""
        except ValueError:
            code, message = str(exc.code), payload.decode("utf-8", "replace")[:200]
        raise AgentProtocolError(code, message, exc.code) from None


def _signed_headers(
    endpoint: str, target: str, body: dict, access_key: str, *, region: str, sign: Callable[[str], str]
) -> dict:
    """Build SigV4 headers with botocore's canonicalisation; `sign(string_to_sign) -> signature text`."""
    data = json.dumps(body).encode("utf-8")
    amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Type": JSON_CT, "X-Amz-Target": target, "X-Amz-Date": amz_date}
    request = AWSRequest(method="POST", url=endpoint, data=data, headers=headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, "unused"), "ssm", region)
    canonical = signer.canonical_request(request)
    scope = f"{amz_date[:8]}/{region}/ssm/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={sign(string_to_sign)}"
    )
    return headers


def register(
    endpoint: str,
    activation_id: str,
    activation_code: str,
    *,
    region: str = "us-east-1",
    fingerprint: str | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
) -> ManagedIdentity:
    """RegisterManagedInstance (unsigned) with a fresh RSA-2048 key unless one is given."""
    key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fingerprint = fingerprint or str(uuid.uuid4())
    answer = _post(
        endpoint,
        "AmazonSSM.RegisterManagedInstance",
        {
            "ActivationCode": activation_code,
            "ActivationId": activation_id,
            "PublicKey": public_key_b64(key),
            "PublicKeyType": "Rsa",
            "Fingerprint": fingerprint,
        },
    )
    return ManagedIdentity(answer["InstanceId"], region, key, fingerprint)


def request_role_token(
    endpoint: str,
    identity: ManagedIdentity,
    *,
    fingerprint: str | None = None,
    signing_key: rsa.RSAPrivateKey | None = None,
) -> RoleCredentials:
    """RequestManagedInstanceRoleToken, RSA-PSS signed (`signing_key`/`fingerprint` override for negative tests)."""
    key = signing_key or identity.private_key
    body = {"Fingerprint": identity.fingerprint if fingerprint is None else fingerprint}
    target = "AmazonSSM.RequestManagedInstanceRoleToken"

    def sign(string_to_sign: str) -> str:
        return base64.b64encode(key.sign(string_to_sign.encode("utf-8"), PSS, hashes.SHA256())).decode("ascii")

    headers = _signed_headers(endpoint, target, body, identity.instance_id, region=identity.region, sign=sign)
    answer = _post(endpoint, target, body, headers)
    return RoleCredentials(
        access_key=answer["AccessKeyId"],
        secret_key=answer["SecretAccessKey"],
        session_token=answer["SessionToken"],
        expires=dt.datetime.fromtimestamp(answer["TokenExpirationDate"], dt.UTC),
        raw=answer,
    )


def update_instance_information(
    endpoint: str, identity: ManagedIdentity, creds: RoleCredentials, *, instance_id: str | None = None, **fields: str
) -> dict:
    """UpdateInstanceInformation heartbeat, ordinary SigV4 with the role credentials."""
    body = {
        "InstanceId": instance_id or identity.instance_id,
        "AgentName": "amazon-ssm-agent",
        "AgentVersion": "3.3.1957.0",
        "AgentStatus": "Active",
        "PlatformName": "Debian GNU/Linux",
        "PlatformType": "Linux",
        "PlatformVersion": "12",
        "IPAddress": "127.0.0.1",
        "ComputerName": "controller",
        **fields,
    }
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSSM.UpdateInstanceInformation"}
    request = AWSRequest(method="POST", url=endpoint, data=data, headers=headers)
    SigV4Auth(Credentials(creds.access_key, creds.secret_key, creds.session_token), "ssm", identity.region).add_auth(
        request
    )
    return _post(endpoint, "AmazonSSM.UpdateInstanceInformation", body, dict(request.headers.items()))


def ecs_client(endpoint: str, creds: RoleCredentials, region: str = "us-east-1"):
    return _ecs_client(endpoint, creds.access_key, creds.secret_key, creds.session_token, region)


_CLIENT_SESSION = botocore.session.get_session()
_CLIENT_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def _ecs_client(endpoint: str, access_key: str, secret_key: str, session_token: str, region: str):
    # Every host has its own credentials, but the service model only needs loading once: one botocore session
    # (not thread-safe, hence the lock) makes all the clients, which benchmarks build by the thousand.
    with _CLIENT_LOCK:
        return _CLIENT_SESSION.create_client(
            "ecs",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
        )


def register_container_instance(
    endpoint: str,
    creds: RoleCredentials,
    cluster: str,
    *,
    attributes: list[dict] | None = None,
    tags: list[dict] | None = None,
    region: str = "us-east-1",
    container_instance_arn: str | None = None,
) -> dict:
    """RegisterContainerInstance the way ecs-agent does in external mode (empty identity document)."""
    kwargs = {
        "cluster": cluster,
        "instanceIdentityDocument": "",
        "attributes": attributes if attributes is not None else [{"name": "ecs.capability.external"}],
        "tags": tags or [],
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 3900},
        ],
        "versionInfo": {"agentVersion": "1.99.0", "agentHash": "emulator", "dockerVersion": "DockerVersion: 26.1"},
    }
    if container_instance_arn:
        kwargs["containerInstanceArn"] = container_instance_arn
    return ecs_client(endpoint, creds, region).register_container_instance(**kwargs)["containerInstance"]


def discover_poll_endpoint(
    endpoint: str, creds: RoleCredentials, cluster: str, container_instance: str, *, region: str = "us-east-1"
) -> dict:
    """The stand-in ECS agent's heartbeat."""
    answer = ecs_client(endpoint, creds, region).discover_poll_endpoint(
        cluster=cluster, containerInstance=container_instance
    )
    answer.pop("ResponseMetadata", None)
    return answer
