# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_info against a fake root, fake systemctl/dpkg-query/rpm on PATH and a local introspection server."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
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
    assert result["credential_chain"]["credentials_present"] is True
    assert result["credential_chain"]["credentials_profiles"] == ["default"]
    assert result["probes"] == {}
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


def test_systemd_running_follows_the_runtime_directory(tmp_path, capsys):
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert rc == 0
    assert result["systemd_running"] is False
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert result["systemd_running"] is True


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


CHAIN_SECRET = "ChainSecret-9f8e7d6c5b4a"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def chain_root(root):
    write(
        root,
        "etc/environment",
        "\n".join(
            [
                'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"',
                f"export AWS_PROFILE={CHAIN_SECRET}",
                f"  AWS_ACCESS_KEY_ID = {CHAIN_SECRET}",
                f"AWS_SECRET_ACCESS_KEY={CHAIN_SECRET}",
                f"AWS_PROFILE={CHAIN_SECRET}",
                f"# AWS_SESSION_TOKEN={CHAIN_SECRET}",
                "AWS_REGION=us-east-1",
                "",
            ]
        ),
    )
    write(
        root,
        "root/.aws/config",
        "\n".join(
            [
                "[default]",
                "region = us-east-1",
                "[profile ops]",
                f"role_arn = arn:aws:iam::123456789012:role/{CHAIN_SECRET}",
                "source_profile = default",
                "[ profile  build ]",
                f"credential_process = /usr/local/bin/helper --token {CHAIN_SECRET}",
                "[sso-session corp]",
                "sso_start_url = https://corp.awsapps.com/start",
                f"aws_secret_access_key = {CHAIN_SECRET}",
                "",
            ]
        ),
    )
    write(
        root,
        "root/.aws/credentials",
        "\n".join(
            [
                "[default]",
                f"aws_access_key_id = {CHAIN_SECRET}",
                f"aws_secret_access_key = {CHAIN_SECRET}",
                "[ci]",
                f"aws_session_token={CHAIN_SECRET}",
                "",
            ]
        ),
    )


def test_credential_chain_reports_names_only(tmp_path, capsys, fake_bin):
    root = str(tmp_path / "root")
    chain_root(root)
    result, raw, rc = run(capsys, root=root, introspection_url="http://127.0.0.1:9")
    assert rc == 0 and result["changed"] is False
    assert result["credential_chain"] == {
        "environment_variables": ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_SECRET_ACCESS_KEY"],
        "config_sources": ["credential_process", "role_arn", "source_profile", "sso_start_url"],
        "config_profiles": ["default", "ops", "build", "sso-session corp"],
        "credentials_present": True,
        "credentials_profiles": ["default", "ci"],
    }
    assert result["probes"] == {}
    assert CHAIN_SECRET not in raw
    assert CHAIN_SECRET not in json.dumps(result)


def test_credential_chain_of_a_clean_host(tmp_path, capsys, fake_bin):
    root = str(tmp_path / "empty")
    os.makedirs(root)
    result, dummy, rc = run(capsys, root=root, introspection_url="http://127.0.0.1:9")
    assert rc == 0
    assert result["credential_chain"] == {
        "environment_variables": [],
        "config_sources": [],
        "config_profiles": [],
        "credentials_present": False,
        "credentials_profiles": [],
    }


def test_credential_chain_of_unreadable_files(tmp_path):
    # Directories stand in for unreadable files: open() fails on them even for root.
    root = str(tmp_path)
    for relative in ("etc/environment", "root/.aws/config", "root/.aws/credentials"):
        os.makedirs(os.path.join(root, relative))
    assert host_info.credential_chain(root) == {
        "environment_variables": [],
        "config_sources": [],
        "config_profiles": [],
        "credentials_present": True,
        "credentials_profiles": [],
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("export AWS_PROFILE=ops\n", ["AWS_PROFILE"]),
        ("export\tAWS_CONFIG_FILE=/a\nAWS_CONFIG_FILE = /b\n", ["AWS_CONFIG_FILE"]),
        ("\n\n   AWS_ROLE_ARN=arn\r\n", ["AWS_ROLE_ARN"]),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://x\nAWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2\n"
            "AWS_WEB_IDENTITY_TOKEN_FILE=/t\nAWS_SHARED_CREDENTIALS_FILE=/c\nAWS_DEFAULT_PROFILE=p\nAWS_SESSION_TOKEN=t\n",
            [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_DEFAULT_PROFILE",
                "AWS_SESSION_TOKEN",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ],
        ),
        # Comments, other variables, longer names and names glued to "export" are not assignments of the list.
        ("# AWS_PROFILE=x\nAWS_REGION=eu-west-1\nAWS_PROFILES=x\nMY_AWS_ROLE_ARN=x\nexportAWS_PROFILE=x\n", []),
        ("AWS_PROFILE\n", []),
    ],
)
def test_credential_environment_variables(tmp_path, text, expected):
    write(str(tmp_path), "etc/environment", text)
    assert host_info.credential_chain(str(tmp_path))["environment_variables"] == expected


