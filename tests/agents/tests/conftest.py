"""Fixtures for the stand-in agent tests: a real emulator subprocess, --root host prefixes, a fake Docker."""

import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests import harness

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "tests" / "agents" / "src"
SSM_AGENT = SRC / "ssm" / "amazon-ssm-agent"
SSM_CLI = SRC / "ssm" / "ssm-cli"
ECS_INIT = SRC / "ecs" / "amazon-ecs-init"
REGION = "us-east-1"
BUILD_MIRROR = REPO / "tests" / "agents" / "build_mirror.sh"


def _host_python():
    """Debian's python3 is what the hosts run, without the venv's packages; the venv's python where there is none."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


HOST_PYTHON = _host_python()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One polling helper for all the tests; test modules import it from here.
wait_for = harness.wait_for


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """The packages and the mirror built from scratch (own test key), shared by the test modules.

    The Docker RPMs' Debian payload comes from the shared download cache (build/cache/debian), fetched on first use.
    """
    out = tmp_path_factory.mktemp("build")
    result = subprocess.run([str(BUILD_MIRROR), str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


# --------------------------------------------------------------------------------------------- emulator

@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("emulator")
    port_file = workdir / "port"
    log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0",
                             "--port-file", str(port_file)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_file.exists() or proc.poll() is not None, timeout=30, what="emulator port file")
        assert proc.poll() is None, (workdir / "emulator.log").read_text()
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def aws(emulator, monkeypatch):
    """boto3 clients on a freshly reset emulator."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(key, raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"), timeout=10).read()

    class Clients:
        url = emulator
        ssm = boto3.client("ssm", endpoint_url=emulator, region_name=REGION)
        ecs = boto3.client("ecs", endpoint_url=emulator, region_name=REGION)
        iam = boto3.client("iam", endpoint_url=emulator, region_name=REGION)

        def activation(self, limit=1, tags=None):
            kwargs = {"IamRole": "ecsAnywhereRole", "RegistrationLimit": limit}
            if tags:
                kwargs["Tags"] = tags
            resp = self.ssm.create_activation(**kwargs)
            return resp["ActivationId"], resp["ActivationCode"]

        def instance(self, mi):
            resp = self.ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [mi]}])
            items = resp["InstanceInformationList"]
            return items[0] if items else None

    return Clients()


# --------------------------------------------------------------------------------------------- hosts

class Host:
    """A host simulated by a directory prefix (``-root``/``--root``)."""

    def __init__(self, root, emulator, name):
        self.root = Path(root)
        self.emulator = emulator
        self.name = name
        self.procs = []
        (self.root / "etc").mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "machine-id").write_text(f"{os.urandom(16).hex()}\n")
        self.ssm_config({"HealthFrequencyMinutes": 5})

    def p(self, rel):
        return self.root / rel.lstrip("/")

    def ssm_config(self, ssm=None, standin=None):
        cfg = {"Ssm": {"Endpoint": self.emulator, **(ssm or {})}, "StandIn": {"RetrySeconds": 1, **(standin or {})}}
        path = self.p("/etc/amazon/ssm/amazon-ssm-agent.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg))

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_"))
               and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
        env.update(extra or {})
        return env

    # ---- amazon-ssm-agent
    def ssm(self, *args, stdin=subprocess.DEVNULL, input_text=None, timeout=30):
        kwargs = {"input": input_text} if input_text is not None else {"stdin": stdin}
        return subprocess.run([HOST_PYTHON, str(SSM_AGENT), "-root", str(self.root), *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env(), check=False, **kwargs)

    def register(self, act_id, code, *extra):
        return self.ssm("-register", "-code", code, "-id", act_id, "-region", REGION, *extra)

    def start_ssm_service(self):
        proc = subprocess.Popen([HOST_PYTHON, str(SSM_AGENT), "-root", str(self.root)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, env=self.env())
        self.procs.append(proc)
        return proc

    def registration(self):
        return json.loads(self.p("/var/lib/amazon/ssm/registration").read_text())

    def vault(self):
        return json.loads(self.p("/var/lib/amazon/ssm/Vault/Store/RegistrationKey").read_text())

    def ssm_log(self):
        path = self.p("/var/log/amazon/ssm/amazon-ssm-agent.log")
        return path.read_text() if path.exists() else ""

    def credentials_path(self):
        return self.p("/root/.aws/credentials")

    # ---- amazon-ecs-init
    def write_ecs_config(self, instance=None, user=None):
        for rel, values in (("/var/lib/ecs/ecs.config", instance), ("/etc/ecs/ecs.config", user)):
            if values is not None:
                path = self.p(rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    def ecs_env(self, docker_sock, port, extra=None):
        env = {"DOCKER_HOST": f"unix://{docker_sock}", "ECS_STANDIN_INTROSPECTION_PORT": str(port),
               "ECS_STANDIN_HEARTBEAT_SECONDS": "0.5", "ECS_STANDIN_CREDENTIALS_POLL_SECONDS": "0.2",
               "ECS_STANDIN_CREDENTIALS_RELOAD_SECONDS": "1"}
        env.update(extra or {})
        return self.env(env)

    def ecs(self, command, env, timeout=30):
        return subprocess.run([HOST_PYTHON, str(ECS_INIT), "--root", str(self.root), command], capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)

    def start_ecs(self, env):
        proc = subprocess.Popen([HOST_PYTHON, str(ECS_INIT), "--root", str(self.root), "start"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.procs.append(proc)
        return proc

    def ecs_log(self, name="ecs-agent.log"):
        path = self.p(f"/var/log/ecs/{name}")
        return path.read_text() if path.exists() else ""

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def host_factory(aws, tmp_path):
    hosts = []

    def make(name="host"):
        host = Host(tmp_path / name, aws.url, name)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop_all()


@pytest.fixture
def host(host_factory):
    return host_factory("host-1")


# --------------------------------------------------------------------------------------------- fake docker

class _DockerHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/_ping":
            body, ctype = b"OK", "text/plain"
        elif self.path.startswith("/version"):
            body, ctype = json.dumps({"Version": "20.10.24+dfsg1", "ApiVersion": "1.41"}).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def docker_sock():
    """A unix socket answering Docker's /_ping and /version (short path: sun_path is 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="dk", dir="/tmp")
    path = os.path.join(directory, "docker.sock")
    server = _UnixServer(path, _DockerHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def missing_docker_sock():
    directory = tempfile.mkdtemp(prefix="dk", dir="/tmp")
    yield os.path.join(directory, "docker.sock")
    shutil.rmtree(directory, ignore_errors=True)
