# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of module_utils/ssm.py: parsing, validation, pagination and error mapping."""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import common
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import ssm

NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("12h", 43200),
        ("7d", 604800),
        ("1w", 604800),
        ("30s", 30),
        ("1d12h", 129600),
        (" 2H ", 7200),
        ("30d", 2592000),
    ],
)
def test_parse_duration(text, seconds):
    assert ssm.parse_duration(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "12", "h", "12x", "-1h", "1.5h", "twelve hours", "0h", "0m0s"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="expires_in"):
        ssm.parse_duration(text)


def test_parse_duration_names_the_option():
    with pytest.raises(ValueError, match=r"^min_remaining='soon'"):
        ssm.parse_duration("soon", "min_remaining")


def test_expires_in_limit_is_30_days():
    assert ssm.parse_expires_in("30d", NOW) == NOW + datetime.timedelta(days=30)
    assert ssm.parse_expires_in("720h", NOW) == NOW + datetime.timedelta(days=30)
    with pytest.raises(ValueError, match=r"expires_in='721h' is longer than the 30 days"):
        ssm.parse_expires_in("721h", NOW)
    with pytest.raises(ValueError, match="expires_in"):
        ssm.parse_expires_in("31d", NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T12:00:00Z", datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)),
        ("2026-11-27T12:00:00+00:00", datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)),
        ("2026-11-27T14:00:00+02:00", datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)),
        ("2026-11-27T12:00:00", datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)),
        ("2026-12-01", datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)),
    ],
)
def test_parse_expiration_date(text, expected):
    assert ssm.parse_expiration_date(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "is not an ISO 8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601 timestamp"),
        ("2026-11-26T11:59:59Z", "is in the past"),
        ("2020-01-01T00:00:00Z", "is in the past"),
        ("2026-12-27T12:00:01Z", "more than 30 days ahead"),
    ],
)
def test_parse_expiration_date_rejects(text, message):
    with pytest.raises(ValueError, match=message) as err:
        ssm.parse_expiration_date(text, NOW)
    assert str(err.value).startswith("expiration_date=")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("ECSAnywhereRole", "ECSAnywhereRole"),
        ("service-role/ECSAnywhereRole", "service-role/ECSAnywhereRole"),
        ("/service-role/ECSAnywhereRole", "service-role/ECSAnywhereRole"),
        ("arn:aws:iam::123456789012:role/ECSAnywhereRole", "ECSAnywhereRole"),
        ("arn:aws:iam::123456789012:role/path/name", "path/name"),
        ("arn:aws:iam::123456789012:role/a/b/name", "a/b/name"),
        ("arn:aws-cn:iam::123456789012:role/name", "name"),
        ("arn:aws-us-gov:iam::123456789012:role/name", "name"),
    ],
)
def test_normalize_iam_role(role, expected):
    assert ssm.normalize_iam_role(role) == expected


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:iam::123456789012:instance-profile/x",
        "arn:aws:s3:::bucket",
        "",
        "/",
        "r" * 65,
    ],
)
def test_normalize_iam_role_rejects(role):
    with pytest.raises(ValueError, match="iam_role"):
        ssm.normalize_iam_role(role)


def test_validate_tags_accepts_limits():
    ssm.validate_tags(None, 50)
    ssm.validate_tags({}, 50)
    ssm.validate_tags({"k" * 128: "v" * 256, "empty": "", "none": None}, 50)
    ssm.validate_tags({f"k{i}": "v" for i in range(50)}, 50)


@pytest.mark.parametrize(
    ("tags", "limit", "message"),
    [
        ({"aws:createdBy": "x"}, 50, "reserved aws: prefix"),
        ({"AWS:thing": "x"}, 50, "reserved aws: prefix"),
        ({f"k{i}": "v" for i in range(51)}, 50, "has 51 tags but SSM allows at most 50"),
        ({f"k{i}": "v" for i in range(1000)}, 999, "has 1000 tags but SSM allows at most 999"),
        ({"k" * 129: "v"}, 50, "must be 1 to 128 characters long"),
        ({"": "v"}, 50, "empty key"),
        ({"key": "v" * 257}, 50, "is 257 characters long"),
    ],
)
def test_validate_tags_rejects(tags, limit, message):
    with pytest.raises(ValueError, match=message) as err:
        ssm.validate_tags(tags, limit)
    assert str(err.value).startswith("tags ")


