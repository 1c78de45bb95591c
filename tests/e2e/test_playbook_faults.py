"""Bad input and faults around the register, update_agents and deregister playbooks, against the offline world.

Order matters (one world of four hosts for the module): the clear stops come first (nothing may be touched), a host
whose Python ansible-core cannot use is reported with the fix, then a run with one host unreachable (one host per
batch), a throttled run that brings that host in, and an interrupted run on a fourth host. An agent update that fails
on its first host stops the roll-out and puts that host back into service; an upgraded SSM agent that Systems Manager
does not see fails its host, and a rerun checks it again. Then two hosts go down and deregister cleans them up on the
AWS side only; they come back and a last deregister must leave nothing behind, in the emulator or on any host.
"""

from __future__ import annotations

import pytest

from tests import harness

from .conftest import diff_stats
from .conftest import write_calls

CLUSTER = "faults"
# The controller's calls in the register playbook, throttled as each protocol spells it (what the SDKs retry):
# ThrottlingException for the JSON services, Throttling for IAM's query protocol. The stand-in agents' own calls
# are left alone.
THROTTLED = [
    ("ssm:*Activation*", "ThrottlingException"),
    ("ssm:DescribeInstanceInformation", "ThrottlingException"),
    ("ssm:*Tags*", "ThrottlingException"),
    ("ecs:Describe*", "ThrottlingException"),
    ("ecs:List*", "ThrottlingException"),
    ("ecs:*Attributes", "ThrottlingException"),
    ("ecs:*TagResource", "ThrottlingException"),
    ("iam:*", "Throttling"),
]
# The first controller call to each service: DescribeClusters, GetRole, then CreateActivation.
FIRST = {"ecs:Describe*", "iam:*", "ssm:*Activation*"}
UNTOUCHED = "test -e /var/lib/amazon/ssm || test -e /etc/ecs || dpkg-query -W amazon-ssm-agent >/dev/null 2>&1"


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    fleet = fleet_factory("e2e-faults", hosts=4, cluster=CLUSTER)
    run = fleet.run("prerequisites")
    assert run.rc == 0, run.output[-4000:]
    return fleet


@pytest.fixture(scope="module")
def first_three(fleet):
    return ",".join(fleet.world.hosts[:3])


def _assert_untouched(fleet, run, before):
    calls = diff_stats(before, fleet.stats())
    assert not [c for c in calls if c.startswith("ssm:") and "Activation" in c and not c.startswith("ssm:Describe")], (
        calls
    )
    assert "ssm:RegisterManagedInstance" not in calls, calls
    assert "TASK [Read the state of the host]" not in run.output, "a host was contacted"
    for host in fleet.world.hosts:
        assert fleet.host(host, UNTOUCHED, check=False).returncode != 0, f"{host} was changed"


def test_missing_cluster_stops_before_any_host(fleet, first_three):
    before = fleet.stats()
    run = fleet.run("register", limit=first_three, extra_vars={"ecs_anywhere_cluster": "no-such-cluster"})
    assert run.rc != 0
    assert "Unable to find ECS cluster no-such-cluster" in run.output, run.output[-4000:]
    _assert_untouched(fleet, run, before)


def test_missing_iam_role_stops_before_any_host(fleet, first_three):
    before = fleet.stats()
    run = fleet.run("register", limit=first_three, extra_vars={"ecs_anywhere_iam_role": "noSuchRole"})
    assert run.rc != 0
    assert "IAM role noSuchRole does not exist" in run.output, run.output[-4000:]
    assert "fleet.ecs_anywhere.prerequisites" in run.output
    _assert_untouched(fleet, run, before)


def test_host_on_a_python_ansible_cannot_use_is_reported_with_the_fix(fleet):
    # SLES 15's own Python, as a stand-in (tests/harness): the hosts here carry Python 3.11 only.
    host = fleet.world.hosts[3]
    stand_in = harness.give_python_3_6(host)
    host_vars = fleet.inventory_kwargs.get("host_vars") or {}
    # A host variable: the controller's own tasks (delegated to localhost) keep their Python.
    old_python = host_vars | {host: host_vars.get(host, {}) | {"ansible_python_interpreter": stand_in}}
    fleet.write_inventory(host_vars=old_python)
    try:
        before = fleet.stats()
        run = fleet.run("register", limit=host)
    finally:
        fleet.write_inventory(host_vars=host_vars)
        fleet.host(host, f"rm -f {stand_in}")
    assert run.rc != 0, run.output[-4000:]
    entry = fleet.entries()[host]
    assert entry["result"] == "failed", entry
    assert entry["error"].startswith("Ansible's modules cannot run on this Debian 12 host: its interpreter "
                                     f"{stand_in} is Python 3.6"), entry  # fmt: skip
    assert "install Python 3.8 or later and set ansible_python_interpreter" in entry["error"]
    calls = diff_stats(before, fleet.stats())
    assert "ssm:CreateActivation" not in calls, calls
    assert fleet.host(host, UNTOUCHED, check=False).returncode != 0, f"{host} was changed"