@pytest.mark.parametrize(
    "text, sources, profiles",
    [
        ("[default]\nregion = us-east-1\n", [], ["default"]),
        (
            "[profile a]\nsso_session = corp\n[sso-session corp]\nsso_start_url=https://x\n",
            ["sso_session", "sso_start_url"],
            ["a", "sso-session corp"],
        ),
        (
            "  [ profile b ]\n  web_identity_token_file = /t\ncredential_source = Environment\n",
            ["credential_source", "web_identity_token_file"],
            ["b"],
        ),
        (
            "[default]\naws_access_key_id = x\n# role_arn = x\nrole_arn_x = y\n[default]\n",
            ["aws_access_key_id"],
            ["default", "default"],
        ),
        # A header without its closing bracket is not a section, and never takes the next line with it.
        ("[broken\nrole_arn = x]\n", ["role_arn"], []),
    ],
)
def test_credential_config(tmp_path, text, sources, profiles):
    write(str(tmp_path), "root/.aws/config", text)
    chain = host_info.credential_chain(str(tmp_path))
    assert chain["config_sources"] == sources
    assert chain["config_profiles"] == profiles


def test_credentials_file_keeps_only_section_names(tmp_path):
    root = str(tmp_path)
    path = write(root, "root/.aws/credentials", "")
    with open(path, "wb") as f:
        f.write(b"[default]\naws_secret_access_key = \xff\xfe" + CHAIN_SECRET.encode() + b"\n [ other ] \n[unclosed\n")
    chain = host_info.credential_chain(root)
    assert chain["credentials_present"] is True
    assert chain["credentials_profiles"] == ["default", "other"]
    assert CHAIN_SECRET not in json.dumps(chain)


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # failed TLS handshakes are part of the tests


@pytest.fixture
def endpoints():
    """Answers 200 on /ok, 403 on /forbidden, 301 to /ok on /moved and 200 after a pause on /slow."""
    hits = []
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if self.path.endswith("/slow"):
                with lock:
                    in_flight["now"] += 1
                    in_flight["max"] = max(in_flight["max"], in_flight["now"])
                time.sleep(0.4)
                with lock:
                    in_flight["now"] -= 1
            if self.path.endswith("/forbidden"):
                self.send_error(403)
                return
            if self.path.endswith("/moved"):
                self.send_response(301)
                self.send_header("Location", "/ok")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # Anything else, absolute URIs sent to a proxy included, is a 200.
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits, in_flight
    server.shutdown()
    server.server_close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_probes_count_any_http_answer_as_reachable(tmp_path, capsys, fake_bin, no_proxy_env, endpoints):
    url, hits, dummy = endpoints
    closed = f"http://127.0.0.1:{closed_port()}/"
    urls = {"SSM API": f"{url}/ok", "ECS API": f"{url}/forbidden", "closed": closed, "moved": f"{url}/moved"}
    # Check mode on purpose: the probes only read, so they run there too.
    result, dummy, rc = run(
        capsys,
        root=str(tmp_path),
        introspection_url="http://127.0.0.1:9",
        probe_urls=urls,
        probe_timeout=5,
        _ansible_check_mode=True,
    )
    assert rc == 0 and result["changed"] is False
    probes = result["probes"]
    assert set(probes) == set(urls)
    assert probes["SSM API"] == {"url": f"{url}/ok", "reachable": True, "status": 200, "error": None}
    assert probes["ECS API"] == {"url": f"{url}/forbidden", "reachable": True, "status": 403, "error": None}
    assert probes["closed"]["url"] == closed
    assert probes["closed"]["reachable"] is False and probes["closed"]["status"] is None
    assert "refused" in probes["closed"]["error"].lower()
    # The redirect is the answer; it is not followed.
    assert probes["moved"] == {"url": f"{url}/moved", "reachable": True, "status": 301, "error": None}
    assert sorted(hits) == ["/forbidden", "/moved", "/ok"]


