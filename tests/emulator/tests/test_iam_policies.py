"""The AWS managed policies of tests/emulator/iam_policies.py are the ones moto builds, and new for every backend."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.emulator import iam_policies

ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
)
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _fields(policy) -> tuple:
    versions = [(v.version_id, v.document, v.is_default) for v in policy.versions]
    return (policy.arn, policy.name, policy.path, policy.default_version_id, versions,
            policy.create_date, policy.update_date)  # fmt: skip


def _backend():
    """An IAM backend with only what init_aws_policies reads: building a whole one would build the policies too."""
    from moto.iam.models import IAMBackend

    backend = IAMBackend.__new__(IAMBackend)
    backend.account_id, backend.region_name = "123456789012", "global"
    return backend


def test_the_policies_are_those_moto_builds(monkeypatch):
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    backend = _backend()
    ours = iam_policies.init_aws_policies(backend)
    theirs = [
        AWSManagedPolicy.from_data(name, "123456789012", "global", data)
        for name, data in json.loads(aws_managed_policies_data).items()
    ]
    assert len(ours) == len(theirs) > 1000
    assert [_fields(p) for p in ours] == [_fields(p) for p in theirs]
    assert {p.arn for p in ours} >= set(ROLE_POLICIES)
    # Objects hold state (attachments): a second backend never shares them.
    assert not {id(p) for p in ours} & {id(p) for p in iam_policies.init_aws_policies(backend)}


def test_none_without_managed_policies(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    assert iam_policies.init_aws_policies(_backend()) == []


@pytest.mark.parametrize("round_number", [1, 2])
def test_attachments_do_not_survive_a_reset(emulator, endpoint, round_number):
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    assert iam.get_policy(PolicyArn=ROLE_POLICIES[0])["Policy"]["AttachmentCount"] == 0
    iam.create_role(RoleName="ecsAnywhereRole", AssumeRolePolicyDocument=json.dumps(TRUST))
    for arn in ROLE_POLICIES:
        iam.attach_role_policy(RoleName="ecsAnywhereRole", PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName="ecsAnywhereRole")["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted(ROLE_POLICIES)
    assert iam.get_policy(PolicyArn=ROLE_POLICIES[0])["Policy"]["AttachmentCount"] == 1