def test_one_unreachable_host_does_not_stop_the_others(fleet, first_three):
    # One host per batch, and the unreachable one first: a batch that fails as a whole must not end the run.
    down, *up = fleet.world.hosts[:3]
    harness.docker("stop", "-t", "1", down)
    before = fleet.stats()
    run = fleet.run("register", limit=first_three, extra_vars={"ecs_anywhere_register_serial": 1})
    assert run.rc != 0, "a failed host must fail the run"
    calls = diff_stats(before, fleet.stats())
    assert calls.get("ssm:CreateActivation") == 1 and calls.get("ssm:DeleteActivation") == 1, calls
    assert fleet.activations() == [], "the activation must be deleted although a host failed"

    report = fleet.report()
    assert report["activation"]["registration_limit"] == 2, report["activation"]
    assert report["activation"]["deleted"] is True
    assert report["summary"]["failed_hosts"] == [down], report["summary"]
    entries = fleet.entries()
    for host in up:
        assert entries[host]["result"] == "ok" and entries[host]["status"] == "ACTIVE", entries[host]
        assert entries[host]["agent_connected"] is True
    assert entries[down]["result"] == "unreachable", entries[down]
    assert entries[down]["status"] == "UNREACHABLE"
    assert down in fleet.report_base.with_suffix(".md").read_text().split("Failed hosts:")[1]
    assert len(fleet.managed_instances()) == 2


def test_throttled_emulator_run_still_succeeds(fleet, first_three):
    down = fleet.world.hosts[0]
    harness.docker("start", down)
    harness.wait_systemd(down)
    # The first matching rule with faults left decides: the first call to each service is throttled for sure,
    # then half of the calls for a while.
    rules = [{"action": action, "code": code, "rate": 1.0, "count": 1} for action, code in THROTTLED if action in FIRST]
    rules += [{"action": action, "code": code, "rate": 0.5, "count": 6} for action, code in THROTTLED]
    fleet.emu("POST", "/_emu/faults", rules)
    try:
        run = fleet.run("register", limit=first_three)
        faults = fleet.emu("GET", "/_emu/faults")["faults"]
    finally:
        fleet.emu("DELETE", "/_emu/faults")
    assert run.rc == 0, run.output[-6000:]
    fired = [(rule["action"].split(":")[0], rule["rate"], rule["count"] - fault["remaining"])
             for rule, fault in zip(rules, faults, strict=True)]  # fmt: skip
    # IAM included: its errors come as XML, which botocore parses, so it retries them.
    assert {service for service, rate, n in fired if rate == 1.0 and n == 1} == {"ssm", "ecs", "iam"}, fired
    assert sum(n for _, rate, n in fired if rate < 1) >= 5, fired
    entries = fleet.entries()
    assert all(entries[h]["result"] == "ok" and entries[h]["status"] == "ACTIVE" for h in fleet.world.hosts[:3])
    assert fleet.activations() == []
    assert len(fleet.managed_instances()) == 3


def _new_registrations(fleet, host: str, known: set[str]) -> set[str]:
    """The managed instances created since ``known``, once the host has also written its registration."""
    new = {mi["InstanceId"] for mi in fleet.managed_instances()} - known
    if not new:
        return set()
    on_host = fleet.host(host, "cat /var/lib/amazon/ssm/registration 2>/dev/null", check=False).stdout
    return new if any(mi_id in on_host for mi_id in new) else set()


