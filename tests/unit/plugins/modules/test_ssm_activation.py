# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssm_activation and ssm_activation_info against moto with the emulator's SSM hybrid extension."""

from __future__ import annotations

import datetime
import json
from unittest import mock

import boto3
import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.common import FleetAWSModule
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ssm_activation
from ansible_collections.fleet.ecs_anywhere.plugins.modules import ssm_activation_info

moto = pytest.importorskip("moto")
emulator = pytest.importorskip("tests.emulator")
if not hasattr(emulator, "install"):
    pytest.skip("tests.emulator has no install() yet", allow_module_level=True)
from tests.emulator import clock  # noqa: E402
from tests.emulator import ssm_hybrid  # noqa: E402

MANAGED = "fleet.ecs_anywhere:managed"
ROLE = "ECSAnywhereRole"
STORE = "/fleet/test/activations/"


@pytest.fixture
def ssm(aws_env):
    emulator.install()
    with moto.mock_aws():
        clock.reset()
        yield boto3.client("ssm", region_name="us-east-1")
    clock.reset()


@pytest.fixture
def run(run_module):
    def _run(args, module=ssm_activation, **kwargs):
        return run_module(module, args, **kwargs)

    return _run


def all_activations(ssm):
    return ssm.describe_activations()["ActivationList"]


def test_create_without_store_returns_code(ssm, run):
    result = run(
        {
            "iam_role": "arn:aws:iam::123456789012:role/service-role/ECSAnywhereRole",
            "registration_limit": 3,
            "expires_in": "7d",
            "description": "hosts",
            "default_instance_name": "edge",
            "tags": {"env": "test", "count": 3},
        }
    )
    assert not result.get("failed"), result
    assert result["changed"] and result["created"] and not result["reused"]
    assert len(result["activation_code"]) >= 20
    # The documented contract, not a warning on every run of a playbook that creates one activation per batch.
    assert result["warnings"] == []
    activation = result["activation"]
    assert activation["iam_role"] == "service-role/ECSAnywhereRole"
    assert activation["registration_limit"] == 3
    assert activation["registrations_count"] == 0
    assert activation["description"] == "hosts"
    assert activation["default_instance_name"] == "edge"
    assert activation["tags"] == {"env": "test", "count": "3", MANAGED: "true"}
    assert activation["expired"] is False
    expiry = datetime.datetime.fromisoformat(activation["expiration_date"])
    left = expiry - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=6, hours=23) < left <= datetime.timedelta(days=7)
    listed = all_activations(ssm)
    assert [a["ActivationId"] for a in listed] == [activation["activation_id"]]
    assert listed[0]["IamRole"] == "service-role/ECSAnywhereRole"
    # Without a store each run creates another activation.
    again = run({"iam_role": ROLE})
    assert again["changed"] and again["created"]
    assert len(all_activations(ssm)) == 2


def test_default_expiry_is_24_hours(ssm, run):
    result = run({"iam_role": ROLE})
    expiry = datetime.datetime.fromisoformat(result["activation"]["expiration_date"])
    left = expiry - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(hours=23, minutes=58) < left <= datetime.timedelta(hours=24)
    assert result["activation"]["registration_limit"] == 1


def test_check_mode_predicts_without_writing(ssm, run):
    result = run({"iam_role": ROLE, "expires_in": "2h", "code_store_parameter": STORE}, check_mode=True, diff=True)
    assert result["changed"] and result["created"]
    assert "activation_code" not in result
    assert result["activation"]["activation_id"] is None
    assert result["activation"]["iam_role"] == ROLE
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["iam_role"] == ROLE
    assert all_activations(ssm) == []
    assert ssm.get_parameters_by_path(Path=STORE.rstrip("/"), Recursive=True)["Parameters"] == []


