# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/ecs.py: validation rules, batching against the API limits, and the polling helper."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import ecs

ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/edge/{:032x}"


@pytest.fixture
def stubbed():
    raw = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stub = Stubber(raw)
    stub.activate()
    yield RetryingBotoClientWrapper(raw, AWSRetry.jittered_backoff(retries=2, delay=0)), stub
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "mi, ok",
    [
        ("mi-0123456789abcdef0", True),
        ("mi-0123456789abcdef", False),
        ("mi-0123456789abcdef01", False),
        ("mi-0123456789abcdeg0", False),
        ("i-0123456789abcdef0", False),
        (None, True),
    ],
)
def test_managed_instance_id(mi, ok):
    assert (ecs.validate_managed_instance_id(mi) is None) is ok


@pytest.mark.parametrize(
    "attributes, errors",
    [
        ({"a": "b"}, 0),
        ({"a" * 128: "b" * 128}, 0),
        ({"valueless": None}, 0),
        ({"a" * 129: "b"}, 1),
        ({"a": "b" * 129}, 1),
        ({"sp ace": "v"}, 1),
        ({"a": "tab\there"}, 1),
        ({"a": "x", "ecs.custom": "y"}, 1),
        ({f"n{i}": "v" for i in range(10)}, 0),
        ({f"n{i}": "v" for i in range(11)}, 1),
    ],
)
def test_validate_attributes(attributes, errors):
    assert len(ecs.validate_attributes(attributes)) == errors


@pytest.mark.parametrize(
    "tags, errors",
    [
        ({}, 0),
        ({f"k{i}": "v" for i in range(50)}, 0),
        ({f"k{i}": "v" for i in range(51)}, 1),
        ({"AWS:x": "v"}, 1),
        ({"k" * 128: "v" * 256}, 0),
        ({"": "v"}, 1),
        ({"k": "v" * 257}, 1),
    ],
)
def test_validate_tags(tags, errors):
    assert len(ecs.validate_tags(tags)) == errors


def test_describe_batches_of_100(stubbed):
    client, stub = stubbed
    arns = [ARN.format(i) for i in range(250)]
    for start in (0, 100, 200):
        batch = arns[start : start + 100]
        stub.add_response(
            "describe_container_instances",
            {"containerInstances": [{"containerInstanceArn": a} for a in batch], "failures": []},
            {"cluster": "edge", "containerInstances": batch},
        )
    instances, failures = ecs.describe_container_instances(client, "edge", arns)
    assert len(instances) == 250 and failures == []


def test_update_state_batches_of_10(stubbed):
    client, stub = stubbed
    arns = [ARN.format(i) for i in range(25)]
    for start in (0, 10, 20):
        batch = arns[start : start + 10]
        stub.add_response(
            "update_container_instances_state",
            {"containerInstances": [], "failures": []},
            {"cluster": "edge", "containerInstances": batch, "status": "DRAINING"},
        )
    ecs.update_container_instances_state(client, "edge", arns, "DRAINING")


def test_put_and_delete_attributes_batches_of_10(stubbed):
    client, stub = stubbed
    names = {f"n{i:02d}": "v" for i in range(12)}
    arn = ARN.format(1)
    ordered = sorted(names)
    stub.add_response(
        "put_attributes",
        {"attributes": []},
        {"cluster": "edge", "attributes": [{"name": n, "value": "v", "targetId": arn} for n in ordered[:10]]},
    )
    stub.add_response(
        "put_attributes",
        {"attributes": []},
        {"cluster": "edge", "attributes": [{"name": n, "value": "v", "targetId": arn} for n in ordered[10:]]},
    )
    stub.add_response(
        "delete_attributes", {"attributes": []}, {"cluster": "edge", "attributes": [{"name": "n00", "targetId": arn}]}
    )
    ecs.put_attributes(client, "edge", arn, names)
    ecs.delete_attributes(client, "edge", arn, ["n00"])


def test_cluster_not_found_from_list_maps_to_clear_message(stubbed):
    client, stub = stubbed
    stub.add_client_error("list_container_instances", "ClusterNotFoundException", "Cluster not found.", 400)
    with pytest.raises(ecs.ClusterNotFound) as e:
        list(ecs.list_container_instance_arns(client, "ghost"))
    assert e.value.message == "Unable to find ECS cluster ghost: check the cluster parameter"


def test_inactive_cluster_is_not_found(stubbed):
    client, stub = stubbed
    stub.add_response(
        "describe_clusters", {"clusters": [{"clusterName": "old", "status": "INACTIVE"}]}, {"clusters": ["old"]}
    )
    with pytest.raises(ecs.ClusterNotFound):
        ecs.describe_cluster(client, "old")


def test_describe_failure_other_than_missing_raises(stubbed):
    client, stub = stubbed
    stub.add_response(
        "describe_container_instances",
        {"containerInstances": [], "failures": [{"arn": "x", "reason": "ACCESS_DENIED"}]},
        {"cluster": "edge", "containerInstances": ["x"], "include": ["TAGS"]},
    )
    with pytest.raises(ecs.AnsibleECSError, match="ACCESS_DENIED"):
        ecs.describe_container_instance(client, "edge", "x")


def test_normalize_keeps_custom_attributes_dict_and_raw_list():
    result = ecs.normalize_container_instance(
        {
            "containerInstanceArn": "a",
            "agentConnected": True,
            "attributes": [{"name": "ecs.os-type", "value": "linux"}, {"name": "site", "value": "lyon"}, {"name": "f"}],
            "tags": [{"key": "k", "value": "v"}],
            "versionInfo": {"agentVersion": "1"},
        }
    )
    assert result["attributes"] == {"site": "lyon", "f": None}
    assert result["raw_attributes"][0] == {"name": "ecs.os-type", "value": "linux"}
    assert result["tags"] == {"k": "v"}
    assert result["version_info"] == {"agent_version": "1"}
    assert result["agent_connected"] is True


def test_agent_capability_attributes_are_not_custom():
    """A real registration carries dozens of com.amazonaws.ecs.capability.* attributes; they are the agent's."""
    raw = [{"name": f"com.amazonaws.ecs.capability.docker-remote-api.1.{n}"} for n in range(17, 44)]
    raw += [{"name": "ecs.capability.external"}, {"name": "site", "value": "lyon"}]
    result = ecs.normalize_container_instance({"containerInstanceArn": "a", "attributes": raw})
    assert result["attributes"] == {"site": "lyon"}
    assert ecs.validate_attributes({"com.amazonaws.ecs.capability.x": "y"})


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_polls_until_done():
    clock = FakeClock()
    answers = iter([None, None, "done"])
    assert ecs.wait_for(lambda: next(answers), 60, 5, "x", sleep=clock.sleep, clock=lambda: clock.now) == "done"
    assert clock.sleeps == [5, 5]


def test_wait_for_bounds_calls_and_times_out():
    clock = FakeClock()
    calls = []
    with pytest.raises(ecs.AnsibleECSError, match="Timeout after 12 seconds waiting for x"):
        ecs.wait_for(lambda: calls.append(1), 12, 5, "x", sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.sleeps == [5, 5, 2]
    assert len(calls) == 4
