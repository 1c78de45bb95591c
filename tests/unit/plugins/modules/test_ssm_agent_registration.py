# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssm_agent_registration against a fake amazon-ssm-agent and a fake systemctl that really run.

Both fakes are executables in a temporary directory (systemctl first on PATH) that append their argv to a log, so the
module's real run_command and get_bin_path are exercised and nothing on the machine running the tests is touched.
Every result is checked for the activation code: the module must never return it, whatever the path.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.modules import ssm_agent_registration

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ACTIVATION_ID = "8d9c6f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
CODE = "Secr3tActivationCodeXyz"
OLD_ID = "mi-0aaaaaaaaaaaaaaaa"
NEW_ID = "mi-0bbbbbbbbbbbbbbbb"

FAKE_AGENT = f"""#!{sys.executable}
import json, os, sys

with open(os.environ["FAKE_CALL_LOG"], "a") as log:
    log.write(json.dumps(["amazon-ssm-agent"] + sys.argv[1:]) + "\\n")
mode = os.environ.get("FAKE_AGENT_MODE", "register")
args = sys.argv[1:]
code = args[args.index("-code") + 1]
if mode == "fail":
    # Like the agent: its log line on stdout, with the code echoed back to prove the module scrubs it.
    print("2024-10-21 12:00:00 ERROR Registration failed due to error registering the instance with AWS SSM. "
          + os.environ["FAKE_AGENT_ERROR"] + ": activation code " + code + " rejected")
    sys.stderr.write("code was " + code + "\\n")
    sys.exit(1)
if mode == "register":
    region = args[args.index("-region") + 1]
    path = os.environ["FAKE_REGISTRATION_FILE"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({{"ManagedInstanceID": "{NEW_ID}", "Region": region}}, f)
print("2024-10-21 12:00:00 INFO Successfully registered the instance with AWS SSM using Managed instance-id: {NEW_ID}")
"""

FAKE_SYSTEMCTL = """#!/bin/sh
printf '["systemctl", "%s", "%s"]\\n' "$1" "$2" >> "$FAKE_CALL_LOG"
if [ -n "$FAKE_SYSTEMCTL_ERROR" ]; then
  echo "$FAKE_SYSTEMCTL_ERROR" >&2
fi
exit "${FAKE_SYSTEMCTL_RC:-0}"
"""