def test_store_makes_reruns_idempotent(ssm, run):
    args = {"iam_role": ROLE, "registration_limit": 2, "tags": {"env": "a"}, "code_store_parameter": STORE}
    first = run(args, diff=True)
    assert first["changed"] and first["created"]
    activation_id = first["activation"]["activation_id"]
    assert "activation_code" not in json.dumps(first["diff"])
    assert first["activation_code"] not in json.dumps(first["diff"])

    stored = ssm.get_parameter(Name=STORE + activation_id, WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    assert json.loads(stored["Value"]) == {"activation_id": activation_id, "activation_code": first["activation_code"]}

    second = run(args)
    assert not second["changed"] and second["reused"] and not second["created"]
    assert second["activation"]["activation_id"] == activation_id
    assert second["activation_code"] == first["activation_code"]
    assert second["warnings"] == []

    checked = run(args, check_mode=True)
    assert not checked["changed"] and checked["reused"]
    assert "activation_code" not in checked
    assert len(all_activations(ssm)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"registration_limit": 5},
        {"description": "other"},
        {"default_instance_name": "other"},
        {"tags": {"env": "b"}},
        {"tags": {}},
        {"iam_role": "OtherRole"},
    ],
)
def test_store_reuses_only_matching_activations(ssm, run, change):
    args = {"iam_role": ROLE, "registration_limit": 2, "tags": {"env": "a"}, "code_store_parameter": STORE}
    first = run(args)
    second = run(dict(args, **change))
    assert second["changed"] and second["created"]
    assert second["activation"]["activation_id"] != first["activation"]["activation_id"]


def test_store_skips_activation_expiring_too_soon(ssm, run):
    args = {"iam_role": ROLE, "expires_in": "2h", "code_store_parameter": STORE}
    first = run(args)
    assert not run(args)["changed"]
    # Less than min_remaining left: a new one is created.
    second = run(dict(args, min_remaining="3h"))
    assert second["created"]
    assert second["activation"]["activation_id"] != first["activation"]["activation_id"]


def test_store_skips_expired_activation(ssm, run):
    args = {"iam_role": ROLE, "expires_in": "1h", "min_remaining": "1m", "code_store_parameter": STORE}
    first = run(args)
    clock.advance(2 * 3600)
    # expires_in is not part of the match; 7d keeps the new expiry ahead of the advanced emulator clock.
    second = run(dict(args, expires_in="7d"))
    assert second["created"]
    assert second["activation"]["activation_id"] != first["activation"]["activation_id"]


def test_store_without_code_is_not_reused(ssm, run):
    args = {"iam_role": ROLE, "code_store_parameter": STORE}
    first = run(args)
    ssm.delete_parameter(Name=STORE + first["activation"]["activation_id"])
    assert run(args)["created"]


def test_single_name_store_holds_latest(ssm, run):
    store = "/fleet/test/activation"
    first = run({"iam_role": ROLE, "code_store_parameter": store})
    assert run({"iam_role": ROLE, "code_store_parameter": store})["reused"]
    other = run({"iam_role": ROLE, "registration_limit": 4, "code_store_parameter": store})
    assert other["created"]
    value = json.loads(ssm.get_parameter(Name=store, WithDecryption=True)["Parameter"]["Value"])
    assert value["activation_id"] == other["activation"]["activation_id"]
    # The first activation's code is no longer in the store, so it cannot be reused.
    again = run({"iam_role": ROLE, "code_store_parameter": store})
    assert again["created"]
    assert again["activation"]["activation_id"] != first["activation"]["activation_id"]


def test_existing_activation_by_id(ssm, run):
    created = run({"iam_role": ROLE, "code_store_parameter": STORE})
    activation_id = created["activation"]["activation_id"]
    plain = run({"activation_id": activation_id})
    assert not plain["changed"] and plain["activation"]["activation_id"] == activation_id
    assert "activation_code" not in plain
    with_store = run({"activation_id": activation_id, "code_store_parameter": STORE})
    assert with_store["activation_code"] == created["activation_code"]
    missing = run({"activation_id": "11111111-2222-3333-4444-555555555555"})
    assert missing["failed"]
    assert "11111111-2222-3333-4444-555555555555 does not exist" in missing["msg"]


def test_absent_deletes_then_is_idempotent(ssm, run):
    created = run({"iam_role": ROLE, "code_store_parameter": STORE})
    activation_id = created["activation"]["activation_id"]
    args = {"state": "absent", "activation_id": activation_id, "code_store_parameter": STORE}

    checked = run(args, check_mode=True, diff=True)
    assert checked["changed"] and checked["deleted_activation_ids"] == [activation_id]
    assert checked["diff"]["before"]["activation_id"] == activation_id and checked["diff"]["after"] == {}
    assert len(all_activations(ssm)) == 1

    deleted = run(args)
    assert deleted["changed"] and deleted["deleted_activation_ids"] == [activation_id]
    assert all_activations(ssm) == []
    assert ssm.get_parameters_by_path(Path=STORE.rstrip("/"))["Parameters"] == []

    again = run(args)
    assert not again["changed"] and again["deleted_activation_ids"] == []


