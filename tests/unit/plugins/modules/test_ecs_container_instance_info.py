# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecs_container_instance_info: paging, batching and error mapping, with botocore's Stubber."""

from __future__ import annotations

import json
from unittest import mock

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ecs_container_instance_info

CLUSTER = "edge"
PREFIX = f"arn:aws:ecs:us-east-1:123456789012:container-instance/{CLUSTER}/"


def arn(i):
    return f"{PREFIX}{i:032x}"


def described(i, tags=False):
    item = {
        "containerInstanceArn": arn(i),
        "ec2InstanceId": f"mi-{i:017x}",
        "status": "ACTIVE",
        "agentConnected": True,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "attributes": [{"name": "ecs.capability.external"}, {"name": "site", "value": "lyon"}],
    }
    if tags:
        item["tags"] = [{"key": "n", "value": str(i)}]
    return item


@pytest.fixture
def stubbed():
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stub = Stubber(client)
    stub.activate()
    yield client, stub
    stub.assert_no_pending_responses()


def run(client, capsys, **args):
    args.setdefault("cluster", CLUSTER)
    args.setdefault("region", "us-east-1")

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert retry_decorator is not None
        return RetryingBotoClientWrapper(client, retry_decorator)

    with patch_module_args(args), mock.patch.object(AnsibleAWSModule, "client", fake_client):
        with pytest.raises(SystemExit):
            ecs_container_instance_info.main()
    return json.loads(capsys.readouterr().out)


def queue_cluster(stub, found=True):
    body = (
        {"clusters": [{"clusterName": CLUSTER, "status": "ACTIVE"}], "failures": []}
        if found
        else {"clusters": [], "failures": [{"arn": CLUSTER, "reason": "MISSING"}]}
    )
    stub.add_response("describe_clusters", body, {"clusters": [CLUSTER]})


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_pages_and_batches_are_bounded(stubbed, capsys, count):
    client, stub = stubbed
    queue_cluster(stub)
    pages = [list(range(start, min(start + 100, count))) for start in range(0, count, 100)] or [[]]
    for number, page in enumerate(pages):
        params = {
            "cluster": CLUSTER,
            "maxResults": 100,
            "filter": "attribute:ecs.capability.external exists",
            "status": "ACTIVE",
        }
        if number:
            params["nextToken"] = f"token{number}"
        body = {"containerInstanceArns": [arn(i) for i in page]}
        if number + 1 < len(pages):
            body["nextToken"] = f"token{number + 1}"
        stub.add_response("list_container_instances", body, params)
        if page:
            # ECS does not promise order; the module restores the listing order.
            stub.add_response(
                "describe_container_instances",
                {"containerInstances": [described(i, tags=True) for i in reversed(page)], "failures": []},
                {"cluster": CLUSTER, "containerInstances": [arn(i) for i in page], "include": ["TAGS"]},
            )
    result = run(client, capsys, filter="attribute:ecs.capability.external exists", status="ACTIVE", include_tags=True)
    assert result["changed"] is False
    instances = result["container_instances"]
    assert [c["container_instance_arn"] for c in instances] == [arn(i) for i in range(count)]
    if count:
        assert instances[0]["attributes"] == {"site": "lyon"}
        assert instances[0]["tags"] == {"n": "0"}
        assert instances[-1]["ec2_instance_id"] == f"mi-{count - 1:017x}"


def test_without_include_tags_no_include_is_sent(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    stub.add_response(
        "list_container_instances", {"containerInstanceArns": [arn(1)]}, {"cluster": CLUSTER, "maxResults": 100}
    )
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [described(1)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [arn(1)]},
    )
    result = run(client, capsys)
    assert result["container_instances"][0]["tags"] == {}


def test_unknown_cluster(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub, found=False)
    result = run(client, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("Unable to find ECS cluster edge")


def test_bad_filter_names_the_parameter(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    stub.add_client_error("list_container_instances", "InvalidParameterException", "bad expression", 400)
    result = run(client, capsys, filter="((((")
    assert result["failed"] is True
    assert "filter parameter" in result["msg"] and "((((" in result["msg"]


def test_throttled_page_is_retried_alone(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    stub.add_response(
        "list_container_instances",
        {"containerInstanceArns": [arn(0)], "nextToken": "t1"},
        {"cluster": CLUSTER, "maxResults": 100},
    )
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [described(0)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [arn(0)]},
    )
    stub.add_client_error("list_container_instances", "ThrottlingException", "slow down", 400)
    stub.add_response(
        "list_container_instances",
        {"containerInstanceArns": [arn(1)]},
        {"cluster": CLUSTER, "maxResults": 100, "nextToken": "t1"},
    )
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [described(1)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [arn(1)]},
    )
    with mock.patch("time.sleep"):
        result = run(client, capsys)
    assert [c["container_instance_arn"] for c in result["container_instances"]] == [arn(0), arn(1)]


def queue_list(stub, ids, found):
    """One List call for the filter of `ids`, answering the ARNs of those in `found`."""
    expression = "ec2InstanceId in [" + ", ".join(f"'mi-{i:017x}'" for i in ids) + "]"
    stub.add_response(
        "list_container_instances",
        {"containerInstanceArns": [arn(i) for i in found]},
        {"cluster": CLUSTER, "maxResults": 100, "filter": expression},
    )


def queue_describe(stub, found):
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [described(i, tags=True) for i in reversed(found)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [arn(i) for i in found], "include": ["TAGS"]},
    )


def test_managed_instance_ids_are_listed_twenty_and_described_hundred_per_call(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    # 125 hosts of a batch, of which the last 5 have not registered a container instance (yet).
    for start in range(0, 125, 20):
        queue_list(stub, range(start, min(start + 20, 125)), range(start, min(start + 20, 120)))
    queue_describe(stub, list(range(100)))
    queue_describe(stub, list(range(100, 120)))
    ids = [f"mi-{i:017x}" for i in range(125)]
    result = run(client, capsys, managed_instance_ids=ids + ids[:3], include_tags=True)
    assert [c["ec2_instance_id"] for c in result["container_instances"]] == ids[:120]
    assert result["container_instances"][7]["tags"] == {"n": "7"}


def test_managed_instance_ids_drops_what_the_filter_let_through(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    # A service that ignored the filter would answer with every instance of the cluster.
    stub.add_response(
        "list_container_instances",
        {"containerInstanceArns": [arn(1), arn(2)]},
        {"cluster": CLUSTER, "maxResults": 100, "filter": f"ec2InstanceId in ['mi-{1:017x}']"},
    )
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [described(1), described(2)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [arn(1), arn(2)]},
    )
    result = run(client, capsys, managed_instance_ids=[f"mi-{1:017x}"])
    assert [c["container_instance_arn"] for c in result["container_instances"]] == [arn(1)]


def test_no_managed_instance_ids_lists_nothing(stubbed, capsys):
    client, stub = stubbed
    queue_cluster(stub)
    result = run(client, capsys, managed_instance_ids=[])
    assert result["container_instances"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"managed_instance_ids": ["i-0123"]}, "managed_instance_ids: 'i-0123' is not a managed instance id"),
        ({"managed_instance_ids": ["mi-0123456789abcdef0"], "filter": "x"}, "mutually exclusive"),
    ],
)
def test_bad_managed_instance_ids_fail_before_any_call(stubbed, capsys, args, message):
    client, dummy = stubbed
    result = run(client, capsys, **args)
    assert result["failed"] is True
    assert message in result["msg"]
