"""amazon-ssm-agent stand-in against the real emulator (host simulated with -root)."""

import base64
import configparser
import re
import stat
import subprocess
import time

from cryptography.hazmat.primitives import serialization

from .conftest import HOST_PYTHON
from .conftest import SSM_CLI
from .conftest import wait_for

SUCCESS = re.compile(r"Successfully registered the instance with AWS SSM using Managed instance-id: (mi-[0-9a-f]{17})")


def _mi(result):
    match = SUCCESS.search(result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def _creds(host):
    parser = configparser.RawConfigParser()
    parser.read(host.credentials_path())
    return dict(parser["default"]) if parser.has_section("default") else None


def test_register_writes_files_like_the_real_agent(aws, host):
    act_id, code = aws.activation(tags=[{"Key": "env", "Value": "test"}])
    result = host.register(act_id, code)
    assert result.returncode == 0, result.stdout + result.stderr
    mi = _mi(result)

    assert host.registration() == {"ManagedInstanceID": mi, "Region": "us-east-1"}
    assert host.p("/var/lib/amazon/ssm/registration").read_text() == \
        '{"ManagedInstanceID":"%s","Region":"us-east-1"}' % mi  # noqa: UP031 - the exact bytes Go writes
    vault = host.vault()
    assert vault["instanceID"] == mi
    assert vault["region"] == "us-east-1"
    assert vault["privateKeyType"] == "Rsa"
    assert vault["privateKeyCreatedDate"]
    key = serialization.load_der_private_key(base64.b64decode(vault["privateKey"]), password=None)
    assert key.key_size == 2048
    assert len(vault["publicKey"]) == 392
    assert base64.b64decode(vault["publicKey"]) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_file = host.p("/var/lib/amazon/ssm/Vault/Store/RegistrationKey")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    manifest = host.p("/var/lib/amazon/ssm/Vault/Manifest").read_text()
    assert '"RegistrationKey": "/var/lib/amazon/ssm/Vault/Store/RegistrationKey"' in manifest

    info = aws.instance(mi)
    assert info["ActivationId"] == act_id
    assert info["ResourceType"] == "ManagedInstance"
    assert "Successfully registered" in host.ssm_log()

    cli = subprocess.run([HOST_PYTHON, str(SSM_CLI), "-root", str(host.root), "get-instance-information"],
                         capture_output=True, text=True, check=True)
    assert f'"instance-id": "{mi}"' in cli.stdout


def test_fingerprint_is_stable_per_host(aws, host):
    act_id, code = aws.activation(limit=2)
    assert host.register(act_id, code).returncode == 0
    first = host.p("/var/lib/amazon/ssm/Vault/Store/InstanceFingerprint").read_text()
    assert host.register(act_id, code, "-y").returncode == 0
    assert host.p("/var/lib/amazon/ssm/Vault/Store/InstanceFingerprint").read_text() == first


def test_wrong_code_fails_with_the_service_error(aws, host):
    act_id, _code = aws.activation()
    result = host.register(act_id, "X" * 20)
    assert result.returncode == 1
    assert "Registration failed due to error registering the instance with AWS SSM. InvalidActivation" in result.stdout
    assert not host.p("/var/lib/amazon/ssm/registration").exists()
    assert host.vault()["instanceID"] == ""


def test_registration_limit_exceeded(aws, host_factory):
    act_id, code = aws.activation(limit=1)
    assert host_factory("a").register(act_id, code).returncode == 0
    result = host_factory("b").register(act_id, code)
    assert result.returncode == 1
    assert "RegistrationLimitExceeded" in result.stdout


def test_reregister_prompts_and_non_interactive_stdin_fails(aws, host):
    act_id, code = aws.activation(limit=3)
    mi = _mi(host.register(act_id, code))

    result = host.register(act_id, code)  # stdin is /dev/null: the prompt gets EOF
    assert result.returncode == 1
    assert "Instance already registered. Would you like to override existing with new registration information? " \
           "[Yes/No]: " in result.stdout
    assert "Registration failed due to EOF" in result.stdout
    assert host.vault()["instanceID"] == mi

    result = host.ssm("-register", "-code", code, "-id", act_id, "-region", "us-east-1", input_text="No\n")
    assert result.returncode == 1
    assert "Registration canceled by user" in result.stdout
    assert host.registration()["ManagedInstanceID"] == mi

    result = host.ssm("-register", "-code", code, "-id", act_id, "-region", "us-east-1", input_text="yes\n")
    assert result.returncode == 0
    assert _mi(result) != mi


def test_reregister_with_y_skips_the_prompt(aws, host):
    act_id, code = aws.activation(limit=2)
    mi = _mi(host.register(act_id, code))
    result = host.register(act_id, code, "-y")
    assert result.returncode == 0
    assert "Instance already registered" not in result.stdout
    new = _mi(result)
    assert new != mi
    assert host.registration()["ManagedInstanceID"] == new == host.vault()["instanceID"]


def test_clear_empties_the_vault_and_removes_the_registration_file(aws, host):
    act_id, code = aws.activation(limit=2)
    _mi(host.register(act_id, code))
    result = host.ssm("-register", "-clear")
    assert result.returncode == 0
    assert "Registration information has been removed from the instance." in result.stdout
    assert not host.p("/var/lib/amazon/ssm/registration").exists()
    vault = host.vault()
    assert vault["instanceID"] == "" and vault["privateKey"] == ""
    result = host.register(act_id, code)  # no prompt any more
    assert result.returncode == 0, result.stdout


def test_command_line_errors(host):
    result = host.ssm("-register", "-code", "abc")
    assert result.returncode == 1
    assert "Command-line Usage:" in result.stderr
    result = host.ssm("-bogus")
    assert result.returncode == 2
    assert "flag provided but not defined: -bogus" in result.stderr
    result = host.ssm("-version")
    assert result.returncode == 0
    assert result.stdout.startswith("SSM Agent version: 3.3.")


def test_service_shares_credentials_refreshes_them_and_heartbeats(aws, host):
    act_id, code = aws.activation()
    mi = _mi(host.register(act_id, code))
    assert aws.instance(mi)["PingStatus"] == "ConnectionLost"
    host.ssm_config(ssm={"HealthFrequencyMinutes": 0.02}, standin={"CredentialRefreshSeconds": 1})
    proc = host.start_ssm_service()

    creds = wait_for(lambda: _creds(host), what="shared credentials")
    assert creds["aws_access_key_id"].startswith("ASIA")
    assert creds["aws_secret_access_key"] and creds["aws_session_token"]
    assert stat.S_IMODE(host.credentials_path().stat().st_mode) == 0o600
    wait_for(lambda: aws.instance(mi)["PingStatus"] == "Online", what="PingStatus Online")
    info = aws.instance(mi)
    assert info["AgentVersion"].startswith("3.3.")
    assert info["PlatformType"] == "Linux"
    wait_for(lambda: _creds(host)["aws_access_key_id"] != creds["aws_access_key_id"], timeout=8,
             what="credentials refresh")
    assert proc.poll() is None
    proc.terminate()
    assert proc.wait(timeout=10) == 0


def test_deregistered_instance_stops_refreshing_credentials(aws, host):
    act_id, code = aws.activation()
    mi = _mi(host.register(act_id, code))
    host.ssm_config(ssm={"HealthFrequencyMinutes": 0.02}, standin={"CredentialRefreshSeconds": 0.5})
    proc = host.start_ssm_service()
    wait_for(lambda: _creds(host), what="shared credentials")
    aws.ssm.deregister_managed_instance(InstanceId=mi)
    wait_for(lambda: "InvalidInstanceId" in host.ssm_log(), timeout=8, what="InvalidInstanceId in the log")
    before = (host.credentials_path().stat().st_mtime_ns, _creds(host))
    time.sleep(1.5)
    assert (host.credentials_path().stat().st_mtime_ns, _creds(host)) == before
    assert host.registration()["ManagedInstanceID"] == mi  # nothing removed on the host
    assert proc.poll() is None


def test_service_without_registration_keeps_running(host):
    proc = host.start_ssm_service()
    wait_for(lambda: "Failed to find identity" in host.ssm_log(), what="not-registered log line")
    assert proc.poll() is None
    assert not host.credentials_path().exists()
    proc.terminate()
    assert proc.wait(timeout=10) == 0
