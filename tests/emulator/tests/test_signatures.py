"""HMAC signatures are verified as AWS verifies them: the operator's keys and the role keys Systems Manager issued."""

from __future__ import annotations

import dataclasses
import json
import signal
import urllib.error
import urllib.request

import boto3
import pytest
from botocore import xform_name
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.emulator import agent_protocol as ap

from .conftest import error_code
from .conftest import http_status
from .conftest import registered_host
from .conftest import start_emulator

# The emulator's default operator key.
OPERATOR = ("testing", "testing")


def _client(service: str, endpoint: str, key: str = OPERATOR[0], secret: str = OPERATOR[1]):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("ssm", "DescribeActivations", ("UnrecognizedClientException", "InvalidSignatureException", 400)),
        ("ecs", "ListClusters", ("UnrecognizedClientException", "InvalidSignatureException", 400)),
        ("iam", "ListRoles", ("InvalidClientTokenId", "SignatureDoesNotMatch", 403)),
    ],
)
def test_operator_keys_are_checked_in_the_protocol_of_the_service(endpoint, emulator, service, operation, expected):
    unknown_key, bad_signature, status = expected
    method = xform_name(operation)
    getattr(_client(service, endpoint), method)()
    with pytest.raises(ClientError) as excinfo:
        getattr(_client(service, endpoint, secret="not-the-secret"), method)()
    assert (error_code(excinfo), http_status(excinfo)) == (bad_signature, status)
    with pytest.raises(ClientError) as excinfo:
        getattr(_client(service, endpoint, key="AKIANOBODYKNOWS00000"), method)()
    assert (error_code(excinfo), http_status(excinfo)) == (unknown_key, status)
    # Refused calls were made all the same: they count.
    assert emulator.stats()[f"{service}:{operation}"] == 3


def _signed(endpoint: str, body: bytes) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.DescribeActivations"},
    )
    SigV4Auth(Credentials(*OPERATOR), "ssm", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _post(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    http = urllib.request.Request(endpoint + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(http, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_signature_covers_body_and_signed_headers(endpoint):
    body = b'{"MaxResults": 10}'
    headers = _signed(endpoint, body)
    assert _post(endpoint, body, headers)[0] == 200
    status, payload = _post(endpoint, b'{"MaxResults": 11}', headers)
    assert (status, payload["__type"]) == (400, "InvalidSignatureException"), payload
    status, payload = _post(endpoint, body, {**headers, "X-Amz-Target": "AmazonSSM.DescribeInstanceInformation"})
    assert (status, payload["__type"]) == (400, "InvalidSignatureException"), payload
    # A header the signature does not list may change (proxies add some).
    assert _post(endpoint, body, {**headers, "X-Forwarded-For": "10.0.0.1"})[0] == 200


def test_role_credentials_need_their_secret_and_session_token(ssm, endpoint, emulator):
    identity, creds = registered_host(ssm, endpoint)
    assert ap.update_instance_information(endpoint, identity, creds) == {}
    for wrong, code in (
        (dataclasses.replace(creds, secret_key="x" * 40), "InvalidSignatureException"),
        (dataclasses.replace(creds, session_token="not-the-token"), "UnrecognizedClientException"),
        (dataclasses.replace(creds, session_token=None), "UnrecognizedClientException"),
    ):
        with pytest.raises(ap.AgentProtocolError) as excinfo:
            ap.update_instance_information(endpoint, identity, wrong)
        assert excinfo.value.code == code, wrong
        with pytest.raises(ClientError) as excinfo:
            ap.ecs_client(endpoint, wrong).list_clusters()
        assert error_code(excinfo) == code, wrong


def test_operator_keys_can_be_given_at_start(tmp_path):
    process, _, port = start_emulator(tmp_path, "--credential", "AKIAOPERATOR00000000:s3cret/with+chars")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _client("ecs", endpoint, "AKIAOPERATOR00000000", "s3cret/with+chars").list_clusters()
        with pytest.raises(ClientError) as excinfo:
            _client("ecs", endpoint).list_clusters()
        assert error_code(excinfo) == "UnrecognizedClientException"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
