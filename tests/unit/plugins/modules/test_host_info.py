# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_info against a fake root, fake systemctl/dpkg-query/rpm on PATH and a local introspection server."""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fleet.ecs_anywhere.plugins.modules import host_info

MI = "mi-0123456789abcdef0"
ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PRIVATE_KEY = "MIIEpAIBAAKCAQEAsecretprivatekeymaterial"
SECRETS = [PRIVATE_KEY, "s3cr3t-registry-password", "AKIASECRETACCESSKEY", "wJalrXUtnFEMI/K7MDENG", "tok-123"]


def write(root, relative, content, mtime=None):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def executable(bindir, name, script):
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # systemd: ecs active/enabled, docker inactive/disabled, the SSM agent only exists as the snap unit.
    executable(
        str(bindir),
        "systemctl",
        """
case "$1 $2" in
  "is-enabled ecs.service") echo enabled ;;
  "is-active ecs.service") echo active ;;
  "is-enabled docker.service") echo disabled; exit 1 ;;
  "is-active docker.service") echo inactive; exit 3 ;;
  "is-enabled snap.amazon-ssm-agent.amazon-ssm-agent.service") echo enabled ;;
  "is-active snap.amazon-ssm-agent.amazon-ssm-agent.service") echo active ;;
  "is-enabled "*) echo "Failed to get unit file state for $2: No such file or directory" >&2; exit 1 ;;
  "is-active "*) echo inactive; exit 3 ;;
esac
""",
    )
    executable(
        str(bindir),
        "dpkg-query",
        """
for last; do :; done
case "$last" in
  amazon-ssm-agent) printf 'install ok installed\\t3.3.987.0-1' ;;
  amazon-ecs-init) printf 'deinstall ok config-files\\t1.80.0-1' ;;
  *) echo "dpkg-query: no packages found matching $last" >&2; exit 1 ;;
esac
""",
    )
    executable(
        str(bindir),
        "rpm",
        """
for last; do :; done
case "$last" in
  amazon-ecs-init) printf '1.89.2-1' ;;
  *) echo "package $last is not installed"; exit 1 ;;
esac
""",
    )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir


@pytest.fixture
def introspection():
    payload = {"Cluster": "edge", "ContainerInstanceArn": ARN, "Version": "Amazon ECS Agent - v1.89.2 (d9b3d5a4)"}
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if self.path == "/v1/metadata":
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def registered_root(root, vault_only=False, agent_db=None):
    vault = {
        "instanceID": MI,
        "region": "eu-west-1",
        "privateKey": PRIVATE_KEY,
        "publicKey": "pub",
        "privateKeyType": "Rsa",
        "instanceType": "on-premises",
        "availabilityZone": "",
    }
    write(root, "var/lib/amazon/ssm/Vault/Store/RegistrationKey", json.dumps(vault))
    write(root, "var/lib/amazon/ssm/Vault/Manifest", json.dumps({"RegistrationKey": "x"}))
    if not vault_only:
        write(root, "var/lib/amazon/ssm/registration", json.dumps({"ManagedInstanceID": MI, "Region": "us-east-1"}))
    write(
        root,
        "var/lib/ecs/ecs.config",
        "\n".join(
            [
                "AWS_DEFAULT_REGION=us-east-1",
                "ECS_EXTERNAL=true",
                "ECS_CLUSTER=from-instance-file",
                "ECS_BACKEND_HOST=",
                "",
            ]
        ),
    )
    write(
        root,
        "etc/ecs/ecs.config",
        "\n".join(
            [
                "# written by the install script",
                "ECS_CLUSTER=default",
                "ECS_CLUSTER=edge",
                'ECS_INSTANCE_ATTRIBUTES={"site": "lyon"}',
                'ECS_ENGINE_AUTH_DATA={"registry.example": {"username": "u", "password": "s3cr3t-registry-password"}}',
                "AWS_ACCESS_KEY_ID=AKIASECRETACCESSKEY",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG",
                'ECS_SOME_TOKEN="tok-123"',
                "ECS_CREDENTIALS_FILE=/rotatingcreds/credentials",
                "not a key value line",
                "",
            ]
        ),
    )
    write(
        root,
        "root/.aws/credentials",
        "[default]\naws_access_key_id = AKIASECRETACCESSKEY\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n",
        mtime=time.time() - 600,
    )
    if agent_db is not None:
        write(root, "var/lib/ecs/data/agent.db", agent_db)


def run(capsys, **args):
    args.setdefault("timeout", 2)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            host_info.main()
    raw = capsys.readouterr().out
    return json.loads(raw), raw, exc.value.code