def test_absent_needs_an_id_or_cleanup(ssm, run):
    result = run({"state": "absent"})
    assert result["failed"] and "activation_id" in result["msg"] and "cleanup_expired" in result["msg"]


def test_cleanup_expired_deletes_only_its_own(ssm, run):
    mine = run({"iam_role": ROLE, "expires_in": "1h", "code_store_parameter": STORE})
    mine_id = mine["activation"]["activation_id"]
    foreign = ssm.create_activation(
        IamRole=ROLE, ExpirationDate=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    )
    clock.advance(2 * 3600)
    fresh = run({"iam_role": ROLE, "expires_in": "7d", "code_store_parameter": STORE})
    fresh_id = fresh["activation"]["activation_id"]

    checked = run({"state": "absent", "cleanup_expired": True, "code_store_parameter": STORE}, check_mode=True)
    assert checked["changed"] and checked["deleted_activation_ids"] == [mine_id]
    assert len(all_activations(ssm)) == 3

    result = run({"state": "absent", "cleanup_expired": True, "code_store_parameter": STORE})
    assert result["changed"] and result["deleted_activation_ids"] == [mine_id]
    left = {a["ActivationId"] for a in all_activations(ssm)}
    assert left == {foreign["ActivationId"], fresh_id}
    names = [p["Name"] for p in ssm.get_parameters_by_path(Path=STORE.rstrip("/"))["Parameters"]]
    assert names == [STORE + fresh_id]

    again = run({"state": "absent", "cleanup_expired": True, "code_store_parameter": STORE})
    assert not again["changed"] and again["deleted_activation_ids"] == []


def registered(activation_id, count=None):
    """Count hosts as registered with the activation (all it allows by default), as RegisterManagedInstance does."""
    for account_region_state in ssm_hybrid.all_states():
        activation = account_region_state[-1].activations.get(activation_id)
        if activation is not None:
            activation.registrations = activation.registration_limit if count is None else count


def test_cleanup_exhausted_deletes_only_its_own_used_up(ssm, run):
    used = run({"iam_role": ROLE, "registration_limit": 2, "code_store_parameter": STORE})["activation"]
    half = run({"iam_role": ROLE, "registration_limit": 2})["activation"]
    other_role = run({"iam_role": "OtherRole"})["activation"]
    foreign = ssm.create_activation(IamRole=ROLE)
    for activation_id in (used["activation_id"], other_role["activation_id"], foreign["ActivationId"]):
        registered(activation_id)
    registered(half["activation_id"], 1)

    args = {"state": "absent", "iam_role": ROLE, "cleanup_exhausted": True, "code_store_parameter": STORE}
    checked = run(args, check_mode=True, diff=True)
    assert checked["changed"] and checked["deleted_activation_ids"] == [used["activation_id"]]
    assert checked["diff"]["before"]["exhausted_activation_ids"] == [used["activation_id"]]
    assert len(all_activations(ssm)) == 4

    result = run(args)
    assert result["changed"] and result["deleted_activation_ids"] == [used["activation_id"]]
    left = {a["ActivationId"] for a in all_activations(ssm)}
    assert left == {half["activation_id"], other_role["activation_id"], foreign["ActivationId"]}
    assert ssm.get_parameters_by_path(Path=STORE.rstrip("/"))["Parameters"] == []
    assert not run(args)["changed"]


def test_cleanup_expired_and_exhausted_together(ssm, run):
    expired = run({"iam_role": ROLE, "expires_in": "1h"})["activation"]["activation_id"]
    used = run({"iam_role": ROLE, "expires_in": "7d"})["activation"]["activation_id"]
    registered(used)
    clock.advance(2 * 3600)
    result = run({"iam_role": ROLE, "cleanup_expired": True, "cleanup_exhausted": True}, diff=True)
    assert result["changed"] and result["created"]
    assert sorted(result["deleted_activation_ids"]) == sorted([expired, used])
    assert result["diff"]["before"]["expired_activation_ids"] == [expired]
    assert result["diff"]["before"]["exhausted_activation_ids"] == [used]
    assert [a["ActivationId"] for a in all_activations(ssm)] == [result["activation"]["activation_id"]]


