"""Agent-private SSM calls, managed instances, DescribeInstanceInformation, tags (§2.4, §3.2, §3.6)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat

from tests.emulator import agent_protocol as ap

from .conftest import activation
from .conftest import error_code
from .conftest import raw_call
from .conftest import registered_host


def _agent_error(excinfo: pytest.ExceptionInfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status


def _register_raw(endpoint: str, body: dict) -> tuple[int, dict, str]:
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.RegisterManagedInstance"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers["Content-Type"]


def test_full_registration_flow(ssm, endpoint):
    act = activation(ssm, RegistrationLimit=1, DefaultInstanceName="edge", Tags=[{"Key": "site", "Value": "lab"}])
    identity = ap.register(endpoint, act["ActivationId"], act["ActivationCode"])
    assert identity.instance_id.startswith("mi-") and len(identity.instance_id) == 20
    creds = ap.request_role_token(endpoint, identity)
    assert creds.access_key.startswith("ASIA") and len(creds.secret_key) == 40
    assert creds.raw["UpdateKeyPair"] is False
    lifetime = (creds.expires - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3500 < lifetime <= 3600

    info = ssm.describe_instance_information()["InstanceInformationList"]
    assert [i["InstanceId"] for i in info] == [identity.instance_id]
    assert info[0]["PingStatus"] == "ConnectionLost"  # never pinged
    assert info[0]["Name"] == "edge" and info[0]["IamRole"] == "ECSAnywhereRole"
    assert info[0]["ActivationId"] == act["ActivationId"]
    assert info[0]["ResourceType"] == "ManagedInstance"
    assert info[0]["SourceType"] == "AWS::SSM::ManagedInstance" and info[0]["SourceId"] == identity.instance_id

    ap.update_instance_information(
        endpoint, identity, creds, IPAddress="10.0.0.7", ComputerName="edge-1", AgentVersion="3.3.1957.0"
    )
    info = ssm.describe_instance_information()["InstanceInformationList"][0]
    assert info["PingStatus"] == "Online"
    assert info["IPAddress"] == "10.0.0.7" and info["ComputerName"] == "edge-1"
    assert info["PlatformType"] == "Linux" and info["PlatformName"] == "Debian GNU/Linux"
    assert info["AgentVersion"] == "3.3.1957.0" and info["IsLatestVersion"] is True
    assert "LastPingDateTime" in info and "RegistrationDate" in info

    activations = ssm.describe_activations()["ActivationList"]
    assert activations[0]["RegistrationsCount"] == 1
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=identity.instance_id)["TagList"]
    assert tags == [{"Key": "site", "Value": "lab"}]


def test_register_checks_in_order(ssm, endpoint, emulator):
    act = activation(ssm, RegistrationLimit=1, ExpirationDate=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.register(endpoint, act["ActivationId"], "WRONGCODEWRONGCODE00")
    assert _agent_error(excinfo) == ("InvalidActivation", 400)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.register(endpoint, "00000000-0000-0000-0000-000000000000", act["ActivationCode"])
    assert excinfo.value.code == "InvalidActivation"

    # Bad key material is checked after the activation itself ...
    status, payload, _ = _register_raw(
        endpoint,
        {
            "ActivationId": act["ActivationId"],
            "ActivationCode": act["ActivationCode"],
            "PublicKey": "not base64!",
            "Fingerprint": "f",
        },
    )
    assert (status, payload["__type"]) == (400, "InvalidPublicKey")
    ec_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    status, payload, _ = _register_raw(
        endpoint,
        {
            "ActivationId": act["ActivationId"],
            "ActivationCode": act["ActivationCode"],
            "PublicKey": base64.b64encode(ec_key).decode(),
            "Fingerprint": "f",
        },
    )
    assert (status, payload["__type"]) == (400, "InvalidPublicKey")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, payload, _ = _register_raw(
        endpoint,
        {
            "ActivationId": act["ActivationId"],
            "ActivationCode": act["ActivationCode"],
            "PublicKey": ap.public_key_b64(rsa_key),
        },
    )
    assert (status, payload["__type"]) == (400, "ValidationException")
    # ... and none of the failures consumed a registration.
    ap.register(endpoint, act["ActivationId"], act["ActivationCode"], private_key=rsa_key)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.register(endpoint, act["ActivationId"], act["ActivationCode"], private_key=rsa_key)
    assert excinfo.value.code == "RegistrationLimitExceeded"
    # Expiry is checked before the limit.
    emulator.advance(2 * 3600 + 1)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.register(endpoint, act["ActivationId"], act["ActivationCode"], private_key=rsa_key)
    assert excinfo.value.code == "ActivationExpired"


def test_unsigned_register_is_raw_json(ssm, endpoint):
    status, payload, content_type = _register_raw(endpoint, {"ActivationId": "x", "ActivationCode": "y"})
    assert status == 400 and content_type == "application/x-amz-json-1.1"
    assert payload["__type"] == "InvalidActivation" and payload["message"]
    act = activation(ssm)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, payload, content_type = _register_raw(
        endpoint,
        {
            "ActivationId": act["ActivationId"],
            "ActivationCode": act["ActivationCode"],
            "PublicKey": ap.public_key_b64(key),
            "PublicKeyType": "Rsa",
            "Fingerprint": "fp",
        },
    )
    assert status == 200 and content_type == "application/x-amz-json-1.1"
    assert set(payload) == {"InstanceId"}


def test_role_token_rejects_foreign_key_and_wrong_fingerprint(ssm, endpoint):
    identity, _ = registered_host(ssm, endpoint)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.request_role_token(endpoint, identity, signing_key=foreign)
    assert _agent_error(excinfo) == ("InvalidInstanceId", 400)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.request_role_token(endpoint, identity, fingerprint="another-machine")
    assert _agent_error(excinfo) == ("MachineFingerprintDoesNotMatch", 400)
    unknown = ap.ManagedIdentity("mi-0123456789abcdef0", "us-east-1", identity.private_key, identity.fingerprint)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.request_role_token(endpoint, unknown)
    assert excinfo.value.code == "InvalidInstanceId"


def test_role_token_rejects_tampered_and_malformed_requests(ssm, endpoint):
    identity, _ = registered_host(ssm, endpoint)
    target = "AmazonSSM.RequestManagedInstanceRoleToken"
    body = {"Fingerprint": identity.fingerprint}

    def sign(sts: str) -> str:
        return base64.b64encode(identity.private_key.sign(sts.encode(), ap.PSS, ap.hashes.SHA256())).decode()

    headers = ap._signed_headers(endpoint, target, body, identity.instance_id, region=identity.region, sign=sign)
    # Body differs from what was signed: the payload hash no longer matches.
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap._post(endpoint, target, {"Fingerprint": identity.fingerprint, "x": 1}, headers)
    assert excinfo.value.code == "InvalidInstanceId"
    for auth in (
        "",
        "garbage",
        headers["Authorization"].replace("/ssm/", "/ecs/"),
        headers["Authorization"].split("Signature=")[0] + "Signature=!!!",
    ):
        with pytest.raises(ap.AgentProtocolError) as excinfo:
            ap._post(endpoint, target, body, {**headers, "Authorization": auth})
        assert excinfo.value.code == "InvalidInstanceId", auth
    # The untouched request is accepted.
    assert ap._post(endpoint, target, body, headers)["AccessKeyId"].startswith("ASIA")


def test_heartbeat_needs_matching_credentials(ssm, endpoint):
    identity, creds = registered_host(ssm, endpoint)
    other, other_creds = registered_host(ssm, endpoint)
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.update_instance_information(endpoint, identity, other_creds)  # someone else's key
    assert excinfo.value.code == "InvalidInstanceId"
    bogus = ap.RoleCredentials("ASIAUNKNOWN000000000", "s" * 40, "t", dt.datetime.now(dt.UTC))
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.update_instance_information(endpoint, identity, bogus)
    assert excinfo.value.code == "InvalidInstanceId"
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.update_instance_information(endpoint, identity, creds, ComputerName="x" * 300)
    assert excinfo.value.code == "ValidationException"
    states = {i["InstanceId"]: i["PingStatus"] for i in ssm.describe_instance_information()["InstanceInformationList"]}
    assert states == {identity.instance_id: "ConnectionLost", other.instance_id: "ConnectionLost"}


def test_ping_status_follows_clock_and_timeout(ssm, endpoint, emulator):
    identity, creds = registered_host(ssm, endpoint)
    ap.update_instance_information(endpoint, identity, creds)

    def status() -> str:
        return ssm.describe_instance_information()["InstanceInformationList"][0]["PingStatus"]

    assert status() == "Online"
    emulator.advance(590)
    assert status() == "Online"
    emulator.advance(20)
    assert status() == "ConnectionLost"
    ap.update_instance_information(endpoint, identity, creds)
    assert status() == "Online"
    emulator.ok("POST", "/_emu/settings", {"ping_timeout_seconds": 30})
    emulator.advance(31)
    assert status() == "ConnectionLost"


def test_describe_instance_information_filters(ssm, endpoint):
    first, creds = registered_host(ssm, endpoint, Tags=[{"Key": "role", "Value": "web"}])
    second, _ = registered_host(ssm, endpoint, Tags=[{"Key": "role", "Value": "db"}, {"Key": "x", "Value": ""}])
    ap.update_instance_information(endpoint, first, creds)

    def ids(**kwargs) -> set[str]:
        return {i["InstanceId"] for i in ssm.describe_instance_information(**kwargs)["InstanceInformationList"]}

    assert ids(Filters=[{"Key": "tag:role", "Values": ["web"]}]) == {first.instance_id}
    assert ids(Filters=[{"Key": "tag:role", "Values": ["web", "db"]}]) == {first.instance_id, second.instance_id}
    assert ids(Filters=[{"Key": "tag-key", "Values": ["x"]}]) == {second.instance_id}
    assert ids(Filters=[{"Key": "PingStatus", "Values": ["Online"]}]) == {first.instance_id}
    assert ids(
        Filters=[
            {"Key": "InstanceIds", "Values": [second.instance_id]},
            {"Key": "ResourceType", "Values": ["ManagedInstance"]},
        ]
    ) == {second.instance_id}
    assert ids(InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["ConnectionLost"]}]) == {
        second.instance_id
    }
    assert ids(InstanceInformationFilterList=[{"key": "IamRole", "valueSet": ["Nope"]}]) == set()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {
                "Filters": [{"Key": "PingStatus", "Values": ["Online"]}],
                "InstanceInformationFilterList": [{"key": "PingStatus", "valueSet": ["Online"]}],
            },
            "ValidationException",
        ),
        ({"Filters": [{"Key": "Bogus", "Values": ["x"]}]}, "InvalidFilterKey"),
        ({"Filters": [{"Key": "tag:", "Values": ["x"]}]}, "InvalidFilterKey"),
        ({"InstanceInformationFilterList": [{"key": "tag:role", "valueSet": ["x"]}]}, "InvalidFilterKey"),
        ({"Filters": [{"Key": "PingStatus", "Values": ["Sleeping"]}]}, "InvalidInstanceInformationFilterValue"),
        ({"Filters": [{"Key": "InstanceIds", "Values": []}]}, "InvalidInstanceInformationFilterValue"),
        ({"Filters": [{"Key": "InstanceIds", "Values": ["x"] * 101}]}, "InvalidInstanceInformationFilterValue"),
        ({"MaxResults": 4}, "ValidationException"),
        ({"MaxResults": 51}, "ValidationException"),
        ({"NextToken": "nope"}, "InvalidNextToken"),
    ],
)
def test_describe_instance_information_errors(endpoint, kwargs, code):
    raw = boto3.client("ssm", endpoint_url=endpoint, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as excinfo:
        raw.describe_instance_information(**kwargs)
    assert error_code(excinfo) == code


def test_describe_instance_information_pagination(ssm, endpoint):
    act = activation(ssm, RegistrationLimit=12)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ids = [
        ap.register(endpoint, act["ActivationId"], act["ActivationCode"], private_key=key).instance_id
        for _ in range(12)
    ]
    first = ssm.describe_instance_information()
    assert len(first["InstanceInformationList"]) == 10 and first["NextToken"]  # AWS default page size
    pages = list(ssm.get_paginator("describe_instance_information").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["InstanceInformationList"]) for p in pages] == [5, 5, 2]
    assert sorted(i["InstanceId"] for p in pages for i in p["InstanceInformationList"]) == sorted(ids)


def test_deregister_managed_instance(ssm, endpoint):
    identity, creds = registered_host(ssm, endpoint, Tags=[{"Key": "a", "Value": "b"}])
    ssm.deregister_managed_instance(InstanceId=identity.instance_id)
    assert ssm.describe_instance_information()["InstanceInformationList"] == []
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.request_role_token(endpoint, identity)  # token issuance revoked
    assert excinfo.value.code == "InvalidInstanceId"
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.update_instance_information(endpoint, identity, creds)  # credential mapping removed
    assert excinfo.value.code == "InvalidInstanceId"
    with pytest.raises(ClientError) as excinfo:
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=identity.instance_id)
    assert error_code(excinfo) == "InvalidResourceId"
    with pytest.raises(ClientError) as excinfo:
        ssm.deregister_managed_instance(InstanceId=identity.instance_id)
    assert error_code(excinfo) == "InvalidInstanceId"
    status, payload = raw_call(endpoint, "ssm", "DeregisterManagedInstance", {"InstanceId": "i-0123456789abcdef0"})
    assert (status, payload["__type"]) == (400, "ValidationException")


def test_delete_activation_keeps_instances(ssm, endpoint):
    identity, creds = registered_host(ssm, endpoint)
    ssm.delete_activation(ActivationId=ssm.describe_activations()["ActivationList"][0]["ActivationId"])
    assert [i["InstanceId"] for i in ssm.describe_instance_information()["InstanceInformationList"]] == [
        identity.instance_id
    ]
    assert ap.request_role_token(endpoint, identity).access_key


def test_managed_instance_tags(ssm, endpoint):
    identity, _ = registered_host(ssm, endpoint, Tags=[{"Key": "keep", "Value": "1"}])
    mi = identity.instance_id
    ssm.add_tags_to_resource(
        ResourceType="ManagedInstance",
        ResourceId=mi,
        Tags=[{"Key": "env", "Value": "prod"}, {"Key": "keep", "Value": "2"}],
    )
    ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=mi, TagKeys=["env", "absent"])
    assert ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=mi)["TagList"] == [
        {"Key": "keep", "Value": "2"}
    ]

    ssm.add_tags_to_resource(
        ResourceType="ManagedInstance", ResourceId=mi, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    )
    with pytest.raises(ClientError) as excinfo:
        ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=mi, Tags=[{"Key": "one-more", "Value": ""}])
    assert error_code(excinfo) == "TooManyTagsError"
    too_long_key, too_long_value = [{"Key": "k" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}]
    for tags in ([{"Key": "aws:x", "Value": "v"}], too_long_key, too_long_value):
        with pytest.raises(ClientError) as excinfo:
            ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=mi, Tags=tags)
        assert error_code(excinfo) == "ValidationException"
    for resource_id in ("mi-00000000000000000", "i-0123"):
        with pytest.raises(ClientError) as excinfo:
            ssm.add_tags_to_resource(
                ResourceType="ManagedInstance", ResourceId=resource_id, Tags=[{"Key": "a", "Value": "b"}]
            )
        assert error_code(excinfo) == "InvalidResourceId"
    # Other resource types still go to moto.
    ssm.put_parameter(Name="/p", Value="v", Type="String")
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/p", Tags=[{"Key": "a", "Value": "b"}])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/p")["TagList"] == [
        {"Key": "a", "Value": "b"}
    ]


def test_bad_bodies_never_500(endpoint):
    for action in (
        "CreateActivation",
        "DescribeActivations",
        "DeleteActivation",
        "DescribeInstanceInformation",
        "DeregisterManagedInstance",
        "AddTagsToResource",
        "RegisterManagedInstance",
        "RequestManagedInstanceRoleToken",
        "UpdateInstanceInformation",
    ):
        for body in (
            b"[]",
            b"nonsense",
            {
                "Filters": "x",
                "Tags": 3,
                "InstanceId": 5,
                "ResourceType": "ManagedInstance",
                "MaxResults": "x",
                "ActivationId": 1,
                "PublicKey": 7,
            },
        ):
            status, payload = raw_call(endpoint, "ssm", action, body)
            assert status < 500, (action, body, payload)
            assert status == 200 or payload["__type"], payload