@pytest.mark.parametrize("instance_id", ["mi-0123456789abcdef0", "mi-ffffffffffffffff0"])
def test_validate_managed_instance_id(instance_id):
    ssm.validate_managed_instance_id(instance_id)


@pytest.mark.parametrize(
    "instance_id",
    [
        "mi-0123456789abcdef",  # 16 digits
        "mi-0123456789abcdef01",  # 18 digits
        "mi-0123456789ABCDEF0",  # upper case
        "i-0123456789abcdef0",  # EC2 instance
        "mi-0123456789abcdefg",
        " mi-0123456789abcdef0",
        None,
    ],
)
def test_validate_managed_instance_id_rejects(instance_id):
    with pytest.raises(ValueError, match=r"^instance_id=.* is not a managed instance id"):
        ssm.validate_managed_instance_id(instance_id)


def test_stringify_tags():
    assert ssm.stringify_tags({"a": 1, "b": None, "c": True}) == {"a": "1", "b": "", "c": "True"}
    assert ssm.stringify_tags(None) == {}


def test_activation_to_ansible_converts_tags_and_dates():
    activation = {
        "ActivationId": "id",
        "IamRole": "role",
        "RegistrationLimit": 3,
        "RegistrationsCount": 1,
        "ExpirationDate": NOW,
        "Expired": False,
        "Tags": [{"Key": "a", "Value": "b"}],
    }
    result = ssm.activation_to_ansible(activation)
    assert result == {
        "activation_id": "id",
        "iam_role": "role",
        "registration_limit": 3,
        "registrations_count": 1,
        "expiration_date": "2026-11-26T12:00:00+00:00",
        "expired": False,
        "tags": {"a": "b"},
    }
    assert ssm.activation_to_ansible({"ActivationId": "x"})["tags"] == {}


def test_managed_instance_to_ansible_names():
    info = {"InstanceId": "mi-0123456789abcdef0", "IPAddress": "10.0.0.1", "LastPingDateTime": NOW, "Name": "n"}
    result = ssm.managed_instance_to_ansible(info)
    assert result == {
        "instance_id": "mi-0123456789abcdef0",
        "ip_address": "10.0.0.1",
        "last_ping_date_time": "2026-11-26T12:00:00+00:00",
        "name": "n",
    }
    assert ssm.managed_instance_to_ansible(info, {"a": "b"})["tags"] == {"a": "b"}


def test_activation_is_expired():
    assert ssm.activation_is_expired({"Expired": True, "ExpirationDate": NOW + datetime.timedelta(days=1)}, NOW)
    assert ssm.activation_is_expired({"Expired": False, "ExpirationDate": NOW}, NOW)
    assert not ssm.activation_is_expired({"Expired": False, "ExpirationDate": NOW + datetime.timedelta(1)}, NOW)


def test_code_store_names():
    assert ssm.code_store_name("/fleet/activations/", "abc") == "/fleet/activations/abc"
    assert ssm.code_store_name("/fleet/activation", "abc") == "/fleet/activation"


# ---------------------------------------------------------------------------
# Pagination and error mapping against a stubbed client
# ---------------------------------------------------------------------------


@pytest.fixture
def stubbed(aws_env, monkeypatch):
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)
    raw = boto3.client("ssm", region_name="us-east-1")
    client = RetryingBotoClientWrapper(raw, common.retry_decorator())
    with Stubber(raw) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _instances(start, count):
    return [{"InstanceId": f"mi-{i:017x}"} for i in range(start, start + count)]


def _throttle(stubber, operation):
    stubber.add_client_error(operation, service_error_code="ThrottlingException", http_status_code=400)


