# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_info against a fake root, fake systemctl/dpkg-query/rpm on PATH and a local introspection server."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import host_state
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import package_formats
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


# What systemd 252 (Debian 12) prints for `systemctl show --property=Id,LoadState,ActiveState,UnitFileState --
# docker.service nosuch.service ecs.service amazon-ssm-agent.service snap.amazon-ssm-agent.amazon-ssm-agent.service
# debug-shell.service dbus.service sudo.service kmod.service`, byte for byte: one block per unit given, in that
# order, blank line between blocks, none after the last. kmod.service is an alias; its block has the Id it resolves to.
SYSTEMCTL_SHOW = """Id=docker.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=ecs.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=amazon-ssm-agent.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=snap.amazon-ssm-agent.amazon-ssm-agent.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=debug-shell.service
LoadState=loaded
ActiveState=inactive
UnitFileState=disabled

Id=dbus.service
LoadState=loaded
ActiveState=inactive
UnitFileState=static

Id=sudo.service
LoadState=masked
ActiveState=inactive
UnitFileState=masked

Id=systemd-modules-load.service
LoadState=loaded
ActiveState=inactive
UnitFileState=static
"""
SHOWN_UNITS = [line[3:] for line in SYSTEMCTL_SHOW.splitlines() if line.startswith("Id=")]
SHOWN_UNITS[-1] = "kmod.service"
SYSTEMCTL_PROPERTIES = "--property=Id,LoadState,ActiveState,UnitFileState"
DPKG_FORMAT = "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n"
RPM_FORMAT = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n"
DEBIAN = 'ID=debian\nVERSION_ID="12"\n'
RHEL = 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
SNAP_UNIT = "snap.amazon-ssm-agent.amazon-ssm-agent.service"
SNAP_BINARY = "/snap/amazon-ssm-agent/current/amazon-ssm-agent"


@pytest.fixture(autouse=True)
def os_release(tmp_path, monkeypatch):
    """The running system's os-release, a Debian's unless a test writes another: the tests' machine has no say."""
    path = tmp_path / "system" / "etc" / "os-release"
    path.parent.mkdir(parents=True)
    path.write_text(DEBIAN)
    monkeypatch.setattr(package_formats, "HOST_ROOT", str(tmp_path / "system"))
    return path


def calls(bindir):
    """The commands the fakes ran, one argv list each, in order."""
    path = bindir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


LOG_ARGV = "import json, os, sys; print(json.dumps([os.path.basename(sys.argv[1])] + sys.argv[2:]))"