def executable(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


class FakeHost:
    def __init__(self, root, monkeypatch):
        self.monkeypatch = monkeypatch
        bin_dir = root / "bin"
        bin_dir.mkdir()
        self.agent = executable(bin_dir / "amazon-ssm-agent", FAKE_AGENT)
        executable(bin_dir / "systemctl", FAKE_SYSTEMCTL)
        self.registration_file = root / "var/lib/amazon/ssm/registration"
        self.vault_entry = self.registration_file.parent / "Vault/Store/RegistrationKey"
        self.call_log = root / "calls.log"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_CALL_LOG", str(self.call_log))
        monkeypatch.setenv("FAKE_REGISTRATION_FILE", str(self.registration_file))

    def registered_as(self, managed_instance_id, region):
        self.registration_file.parent.mkdir(parents=True, exist_ok=True)
        self.registration_file.write_text(json.dumps({"ManagedInstanceID": managed_instance_id, "Region": region}))

    def vault_holds(self, managed_instance_id, region):
        self.vault_entry.parent.mkdir(parents=True, exist_ok=True)
        self.vault_entry.write_text(
            json.dumps({"instanceID": managed_instance_id, "region": region, "privateKey": "vault-private-key"})
        )

    def agent_fails_with(self, error):
        self.monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
        self.monkeypatch.setenv("FAKE_AGENT_ERROR", error)

    def systemctl_fails_with(self, rc, error):
        self.monkeypatch.setenv("FAKE_SYSTEMCTL_RC", str(rc))
        self.monkeypatch.setenv("FAKE_SYSTEMCTL_ERROR", error)

    def calls(self):
        if not self.call_log.exists():
            return []
        return [json.loads(line) for line in self.call_log.read_text().splitlines()]

    def args(self, **overrides):
        args = {
            "region": REGION,
            "activation_id": ACTIVATION_ID,
            "activation_code": CODE,
            "agent": str(self.agent),
            "registration_file": str(self.registration_file),
        }
        args.update(overrides)
        return args


@pytest.fixture
def host(tmp_path, monkeypatch):
    return FakeHost(tmp_path, monkeypatch)


@pytest.fixture
def run(run_module):
    def _run(args, **kwargs):
        result = run_module(ssm_agent_registration, args, **kwargs)
        assert CODE not in json.dumps(result), result
        return result

    return _run


def register_call(*extra):
    return ["amazon-ssm-agent", "-register", "-code", CODE, "-id", ACTIVATION_ID, "-region", REGION, *extra]


def stop_call():
    return ["systemctl", "stop", "amazon-ssm-agent"]


def test_registers_a_fresh_host(host, run):
    result = run(host.args())
    assert not result.get("failed"), result
    assert result["changed"]
    assert result["managed_instance_id"] == NEW_ID
    assert result["region"] == REGION
    assert result["previous_managed_instance_id"] == ""
    assert result["previous_region"] == ""
    # Stopped first, then registered without -y: nothing to replace.
    assert host.calls() == [stop_call(), register_call()]


def test_registered_in_the_region_runs_nothing(host, run):
    host.registered_as(OLD_ID, REGION)
    result = run(host.args(activation_id="", activation_code=""), diff=True)
    assert not result.get("failed"), result
    assert not result["changed"]
    assert result["managed_instance_id"] == OLD_ID
    assert result["region"] == REGION
    assert result["diff"]["before"] == result["diff"]["after"]
    assert host.calls() == []


def test_registered_in_another_region_is_refused(host, run):
    host.registered_as(OLD_ID, OTHER_REGION)
    result = run(host.args())
    assert result["failed"]
    assert f"registered with Systems Manager as {OLD_ID} in region {OTHER_REGION}, not in {REGION}" in result["msg"]
    assert "force" in result["msg"]
    assert "ecs_anywhere_ssm_force_register" in result["msg"]
    assert not result["changed"]
    assert host.calls() == []


def test_vault_entry_counts_as_a_registration(host, run):
    # No registration file: the agent itself would still ask before replacing the identity in its vault.
    host.vault_holds(OLD_ID, OTHER_REGION)
    result = run(host.args())
    assert result["failed"]
    assert f"as {OLD_ID} in region {OTHER_REGION}" in result["msg"]
    assert "vault-private-key" not in json.dumps(result)
    assert host.calls() == []


def test_force_moves_a_host_from_another_region(host, run):
    host.registered_as(OLD_ID, OTHER_REGION)
    result = run(host.args(force=True), diff=True)
    assert not result.get("failed"), result
    assert result["changed"]
    assert result["managed_instance_id"] == NEW_ID
    assert result["region"] == REGION
    assert result["previous_managed_instance_id"] == OLD_ID
    assert result["previous_region"] == OTHER_REGION
    assert host.calls() == [stop_call(), register_call("-y")]
    assert result["diff"] == {
        "before": {"managed_instance_id": OLD_ID, "region": OTHER_REGION},
        "after": {"managed_instance_id": NEW_ID, "region": REGION},
    }


def test_force_registers_again_in_the_same_region(host, run):
    host.registered_as(OLD_ID, REGION)
    result = run(host.args(force=True))
    assert result["changed"]
    assert result["managed_instance_id"] == NEW_ID
    assert result["previous_managed_instance_id"] == OLD_ID
    assert host.calls() == [stop_call(), register_call("-y")]


def test_check_mode_predicts_without_running_anything(host, run):
    result = run(host.args(), check_mode=True, diff=True)
    assert not result.get("failed"), result
    assert result["changed"]
    assert result["managed_instance_id"] == ""
    assert result["region"] == ""
    assert result["diff"]["before"] == {"managed_instance_id": "", "region": ""}
    assert result["diff"]["after"]["region"] == REGION
    assert result["diff"]["after"]["managed_instance_id"] != ""
    assert host.calls() == []
    assert not host.registration_file.exists()


def test_check_mode_with_force_keeps_the_current_registration(host, run):
    host.registered_as(OLD_ID, OTHER_REGION)
    result = run(host.args(force=True), check_mode=True)
    assert result["changed"]
    assert result["managed_instance_id"] == OLD_ID
    assert result["region"] == OTHER_REGION
    assert host.calls() == []


@pytest.mark.parametrize(
    "missing", [{"activation_id": ""}, {"activation_code": ""}, {"activation_id": "", "activation_code": ""}]
)
@pytest.mark.parametrize("check_mode", [False, True])
def test_registering_needs_an_activation(host, run, missing, check_mode):
    result = run(host.args(**missing), check_mode=check_mode)
    assert result["failed"]
    assert "activation_id" in result["msg"] and "activation_code" in result["msg"]
    assert "ecs_anywhere_activation_id" in result["msg"] and "ecs_anywhere_activation_code" in result["msg"]
    assert host.calls() == []


@pytest.mark.parametrize("error", ["InvalidActivation", "ActivationExpired", "RegistrationLimitExceeded"])
def test_failed_registration_names_the_error_without_the_code(host, run, error):
    host.agent_fails_with(error)
    result = run(host.args())
    assert result["failed"]
    msg = result["msg"]
    assert msg.startswith(
        f"Unable to register the host with Systems Manager (activation {ACTIVATION_ID}, region {REGION}): "
    )
    assert error in msg
    # Both streams, with the code the agent echoed replaced.
    assert "activation code <activation code> rejected" in msg
    assert "code was <activation code>" in msg
    assert "fix ecs_anywhere_activation_id/ecs_anywhere_activation_code and run again." in msg
    assert result["rc"] == 1
    assert host.calls() == [stop_call(), register_call()]


def test_registration_file_missing_after_success_fails_clearly(host, run, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_MODE", "silent")
    result = run(host.args())
    assert result["failed"]
    assert "holds no ManagedInstanceID" in result["msg"]
    assert str(host.registration_file) in result["msg"]
    assert "Successfully registered" in result["msg"]


def test_unreadable_registration_file_is_no_registration(host, run):
    host.registration_file.parent.mkdir(parents=True)
    host.registration_file.write_text("{not json")
    result = run(host.args())
    assert result["changed"]
    assert result["previous_managed_instance_id"] == ""
    assert result["managed_instance_id"] == NEW_ID
    assert host.calls() == [stop_call(), register_call()]


def test_unit_systemd_does_not_know_is_nothing_to_stop(host, run):
    host.systemctl_fails_with(5, "Failed to stop amazon-ssm-agent.service: Unit amazon-ssm-agent.service not loaded.")
    result = run(host.args())
    assert not result.get("failed"), result
    assert result["managed_instance_id"] == NEW_ID


def test_failure_to_stop_the_agent_stops_the_registration(host, run):
    host.systemctl_fails_with(1, "System has not been booted with systemd as init system (PID 1). Can't operate.")
    result = run(host.args())
    assert result["failed"]
    assert "Unable to stop amazon-ssm-agent" in result["msg"]
    assert "not been booted with systemd" in result["msg"]
    assert host.calls() == [stop_call()]


def test_missing_agent_fails_before_stopping_anything(host, run, tmp_path):
    result = run(host.args(agent=str(tmp_path / "nowhere" / "amazon-ssm-agent")))
    assert result["failed"]
    assert "is missing or not executable" in result["msg"]
    assert host.calls() == []


def test_agent_that_cannot_run_fails_without_the_command_line(host, run, tmp_path):
    # Executable but not a program: run_command's own failure would quote the argv with the code.
    broken = executable(tmp_path / "broken-agent", "\x00\x01not a program")
    result = run(host.args(agent=str(broken)))
    assert result["failed"]
    assert result["msg"].startswith(f"Unable to run {broken} to register the host")
    assert "cmd" not in result


def test_real_exit_censors_the_code_in_the_invocation(host, capsys):
    # Through AnsibleModule's own exit_json, as on a host: the option is no_log, so the echoed arguments hide it.
    from ansible.module_utils.testing import patch_module_args

    host.registered_as(OLD_ID, REGION)
    with patch_module_args(host.args()), pytest.raises(SystemExit):
        ssm_agent_registration.main()
    output = capsys.readouterr().out
    assert CODE not in output
    result = json.loads(output)
    assert result["invocation"]["module_args"]["activation_code"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