def test_paginate_costs_one_call_per_50_and_retries_single_pages(stubbed):
    client, stubber = stubbed
    filters = [{"Key": "ResourceType", "Values": ["ManagedInstance"]}]
    expected_first = {"Filters": filters, "MaxResults": 50}
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": _instances(0, 50), "NextToken": "t1"},
        expected_first,
    )
    # The second page is throttled twice; only that page is asked again, with the same token.
    for _attempt in range(2):
        stubber.add_client_error(
            "describe_instance_information",
            service_error_code="ThrottlingException",
            http_status_code=400,
            expected_params={"Filters": filters, "MaxResults": 50, "NextToken": "t1"},
        )
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": _instances(50, 50), "NextToken": "t2"},
        {"Filters": filters, "MaxResults": 50, "NextToken": "t1"},
    )
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": _instances(100, 7)},
        {"Filters": filters, "MaxResults": 50, "NextToken": "t2"},
    )
    items = ssm.describe_instance_information(client, filters)
    assert [i["InstanceId"] for i in items] == [f"mi-{i:017x}" for i in range(107)]


def test_paginate_stops_on_a_short_last_page(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_activations", {"ActivationList": [{"ActivationId": "a"}]}, {"MaxResults": 50})
    assert ssm.describe_activations(client) == [{"ActivationId": "a"}]


def test_describe_activations_filters(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "describe_activations",
        {"ActivationList": []},
        {
            "Filters": [
                {"FilterKey": "ActivationIds", "FilterValues": ["x"]},
                {"FilterKey": "IamRole", "FilterValues": ["path/role"]},
                {"FilterKey": "DefaultInstanceName", "FilterValues": ["n"]},
            ],
            "MaxResults": 50,
        },
    )
    assert ssm.describe_activations(client, ["x"], "path/role", "n") == []


def test_non_retryable_error_becomes_ansible_ssm_error(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("delete_activation", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(ssm.AnsibleSSMError) as err:
        ssm.delete_activation(client, "abc")
    assert err.value.message == "Unable to delete activation abc"
    assert isinstance(err.value.exception, ClientError)


@pytest.mark.parametrize("code", ["InvalidActivationId", "InvalidActivation"])
def test_delete_activation_missing_is_false(stubbed, code):
    client, stubber = stubbed
    stubber.add_client_error("delete_activation", service_error_code=code, http_status_code=400)
    assert ssm.delete_activation(client, "abc") is False


def test_deregister_missing_is_false_and_throttling_is_retried(stubbed):
    client, stubber = stubbed
    _throttle(stubber, "deregister_managed_instance")
    stubber.add_client_error("deregister_managed_instance", service_error_code="InvalidInstanceId")
    assert ssm.deregister_managed_instance(client, "mi-0123456789abcdef0") is False
    stubber.add_client_error("deregister_managed_instance", service_error_code="TooManyUpdates")
    stubber.add_response("deregister_managed_instance", {}, {"InstanceId": "mi-0123456789abcdef0"})
    assert ssm.deregister_managed_instance(client, "mi-0123456789abcdef0") is True


def test_stored_code_must_belong_to_the_activation(stubbed):
    client, stubber = stubbed
    value = '{"activation_id": "other", "activation_code": "secret-code-000000000"}'
    stubber.add_response("get_parameter", {"Parameter": {"Name": "/p", "Value": value}})
    assert ssm.read_stored_code(client, "/p", "mine") is None
    value = '{"activation_id": "mine", "activation_code": "secret-code-000000000"}'
    stubber.add_response(
        "get_parameter",
        {"Parameter": {"Name": "/p/mine", "Value": value}},
        {"Name": "/p/mine", "WithDecryption": True},
    )
    assert ssm.read_stored_code(client, "/p/", "mine") == "secret-code-000000000"
    stubber.add_client_error("get_parameter", service_error_code="ParameterNotFound")
    assert ssm.read_stored_code(client, "/p/", "gone") is None
    stubber.add_response("get_parameter", {"Parameter": {"Name": "/p", "Value": "not json"}})
    assert ssm.read_stored_code(client, "/p", "mine") is None