def log_call(bindir):
    # Each fake logs its argv as one JSON line (tabs and newlines of the format arguments included).
    return f'"{sys.executable}" -c "{LOG_ARGV}" "$0" "$@" >> "{bindir}/calls.jsonl"\n'


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """systemctl, dpkg-query and rpm as the real ones answer, for a host whose state tables below describe.

    systemd: ecs active/enabled, docker inactive/disabled, the SSM agent only exists as the snap unit.
    dpkg: the SSM agent installed, ecs-init only config-files, docker.io installed and held, containerd removed.
    rpm: ecs-init installed, in two versions, and docker.io with an epoch (a package both databases know).
    """
    bindir = tmp_path / "bin"
    bindir.mkdir()
    executable(
        str(bindir),
        "systemctl",
        log_call(bindir)
        + """
state() {
  case "$1" in
    ecs.service) echo "loaded active enabled" ;;
    docker.service) echo "loaded inactive disabled" ;;
    snap.amazon-ssm-agent.amazon-ssm-agent.service) echo "loaded active enabled" ;;
    failed.service) echo "loaded failed enabled" ;;
    masked.service) echo "masked inactive masked" ;;
    *) echo "not-found inactive -" ;;
  esac
}
block() {
  set -- "$1" $(state "$1")
  [ "$4" = "-" ] && set -- "$1" "$2" "$3" ""
  printf 'Id=%s\\nLoadState=%s\\nActiveState=%s\\nUnitFileState=%s\\n' "$1" "$2" "$3" "$4"
}
if [ -n "$FAKE_SYSTEMD_DOWN" ] && [ "$1" != is-enabled ]; then
  echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
  echo "Failed to connect to bus: Host is down" >&2
  exit 1
fi
case "$1" in
  show)
    [ "$2" = "--property=Id,LoadState,ActiveState,UnitFileState" ] && [ "$3" = "--" ] || exit 2
    shift 3
    sep=""
    for unit in "$@"; do printf "$sep"; block "$unit"; sep="\\n"; done ;;
  is-enabled)
    set -- $(state "$2") "$2"
    if [ "$1" = "not-found" ]; then
      echo "Failed to get unit file state for $4: No such file or directory" >&2
      exit 1
    fi
    echo "$3" ;;
  is-active)
    set -- $(state "$2")
    echo "$2" ;;
esac
""",
    )
    executable(
        str(bindir),
        "dpkg-query",
        log_call(bindir)
        + """
[ "$1" = "-W" ] || exit 2
shift 2
rc=0
# dpkg-query lists what it knows sorted by name, not in the order asked, and each unknown name on stderr.
for name in "$@"; do
  case "$name" in
    amazon-ssm-agent) printf 'amazon-ssm-agent\\tii \\t3.3.987.0-1\\n' ;;
    amazon-ecs-init) printf 'amazon-ecs-init\\trc \\t1.80.0-1\\n' ;;
    docker.io) printf 'docker.io\\thi \\t20.10.24+dfsg1-1+deb12u1+b6\\n' ;;
    containerd) printf 'containerd\\tun \\t\\n' ;;
    *) echo "dpkg-query: no packages found matching $name" >&2; rc=1 ;;
  esac
done | sort
for name in "$@"; do
  case "$name" in amazon-ssm-agent|amazon-ecs-init|docker.io|containerd) ;; *) rc=1 ;; esac
done
exit $rc
""",
    )
    executable(
        str(bindir),
        "rpm",
        log_call(bindir)
        + """
[ "$1" = "-q" ] && [ "$2" = "--qf" ] || exit 2
shift 3
missing=0
for name in "$@"; do
  case "$name" in
    amazon-ecs-init) printf 'amazon-ecs-init\\t1.89.2-1\\namazon-ecs-init\\t1.80.0-1\\n' ;;
    docker.io) printf 'docker.io\\t3:27.3.1-1.el9\\n' ;;
    *) echo "package $name is not installed"; missing=$((missing + 1)) ;;
  esac
done
exit $missing
""",
    )
    monkeypatch.delenv("FAKE_SYSTEMD_DOWN", raising=False)
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
    assert result["ssm_agent"] == {"kind": "snap", "binary": SNAP_BINARY, "service": SNAP_UNIT}
    # dpkg knows the SSM agent; ecs-init is only config-files in dpkg, so the rpm answer is used.
    assert result["packages"] == {"amazon-ssm-agent": "3.3.987.0-1", "amazon-ecs-init": "1.89.2-1"}
    # One call per tool: every unit in one systemctl show, every package in one dpkg-query, the rest in one rpm.
    service_units = [u for units in host_state.SERVICES.values() for u in units]
    assert calls(fake_bin) == [
        ["systemctl", "show", SYSTEMCTL_PROPERTIES, "--", *service_units],
        ["dpkg-query", "-W", DPKG_FORMAT, "amazon-ssm-agent", "amazon-ecs-init"],
        ["rpm", "-q", "--qf", RPM_FORMAT, "amazon-ecs-init"],
    ]
    assert result["files"] == {} and result["record"] is None
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


# ------------------------------------------------------------------ services


