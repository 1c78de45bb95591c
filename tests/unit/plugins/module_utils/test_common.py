"""The shared retry policy: SSM's and ECS's throttling codes are retried, real errors are not."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import common


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeActivations")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _seconds: None)


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyUpdates", "RequestLimitExceeded"])
def test_throttling_is_retried_until_success(code):
    calls = []

    @common.retry_decorator()
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _error(code)
        return "ok"

    assert flaky() == "ok"
    assert len(calls) == 3


def test_other_errors_are_raised_at_once():
    calls = []

    @common.retry_decorator()
    def broken():
        calls.append(1)
        raise _error("InvalidActivation")

    with pytest.raises(ClientError):
        broken()
    assert len(calls) == 1


def test_retries_are_bounded():
    calls = []

    @common.retry_decorator()
    def always_throttled():
        calls.append(1)
        raise _error("ThrottlingException")

    with pytest.raises(ClientError):
        always_throttled()
    # amazon.aws counts the first call among its "retries": ten calls in all.
    assert len(calls) == 10