@pytest.mark.usefixtures("fake_bin", "no_proxy_env")
def test_probes_go_through_the_proxy_of_the_environment(tmp_path, capsys, monkeypatch, endpoints):
    url, hits, dummy = endpoints
    monkeypatch.setenv("http_proxy", url)
    result, dummy, rc = run(
        capsys,
        root=str(tmp_path),
        introspection_url="http://127.0.0.1:9",
        probe_urls={"SSM API": "http://ssm.us-east-1.amazonaws.example/"},
    )
    assert rc == 0
    assert result["probes"]["SSM API"]["reachable"] is True and result["probes"]["SSM API"]["status"] == 200
    assert hits == ["http://ssm.us-east-1.amazonaws.example/"]


@pytest.mark.usefixtures("fake_bin", "no_proxy_env")
def test_probes_honour_no_proxy(tmp_path, capsys, monkeypatch, endpoints):
    url, hits, dummy = endpoints
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    result, dummy, rc = run(
        capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", probe_urls={"local": f"{url}/ok"}
    )
    assert result["probes"]["local"]["status"] == 200
    assert hits == ["/ok"]


def test_probes_run_in_parallel_within_the_timeout(tmp_path, capsys, fake_bin, no_proxy_env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # completes the connections but never answers
    silent = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        start = time.monotonic()
        result, dummy, rc = run(
            capsys,
            root=str(tmp_path),
            introspection_url="http://127.0.0.1:9",
            probe_urls={f"silent {i}": silent for i in range(4)},
            probe_timeout=1,
        )
        elapsed = time.monotonic() - start
    finally:
        listener.close()
    assert rc == 0
    # One after the other, four silent endpoints would take at least 4 seconds.
    assert elapsed < 3.5
    for answer in result["probes"].values():
        assert answer == {"url": silent, "reachable": False, "status": None, "error": "no answer within 1 seconds"}


def test_probes_at_most_eight_at_a_time(tmp_path, capsys, fake_bin, no_proxy_env, endpoints):
    url, hits, in_flight = endpoints
    result, dummy, rc = run(
        capsys,
        root=str(tmp_path),
        introspection_url="http://127.0.0.1:9",
        probe_urls={f"slow {i}": f"{url}/slow" for i in range(12)},
    )
    assert rc == 0
    assert [answer["status"] for answer in result["probes"].values()] == [200] * 12
    assert 1 < in_flight["max"] <= host_info.PROBE_WORKERS == 8


@pytest.fixture
def tls_endpoint(tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_probes_validate_certificates_unless_told_not_to(tmp_path, capsys, fake_bin, no_proxy_env, tls_endpoint):
    args = dict(root=str(tmp_path), introspection_url="http://127.0.0.1:9", probe_urls={"self-signed": tls_endpoint})
    result, dummy, dummy2 = run(capsys, **args)
    answer = result["probes"]["self-signed"]
    assert answer["reachable"] is False and answer["status"] is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer["error"]
    result, dummy, dummy2 = run(capsys, probe_validate_certs=False, **args)
    assert result["probes"]["self-signed"] == {"url": tls_endpoint, "reachable": True, "status": 200, "error": None}


def test_probes_only_fetch_http_urls(tmp_path, capsys, fake_bin, no_proxy_env):
    result, raw, rc = run(
        capsys,
        root=str(tmp_path),
        introspection_url="http://127.0.0.1:9",
        probe_urls={"file": "file:///etc/passwd", "empty": "", "bad": "http://[::1"},
    )
    assert rc == 0
    assert result["probes"]["file"] == {
        "url": "file:///etc/passwd",
        "reachable": False,
        "status": None,
        "error": "not an http or https URL",
    }
    assert result["probes"]["empty"]["error"] == "not an http or https URL"
    assert result["probes"]["bad"]["reachable"] is False and result["probes"]["bad"]["error"]
    assert "root:" not in raw


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {"probe_urls": {"SSM API": 443, "ok": "https://x"}},
            "Unable to probe SSM API: probe_urls values must be URL strings",
        ),
        ({"probe_timeout": 0}, "probe_timeout must be at least 1 second, got 0"),
    ],
)
def test_probe_arguments_are_checked(tmp_path, capsys, args, message):
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", **args)
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == message
