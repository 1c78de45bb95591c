# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssm_managed_instance and ssm_managed_instance_info decisions, against a botocore Stubber.

The Stubber fails on any call that was not queued, so "no write happened" is checked by simply not
queueing the write.
"""

from __future__ import annotations

import datetime
from unittest import mock

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import common
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ssm_managed_instance
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ssm_managed_instance_info

MI = "mi-0123456789abcdef0"
WHEN = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


def info(instance_id=MI, **extra):
    return {
        "InstanceId": instance_id,
        "PingStatus": "Online",
        "LastPingDateTime": WHEN,
        "AgentVersion": "3.3.0.0",
        "PlatformType": "Linux",
        "PlatformName": "Debian GNU/Linux",
        "PlatformVersion": "12",
        "ActivationId": "4b3a1c7e-6f5d-4b5a-9f6e-0c1d2e3f4a5b",
        "IamRole": "ECSAnywhereRole",
        "RegistrationDate": WHEN,
        "ResourceType": "ManagedInstance",
        "Name": "edge",
        "IPAddress": "172.29.0.2",
        "ComputerName": "host-1",
        **extra,
    }


@pytest.fixture
def stub(aws_env, monkeypatch):
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)
    raw = boto3.client("ssm", region_name="us-east-1")
    wrapper = RetryingBotoClientWrapper(raw, common.retry_decorator())
    with Stubber(raw) as stubber, mock.patch.object(FleetAWSModule, "retrying_client", return_value=wrapper):
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def no_aws(aws_env):
    with mock.patch.object(FleetAWSModule, "retrying_client", side_effect=AssertionError("AWS was called")) as client:
        yield client
    client.assert_not_called()


def expect_describe(stub, instances, instance_id=MI):
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": instances},
        {"Filters": [{"Key": "InstanceIds", "Values": [instance_id]}], "MaxResults": 50},
    )


def expect_tags(stub, tags, instance_id=MI):
    stub.add_response(
        "list_tags_for_resource",
        {"TagList": [{"Key": k, "Value": v} for k, v in tags.items()]},
        {"ResourceType": "ManagedInstance", "ResourceId": instance_id},
    )


# ---------------------------------------------------------------------------
# ssm_managed_instance
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["mi-123", "i-0123456789abcdef0", "mi-0123456789ABCDEF0", "mi-0123456789abcdef0 "])
def test_malformed_id_fails_before_any_call(no_aws, run_module, bad):
    result = run_module(ssm_managed_instance, {"instance_id": bad, "tags": {"a": "b"}})
    assert result["failed"]
    assert result["msg"].startswith(f"instance_id={bad!r} is not a managed instance id")
    assert "mi- followed by 17" in result["msg"]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"aws:x": "y"}, "reserved aws: prefix"),
        ({f"k{i}": "v" for i in range(51)}, "has 51 tags but SSM allows at most 50"),
        ({"k" * 129: "v"}, "1 to 128 characters"),
        ({"k": "v" * 257}, "at most 256"),
    ],
)
def test_bad_tags_fail_before_any_call(no_aws, run_module, tags, message):
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": tags})
    assert result["failed"] and result["msg"].startswith("tags ") and message in result["msg"]


def test_present_on_missing_instance_names_it(stub, run_module):
    expect_describe(stub, [])
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": {"a": "b"}})
    assert result["failed"]
    assert f"Managed instance {MI} is not registered" in result["msg"]


def test_tags_are_purged_and_set(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {"keep": "1", "old": "x", "change": "a", "aws:ssm:managed": "y"})
    stub.add_response(
        "remove_tags_from_resource",
        {},
        {"ResourceType": "ManagedInstance", "ResourceId": MI, "TagKeys": ["old"]},
    )
    stub.add_response(
        "add_tags_to_resource",
        {},
        {
            "ResourceType": "ManagedInstance",
            "ResourceId": MI,
            "Tags": [{"Key": "change", "Value": "b"}, {"Key": "new", "Value": "2"}],
        },
    )
    expect_tags(stub, {"keep": "1", "change": "b", "new": "2", "aws:ssm:managed": "y"})
    result = run_module(
        ssm_managed_instance, {"instance_id": MI, "tags": {"keep": "1", "change": "b", "new": 2}}, diff=True
    )
    assert result["changed"]
    assert result["removed_tags"] == {"old": "x"}
    assert result["added_tags"] == {"change": "b", "new": "2"}
    assert result["diff"]["before"]["tags"]["old"] == "x"
    assert result["diff"]["after"]["tags"] == {"keep": "1", "change": "b", "new": "2", "aws:ssm:managed": "y"}
    instance = result["managed_instance"]
    assert instance["instance_id"] == MI and instance["ip_address"] == "172.29.0.2"
    assert instance["ping_status"] == "Online" and instance["last_ping_date_time"] == "2026-11-26T12:00:00+00:00"
    assert instance["tags"]["new"] == "2"


def test_purge_false_only_adds(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {"keep": "1"})
    stub.add_response(
        "add_tags_to_resource",
        {},
        {"ResourceType": "ManagedInstance", "ResourceId": MI, "Tags": [{"Key": "new", "Value": "v"}]},
    )
    expect_tags(stub, {"keep": "1", "new": "v"})
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": {"new": "v"}, "purge_tags": False})
    assert result["changed"] and "removed_tags" not in result


@pytest.mark.parametrize(
    "args",
    [
        {"tags": {"a": "1", "b": ""}},
        {"tags": {"a": 1, "b": None}},
        {"tags": {"a": "1"}, "purge_tags": False},
        {},
    ],
)
def test_unchanged_tags_make_no_write(stub, run_module, args):
    expect_describe(stub, [info()])
    expect_tags(stub, {"a": "1", "b": ""})
    result = run_module(ssm_managed_instance, dict(args, instance_id=MI))
    assert not result["changed"], result
    assert result["managed_instance"]["tags"] == {"a": "1", "b": ""}


def test_check_mode_predicts_tags_without_writing(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {"a": "1", "b": "2"})
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": {"a": "9"}}, check_mode=True, diff=True)
    assert result["changed"]
    assert result["managed_instance"]["tags"] == {"a": "9"}
    assert result["diff"] == {"before": {"tags": {"a": "1", "b": "2"}}, "after": {"tags": {"a": "9"}}}


def test_too_many_tags_after_merge_fails_before_writing(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {f"old{i}": "v" for i in range(45)})
    result = run_module(
        ssm_managed_instance, {"instance_id": MI, "tags": {f"new{i}": "v" for i in range(6)}, "purge_tags": False}
    )
    assert result["failed"] and "51 tags" in result["msg"] and MI in result["msg"]


def test_write_error_is_mapped(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {})
    stub.add_client_error("add_tags_to_resource", service_error_code="AccessDeniedException", http_status_code=400)
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": {"c": "d"}})
    assert result["failed"]
    assert result["msg"].startswith(f"Unable to add tags ['c'] to managed instance {MI}")
    assert result["error"]["code"] == "AccessDeniedException"


def test_throttled_calls_are_retried(stub, run_module):
    stub.add_client_error("describe_instance_information", service_error_code="ThrottlingException")
    expect_describe(stub, [info()])
    stub.add_client_error("list_tags_for_resource", service_error_code="TooManyUpdates")
    expect_tags(stub, {"a": "1"})
    result = run_module(ssm_managed_instance, {"instance_id": MI, "tags": {"a": "1"}})
    assert not result.get("failed") and not result["changed"]


def test_absent_deregisters(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {"a": "1"})
    stub.add_response("deregister_managed_instance", {}, {"InstanceId": MI})
    result = run_module(ssm_managed_instance, {"instance_id": MI, "state": "absent"}, diff=True)
    assert result["changed"] and result["managed_instance"] == {}
    assert result["diff"]["before"]["instance_id"] == MI and result["diff"]["after"] == {}


def test_absent_check_mode_does_not_deregister(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {})
    result = run_module(ssm_managed_instance, {"instance_id": MI, "state": "absent"}, check_mode=True)
    assert result["changed"]


def test_absent_on_unknown_instance_is_unchanged(stub, run_module):
    expect_describe(stub, [])
    result = run_module(ssm_managed_instance, {"instance_id": MI, "state": "absent"})
    assert not result["changed"] and not result.get("failed")


def test_absent_racing_deregistration_is_unchanged(stub, run_module):
    expect_describe(stub, [info()])
    expect_tags(stub, {})
    stub.add_client_error("deregister_managed_instance", service_error_code="InvalidInstanceId")
    result = run_module(ssm_managed_instance, {"instance_id": MI, "state": "absent"})
    assert not result["changed"] and not result.get("failed")


def test_describe_invalid_instance_id_means_missing(stub, run_module):
    stub.add_client_error("describe_instance_information", service_error_code="InvalidInstanceId")
    result = run_module(ssm_managed_instance, {"instance_id": MI, "state": "absent"})
    assert not result["changed"] and not result.get("failed")


# ---------------------------------------------------------------------------
# ssm_managed_instance_info
# ---------------------------------------------------------------------------

HYBRID = {"Key": "ResourceType", "Values": ["ManagedInstance"]}


def mi(n):
    return f"mi-{n:017x}"


def test_info_pages_50_at_a_time_without_tag_calls(stub, run_module):
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [info(mi(i)) for i in range(50)], "NextToken": "t"},
        {"Filters": [HYBRID], "MaxResults": 50},
    )
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [info(mi(i)) for i in range(50, 60)]},
        {"Filters": [HYBRID], "MaxResults": 50, "NextToken": "t"},
    )
    result = run_module(ssm_managed_instance_info, {})
    assert not result["changed"]
    assert [i["instance_id"] for i in result["managed_instances"]] == [mi(i) for i in range(60)]
    first = result["managed_instances"][0]
    assert "tags" not in first
    for key in (
        "ping_status",
        "agent_version",
        "platform_type",
        "platform_name",
        "platform_version",
        "ip_address",
        "computer_name",
        "registration_date",
        "activation_id",
        "name",
        "last_ping_date_time",
        "iam_role",
    ):
        assert key in first, key


def test_info_sends_filters(stub, run_module):
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [info()]},
        {
            "Filters": [
                HYBRID,
                {"Key": "PingStatus", "Values": ["ConnectionLost"]},
                {"Key": "tag:env", "Values": ["prod"]},
                {"Key": "tag:n", "Values": ["3"]},
                {"Key": "InstanceIds", "Values": [MI]},
                {"Key": "ActivationIds", "Values": ["act"]},
            ],
            "MaxResults": 50,
        },
    )
    result = run_module(
        ssm_managed_instance_info,
        {
            "instance_ids": [MI, MI],
            "activation_ids": ["act"],
            "ping_status": "ConnectionLost",
            "tags": {"env": "prod", "n": 3},
        },
    )
    assert [i["instance_id"] for i in result["managed_instances"]] == [MI]


def test_info_chunks_more_than_100_ids(stub, run_module):
    ids = [mi(i) for i in range(150)]
    for chunk in (ids[:100], ids[100:]):
        stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [info(i) for i in chunk[:2]]},
            {"Filters": [HYBRID, {"Key": "InstanceIds", "Values": chunk}], "MaxResults": 50},
        )
    result = run_module(ssm_managed_instance_info, {"instance_ids": ids})
    assert [i["instance_id"] for i in result["managed_instances"]] == [mi(0), mi(1), mi(100), mi(101)]


def test_info_name_is_matched_client_side(stub, run_module):
    stub.add_response(
        "describe_instance_information",
        {
            "InstanceInformationList": [
                info(mi(1), Name="edge-01", ComputerName="a"),
                info(mi(2), Name="core", ComputerName="edge-02.local"),
                info(mi(3), Name="core", ComputerName="x"),
                {"InstanceId": mi(4)},
            ]
        },
        {"Filters": [HYBRID], "MaxResults": 50},
    )
    result = run_module(ssm_managed_instance_info, {"name": "edge-0*"})
    assert [i["instance_id"] for i in result["managed_instances"]] == [mi(1), mi(2)]


def test_info_include_tags_costs_one_call_per_instance(stub, run_module):
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [info(mi(1)), info(mi(2))]},
        {"Filters": [HYBRID], "MaxResults": 50},
    )
    expect_tags(stub, {"a": "1"}, mi(1))
    stub.add_client_error("list_tags_for_resource", service_error_code="InvalidResourceId")  # gone meanwhile
    result = run_module(ssm_managed_instance_info, {"include_tags": True})
    assert result["managed_instances"] == [
        dict(result["managed_instances"][0], instance_id=mi(1), tags={"a": "1"}),
    ]


def test_info_rejects_malformed_ids_before_any_call(no_aws, run_module):
    result = run_module(ssm_managed_instance_info, {"instance_ids": [MI, "mi-nope"]})
    assert result["failed"] and result["msg"].startswith("instance_ids='mi-nope' is not a managed instance id")


def test_info_empty_id_list_selects_nothing(no_aws, run_module):
    assert run_module(ssm_managed_instance_info, {"instance_ids": []})["managed_instances"] == []


def test_info_error_is_mapped(stub, run_module):
    stub.add_client_error("describe_instance_information", service_error_code="InvalidFilterKey")
    result = run_module(ssm_managed_instance_info, {"tags": {"a": "b"}})
    assert result["failed"] and result["msg"].startswith("Unable to describe managed instances")