class StubModule:
    """Answers run_command with canned (rc, stdout, stderr) and records the argv lists it was given."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.commands = []

    def run_command(self, args):
        self.commands.append(args)
        return self.answers.pop(0)


def test_parse_systemctl_show_of_a_real_systemd():
    blocks = host_state.parse_systemctl_show(SYSTEMCTL_SHOW)
    assert len(blocks) == len(SHOWN_UNITS) == 9
    assert blocks[0] == {
        "Id": "docker.service",
        "LoadState": "loaded",
        "ActiveState": "active",
        "UnitFileState": "enabled",
    }
    assert blocks[1] == {
        "Id": "nosuch.service",
        "LoadState": "not-found",
        "ActiveState": "inactive",
        "UnitFileState": "",
    }
    # Blank lines of any number, a trailing one and stray lines without "=" change nothing.
    assert host_state.parse_systemctl_show("\n\n" + SYSTEMCTL_SHOW.replace("\n\n", "\n\n\nnoise\n") + "\n\n") == blocks
    assert host_state.parse_systemctl_show("") == []


def test_unit_states_of_a_real_systemd():
    module = StubModule((0, SYSTEMCTL_SHOW, ""))
    states = host_state.unit_states(module, "/usr/bin/systemctl", SHOWN_UNITS)
    assert module.commands == [["/usr/bin/systemctl", "show", SYSTEMCTL_PROPERTIES, "--", *SHOWN_UNITS]]
    # What systemctl is-active and is-enabled print for the same units on the same host.
    assert {unit: (state["active"], state["enabled"]) for unit, state in states.items()} == {
        "docker.service": ("active", "enabled"),
        "nosuch.service": ("inactive", "not-found"),
        "ecs.service": ("active", "enabled"),
        "amazon-ssm-agent.service": ("active", "enabled"),
        "snap.amazon-ssm-agent.amazon-ssm-agent.service": ("inactive", "not-found"),
        "debug-shell.service": ("inactive", "disabled"),
        "dbus.service": ("inactive", "static"),
        "sudo.service": ("inactive", "masked"),
        # An alias is named by the unit asked for, not by the Id it resolves to.
        "kmod.service": ("inactive", "static"),
    }
    assert all(state["unit"] == unit for unit, state in states.items())


def test_unit_states_match_ids_when_a_block_is_missing():
    # Not something systemctl does for valid names; should it, only the blocks whose Id names a unit are used.
    shown = SYSTEMCTL_SHOW.split("\n\n")
    module = StubModule((1, "\n\n".join([shown[2], shown[0]]), "Unit name bad@ is not valid."))
    states = host_state.unit_states(module, "systemctl", ["bad@", "docker.service", "ecs.service"])
    assert states == {
        "bad@": {"unit": "bad@", "active": None, "enabled": None},
        "docker.service": {"unit": "docker.service", "active": "active", "enabled": "enabled"},
        "ecs.service": {"unit": "ecs.service", "active": "active", "enabled": "enabled"},
    }


def test_services_prefer_the_deb_ssm_unit_over_the_snap():
    # The real host of SYSTEMCTL_SHOW: the deb unit exists, the snap unit does not.
    shown = dict(zip(SHOWN_UNITS, SYSTEMCTL_SHOW.split("\n\n"), strict=True))
    units = [u for units in host_state.SERVICES.values() for u in units]
    module = StubModule((0, "\n\n".join(shown[u] for u in units), ""))
    module.get_bin_path = lambda name: f"/usr/bin/{name}"
    assert host_info.services(module) == {
        "amazon-ssm-agent": {"unit": "amazon-ssm-agent.service", "active": "active", "enabled": "enabled"},
        "ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"},
        "docker": {"unit": "docker.service", "active": "active", "enabled": "enabled"},
    }
    assert len(module.commands) == 1


def test_services_fall_back_to_the_snap_ssm_unit(tmp_path, capsys, fake_bin):
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=[])
    assert rc == 0
    assert result["services"] == {
        "amazon-ssm-agent": {
            "unit": "snap.amazon-ssm-agent.amazon-ssm-agent.service",
            "active": "active",
            "enabled": "enabled",
        },
        "ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"},
        "docker": {"unit": "docker.service", "active": "inactive", "enabled": "disabled"},
    }
    assert [call[:2] for call in calls(fake_bin)] == [["systemctl", "show"]]


def test_services_report_missing_units_as_not_found(tmp_path, capsys, fake_bin, monkeypatch):
    monkeypatch.setattr(
        host_state,
        "SERVICES",
        {
            "amazon-ssm-agent": ("gone.service", "snap.gone.service"),
            "ecs": ("failed.service",),
            "x": ("masked.service",),
        },
    )
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=[])
    assert rc == 0
    assert result["services"] == {
        # Neither unit exists: the first is reported, as not-found.
        "amazon-ssm-agent": {"unit": "gone.service", "active": "inactive", "enabled": "not-found"},
        "ecs": {"unit": "failed.service", "active": "failed", "enabled": "enabled"},
        "x": {"unit": "masked.service", "active": "inactive", "enabled": "masked"},
    }
    assert len(calls(fake_bin)) == 1


def test_services_without_a_systemd_manager_ask_each_unit(tmp_path, capsys, fake_bin, monkeypatch):
    # systemd is not PID 1: show cannot answer, is-enabled still reads the unit files, is-active has nothing to ask.
    monkeypatch.setenv("FAKE_SYSTEMD_DOWN", "1")
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=[])
    assert rc == 0
    assert result["services"] == {
        "amazon-ssm-agent": {
            "unit": "snap.amazon-ssm-agent.amazon-ssm-agent.service",
            "active": None,
            "enabled": "enabled",
        },
        "ecs": {"unit": "ecs.service", "active": None, "enabled": "enabled"},
        "docker": {"unit": "docker.service", "active": None, "enabled": "disabled"},
    }
    assert [call[:3] for call in calls(fake_bin)] == [
        ["systemctl", "show", SYSTEMCTL_PROPERTIES],
        ["systemctl", "is-enabled", "amazon-ssm-agent.service"],
        ["systemctl", "is-active", "amazon-ssm-agent.service"],
        ["systemctl", "is-enabled", "snap.amazon-ssm-agent.amazon-ssm-agent.service"],
        ["systemctl", "is-active", "snap.amazon-ssm-agent.amazon-ssm-agent.service"],
        ["systemctl", "is-enabled", "ecs.service"],
        ["systemctl", "is-active", "ecs.service"],
        ["systemctl", "is-enabled", "docker.service"],
        ["systemctl", "is-active", "docker.service"],
    ]


# ------------------------------------------------------------------ packages


def without_tools(monkeypatch, *names):
    real = host_info.AnsibleModule.get_bin_path

    def get_bin_path(self, name, *args, **kwargs):
        return None if name in names else real(self, name, *args, **kwargs)

    monkeypatch.setattr(host_info.AnsibleModule, "get_bin_path", get_bin_path)


PACKAGES = ["docker.io", "amazon-ssm-agent", "containerd", "amazon-ecs-init", "python3-apt"]


def test_packages_in_one_dpkg_query(tmp_path, capsys, fake_bin, monkeypatch):
    without_tools(monkeypatch, "rpm")
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=PACKAGES)
    assert rc == 0
    # Exactly the names asked for, in that order: installed (held counts), removed, config-files and unknown.
    assert list(result["packages"]) == PACKAGES
    assert result["packages"] == {
        "docker.io": "20.10.24+dfsg1-1+deb12u1+b6",
        "amazon-ssm-agent": "3.3.987.0-1",
        "containerd": None,
        "amazon-ecs-init": None,
        "python3-apt": None,
    }
    assert calls(fake_bin)[1:] == [["dpkg-query", "-W", DPKG_FORMAT, *PACKAGES]]


def test_packages_dpkg_lacks_are_asked_of_rpm_in_one_call(tmp_path, capsys, fake_bin):
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=PACKAGES)
    assert rc == 0
    assert result["packages"] == {
        "docker.io": "20.10.24+dfsg1-1+deb12u1+b6",
        "amazon-ssm-agent": "3.3.987.0-1",
        "containerd": None,
        # Two versions installed: the first rpm printed.
        "amazon-ecs-init": "1.89.2-1",
        "python3-apt": None,
    }
    assert calls(fake_bin)[1:] == [
        ["dpkg-query", "-W", DPKG_FORMAT, *PACKAGES],
        ["rpm", "-q", "--qf", RPM_FORMAT, "containerd", "amazon-ecs-init", "python3-apt"],
    ]


def test_packages_installed_in_dpkg_need_no_rpm(tmp_path, capsys, fake_bin):
    names = ["amazon-ssm-agent", "docker.io", "amazon-ssm-agent"]
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=names)
    assert rc == 0
    assert result["packages"] == {"amazon-ssm-agent": "3.3.987.0-1", "docker.io": "20.10.24+dfsg1-1+deb12u1+b6"}
    assert calls(fake_bin)[1:] == [["dpkg-query", "-W", DPKG_FORMAT, "amazon-ssm-agent", "docker.io"]]


def test_packages_from_rpm_alone(tmp_path, capsys, fake_bin, monkeypatch):
    without_tools(monkeypatch, "dpkg-query")
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert rc == 0
    assert result["packages"] == {"amazon-ssm-agent": None, "amazon-ecs-init": "1.89.2-1"}
    assert calls(fake_bin)[1:] == [["rpm", "-q", "--qf", RPM_FORMAT, "amazon-ssm-agent", "amazon-ecs-init"]]


def test_packages_of_a_host_with_both_databases_ask_the_native_one_first(tmp_path, capsys, fake_bin, os_release):
    # A synthetic RHEL host: a Debian container that says it is RHEL and carries Debian's rpm with an rpm database.
    os_release.write_text(RHEL)
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=PACKAGES)
    assert rc == 0
    assert result["packages"] == {
        # Both databases have it: rpm, the native one, answers.
        "docker.io": "3:27.3.1-1.el9",
        # Only dpkg has it: asked of dpkg, once, with the rest rpm lacks.
        "amazon-ssm-agent": "3.3.987.0-1",
        "containerd": None,
        "amazon-ecs-init": "1.89.2-1",
        "python3-apt": None,
    }
    assert calls(fake_bin)[1:] == [
        ["rpm", "-q", "--qf", RPM_FORMAT, *PACKAGES],
        ["dpkg-query", "-W", DPKG_FORMAT, "amazon-ssm-agent", "containerd", "python3-apt"],
    ]


def test_packages_of_a_debian_host_with_rpm_ask_dpkg_first(tmp_path, capsys, fake_bin):
    result, dummy, rc = run(
        capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=["docker.io", "amazon-ecs-init"]
    )
    assert rc == 0
    assert result["packages"] == {"docker.io": "20.10.24+dfsg1-1+deb12u1+b6", "amazon-ecs-init": "1.89.2-1"}
    assert [call[0] for call in calls(fake_bin)[1:]] == ["dpkg-query", "rpm"]


def test_packages_of_an_rpm_host_without_dpkg_make_one_call(tmp_path, capsys, fake_bin, os_release, monkeypatch):
    os_release.write_text(RHEL)
    without_tools(monkeypatch, "dpkg-query")
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=PACKAGES)
    assert rc == 0 and result["packages"]["amazon-ssm-agent"] is None
    assert calls(fake_bin)[1:] == [["rpm", "-q", "--qf", RPM_FORMAT, *PACKAGES]]


def test_no_packages_no_query(tmp_path, capsys, fake_bin):
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=[])
    assert rc == 0 and result["packages"] == {}
    assert [call[0] for call in calls(fake_bin)] == ["systemctl"]


@pytest.mark.parametrize(
    "out, expected",
    [
        # Multiarch: one line per architecture; an installed one is not hidden by the others.
        ("libc6\tii \t2.36-9\nlibc6\tun \t\n", {"libc6": "2.36-9"}),
        ("libc6\tun \t\nlibc6\tii \t2.36-9\n", {"libc6": "2.36-9"}),
        # Half-installed, unpacked and triggers-pending are not installed; installed is, whatever is wanted of it
        # (hold, remove) and whatever its error flag (reinst-required), as when ${Status} ended in " installed".
        (
            "a\tiH \t1\nb\tiU \t1\nc\tit \t1\nd\tiiR\t1\ne\tri \t2\nf\thi \t3\n",
            {"a": None, "b": None, "c": None, "d": "1", "e": "2", "f": "3"},
        ),
        ("garbage\nx\tii\n", {}),
    ],
)
def test_parse_dpkg_query(out, expected):
    assert host_state.parse_dpkg_query(out) == expected


@pytest.mark.parametrize("name", ["-rf", "--all", "docker*", "", "a b", "x;y", "libc6:amd64", "pkg\n", "[ab]"])
def test_package_names_are_checked(tmp_path, capsys, fake_bin, name):
    result, dummy, rc = run(
        capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=["docker.io", name]
    )
    assert rc == 1 and result["failed"] is True
    assert result["msg"].startswith(f"Invalid package names in packages: {name!r};")
    assert calls(fake_bin) == []


# ------------------------------------------------------------------ files


def file_entry(exists=True, kind=None, checksum=None, mode=None):
    uid, gid = (os.getuid(), os.getgid()) if exists else (None, None)
    return {"exists": exists, "type": kind, "checksum": checksum, "mode": mode, "uid": uid, "gid": gid}


MISSING = {"exists": False, "type": None, "checksum": None, "mode": None, "uid": None, "gid": None}


def test_files(tmp_path, capsys, fake_bin):
    root = str(tmp_path / "root")
    config = write(root, "etc/ecs/ecs.config", "ECS_CLUSTER=edge\n")
    os.chmod(config, 0o640)
    os.makedirs(os.path.join(root, "var/lib/ecs-anywhere"), mode=0o700)
    os.chmod(os.path.join(root, "var/lib/ecs-anywhere"), 0o1700)
    os.symlink("ecs.config", os.path.join(root, "etc/ecs/relative-link"))
    os.symlink("nowhere", os.path.join(root, "etc/ecs/dangling"))
    # An absolute target is resolved by the system, not under root.
    outside = write(str(tmp_path), "outside", "ECS_CLUSTER=edge\n")
    os.symlink(outside, os.path.join(root, "etc/ecs/absolute-link"))
    os.mkfifo(os.path.join(root, "etc/ecs/fifo"))
    os.chmod(os.path.join(root, "etc/ecs/fifo"), 0o600)
    empty = write(root, "etc/ecs/empty", "")
    os.chmod(empty, 0o4700)
    # A file of the real host with the same name is not what is read: paths are read under root.
    paths = [
        "/etc/ecs/ecs.config",
        "etc/ecs/ecs.config",
        "/var/lib/ecs-anywhere",
        "/etc/ecs/relative-link",
        "/etc/ecs/dangling",
        "/etc/ecs/absolute-link",
        "/etc/ecs/fifo",
        "/etc/ecs/empty",
        "/etc/passwd",
        "/nonexistent/file",
    ]
    result, dummy, rc = run(capsys, root=root, introspection_url="http://127.0.0.1:9", paths=paths, packages=[])
    assert rc == 0
    sha1 = "095ebcd8c9aa795a904330ef3dcc712a2e13ac0a"  # sha1sum of the content, as ansible.builtin.stat reports it
    files = result["files"]
    assert list(files) == paths
    assert files["/etc/ecs/ecs.config"] == file_entry(kind="file", checksum=sha1, mode="0640")
    assert files["etc/ecs/ecs.config"] == files["/etc/ecs/ecs.config"]
    assert files["/var/lib/ecs-anywhere"] == file_entry(kind="directory", mode="1700")
    # A link is described as a link, with the checksum of the content it leads to.
    assert files["/etc/ecs/relative-link"] == file_entry(kind="link", checksum=sha1, mode="0777")
    assert files["/etc/ecs/dangling"] == file_entry(kind="link", mode="0777")
    assert files["/etc/ecs/absolute-link"] == file_entry(kind="link", checksum=sha1, mode="0777")
    # A FIFO is not opened (that would block), nor any other special file.
    assert files["/etc/ecs/fifo"] == file_entry(kind="other", mode="0600")
    empty_sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert files["/etc/ecs/empty"] == file_entry(kind="file", checksum=empty_sha1, mode="4700")
    assert files["/etc/passwd"] == MISSING
    assert files["/nonexistent/file"] == MISSING


def test_files_big_file_checksum(tmp_path):
    content = os.urandom(3 * host_state.CHECKSUM_CHUNK + 17)
    path = tmp_path / "big"
    path.write_bytes(content)
    assert host_state.file_state(str(path))["checksum"] == hashlib.sha1(content).hexdigest()  # noqa: S324


def test_files_unreadable_file_exists_without_checksum(tmp_path, monkeypatch):
    path = write(str(tmp_path), "etc/ecs/ecs.config", "secret")
    os.chmod(path, 0)
    if os.geteuid() == 0:
        # root reads any file: make open() fail the way it does for anyone else.
        real_open = open

        def refuse(file, *args, **kwargs):
            if os.fspath(file) == path:
                raise PermissionError(13, "Permission denied", path)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", refuse)
    assert host_info.files(str(tmp_path), ["/etc/ecs/ecs.config"]) == {
        "/etc/ecs/ecs.config": file_entry(kind="file", mode="0000")
    }


# ------------------------------------------------------------------ converge record


RECORD = {"format": 1, "digest": "abc", "files": {"/etc/ecs/ecs.config": {"exists": True}}, "managed_instance_id": MI}


@pytest.mark.parametrize(
    "content, expected",
    [
        (json.dumps(RECORD), RECORD),
        ("[1, 2]", None),
        ('"a string"', None),
        ("null", None),
        ('{"format": 1,', None),
        ("", None),
        (b"\xff\xfe{}", None),
        (None, None),
    ],
    ids=["object", "list", "string", "null", "truncated", "empty", "not-utf-8", "missing"],
)
def test_record(tmp_path, capsys, fake_bin, content, expected):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "var/lib/ecs-anywhere"))
    if content is not None:
        with open(os.path.join(root, "var/lib/ecs-anywhere/converged.json"), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    result, dummy, rc = run(
        capsys,
        root=root,
        introspection_url="http://127.0.0.1:9",
        record_path="/var/lib/ecs-anywhere/converged.json",
        packages=[],
    )
    assert rc == 0
    assert result["record"] == expected


def test_record_is_a_file(tmp_path):
    os.makedirs(tmp_path / "var/lib/ecs-anywhere/converged.json")
    assert host_info.record(str(tmp_path), "/var/lib/ecs-anywhere/converged.json") is None
    assert host_info.record(str(tmp_path), None) is None


# ------------------------------------------------------------------ the SSM agent: package, snap or none


def unit(name, enabled):
    return {"unit": name, "active": "active" if enabled == "enabled" else "inactive", "enabled": enabled}


def binary(root, path):
    write(str(root), path.lstrip("/"), "#!/bin/sh\n")


PACKAGE_AGENT = {"kind": "package", "binary": "/usr/bin/amazon-ssm-agent", "service": "amazon-ssm-agent.service"}
SNAP_AGENT = {"kind": "snap", "binary": SNAP_BINARY, "service": SNAP_UNIT}
NO_AGENT = {"kind": "none", "binary": None, "service": None}


@pytest.mark.parametrize(
    ("service", "binaries", "expected"),
    [
        (unit("amazon-ssm-agent.service", "enabled"), [], PACKAGE_AGENT),
        (unit(SNAP_UNIT, "enabled"), [], SNAP_AGENT),
        # The unit decides over a binary left behind.
        (unit(SNAP_UNIT, "disabled"), ["/usr/bin/amazon-ssm-agent"], SNAP_AGENT),
        # No unit (none installed, or no systemd to ask): the binary on disk.
        (unit("amazon-ssm-agent.service", "not-found"), [SNAP_BINARY], SNAP_AGENT),
        ({"unit": "amazon-ssm-agent.service", "active": None, "enabled": None}, [SNAP_BINARY], SNAP_AGENT),
        (unit("amazon-ssm-agent.service", "not-found"), ["/usr/bin/amazon-ssm-agent", SNAP_BINARY], PACKAGE_AGENT),
        (unit("amazon-ssm-agent.service", "not-found"), [], NO_AGENT),
    ],
)
def test_ssm_agent_kind(tmp_path, service, binaries, expected):
    for path in binaries:
        binary(tmp_path, path)
    assert host_state.ssm_agent(str(tmp_path), service) == expected


def test_ssm_agent_snap_through_the_current_link(tmp_path):
    # snapd's layout: current is a link to the revision directory.
    binary(tmp_path, "/snap/amazon-ssm-agent/9882/amazon-ssm-agent")
    os.symlink("9882", tmp_path / "snap/amazon-ssm-agent/current")
    service = unit("amazon-ssm-agent.service", "not-found")
    assert host_state.ssm_agent(str(tmp_path), service) == SNAP_AGENT


def test_ssm_agent_is_read_in_the_systemctl_call(tmp_path, capsys, fake_bin):
    # The fake systemd knows only the snap unit; no other command is run to find the agent.
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9", packages=[])
    assert rc == 0 and result["ssm_agent"] == SNAP_AGENT
    assert [call[:2] for call in calls(fake_bin)] == [["systemctl", "show"]]


def test_ssm_agent_without_systemctl_reads_the_binaries(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(host_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert rc == 0 and result["ssm_agent"] == NO_AGENT
    binary(tmp_path, "/usr/bin/amazon-ssm-agent")
    result, dummy, rc = run(capsys, root=str(tmp_path), introspection_url="http://127.0.0.1:9")
    assert result["ssm_agent"] == PACKAGE_AGENT