def test_rerun_after_interrupted_register_converges(fleet):
    host4 = fleet.world.hosts[3]
    known = {mi["InstanceId"] for mi in fleet.managed_instances()}
    # ECS turns the host's agent away while the run goes on: the run waits in the role for the agent, so the Ctrl-C
    # lands between the SSM registration and the activation's deletion however fast the machine is.
    fleet.emu("POST", "/_emu/faults", [{"action": "ecs:RegisterContainerInstance", "code": "ServerException",
                                        "status": 500, "rate": 1.0, "count": 1000}])  # fmt: skip
    proc = fleet.start("register", limit=host4)
    try:
        registered = harness.wait_for(
            lambda: proc.poll() is not None or _new_registrations(fleet, host4, known),
            timeout=900, interval=0.5, what=f"{host4} to register with SSM",
        )  # fmt: skip
    finally:
        fleet.interrupt(proc)
        fleet.emu("DELETE", "/_emu/faults")
    log = (fleet.workdir / "register-interrupted.log").read_text()
    assert isinstance(registered, set), f"the run ended before the SSM registration:\n{log[-4000:]}"
    # Stopped in the middle, by the Ctrl-C or, when ansible-playbook hangs in its own clean-up after it (seen under
    # load on two cores), by the kill that follows: either way the run never reached its end.
    assert "PLAY RECAP" not in log and proc.returncode != 0, f"the run was not interrupted:\n{log[-4000:]}"
    assert len(registered) == 1, registered
    (mi_id,) = registered
    # What the interrupted run could not clean up: its activation, used up.
    (leftover,) = fleet.activations() or [None]
    assert leftover and leftover["RegistrationsCount"] == leftover["RegistrationLimit"] == 1, (leftover, log[-4000:])

    before = fleet.stats()
    run = fleet.run("register", limit=host4)
    assert run.rc == 0, run.output[-6000:]
    calls = diff_stats(before, fleet.stats())
    # The host is registered with SSM already: no new activation, and no second managed instance.
    assert "ssm:CreateActivation" not in calls and "ssm:RegisterManagedInstance" not in calls, calls
    assert {mi["InstanceId"] for mi in fleet.managed_instances()} - known == {mi_id}
    entry = fleet.entries()[host4]
    assert entry["result"] == "ok" and entry["status"] == "ACTIVE" and entry["managed_instance_id"] == mi_id, entry
    assert [ci["ec2InstanceId"] for ci in fleet.container_instances("ACTIVE")].count(mi_id) == 1
    # The rerun deleted the interrupted run's activation.
    assert calls.get("ssm:DeleteActivation") == 1, calls
    assert fleet.activations() == []


def test_failed_update_stops_the_roll_out_and_puts_the_host_back_into_service(fleet):
    host1, host2 = fleet.world.hosts[:2]
    before = fleet.stats()
    # A version the bucket does not have: the download fails after the drain, with the previous agent still running.
    run = fleet.run("update_agents", limit=f"{host1},{host2}", extra_vars={"ecs_anywhere_ecs_version": "1.999.0-1"})
    assert run.rc != 0
    assert f"Update of {host1} failed" in run.output and "The host is back in service" in run.output, run.output[-4000:]
    calls = diff_stats(before, fleet.stats())
    # host1 drained and reactivated; host2 not even drained: the roll-out stopped at its first failure.
    assert calls.get("ecs:UpdateContainerInstancesState") == 2, calls
    entries = fleet.entries()
    entry = entries[host1]
    assert entry["result"] == "failed" and "1.999.0-1" in entry["error"], entry
    assert entry["status"] == "ACTIVE" and entry["agent_connected"] is True, entry
    assert entry["changes"] == ["drained, then reactivated after the failed update (its agent runs and is connected)"]
    assert entries[host2]["in_this_run"] is False, entries[host2]
    assert {ci["status"] for ci in fleet.container_instances() if ci["cluster"] == CLUSTER} == {"ACTIVE"}


def test_ssm_agent_that_does_not_report_after_its_upgrade_fails_its_host(fleet):
    host1 = fleet.world.hosts[0]
    entry = fleet.entries()[host1]
    mi_id, old = entry["managed_instance_id"], entry["versions"]["ssm_agent"]
    # The ECS agent stays at its version: only the SSM agent is upgraded, in place.
    update = {
        "ecs_anywhere_ecs_version": entry["versions"]["ecs_init"],
        "ecs_anywhere_update_ssm_agent": True,
        "ecs_anywhere_wait_timeout": 6,
    }
    harness.publish(fleet.world)
    # Systems Manager refuses the upgraded agent's reports: it keeps seeing the previous version.
    fleet.emu("POST", "/_emu/faults", [{"action": "ssm:UpdateInstanceInformation", "code": "InternalServerError",
                                        "status": 500, "rate": 1.0, "count": 1000}])  # fmt: skip
    before = fleet.stats()
    try:
        run = fleet.run("update_agents", limit=host1, extra_vars=update)
        refused = fleet.emu("GET", "/_emu/faults")["faults"][0]["remaining"] < 1000
    finally:
        fleet.emu("DELETE", "/_emu/faults")
    assert run.rc != 0
    assert refused, "the upgraded agent never reported"
    entry = fleet.entries()[host1]
    new = entry["versions"]["ssm_agent"]
    assert new != old and entry["changes"] == [f"amazon-ssm-agent {old} -> {new}"], entry
    stop = f"Systems Manager does not see the SSM agent of {mi_id} Online at {new.rsplit('-', 1)[0]} after 6 s"
    assert stop in run.output, run.output[-4000:]
    assert f", {old.rsplit('-', 1)[0]}); see the agent log" in run.output, run.output[-4000:]
    assert entry["result"] == "failed" and stop in entry["error"], entry
    # An SSM upgrade does not take the host out of service, and its failure does not either.
    assert "ecs:UpdateContainerInstancesState" not in diff_stats(before, fleet.stats())
    assert entry["status"] == "ACTIVE" and entry["agent_connected"] is True, entry

    # The agent reports again (restarted here instead of waiting for its next health check, minutes away): a rerun
    # has nothing to install and finds it Online at the new version.
    fleet.host(host1, "systemctl restart amazon-ssm-agent")
    run = fleet.run("update_agents", limit=host1, extra_vars=update)
    assert run.rc == 0, run.output[-6000:]
    assert run.changed == 0, run.recap
    entry = fleet.entries()[host1]
    assert entry["result"] == "ok" and entry["changes"] == [] and entry["versions"]["ssm_agent"] == new, entry
    seen = {mi["InstanceId"]: (mi["PingStatus"], mi["AgentVersion"]) for mi in fleet.managed_instances()}
    assert seen[mi_id] == ("Online", new.rsplit("-", 1)[0]), seen