def test_registered_host(tmp_path, capsys, fake_bin, introspection):
    url, hits = introspection
    root = str(tmp_path / "root")
    registered_root(root, agent_db=json.dumps({"metadata": {"cluster-name": "edge", "container-instance-arn": ARN}}))
    result, raw, rc = run(capsys, root=root, introspection_url=url)

    assert rc == 0
    assert result["changed"] is False
    assert result["ssm_registration"] == {"managed_instance_id": MI, "region": "us-east-1", "source": "registration"}
    config = result["ecs_config"]
    assert config["ECS_CLUSTER"] == "edge"  # /etc/ecs/ecs.config wins, and the last assignment in it
    assert config["ECS_EXTERNAL"] == "true" and config["AWS_DEFAULT_REGION"] == "us-east-1"
    assert config["ECS_INSTANCE_ATTRIBUTES"] == '{"site": "lyon"}'
    for key in (
        "ECS_ENGINE_AUTH_DATA",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "ECS_SOME_TOKEN",
        "ECS_CREDENTIALS_FILE",
    ):
        assert config[key] == "<redacted>", key
    assert "not a key value line" not in raw
    assert result["ecs_config_files"] == [
        os.path.join(root, "var/lib/ecs/ecs.config"),
        os.path.join(root, "etc/ecs/ecs.config"),
    ]
    assert result["ecs_agent"] == {
        "reachable": True,
        "cluster": "edge",
        "container_instance_arn": ARN,
        "version": "Amazon ECS Agent - v1.89.2 (d9b3d5a4)",
    }
    assert hits == ["/v1/metadata"]
    assert result["services"]["ecs"] == {"unit": "ecs.service", "active": "active", "enabled": "enabled"}
    assert result["services"]["docker"] == {"unit": "docker.service", "active": "inactive", "enabled": "disabled"}
    assert result["services"]["amazon-ssm-agent"]["unit"] == "snap.amazon-ssm-agent.amazon-ssm-agent.service"
    assert result["services"]["amazon-ssm-agent"]["active"] == "active"
    # dpkg knows the SSM agent; ecs-init is only config-files in dpkg, so the rpm answer is used.
    assert result["packages"] == {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": "1.89.2-1"}
    creds = result["shared_credentials"]
    assert creds["present"] is True and 595 <= creds["age_seconds"] <= 700
    assert result["ecs_agent_state"]["present"] is True and result["ecs_agent_state"]["readable"] is True
    assert result["ecs_agent_state"]["cluster"] == "edge"
    assert result["ecs_agent_state"]["container_instance_arn"] == ARN
    for secret in SECRETS:
        assert secret not in raw, secret


def test_vault_fallback_returns_only_id_and_region(tmp_path, capsys, fake_bin, introspection):
    root = str(tmp_path / "root")
    registered_root(root, vault_only=True)
    result, raw, dummy = run(capsys, root=root, introspection_url=introspection[0])
    assert result["ssm_registration"] == {"managed_instance_id": MI, "region": "eu-west-1", "source": "vault"}
    for secret in SECRETS + ["publicKey", "privateKey"]:
        assert secret not in raw, secret


def test_boltdb_state_is_present_but_unreadable(tmp_path, capsys, fake_bin):
    root = str(tmp_path / "root")
    registered_root(root, agent_db="\x00\x00\x00\x00\xed\xda\x0c\xed bolt pages")
    result, dummy, dummy2 = run(capsys, root=root, introspection_url="http://127.0.0.1:9")
    assert result["ecs_agent_state"]["present"] is True
    assert result["ecs_agent_state"]["readable"] is False
    assert result["ecs_agent_state"]["cluster"] is None


def test_bare_host(tmp_path, capsys, fake_bin, monkeypatch):
    root = str(tmp_path / "empty")
    os.makedirs(root)
    result, dummy, rc = run(capsys, root=root, introspection_url="http://127.0.0.1:9", _ansible_check_mode=True)
    assert rc == 0 and result["changed"] is False
    assert result["ssm_registration"] == {"managed_instance_id": None, "region": None, "source": None}
    assert result["ecs_config"] == {} and result["ecs_config_files"] == []
    assert result["ecs_agent"]["reachable"] is False and "127.0.0.1:9" in result["ecs_agent"]["error"]
    assert result["shared_credentials"] == {
        "path": os.path.join(root, "root/.aws/credentials"),
        "present": False,
        "age_seconds": None,
    }
    assert result["ecs_agent_state"]["present"] is False


def test_no_systemctl_or_package_tools(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(host_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert rc == 0
    assert result["services"]["ecs"] == {"unit": "ecs.service", "active": None, "enabled": None}
    assert result["packages"] == {"amazon-ssm-agent": None, "amazon-ecs-init": None}


def test_slow_agent_is_bounded_by_timeout(tmp_path, capsys, fake_bin):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    try:
        start = time.monotonic()
        result, dummy, dummy2 = run(
            capsys, root=str(tmp_path), timeout=1, introspection_url=f"http://127.0.0.1:{listener.getsockname()[1]}"
        )
        assert time.monotonic() - start < 5
        assert result["ecs_agent"]["reachable"] is False
    finally:
        listener.close()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A=1\nA=2\n", {"A": "2"}),
        ("# c\n; c\n\n  B = x y \n", {"B": "x y"}),
        ("C='q'\nD=\"dq\"\nE==\n", {"C": "q", "D": "dq", "E": "="}),
    ],
)
def test_parse_env_file(text, expected):
    assert host_info.parse_env_file(text) == expected


def test_credentials_file_is_never_opened(tmp_path, monkeypatch):
    root = str(tmp_path)
    write(root, "root/.aws/credentials", "secret")
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    assert host_info.shared_credentials(root)["present"] is True
    host_info.ecs_config(root)
    host_info.ssm_registration(root)
    host_info.ecs_agent_state(root)
    assert not [p for p in opened if p.endswith("credentials")]
