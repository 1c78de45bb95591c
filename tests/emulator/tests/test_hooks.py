"""Test hooks: stats, faults, clock, settings, state dump, issued activation codes and reset (task §5)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator import agent_protocol as ap

from .conftest import activation
from .conftest import error_code
from .conftest import http_status
from .conftest import raw_call
from .conftest import registered_host


def test_stats_count_every_api_call(emulator, ssm, ecs, endpoint):
    assert emulator.stats() == {}
    identity, creds = registered_host(ssm, endpoint)
    ap.update_instance_information(endpoint, identity, creds)
    ecs.create_cluster(clusterName="c")
    ecs.list_container_instances(cluster="c")
    with pytest.raises(ClientError):
        ecs.list_container_instances(cluster="missing")
    assert emulator.stats() == {
        "ssm:CreateActivation": 1,
        "ssm:RegisterManagedInstance": 1,
        "ssm:RequestManagedInstanceRoleToken": 1,
        "ssm:UpdateInstanceInformation": 1,
        "ecs:CreateCluster": 1,
        "ecs:ListContainerInstances": 2,
    }


def test_faults_are_aws_shaped_counted_and_cleared(emulator, ecs, ssm):
    ecs.create_cluster(clusterName="c")
    emulator.ok(
        "POST",
        "/_emu/faults",
        {"action": "ecs:ListContainerInstances", "code": "ThrottlingException", "status": 400, "rate": 1.0, "count": 2},
    )
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            ecs.list_container_instances(cluster="c")
        assert error_code(excinfo) == "ThrottlingException" and http_status(excinfo) == 400
    assert ecs.list_container_instances(cluster="c")["containerInstanceArns"] == []  # count exhausted
    ssm.describe_activations()  # other actions untouched
    emulator.ok(
        "POST", "/_emu/faults", {"action": "*", "code": "ServiceUnavailableException", "status": 503, "count": 100}
    )
    with pytest.raises(ClientError) as excinfo:
        ssm.describe_activations()
    assert error_code(excinfo) == "ServiceUnavailableException" and http_status(excinfo) == 503
    assert emulator.ok("DELETE", "/_emu/faults") == {"faults": []}
    ssm.describe_activations()
    assert emulator.stats()["ecs:ListContainerInstances"] == 3  # faulted calls are counted too


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("iam", "list_roles", "Throttling"),  # query protocol: XML ErrorResponse
        ("sts", "get_caller_identity", "Throttling"),
        ("ec2", "describe_regions", "RequestLimitExceeded"),  # EC2's own XML: Response/Errors
        ("ssm", "describe_activations", "ThrottlingException"),  # awsJson: __type
        ("ecs", "list_clusters", "ThrottlingException"),
    ],
)
def test_faults_answer_in_the_protocol_of_the_service(emulator, endpoint, service, operation, code):
    emulator.ok("POST", "/_emu/faults", {"action": f"{service}:*", "code": code, "message": "Rate <exceeded>"})
    client = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")
    with pytest.raises(ClientError) as excinfo:
        getattr(client, operation)()
    assert error_code(excinfo) == code and http_status(excinfo) == 400
    assert excinfo.value.response["Error"]["Message"] == "Rate <exceeded>"
    assert excinfo.value.response["ResponseMetadata"]["RequestId"]
    getattr(client, operation)()  # count exhausted


@pytest.mark.parametrize("service", ["iam", "ssm"])
def test_injected_throttling_is_retried_by_botocore(emulator, endpoint, service):
    """What the fault hook is for: an SDK that retries throttling gets through (IAM could not read JSON errors)."""
    code = "Throttling" if service == "iam" else "ThrottlingException"
    emulator.ok("POST", "/_emu/faults", {"action": f"{service}:*", "code": code, "count": 2})
    config = Config(retries={"mode": "standard", "max_attempts": 3})
    client = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=config)
    if service == "iam":
        client.list_roles()
    else:
        client.describe_activations()
    assert emulator.ok("GET", "/_emu/faults")["faults"][0]["remaining"] == 0
    assert sum(emulator.stats().values()) == 3


def test_fault_rate_is_repeatable(emulator, ecs):
    ecs.create_cluster(clusterName="c")

    def pattern() -> list[bool]:
        emulator.ok("DELETE", "/_emu/faults")
        emulator.ok(
            "POST",
            "/_emu/faults",
            {"action": "ecs:Describe*", "code": "ThrottlingException", "rate": 0.5, "count": 20, "seed": 7},
        )
        outcome = []
        for _ in range(12):
            try:
                ecs.describe_clusters(clusters=["c"])
                outcome.append(True)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
                outcome.append(False)
        return outcome

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(False) < 12


@pytest.mark.parametrize(
    "body",
    [
        {"action": "ecs:X"},
        {"code": "X"},
        {"action": "bad", "code": "X"},
        {"action": "*", "code": "X", "rate": 2},
        {"action": "*", "code": "X", "count": 0},
        {"action": "*", "code": "X", "status": 200},
        [1],
    ],
)
def test_fault_validation(emulator, body):
    status, payload = emulator.hook("POST", "/_emu/faults", body)
    assert status == 400 and payload["error"]


def test_clock_and_settings(emulator):
    before = emulator.ok("GET", "/_emu/clock")
    after = emulator.ok("POST", "/_emu/clock", {"advance_seconds": 3600})
    assert after["offset_seconds"] == before["offset_seconds"] + 3600
    assert after["epoch"] - before["epoch"] >= 3600
    for bad in ({"advance_seconds": -1}, {"advance_seconds": "x"}, {}):
        assert emulator.hook("POST", "/_emu/clock", bad)[0] == 400
    settings = emulator.ok(
        "POST", "/_emu/settings", {"ping_timeout_seconds": 5, "agent_timeout_seconds": 7, "strict_iam": True}
    )
    assert settings["ping_timeout_seconds"] == 5 and settings["agent_timeout_seconds"] == 7
    assert settings["strict_iam"] is True
    for bad in ({"ping_timeout_seconds": 0}, {"strict_iam": "yes"}, {"unknown": 1}):
        assert emulator.hook("POST", "/_emu/settings", bad)[0] == 400
    assert emulator.hook("GET", "/_emu/nothing")[0] == 404


def test_state_dump_hides_secrets(emulator, ssm, endpoint):
    act = activation(ssm, Tags=[{"Key": "a", "Value": "b"}], RegistrationLimit=2)
    identity = ap.register(endpoint, act["ActivationId"], act["ActivationCode"])
    creds = ap.request_role_token(endpoint, identity)
    ecs = creds.boto3_session("us-east-1").client("ecs", endpoint_url=endpoint)
    boto3.client("ecs", endpoint_url=endpoint).create_cluster(clusterName="c")
    ap.register_container_instance(endpoint, creds, "c")
    dump = emulator.ok("GET", "/_emu/state")
    text = json.dumps(dump)
    assert act["ActivationId"] in text and identity.instance_id in text
    for secret in (
        act["ActivationCode"],
        creds.access_key,
        creds.secret_key,
        creds.session_token,
        identity.public_key_b64(),
    ):
        assert secret not in text
    assert dump["ssm"][0]["instances"][0]["CredentialCount"] == 1
    assert dump["ecs"][0]["containerInstances"][0]["ec2InstanceId"] == identity.instance_id
    assert ecs.list_clusters()["clusterArns"]


def test_issued_activation_codes_outlive_their_activations_until_reset(emulator, ssm):
    assert emulator.ok("GET", "/_emu/activation-codes") == {"codes": []}
    first, second = activation(ssm), activation(ssm)
    ssm.delete_activation(ActivationId=first["ActivationId"])
    codes = emulator.ok("GET", "/_emu/activation-codes")["codes"]
    assert codes == [first["ActivationCode"], second["ActivationCode"]]
    emulator.reset()
    assert emulator.ok("GET", "/_emu/activation-codes") == {"codes": []}


def test_reset_clears_everything(emulator, ssm, ecs, endpoint):
    identity, creds = registered_host(ssm, endpoint)
    ecs.create_cluster(clusterName="c")
    ap.register_container_instance(endpoint, creds, "c")
    emulator.advance(100)
    emulator.ok("POST", "/_emu/settings", {"ping_timeout_seconds": 5})
    emulator.ok("POST", "/_emu/faults", {"action": "ecs:DescribeClusters", "code": "ThrottlingException"})
    emulator.reset()
    assert emulator.stats() == {}
    assert emulator.ok("GET", "/_emu/faults") == {"faults": []}
    assert emulator.ok("GET", "/_emu/clock")["offset_seconds"] == 0
    assert emulator.ok("GET", "/_emu/settings")["ping_timeout_seconds"] == 600
    assert ssm.describe_activations()["ActivationList"] == []
    assert ssm.describe_instance_information()["InstanceInformationList"] == []
    with pytest.raises(ap.AgentProtocolError) as excinfo:
        ap.request_role_token(endpoint, identity)
    assert excinfo.value.code == "InvalidInstanceId"
    with pytest.raises(ClientError) as excinfo:
        ap.register_container_instance(endpoint, creds, "c")
    assert error_code(excinfo) == "ClusterNotFoundException"
    state = emulator.ok("GET", "/_emu/state")
    assert all(not s["activations"] and not s["instances"] for s in state["ssm"]) and state["ecs"] == []


def test_unknown_operation_is_a_4xx(endpoint):
    status, payload = raw_call(endpoint, "ssm", "FlyToTheMoon", {})
    assert (status, payload["__type"]) == (400, "UnknownOperationException")
