"""Fixtures: one emulator subprocess per session on 127.0.0.1 with a free port, reset before every test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.emulator import agent_protocol as ap

REPO = Path(__file__).resolve().parents[3]
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
}
for _name, _value in ENV.items():
    os.environ[_name] = _value
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


class Emulator:
    def __init__(self, endpoint: str, process: subprocess.Popen, started_in: float):
        self.endpoint = endpoint
        self.process = process
        self.started_in = started_in

    def hook(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def ok(self, method: str, path: str, body: object = None) -> object:
        status, payload = self.hook(method, path, body)
        assert status == 200, payload
        return payload

    def reset(self) -> None:
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def advance(self, seconds: float) -> None:
        self.ok("POST", "/_emu/clock", {"advance_seconds": seconds})

    def stats(self) -> dict:
        return self.ok("GET", "/_emu/stats")  # type: ignore[return-value]


def start_emulator(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, float, int]:
    port_file = tmp_path / "port"
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            *extra,
        ],
        cwd=REPO,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = started + 60  # generous: shared CI machines can be very busy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited: {process.stderr.read().decode()}")
        if port_file.exists():
            port = int(port_file.read_text())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                    ready_in = time.monotonic() - started
                # Hooks and API calls wait for the extension to finish installing.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emu/clock", timeout=60):
                    return process, ready_in, port
            except OSError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("emulator did not become ready")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory):
    process, started_in, port = start_emulator(tmp_path_factory.mktemp("emu"))
    emu = Emulator(f"http://127.0.0.1:{port}", process, started_in)
    yield emu
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest):
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


@pytest.fixture(scope="session")
def endpoint(emulator: Emulator) -> str:
    return emulator.endpoint


# Clients are stateless and slow to build on a busy machine: one per session.
@pytest.fixture(scope="session")
def ssm(endpoint: str):
    return boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture(scope="session")
def ecs(endpoint: str):
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def cli(endpoint: str):
    """The AWS CLI as an independent client: returns (exit code, parsed JSON or stderr)."""
    aws = REPO / ".venv" / "bin" / "aws"
    if not aws.exists():
        aws = Path(sys.executable).with_name("aws")

    def run(*args: str):
        result = subprocess.run(
            [str(aws), "--endpoint-url", endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **ENV},
            timeout=60,
            check=False,
        )
        if result.returncode == 0:
            return 0, json.loads(result.stdout or "null")
        return result.returncode, result.stderr

    return run


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    assert isinstance(excinfo.value, ClientError), excinfo.value
    return excinfo.value.response["Error"]["Code"]


def http_status(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def activation(ssm, **kwargs) -> dict:
    kwargs.setdefault("IamRole", "ECSAnywhereRole")
    return ssm.create_activation(**kwargs)


_SHARED_KEY = []


def shared_key():
    """One RSA key reused by hosts that don't care about theirs: key generation is the slow part."""
    if not _SHARED_KEY:
        _SHARED_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _SHARED_KEY[0]


def registered_host(ssm, endpoint: str, **activation_kwargs):
    """(identity, role credentials) of a freshly registered managed instance."""
    act = activation(ssm, **activation_kwargs)
    identity = ap.register(endpoint, act["ActivationId"], act["ActivationCode"], private_key=shared_key())
    return identity, ap.request_role_token(endpoint, identity)


def raw_call(endpoint: str, service: str, action: str, body: object, access_key: str = "testing") -> tuple[int, dict]:
    """A SigV4-signed JSON call with an arbitrary body, bypassing botocore's shape validation/serialiser."""
    prefix = {"ssm": "AmazonSSM", "ecs": "AmazonEC2ContainerServiceV20141113"}[service]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=data,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{prefix}.{action}"},
    )
    SigV4Auth(Credentials(access_key, "testing"), service, "us-east-1").add_auth(request)
    http = urllib.request.Request(endpoint + "/", data=data, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(http, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
