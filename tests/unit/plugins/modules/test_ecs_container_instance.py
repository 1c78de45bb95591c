# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decision and error-mapping tests for ecs_container_instance, with botocore's Stubber.

Stubber is strict: any call that is not queued fails the test, so "no write happened" is proven by queuing none.
"""

from __future__ import annotations

import datetime
import json
from unittest import mock

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import ecs as ecs_utils
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ecs_container_instance

CLUSTER = "edge"
CLUSTER_ARN = f"arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}"
MI = "mi-0123456789abcdef0"
ARN = f"arn:aws:ecs:us-east-1:123456789012:container-instance/{CLUSTER}/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ARN_OLD = f"arn:aws:ecs:us-east-1:123456789012:container-instance/{CLUSTER}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ECS_ATTRS = [{"name": "ecs.capability.external"}, {"name": "ecs.os-type", "value": "linux"}]


def instance(
    *,
    arn=ARN,
    status="ACTIVE",
    attributes=None,
    tags=None,
    running=0,
    pending=0,
    connected=True,
    mi=MI,
    registered=datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
):
    attrs = list(ECS_ATTRS) + [
        {"name": k, "value": v} if v is not None else {"name": k} for k, v in (attributes or {}).items()
    ]
    return {
        "containerInstanceArn": arn,
        "ec2InstanceId": mi,
        "status": status,
        "agentConnected": connected,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "versionInfo": {"agentVersion": "1.89.2", "agentHash": "d9b3d5a4", "dockerVersion": "DockerVersion: 25.0.3"},
        "registeredAt": registered,
        "attributes": attrs,
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }


class Ecs:
    """A stubbed ECS client plus helpers that queue the usual responses."""

    def __init__(self):
        self.client = boto3.client(
            "ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.stub = Stubber(self.client)
        self.stub.activate()

    def cluster(self, found=True):
        if found:
            body = {"clusters": [{"clusterArn": CLUSTER_ARN, "clusterName": CLUSTER, "status": "ACTIVE"}]}
        else:
            body = {
                "clusters": [],
                "failures": [{"arn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}", "reason": "MISSING"}],
            }
        self.stub.add_response("describe_clusters", body, {"clusters": [CLUSTER]})

    def list_by_mi(self, arns, mi=MI):
        self.stub.add_response(
            "list_container_instances",
            {"containerInstanceArns": arns},
            {"cluster": CLUSTER, "maxResults": 100, "filter": f"ec2InstanceId == {mi}"},
        )

    def describe(self, instances, ids=None, failures=None):
        ids = ids if ids is not None else [i["containerInstanceArn"] for i in instances]
        self.stub.add_response(
            "describe_container_instances",
            {"containerInstances": instances, "failures": failures or []},
            {"cluster": CLUSTER, "containerInstances": ids, "include": ["TAGS"]},
        )

    def missing(self, ident):
        self.describe([], ids=[ident], failures=[{"arn": ident, "reason": "MISSING"}])


@pytest.fixture
def ecs():
    e = Ecs()
    yield e
    e.stub.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """Waits and retry backoff poll without sleeping; the clock still advances so deadlines work."""
    clock = {"now": 1000.0}

    def sleep(seconds):
        clock["now"] += seconds

    monkeypatch.setattr(ecs_utils.time, "sleep", sleep)
    monkeypatch.setattr(ecs_utils.time, "monotonic", lambda: clock["now"])
    return clock


def run(ecs, capsys, check_mode=False, diff=False, **args):
    args.setdefault("cluster", CLUSTER)
    args.setdefault("region", "us-east-1")
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "ecs"
        assert retry_decorator is not None, "modules must use retrying_client()"
        return RetryingBotoClientWrapper(ecs.client, retry_decorator)

    with patch_module_args(args), mock.patch.object(AnsibleAWSModule, "client", fake_client):
        with pytest.raises(SystemExit) as exc:
            ecs_container_instance.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exc.value.code
    return result


# -- bad input: rejected before any AWS call ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        ({"managed_instance_id": "mi-123"}, ["managed_instance_id", "17"]),
        ({"managed_instance_id": "i-0123456789abcdef0"}, ["managed_instance_id"]),
        ({"managed_instance_id": "mi-0123456789ABCDEF0"}, ["managed_instance_id"]),
        ({"container_instance": ARN, "tags": {"aws:owner": "x"}}, ["tags", "aws:"]),
        ({"container_instance": ARN, "tags": {f"k{i}": "v" for i in range(51)}}, ["tags", "50"]),
        ({"container_instance": ARN, "tags": {"k" * 129: "v"}}, ["tags", "128"]),
        ({"container_instance": ARN, "tags": {"k": "v" * 257}}, ["tags", "256"]),
        ({"container_instance": ARN, "attributes": {"bad name!": "v"}}, ["attributes", "bad name!"]),
        ({"container_instance": ARN, "attributes": {"n" * 129: "v"}}, ["attributes"]),
        ({"container_instance": ARN, "attributes": {"site": " lyon"}}, ["attributes", "leading"]),
        ({"container_instance": ARN, "attributes": {"site": "lyon "}}, ["attributes", "trailing"]),
        ({"container_instance": ARN, "attributes": {"site": "a" * 129}}, ["attributes"]),
        ({"container_instance": ARN, "attributes": {"site": "x#y"}}, ["attributes", "site"]),
        ({"container_instance": ARN, "attributes": {"site": ""}}, ["attributes", "site"]),
        ({"container_instance": ARN, "attributes": {"ecs.os-type": "linux"}}, ["attributes", "ecs."]),
        ({"container_instance": ARN, "attributes": {f"a{i}": "v" for i in range(11)}}, ["attributes", "10"]),
        ({"container_instance": ARN, "managed_instance_id": MI}, ["container_instance", "managed_instance_id"]),
        ({}, ["container_instance", "managed_instance_id"]),
    ],
)
def test_bad_input_fails_before_any_call(ecs, capsys, args, words):
    result = run(ecs, capsys, **args)
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"], result["msg"]


def test_valid_attribute_values_pass_validation():
    assert ecs_utils.validate_attributes({"a/b.c_d-e": "Lyon 2/rack:12@x\\y", "flag": None}) == []


def test_unknown_cluster_fails_after_describe_clusters_only(ecs, capsys):
    ecs.cluster(found=False)
    result = run(ecs, capsys, managed_instance_id=MI, status="DRAINING", tags={"a": "b"})
    assert result["failed"] is True
    assert result["msg"].startswith(f"Unable to find ECS cluster {CLUSTER}")
    assert "cluster parameter" in result["msg"]


# -- present --------------------------------------------------------------------------------------------------


def test_present_applies_attributes_tags_status_and_returns_snake_case(ecs, capsys):
    before = instance(attributes={"site": "paris", "keep": "me"}, tags={"old": "1", "owner": "x"})
    after = instance(
        status="DRAINING", attributes={"site": "lyon", "keep": "me", "rack": "r12"}, tags={"owner": "platform"}
    )
    ecs.cluster()
    ecs.list_by_mi([ARN])
    ecs.describe([before])
    ecs.stub.add_response(
        "put_attributes",
        {"attributes": []},
        {
            "cluster": CLUSTER,
            "attributes": [
                {"name": "rack", "value": "r12", "targetId": ARN},
                {"name": "site", "value": "lyon", "targetId": ARN},
            ],
        },
    )
    ecs.stub.add_response("untag_resource", {}, {"resourceArn": ARN, "tagKeys": ["old"]})
    ecs.stub.add_response("tag_resource", {}, {"resourceArn": ARN, "tags": [{"key": "owner", "value": "platform"}]})
    ecs.stub.add_response(
        "update_container_instances_state",
        {"containerInstances": [after], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [ARN], "status": "DRAINING"},
    )
    ecs.describe([after], ids=[ARN])

    result = run(
        ecs,
        capsys,
        diff=True,
        managed_instance_id=MI,
        status="DRAINING",
        attributes={"site": "lyon", "rack": "r12"},
        tags={"owner": "platform"},
    )

    assert result["changed"] is True, result
    ci = result["container_instance"]
    assert ci["container_instance_arn"] == ARN
    assert ci["ec2_instance_id"] == MI
    assert ci["status"] == "DRAINING"
    assert ci["agent_connected"] is True
    assert ci["running_tasks_count"] == 0
    assert ci["version_info"]["agent_version"] == "1.89.2"
    assert ci["registered_at"].startswith("2025-01-02T03:04:05")
    assert ci["attributes"] == {"site": "lyon", "keep": "me", "rack": "r12"}
    assert {"name": "ecs.os-type", "value": "linux"} in ci["raw_attributes"]
    assert ci["tags"] == {"owner": "platform"}
    assert result["diff"]["before"] == {
        "status": "ACTIVE",
        "attributes": {"site": "paris", "keep": "me"},
        "tags": {"old": "1", "owner": "x"},
    }
    assert result["diff"]["after"]["status"] == "DRAINING"


def test_present_is_idempotent(ecs, capsys):
    current = instance(status="DRAINING", attributes={"site": "lyon", "flag": None}, tags={"owner": "platform"})
    ecs.cluster()
    ecs.describe([current], ids=[ARN])
    result = run(
        ecs,
        capsys,
        container_instance=ARN,
        status="DRAINING",
        attributes={"site": "lyon", "flag": None},
        tags={"owner": "platform"},
    )
    assert result["changed"] is False
    assert result["container_instance"]["attributes"] == {"site": "lyon", "flag": None}


def test_check_mode_predicts_without_writing(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(tags={"old": "1"})], ids=[ARN])
    result = run(
        ecs,
        capsys,
        check_mode=True,
        container_instance=ARN,
        status="DRAINING",
        attributes={"site": "lyon"},
        tags={"owner": "platform"},
    )
    assert result["changed"] is True
    ci = result["container_instance"]
    assert ci["status"] == "DRAINING"
    assert ci["attributes"] == {"site": "lyon"}
    assert ci["tags"] == {"owner": "platform"}


def test_purge_attributes_never_touches_ecs_namespace(ecs, capsys):
    current = instance(attributes={"site": "lyon", "stale": "x"})
    ecs.cluster()
    ecs.describe([current], ids=[ARN])
    ecs.stub.add_response(
        "delete_attributes",
        {"attributes": []},
        {"cluster": CLUSTER, "attributes": [{"name": "stale", "targetId": ARN}]},
    )
    ecs.describe([instance(attributes={"site": "lyon"})], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, attributes={"site": "lyon"}, purge_attributes=True)
    assert result["changed"] is True
    assert result["container_instance"]["attributes"] == {"site": "lyon"}


def test_without_purge_extra_attributes_and_untouched_tags_stay(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(attributes={"site": "lyon", "stale": "x"}, tags={"a": "1"})], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, attributes={"site": "lyon"})
    assert result["changed"] is False


def test_resulting_attribute_count_over_limit_fails_before_write(ecs, capsys):
    existing = {f"old{i}": "v" for i in range(8)}
    ecs.cluster()
    ecs.describe([instance(attributes=existing)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, attributes={"new1": "v", "new2": "v", "new3": "v"})
    assert result["failed"] is True
    assert "attributes" in result["msg"] and "11 custom attributes" in result["msg"]
    assert "purge_attributes" in result["msg"]


def test_resulting_tag_count_over_limit_fails_before_write(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(tags={f"t{i}": "v" for i in range(45)})], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, tags={f"n{i}": "v" for i in range(10)}, purge_tags=False)
    assert result["failed"] is True
    assert "55 tags" in result["msg"] and "purge_tags" in result["msg"]


def test_purge_tags_keeps_aws_reserved_keys(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(tags={"aws:cloudformation:stack": "s", "owner": "platform"})], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, tags={"owner": "platform"})
    assert result["changed"] is False


@pytest.mark.parametrize("status", ["INACTIVE", "DEREGISTERING", "REGISTERING"])
def test_draining_a_non_active_instance_fails_before_write(ecs, capsys, status):
    ecs.cluster()
    ecs.describe([instance(status=status)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, status="DRAINING")
    assert result["failed"] is True
    assert status in result["msg"] and "DRAINING" in result["msg"]


def test_missing_instance_by_arn_fails_clearly(ecs, capsys):
    ecs.cluster()
    ecs.missing(ARN)
    result = run(ecs, capsys, container_instance=ARN, tags={"a": "b"})
    assert result["failed"] is True
    assert result["msg"] == f"Unable to find container instance {ARN} in ECS cluster {CLUSTER}"


def test_missing_instance_by_mi_without_wait_suggests_wait(ecs, capsys):
    ecs.cluster()
    ecs.list_by_mi([])
    result = run(ecs, capsys, managed_instance_id=MI)
    assert result["failed"] is True
    assert "wait=true" in result["msg"]


def test_update_state_failures_are_reported(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance()], ids=[ARN])
    ecs.stub.add_response(
        "update_container_instances_state",
        {"containerInstances": [], "failures": [{"arn": ARN, "reason": "INVALID_STATE", "detail": "busy"}]},
        {"cluster": CLUSTER, "containerInstances": [ARN], "status": "DRAINING"},
    )
    result = run(ecs, capsys, container_instance=ARN, status="DRAINING")
    assert result["failed"] is True
    assert "Unable to set status DRAINING on container instance" in result["msg"]
    assert "INVALID_STATE" in result["msg"]


def test_duplicate_registrations_manage_newest_and_warn(ecs, capsys):
    old = instance(arn=ARN_OLD, registered=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    new = instance()
    ecs.cluster()
    ecs.list_by_mi([ARN_OLD, ARN])
    ecs.describe([old, new], ids=[ARN_OLD, ARN])
    result = run(ecs, capsys, managed_instance_id=MI)
    assert result["changed"] is False
    assert result["container_instance"]["container_instance_arn"] == ARN
    assert ARN_OLD in json.dumps(result.get("warnings", []))


def test_filter_result_is_rechecked_against_the_mi_id(ecs, capsys):
    ecs.cluster()
    ecs.list_by_mi([ARN])
    ecs.describe([instance(mi="mi-fffffffffffffffff")])
    result = run(ecs, capsys, managed_instance_id=MI)
    assert result["failed"] is True and "Unable to find container instance" in result["msg"]


def test_throttling_is_retried(ecs, capsys):
    ecs.cluster()
    ecs.stub.add_client_error("describe_container_instances", "ThrottlingException", "Rate exceeded", 400)
    ecs.describe([instance()], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN)
    assert result["changed"] is False and "failed" not in result


def test_access_denied_is_mapped_with_resource(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance()], ids=[ARN])
    ecs.stub.add_client_error("tag_resource", "AccessDeniedException", "no", 400)
    result = run(ecs, capsys, container_instance=ARN, tags={"a": "b"})
    assert result["failed"] is True
    assert result["msg"].startswith(f"Unable to tag container instance {ARN}")
    assert result["error"]["code"] == "AccessDeniedException"


# -- waits ----------------------------------------------------------------------------------------------------


def test_wait_for_registration_then_connection(ecs, capsys, no_sleep):
    ecs.cluster()
    ecs.list_by_mi([])  # first lookup
    ecs.list_by_mi([])  # poll 1
    ecs.list_by_mi([ARN])  # poll 2
    ecs.describe([instance(connected=False)])
    ecs.describe([instance(connected=False)], ids=[ARN])
    ecs.describe([instance(connected=True)], ids=[ARN])
    start = no_sleep["now"]
    result = run(ecs, capsys, managed_instance_id=MI, wait=True, wait_delay=3)
    assert result["changed"] is False
    assert result["container_instance"]["agent_connected"] is True
    assert no_sleep["now"] - start == 3 + 3  # one sleep while unregistered, one while disconnected


def test_wait_times_out_with_clear_message(ecs, capsys):
    ecs.cluster()
    for _dummy in range(4):
        ecs.list_by_mi([])
    result = run(ecs, capsys, managed_instance_id=MI, wait=True, wait_timeout=10, wait_delay=5)
    assert result["failed"] is True
    expected = f"Timeout after 10 seconds waiting for container instance {MI} to register in cluster {CLUSTER}"
    assert result["msg"] == expected


def test_drain_waits_until_tasks_are_gone(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(running=2)], ids=[ARN])
    ecs.stub.add_response(
        "update_container_instances_state",
        {"containerInstances": [instance(status="DRAINING", running=2)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [ARN], "status": "DRAINING"},
    )
    ecs.describe([instance(status="DRAINING", running=2)], ids=[ARN])  # refresh after change
    ecs.describe([instance(status="DRAINING", running=1, pending=1)], ids=[ARN])
    ecs.describe([instance(status="DRAINING", running=0, pending=1)], ids=[ARN])
    ecs.describe([instance(status="DRAINING", running=0, pending=0)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, status="DRAINING", wait=True, wait_delay=1)
    assert result["changed"] is True
    assert result["container_instance"]["running_tasks_count"] == 0
    assert result["container_instance"]["pending_tasks_count"] == 0


def test_drain_in_check_mode_does_not_wait(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(running=2)], ids=[ARN])
    result = run(ecs, capsys, check_mode=True, container_instance=ARN, status="DRAINING", wait=True)
    assert result["changed"] is True and result["container_instance"]["status"] == "DRAINING"


# -- absent ---------------------------------------------------------------------------------------------------


def test_absent_with_running_tasks_requires_force(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(running=3)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, state="absent")
    assert result["failed"] is True
    assert "3 running" in result["msg"] and "force=true" in result["msg"]


def test_absent_with_force_deregisters_and_waits(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(running=3)], ids=[ARN])
    ecs.stub.add_response(
        "deregister_container_instance",
        {"containerInstance": instance(status="INACTIVE", running=3, connected=False)},
        {"cluster": CLUSTER, "containerInstance": ARN, "force": True},
    )
    ecs.describe([instance(status="DEREGISTERING", running=3)], ids=[ARN])
    ecs.describe([instance(status="INACTIVE", connected=False)], ids=[ARN])
    ecs.describe([instance(status="INACTIVE", connected=False)], ids=[ARN])
    result = run(ecs, capsys, diff=True, container_instance=ARN, state="absent", force=True, wait=True, wait_delay=1)
    assert result["changed"] is True
    assert result["container_instance"]["status"] == "INACTIVE"
    assert result["diff"]["before"]["status"] == "ACTIVE"


def test_absent_check_mode_does_not_deregister(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance()], ids=[ARN])
    result = run(ecs, capsys, check_mode=True, container_instance=ARN, state="absent")
    assert result["changed"] is True
    assert result["container_instance"]["status"] == "INACTIVE"


@pytest.mark.parametrize("gone", ["missing", "inactive"])
def test_absent_when_already_gone_is_not_changed(ecs, capsys, gone):
    ecs.cluster()
    if gone == "missing":
        ecs.missing(ARN)
    else:
        ecs.describe([instance(status="INACTIVE", connected=False)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, state="absent")
    assert result["changed"] is False
    assert result["container_instance"] == {}


def test_absent_by_mi_deregisters_every_registration(ecs, capsys):
    old = instance(arn=ARN_OLD, registered=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    ecs.cluster()
    ecs.list_by_mi([ARN_OLD, ARN])
    ecs.describe([old, instance()], ids=[ARN_OLD, ARN])
    for arn in (ARN_OLD, ARN):
        ecs.stub.add_response(
            "deregister_container_instance",
            {"containerInstance": instance(arn=arn, status="INACTIVE")},
            {"cluster": CLUSTER, "containerInstance": arn, "force": False},
        )
    result = run(ecs, capsys, managed_instance_id=MI, state="absent")
    assert result["changed"] is True
    assert result["container_instance"]["container_instance_arn"] == ARN


def test_absent_race_with_concurrent_deregistration_is_not_an_error(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance()], ids=[ARN])
    ecs.stub.add_client_error("deregister_container_instance", "InvalidParameterException", "not found", 400)
    ecs.stub.add_response(
        "describe_container_instances",
        {"containerInstances": [], "failures": [{"arn": ARN, "reason": "MISSING"}]},
        {"cluster": CLUSTER, "containerInstances": [ARN]},
    )
    result = run(ecs, capsys, container_instance=ARN, state="absent")
    assert result["changed"] is True
    assert result["container_instance"]["status"] == "INACTIVE"


def test_drain_timeout_after_the_change_still_reports_changed(ecs, capsys):
    ecs.cluster()
    ecs.describe([instance(running=1)], ids=[ARN])
    ecs.stub.add_response(
        "update_container_instances_state",
        {"containerInstances": [instance(status="DRAINING", running=1)], "failures": []},
        {"cluster": CLUSTER, "containerInstances": [ARN], "status": "DRAINING"},
    )
    for _dummy in range(4):
        ecs.describe([instance(status="DRAINING", running=1)], ids=[ARN])
    result = run(ecs, capsys, container_instance=ARN, status="DRAINING", wait=True, wait_timeout=2, wait_delay=1)
    assert result["failed"] is True
    assert result["changed"] is True
    assert "to drain its tasks" in result["msg"]
