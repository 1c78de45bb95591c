"""Process behaviour: readiness, several addresses, refusing 0.0.0.0, SIGTERM, the moto self-check."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from moto import mock_aws
from moto.ecs import models
from werkzeug.test import Client

from tests.emulator import EmulatorIncompatible
from tests.emulator import install
from tests.emulator import self_check
from tests.emulator.__main__ import build_app

from .conftest import REPO
from .conftest import start_emulator


def test_session_emulator_became_ready_quickly(emulator):
    # Target is 3 s; allow slack for heavily loaded CI machines.
    assert emulator.started_in < 6, emulator.started_in


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "localhost"])
def test_refuses_wildcard_and_names(host):
    result = subprocess.run(
        [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--host", host, "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "wildcard" in result.stderr or "IP address" in result.stderr


def test_serves_every_host_on_one_port_and_stops_on_sigterm(tmp_path):
    process, _, port = start_emulator(tmp_path, "--host", "127.0.0.2")
    try:
        for address in ("127.0.0.1", "127.0.0.2"):
            with urllib.request.urlopen(f"http://{address}:{port}/_emu/clock", timeout=30) as response:
                assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5


def test_self_check_fails_loudly_when_moto_changes(monkeypatch):
    self_check()

    def changed(self, ec2_instance_id, account_id, region_name, cluster_name, *, backend, extra):
        raise AssertionError

    monkeypatch.setattr(models.ContainerInstance, "__init__", changed)
    with pytest.raises(EmulatorIncompatible, match="ContainerInstance.__init__"):
        self_check()


def test_install_works_in_process_under_mock_aws():
    install()
    install()  # idempotent
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ecs = boto3.client("ecs", region_name="us-east-1")
        created = ssm.create_activation(IamRole="ECSAnywhereRole", RegistrationLimit=2)
        listed = ssm.describe_activations()["ActivationList"]
        assert [a["ActivationId"] for a in listed] == [created["ActivationId"]]
        assert ssm.describe_instance_information()["InstanceInformationList"] == []
        ecs.create_cluster(clusterName="c")
        with pytest.raises(ecs.exceptions.InvalidParameterException):
            ecs.list_container_instances(cluster="c", filter="((((")
    with mock_aws():  # state does not leak between mock_aws blocks
        assert boto3.client("ssm", region_name="us-east-1").describe_activations()["ActivationList"] == []


def test_hooks_refuse_non_loopback_callers():
    client = Client(build_app())
    assert client.get("/_emu/stats", environ_base={"REMOTE_ADDR": "172.29.0.2"}).status_code == 403
    assert client.get("/_emu/stats", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
