"""ECS container instances for external hosts: registration, filters, attributes, tags, state (§2.5, §3.3, §3.6)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator import agent_protocol as ap

from .conftest import error_code
from .conftest import raw_call
from .conftest import registered_host

EXTERNAL_ATTRS = [
    {"name": "ecs.capability.external"},
    {"name": "ecs.os-type", "value": "linux"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.17"},
    {"name": "role", "value": "web"},
]


@pytest.fixture
def cluster(ecs):
    ecs.create_cluster(clusterName="edge")
    return "edge"


@pytest.fixture
def host(ssm, endpoint, cluster):
    """(identity, creds, container instance) of one registered external host."""
    identity, creds = registered_host(ssm, endpoint)
    ci = ap.register_container_instance(
        endpoint, creds, cluster, attributes=EXTERNAL_ATTRS, tags=[{"key": "owner", "value": "ops"}]
    )
    return identity, creds, ci


def _external(ssm, endpoint, cluster, attributes):
    _, creds = registered_host(ssm, endpoint)
    return ap.register_container_instance(endpoint, creds, cluster, attributes=attributes)


def test_external_registration(ecs, host, cluster):
    identity, _, ci = host
    assert ci["ec2InstanceId"] == identity.instance_id
    assert ci["status"] == "ACTIVE" and ci["agentConnected"] is True
    assert {(a["name"], a.get("value")) for a in ci["attributes"]} == {
        (a["name"], a.get("value")) for a in EXTERNAL_ATTRS
    }  # echoed, as the agent checks
    assert ci["registeredResources"][0] == {"name": "CPU", "type": "INTEGER", "integerValue": 2048}
    assert ci["versionInfo"]["agentVersion"] == "1.99.0"
    assert ci["containerInstanceArn"].startswith(f"arn:aws:ecs:us-east-1:123456789012:container-instance/{cluster}/")
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["registeredContainerInstancesCount"] == 1


def test_registration_needs_ssm_identity_and_cluster(ssm, endpoint, ecs, cluster):
    stranger = ap.RoleCredentials("ASIANOTISSUED0000000", "s" * 40, "token", None)  # type: ignore[arg-type]
    with pytest.raises(ClientError) as excinfo:
        ap.register_container_instance(endpoint, stranger, cluster)
    assert error_code(excinfo) == "ClientException"
    _, creds = registered_host(ssm, endpoint)
    with pytest.raises(ClientError) as excinfo:
        ap.register_container_instance(endpoint, creds, "no-such-cluster")
    assert error_code(excinfo) == "ClusterNotFoundException"
    for attrs, code in (
        ([{"name": "bad name!"}], "InvalidParameterException"),
        ([{"name": "ok", "value": " edge"}], "InvalidParameterException"),
        ([{"name": f"custom{i}", "value": "v"} for i in range(11)], "AttributeLimitExceededException"),
    ):
        with pytest.raises(ClientError) as excinfo:
            ap.register_container_instance(endpoint, creds, cluster, attributes=attrs)
        assert error_code(excinfo) == code
    with pytest.raises(ClientError) as excinfo:
        too_many = [{"key": f"k{i}", "value": "v"} for i in range(51)]
        ap.register_container_instance(endpoint, creds, cluster, tags=too_many)
    assert error_code(excinfo) == "InvalidParameterException"
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []


def test_reregistration_updates_in_place(ecs, endpoint, host, cluster):
    _, creds, ci = host
    again = ap.register_container_instance(
        endpoint,
        creds,
        cluster,
        attributes=[{"name": "role", "value": "db"}],
        container_instance_arn=ci["containerInstanceArn"],
    )
    assert again["containerInstanceArn"] == ci["containerInstanceArn"]
    assert again["version"] == 2
    assert again["attributes"] == [{"name": "role", "value": "db"}]
    assert len(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]) == 1
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["registeredContainerInstancesCount"] == 1


def test_reregistration_by_another_host_is_refused(ssm, endpoint, host, cluster):
    _, _, ci = host
    _, other = registered_host(ssm, endpoint)
    with pytest.raises(ClientError) as excinfo:
        ap.register_container_instance(endpoint, other, cluster, container_instance_arn=ci["containerInstanceArn"])
    assert error_code(excinfo) == "ClientException"


def test_filters_select_only_matching_instances(ssm, endpoint, ecs, host, cluster):
    identity, _, web = host
    db = _external(ssm, endpoint, cluster, [{"name": "ecs.capability.external"}, {"name": "role", "value": "db"}])
    # An EC2-backed instance through moto's own path must not match the external filters.
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    ec2_id = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2_ci = ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": ec2_id})
    )["containerInstance"]
    assert ec2_ci["ec2InstanceId"] == ec2_id

    def listed(expression: str) -> set[str]:
        return set(ecs.list_container_instances(cluster=cluster, filter=expression)["containerInstanceArns"])

    assert listed("attribute:ecs.capability.external exists") == {
        web["containerInstanceArn"],
        db["containerInstanceArn"],
    }
    assert listed("attribute:role == web") == {web["containerInstanceArn"]}
    assert listed("attribute:role != web and attribute:ecs.capability.external exists") == {db["containerInstanceArn"]}
    assert listed(f"ec2InstanceId == {identity.instance_id}") == {web["containerInstanceArn"]}
    both = {web["containerInstanceArn"], db["containerInstanceArn"]}
    assert listed(f"ec2InstanceId in ['{identity.instance_id}', '{db['ec2InstanceId']}']") == both
    assert listed(f"ec2InstanceId in [{identity.instance_id},{db['ec2InstanceId']}]") == both
    assert listed(f"ec2InstanceId in ['{db['ec2InstanceId']}', 'mi-00000000000000000']") == {db["containerInstanceArn"]}
    assert listed(f"ec2InstanceId !in ['{identity.instance_id}'] and attribute:ecs.capability.external exists") == {
        db["containerInstanceArn"]
    }
    assert listed("attribute:does.not.exist exists") == set()
    assert listed("agentConnected == true AND attribute:role exists") == {
        web["containerInstanceArn"],
        db["containerInstanceArn"],
    }
    assert len(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]) == 3


@pytest.mark.parametrize(
    "expression",
    [
        "((((",
        "attribute:role =~ w.*",
        "attribute:role in [web]",
        "attribute:a exists or attribute:b exists",
        "runningTasksCount > 1",
        "attribute:role ==",
        "and",
        "attribute:x exists and",
        "attribute:bad$name exists",
        "agentConnected == maybe",
        "not attribute:x exists",
        "ec2InstanceId in []",
        "ec2InstanceId in [mi-1",
        "ec2InstanceId in mi-1",
        "ec2InstanceId in ['mi-1' 'mi-2']",
    ],
)
def test_unsupported_filters_are_rejected(ecs, cluster, expression):
    with pytest.raises(ClientError) as excinfo:
        ecs.list_container_instances(cluster=cluster, filter=expression)
    assert error_code(excinfo) == "InvalidParameterException"


def test_list_container_instances_errors_and_paging(ssm, endpoint, ecs, cluster):
    with pytest.raises(ClientError) as excinfo:
        ecs.list_container_instances(cluster="missing")
    assert error_code(excinfo) == "ClusterNotFoundException"
    arns = sorted(
        _external(ssm, endpoint, cluster, [{"name": "n", "value": str(i)}])["containerInstanceArn"] for i in range(5)
    )
    pages = list(
        ecs.get_paginator("list_container_instances").paginate(cluster=cluster, PaginationConfig={"PageSize": 2})
    )
    assert [len(p["containerInstanceArns"]) for p in pages] == [2, 2, 1]
    assert [a for p in pages for a in p["containerInstanceArns"]] == arns
    raw = boto3.client("ecs", endpoint_url=endpoint, config=Config(parameter_validation=False))
    for kwargs in ({"maxResults": 0}, {"maxResults": 101}, {"nextToken": "bogus"}, {"status": "SLEEPING"}):
        with pytest.raises(ClientError) as excinfo:
            raw.list_container_instances(cluster=cluster, **kwargs)
        assert error_code(excinfo) == "InvalidParameterException", kwargs


def test_describe_tags_only_with_include(ecs, host, cluster):
    arn = host[2]["containerInstanceArn"]
    plain = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]
    assert "tags" not in plain
    tagged = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn], include=["TAGS"])
    assert tagged["containerInstances"][0]["tags"] == [{"key": "owner", "value": "ops"}]
    missing = ecs.describe_container_instances(cluster=cluster, containerInstances=["0000-missing"])
    assert missing["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:123456789012:container-instance/{cluster}/0000-missing", "reason": "MISSING"}
    ]
    with pytest.raises(ClientError) as excinfo:
        ecs.describe_container_instances(cluster=cluster, containerInstances=[arn] * 101)
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.describe_container_instances(cluster="missing", containerInstances=[arn])
    assert error_code(excinfo) == "ClusterNotFoundException"


def test_container_instance_tagging(ecs, host):
    arn = host[2]["containerInstanceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "prod"}, {"key": "owner", "value": "sre"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "owner", "value": "sre"}]
    with pytest.raises(ClientError) as excinfo:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "aws:owner", "value": "v"}])
    assert error_code(excinfo) == "InvalidParameterException"
    unknown = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    for call in (
        lambda: ecs.list_tags_for_resource(resourceArn=unknown),
        lambda: ecs.tag_resource(resourceArn=unknown, tags=[{"key": "a", "value": "b"}]),
        lambda: ecs.untag_resource(resourceArn=unknown, tagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_tags_for_resource(resourceArn="arn:aws:ecs:us-east-1:123456789012:container-instance/")
    assert error_code(excinfo) == "ClientException"
    with pytest.raises(ClientError) as excinfo:  # moto's NotImplementedError for other types must not be a 500
        ecs.list_tags_for_resource(resourceArn="arn:aws:ecs:us-east-1:123456789012:widget/x")
    assert error_code(excinfo) == "InvalidParameterException"


def test_attribute_fixes(ecs, host, cluster):
    arn = host[2]["containerInstanceArn"]
    # ARN together with targetType is accepted (moto rejected it).
    ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {"name": "zone", "value": "a", "targetType": "container-instance", "targetId": arn},
            {"name": "flag", "targetId": arn.rsplit("/", 1)[1]},
        ],
    )
    # ListAttributes by name only (moto returned nothing).
    by_name = ecs.list_attributes(cluster=cluster, targetType="container-instance", attributeName="zone")["attributes"]
    assert by_name == [{"name": "zone", "value": "a", "targetType": "container-instance", "targetId": arn}]
    assert (
        ecs.list_attributes(cluster=cluster, targetType="container-instance", attributeName="zone", attributeValue="b")[
            "attributes"
        ]
        == []
    )
    # DeleteAttributes by name without repeating the value (moto silently kept it).
    ecs.delete_attributes(cluster=cluster, attributes=[{"name": "zone", "targetId": arn}])
    assert (
        ecs.list_attributes(cluster=cluster, targetType="container-instance", attributeName="zone")["attributes"] == []
    )
    names = {a["name"] for a in ecs.list_attributes(cluster=cluster, targetType="container-instance")["attributes"]}
    assert "flag" in names and "ecs.capability.external" in names


def test_attribute_limits_and_validation(ecs, endpoint, host, cluster):
    arn = host[2]["containerInstanceArn"]  # already carries one custom attribute ("role")
    ecs.put_attributes(cluster=cluster, attributes=[{"name": f"c{i}", "value": "v", "targetId": arn} for i in range(9)])
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "eleventh", "value": "v", "targetId": arn}])
    assert error_code(excinfo) == "AttributeLimitExceededException"
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": f"n{i}", "targetId": arn} for i in range(11)])
    assert error_code(excinfo) == "AttributeLimitExceededException"
    for attr in (
        {"name": "x" * 129, "targetId": arn},
        {"name": "bad name", "targetId": arn},
        {"name": "ok", "value": "trailing ", "targetId": arn},
        {"name": "ok", "value": "semi;colon", "targetId": arn},
        {"name": "ok", "value": "v" * 129, "targetId": arn},
        {"name": "ok", "targetType": "task", "targetId": arn},
    ):
        with pytest.raises(ClientError) as excinfo:
            ecs.put_attributes(cluster=cluster, attributes=[attr])
        assert error_code(excinfo) == "InvalidParameterException", attr
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "ok", "targetId": "not-there"}])
    assert error_code(excinfo) == "TargetNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_attributes(cluster=cluster, targetType="container-instance", attributeValue="v")
    assert error_code(excinfo) == "InvalidParameterException"
    status, payload = raw_call(endpoint, "ecs", "ListAttributes", {"cluster": cluster, "targetType": "cluster"})
    assert (status, payload["__type"]) == (400, "InvalidParameterException")
    # Built-in ecs.* attributes don't count against the custom limit.
    ecs.put_attributes(cluster=cluster, attributes=[{"name": "ecs.extra", "value": "v", "targetId": arn}])


def test_drain_and_deregister(ecs, host, cluster, cli):
    arn = host[2]["containerInstanceArn"]
    result = ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[arn, "missing-id"], status="DRAINING"
    )
    assert result["containerInstances"][0]["status"] == "DRAINING"
    assert result["failures"][0]["reason"] == "MISSING"
    assert ecs.list_container_instances(cluster=cluster, status="DRAINING")["containerInstanceArns"] == [arn]
    with pytest.raises(ClientError) as excinfo:
        ecs.update_container_instances_state(cluster=cluster, containerInstances=[arn] * 11, status="DRAINING")
    assert error_code(excinfo) == "InvalidParameterException"

    gone = ecs.deregister_container_instance(cluster=cluster, containerInstance=arn)["containerInstance"]
    assert gone["status"] == "INACTIVE" and gone["agentConnected"] is False
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["registeredContainerInstancesCount"] == 0
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
    assert described[0]["status"] == "INACTIVE"
    back = ecs.update_container_instances_state(cluster=cluster, containerInstances=[arn], status="ACTIVE")
    assert back["failures"][0]["reason"] == "INACTIVE"
    with pytest.raises(ClientError) as excinfo:
        ecs.deregister_container_instance(cluster=cluster, containerInstance=arn)
    assert error_code(excinfo) == "InvalidParameterException"
    rc, err = cli("ecs", "deregister-container-instance", "--cluster", cluster, "--container-instance", "nope")
    assert rc != 0 and "InvalidParameterException" in err


def test_agent_connected_follows_discover_poll_endpoint(ecs, endpoint, host, cluster, emulator):
    _, creds, ci = host
    arn = ci["containerInstanceArn"]

    def connected() -> bool:
        return ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0][
            "agentConnected"
        ]

    emulator.advance(91)
    assert connected() is False
    answer = ap.discover_poll_endpoint(endpoint, creds, cluster, arn)
    assert answer["endpoint"] == endpoint + "/" and answer["telemetryEndpoint"] == endpoint + "/"
    assert connected() is True
    assert ecs.list_container_instances(cluster=cluster, filter="agentConnected == true")["containerInstanceArns"] == [
        arn
    ]
    emulator.ok("POST", "/_emu/settings", {"agent_timeout_seconds": 10})
    emulator.advance(11)
    assert connected() is False
    with pytest.raises(ClientError) as excinfo:
        ap.discover_poll_endpoint(endpoint, creds, cluster, "00000000-unknown")
    assert error_code(excinfo) == "ClientException"
    with pytest.raises(ClientError) as excinfo:
        ap.discover_poll_endpoint(endpoint, creds, "missing", arn)
    assert error_code(excinfo) == "ClusterNotFoundException"


def test_bad_ecs_bodies_never_500(endpoint, cluster):
    for action in (
        "RegisterContainerInstance",
        "DeregisterContainerInstance",
        "ListContainerInstances",
        "DescribeContainerInstances",
        "UpdateContainerInstancesState",
        "PutAttributes",
        "DeleteAttributes",
        "ListAttributes",
        "DiscoverPollEndpoint",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        "NoSuchAction",
    ):
        for body in (
            b"[]",
            b"{{",
            {"cluster": 5},
            {
                "cluster": cluster,
                "attributes": "x",
                "tags": [1],
                "containerInstances": "x",
                "filter": 3,
                "resourceArn": 9,
                "maxResults": "x",
                "instanceIdentityDocument": "{bad json",
            },
        ):
            status, payload = raw_call(endpoint, "ecs", action, body)
            assert status < 500, (action, body, payload)
            assert status == 200 or payload["__type"], payload