def test_deregister_cleans_up_unreachable_hosts_on_the_aws_side(fleet):
    host1, host2, host3, host4 = fleet.world.hosts
    mi_ids = {host: fleet.entries()[host]["managed_instance_id"] for host in fleet.world.hosts}
    for host in (host3, host4):
        harness.docker("stop", "-t", "1", host)
    elsewhere = str(fleet.workdir / "no-report-here" / "fleet")

    # Neither a fleet report nor a variable knows the hosts' managed instances: a clear stop, nothing deregistered.
    before = fleet.stats()
    run = fleet.run("deregister", limit=f"{host3},{host4}", extra_vars={"ecs_anywhere_report_path": elsewhere})
    assert run.rc != 0
    for host in (host3, host4):
        stop = f"{host} cannot be reached and its managed instance id is unknown: set ecs_anywhere_managed_instance_id"
        assert stop in run.output, run.output[-4000:]
    assert write_calls(diff_stats(before, fleet.stats())) == {}
    assert {mi["InstanceId"] for mi in fleet.managed_instances()} == set(mi_ids.values())

    # host3's id comes from the last fleet report, host4's from its variables.
    run = fleet.run("deregister", limit=host3)
    assert run.rc != 0, "a host that could not be cleaned must fail the run"
    run = fleet.run(
        "deregister",
        limit=host4,
        extra_vars={"ecs_anywhere_managed_instance_id": mi_ids[host4], "ecs_anywhere_report_path": elsewhere},
    )
    assert run.rc != 0
    assert {mi["InstanceId"] for mi in fleet.managed_instances()} == {mi_ids[host1], mi_ids[host2]}
    statuses = {ci["ec2InstanceId"]: ci["status"] for ci in fleet.container_instances()}
    assert statuses == {mi_ids[host1]: "ACTIVE", mi_ids[host2]: "ACTIVE", mi_ids[host3]: "INACTIVE",
                        mi_ids[host4]: "INACTIVE"}, statuses  # fmt: skip
    entry = fleet.entries()[host3]
    assert entry["status"] == "DEREGISTERED" and entry["result"] == "unreachable", entry
    assert "deregistered on the AWS side only, the host itself was not cleaned" in entry["error"], entry
    assert entry["managed_instance_id"] == mi_ids[host3], entry
    assert f"managed instance {mi_ids[host3]} deregistered" in entry["changes"], entry

    # Again: nothing left to do on the AWS side.
    before = fleet.stats()
    run = fleet.run("deregister", limit=host3)
    assert write_calls(diff_stats(before, fleet.stats())) == {}
    assert fleet.entries()[host3]["changes"] == [], fleet.entries()[host3]


def test_hosts_back_after_an_aws_side_clean_up_are_cleaned(fleet):
    for host in fleet.world.hosts[2:]:
        harness.docker("start", host)
        harness.wait_systemd(host)
    run = fleet.run("deregister")
    assert run.rc == 0, run.output[-6000:]
    assert fleet.managed_instances() == []
    assert [ci for ci in fleet.container_instances() if ci["status"] != "INACTIVE"] == []
    assert fleet.activations() == []
    for host in fleet.world.hosts:
        assert fleet.entries()[host]["status"] == "DEREGISTERED", fleet.entries()[host]
        assert fleet.agent_leftovers(host) == [], host