def test_cleanup_expired_with_present(ssm, run):
    old = run({"iam_role": ROLE, "expires_in": "1h", "code_store_parameter": STORE})
    clock.advance(2 * 3600)
    result = run({"iam_role": ROLE, "cleanup_expired": True, "code_store_parameter": STORE})
    assert result["changed"] and result["created"]
    assert result["deleted_activation_ids"] == [old["activation"]["activation_id"]]
    assert [a["ActivationId"] for a in all_activations(ssm)] == [result["activation"]["activation_id"]]


@pytest.mark.parametrize(
    ("args", "param", "fix"),
    [
        ({"registration_limit": 0}, "registration_limit=0", "from 1 to 1000"),
        ({"registration_limit": 1001}, "registration_limit=1001", "from 1 to 1000"),
        ({"expires_in": "31d"}, "expires_in='31d'", "at most 30d"),
        ({"expires_in": "soon"}, "expires_in='soon'", "for example 90m"),
        ({"expiration_date": "2001-01-01T00:00:00Z"}, "expiration_date='2001-01-01T00:00:00Z'", "in the past"),
        ({"expiration_date": "next week"}, "expiration_date='next week'", "ISO 8601"),
        ({"min_remaining": "a while"}, "min_remaining='a while'", "for example"),
        ({"tags": {"aws:owner": "x"}}, "tags key 'aws:owner'", "does not start with aws:"),
        ({"tags": {f"k{i}": "v" for i in range(1000)}}, "tags has 1000 tags", "at most 999"),
        ({"tags": {"k" * 129: "v"}}, "tags key", "1 to 128 characters"),
        ({"tags": {"k": "v" * 257}}, "tags value of key 'k'", "at most 256"),
        ({"iam_role": "arn:aws:iam::123456789012:user/bob"}, "iam_role=", "role name"),
        ({"description": "d" * 257}, "description", "at most 256"),
        ({"code_store_parameter": "relative/prefix/"}, "code_store_parameter=", "starts and ends with /"),
    ],
)
def test_bad_input_fails_before_any_call(aws_env, run, args, param, fix):
    with mock.patch.object(FleetAWSModule, "retrying_client", side_effect=AssertionError("AWS was called")) as client:
        result = run(dict({"iam_role": ROLE}, **args))
    assert result["failed"]
    assert param in result["msg"] and fix in result["msg"]
    client.assert_not_called()


def test_present_without_role_fails_before_any_call(aws_env, run):
    with mock.patch.object(FleetAWSModule, "retrying_client", side_effect=AssertionError("AWS was called")):
        result = run({"registration_limit": 2})
    assert result["failed"] and "iam_role is required" in result["msg"]


def test_expiry_options_are_exclusive(aws_env, run):
    result = run({"iam_role": ROLE, "expires_in": "1h", "expiration_date": "2030-01-01T00:00:00Z"})
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_aws_error_is_reported_with_context(ssm, run):
    result = run({"iam_role": "arn:aws:iam::123456789012:role/ok", "expiration_date": None, "tags": None})
    assert not result.get("failed")
    clock.update_settings({"strict_iam": True})
    failed = run({"iam_role": "MissingRole"})
    assert failed["failed"]
    assert failed["msg"].startswith("Unable to create activation for role MissingRole")
    assert "Not existing role" in failed["msg"]
    assert failed["error"]["code"] == "ValidationException"


def test_info_lists_and_filters(ssm, run):
    a = run({"iam_role": ROLE, "default_instance_name": "edge", "tags": {"env": "x"}})["activation"]
    b = run({"iam_role": "service-role/Other"})["activation"]
    for _attempt in range(55):
        ssm.create_activation(IamRole="Bulk")

    everything = run({}, module=ssm_activation_info)
    assert not everything["changed"] and len(everything["activations"]) == 57

    by_role = run({"iam_role": "arn:aws:iam::123456789012:role/service-role/Other"}, module=ssm_activation_info)
    assert [x["activation_id"] for x in by_role["activations"]] == [b["activation_id"]]

    by_name = run({"default_instance_name": "edge"}, module=ssm_activation_info)
    assert by_name["activations"] == [
        dict(a, expired=False, registrations_count=0) | {"tags": {"env": "x", MANAGED: "true"}}
    ]
    by_id = run({"activation_ids": [a["activation_id"], b["activation_id"]]}, module=ssm_activation_info)
    assert {x["activation_id"] for x in by_id["activations"]} == {a["activation_id"], b["activation_id"]}
    assert all("activation_code" not in x for x in by_id["activations"])
    assert run({"activation_ids": []}, module=ssm_activation_info)["activations"] == []
