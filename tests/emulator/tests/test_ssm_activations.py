"""CreateActivation / DescribeActivations / DeleteActivation (aws-emulation.md §2.3, §3.2)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .conftest import activation
from .conftest import error_code
from .conftest import http_status
from .conftest import raw_call


def test_create_and_describe_activation(ssm):
    act = activation(
        ssm,
        Description="fleet",
        DefaultInstanceName="web-host",
        RegistrationLimit=3,
        Tags=[{"Key": "env", "Value": "test"}],
    )
    assert len(act["ActivationCode"]) == 20
    described = ssm.describe_activations()["ActivationList"]
    assert len(described) == 1
    item = described[0]
    assert item["ActivationId"] == act["ActivationId"]
    assert item["IamRole"] == "ECSAnywhereRole"
    assert item["RegistrationLimit"] == 3
    assert item["RegistrationsCount"] == 0
    assert item["Expired"] is False
    assert item["DefaultInstanceName"] == "web-host"
    assert item["Tags"] == [{"Key": "env", "Value": "test"}]
    assert "ActivationCode" not in item
    # Default expiry is 24 h after creation.
    assert abs((item["ExpirationDate"] - item["CreatedDate"]).total_seconds() - 86400) < 2


def test_default_registration_limit_is_one(ssm):
    activation(ssm)
    assert ssm.describe_activations()["ActivationList"][0]["RegistrationLimit"] == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"IamRole": "arn:aws:iam::123456789012:role/ECSAnywhereRole"}, "ValidationException"),
        ({"IamRole": "r" * 65}, "ValidationException"),
        ({"Description": "d" * 257}, "ValidationException"),
        ({"DefaultInstanceName": "n" * 257}, "ValidationException"),
        ({"DefaultInstanceName": "bad<name>"}, "ValidationException"),
        ({"Tags": [{"Key": "aws:reserved", "Value": "x"}]}, "ValidationException"),
        ({"Tags": [{"Key": "k" * 129, "Value": "x"}]}, "ValidationException"),
        ({"Tags": [{"Key": "k", "Value": "v" * 257}]}, "ValidationException"),
        ({"ExpirationDate": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)}, "InvalidParameters"),
        ({"ExpirationDate": dt.datetime.now(dt.UTC) + dt.timedelta(days=31)}, "InvalidParameters"),
    ],
)
def test_create_activation_validation(ssm, kwargs, code):
    kwargs = {"IamRole": "ECSAnywhereRole", **kwargs}
    with pytest.raises(ClientError) as excinfo:
        ssm.create_activation(**kwargs)
    assert error_code(excinfo) == code
    assert http_status(excinfo) == 400
    assert ssm.describe_activations()["ActivationList"] == []


def test_arn_role_message(ssm):
    with pytest.raises(ClientError) as excinfo:
        ssm.create_activation(IamRole="arn:aws:iam::123456789012:role/R")
    assert "Not existing role: arn:aws:iam::123456789012:role/R" in str(excinfo.value)


def test_registration_limit_bounds_enforced_server_side(ssm, endpoint):
    # botocore validates 1-1000 itself; send raw values through a client with validation off.
    raw = boto3.client("ssm", endpoint_url=endpoint, config=Config(parameter_validation=False))
    for bad, code in ((0, "ValidationException"), (1001, "ValidationException"), ("ten", "SerializationException")):
        with pytest.raises(ClientError) as excinfo:
            raw.create_activation(IamRole="R", RegistrationLimit=bad)
        assert error_code(excinfo) == code
    with pytest.raises(ClientError) as excinfo:
        raw.create_activation(Description="no role")
    assert error_code(excinfo) == "ValidationException"
    for body in (
        {"IamRole": "R", "Tags": "notalist"},
        {"IamRole": "R", "Tags": [{"Key": 1, "Value": "x"}]},
        {"IamRole": 5},
        {"IamRole": "R", "ExpirationDate": "tomorrow"},
        [1, 2],
    ):
        status, payload = raw_call(endpoint, "ssm", "CreateActivation", body)
        assert status == 400, payload
        assert payload["__type"] in ("ValidationException", "SerializationException")
    status, payload = raw_call(endpoint, "ssm", "CreateActivation", b"{not json")
    assert (status, payload["__type"]) == (400, "SerializationException")


def test_strict_iam_requires_existing_role(ssm, endpoint, emulator):
    emulator.ok("POST", "/_emu/settings", {"strict_iam": True})
    with pytest.raises(ClientError) as excinfo:
        activation(ssm, IamRole="Missing")
    assert error_code(excinfo) == "ValidationException"
    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_role(RoleName="ECSAnywhereRole", Path="/ecs/", AssumeRolePolicyDocument="{}")
    assert activation(ssm, IamRole="ECSAnywhereRole")["ActivationId"]


def test_expired_follows_emulator_clock(ssm, emulator):
    activation(ssm, ExpirationDate=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert ssm.describe_activations()["ActivationList"][0]["Expired"] is False
    emulator.advance(3601)
    assert ssm.describe_activations()["ActivationList"][0]["Expired"] is True


def test_filters_and_pagination(ssm):
    ids = [activation(ssm, IamRole=f"Role{i % 2}", DefaultInstanceName=f"name{i}")["ActivationId"] for i in range(7)]
    by_role = ssm.describe_activations(Filters=[{"FilterKey": "IamRole", "FilterValues": ["Role1"]}])
    assert {a["ActivationId"] for a in by_role["ActivationList"]} == set(ids[1::2])
    by_id = ssm.describe_activations(Filters=[{"FilterKey": "ActivationIds", "FilterValues": [ids[3], ids[4]]}])
    assert [a["ActivationId"] for a in by_id["ActivationList"]] == [ids[3], ids[4]]
    by_name = ssm.describe_activations(Filters=[{"FilterKey": "DefaultInstanceName", "FilterValues": ["name5"]}])
    assert [a["ActivationId"] for a in by_name["ActivationList"]] == [ids[5]]

    seen, token, pages = [], None, 0
    while True:
        page = ssm.describe_activations(MaxResults=3, **({"NextToken": token} if token else {}))
        pages += 1
        seen += [a["ActivationId"] for a in page["ActivationList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == ids and pages == 3
    paginated = ssm.get_paginator("describe_activations").paginate(PaginationConfig={"PageSize": 2})
    assert [a["ActivationId"] for p in paginated for a in p["ActivationList"]] == ids


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"Filters": [{"FilterKey": "Bogus", "FilterValues": ["x"]}]}, "InvalidFilter"),
        ({"NextToken": "garbage"}, "InvalidNextToken"),
        ({"NextToken": "emu-page-999"}, "InvalidNextToken"),
        ({"MaxResults": 0}, "ValidationException"),
        ({"MaxResults": 51}, "ValidationException"),
    ],
)
def test_describe_activations_errors(ssm, endpoint, kwargs, code):
    raw = boto3.client("ssm", endpoint_url=endpoint, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as excinfo:
        raw.describe_activations(**kwargs)
    assert error_code(excinfo) == code


def test_delete_activation(ssm):
    act = activation(ssm)
    ssm.delete_activation(ActivationId=act["ActivationId"])
    assert ssm.describe_activations()["ActivationList"] == []
    with pytest.raises(ClientError) as excinfo:
        ssm.delete_activation(ActivationId=act["ActivationId"])
    assert error_code(excinfo) == "InvalidActivationId"


def test_activations_through_aws_cli(cli, ssm):
    # The AWS CLI is slow to start; two concurrent calls cover its serialiser, our JSON and error parsing.
    with ThreadPoolExecutor(2) as pool:
        good = pool.submit(
            cli,
            "ssm",
            "create-activation",
            "--iam-role",
            "CliRole",
            "--registration-limit",
            "5",
            "--tags",
            "Key=team,Value=ops",
        )
        bad = pool.submit(cli, "ssm", "create-activation", "--iam-role", "arn:aws:iam::1:role/x")
        (rc, created), (bad_rc, err) = good.result(), bad.result()
    assert rc == 0, created
    listed = ssm.describe_activations()["ActivationList"]
    assert [a["ActivationId"] for a in listed] == [created["ActivationId"]]
    assert listed[0]["RegistrationLimit"] == 5 and listed[0]["Tags"] == [{"Key": "team", "Value": "ops"}]
    assert bad_rc != 0 and "ValidationException" in err and "Not existing role" in err
