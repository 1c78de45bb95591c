"""The whole lifecycle of a mixed fleet through the collection's playbooks, against the offline world.

register -> rerun (nothing to do) -> update_agents (ecs-init 1.105.1-1 -> 1.106.0-1, one host at a time)
-> update_agents for a newly published SSM agent (no drain) -> move_cluster (one host) -> deregister (all), then
nothing may be left in the emulator or on the hosts.

The fleet is one inventory of three families: Debian 12 (a real Debian host), Rocky Linux 9 (a synthetic RPM host,
Docker from Docker's RPM repository) and openSUSE Leap 15.6 (a synthetic SUSE host, the distribution's docker
package); see tests/images/build.sh for what a synthetic host is. ECSA_LIFECYCLE_IMAGES (comma-separated image names,
for example debian12,debian12) runs it on another fleet.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex

import boto3
import pytest

from tests import harness

from .conftest import DOCKER_PACKAGE
from .conftest import diff_stats
from .conftest import write_calls

OLD, NEW = "1.105.1-1", "1.106.0-1"
NEW_AGENT = "1.106.0"
# The SSM agent the mirror publishes as latest, and the release the test publishes later (tests/agents/build.sh).
SSM_OLD, SSM_NEXT = "3.3.1957.0-1", "3.3.2299.0-1"
INTROSPECT = 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:51678/v1/metadata").read().decode())'
CLUSTER, OTHER = "e2e", "e2e-moved"
IMAGES = os.environ.get("ECSA_LIFECYCLE_IMAGES", "debian12,rocky9,leap156").split(",")


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    fleet = fleet_factory("e2e-life", hosts=len(IMAGES), images=IMAGES, cluster=CLUSTER, ecs_version=OLD)
    # As a real SUSE (or Amazon Linux) host ships it: the repository of its distribution, before the first register.
    fleet.give_distribution_repositories()
    return fleet


def _has_package(fleet, host: str, package: str) -> bool:
    """Whether the host's package database knows the package (dpkg on Debian hosts, rpm on the others)."""
    query = f"dpkg-query -W {package}" if fleet.family(host) == "Debian" else f"rpm -q {package}"
    return fleet.host(host, query, check=False).returncode == 0


def _show(run) -> str:
    return run.output[-6000:]


def _check_run(fleet, playbook: str, **kwargs):
    """Run a playbook in check and diff mode: it must succeed, call no AWS write API and leave the report alone."""
    report = fleet.report_base.with_suffix(".json")
    kept = report.read_bytes() if report.exists() else None
    before = fleet.stats()
    run = fleet.run(playbook, "--check", "--diff", **kwargs)
    assert run.rc == 0, _show(run)
    assert write_calls(diff_stats(before, fleet.stats())) == {}
    assert "Check mode: nothing was changed; the table shows what the run would do." in run.output
    assert (report.read_bytes() if report.exists() else None) == kept, "a check run must not replace the fleet report"
    return run


def test_lifecycle(fleet):  # noqa: PLR0915 - one story, told step by step
    hosts = list(fleet.world.hosts)
    count = len(hosts)
    families = {host: fleet.family(host) for host in hosts}
    # The host moved to another cluster (an RPM host when there is one) and the host whose tag drifts (SUSE's).
    mover = next((h for h in hosts if families[h] == "RedHat"), hosts[0])
    drifted_host = next((h for h in hosts if families[h] == "Suse"), next(h for h in hosts if h != mover))
    durations = {}

    # ---------------------------------------------------------------- prerequisites
    run = fleet.run("prerequisites", extra_vars={"ecs_anywhere_clusters": [CLUSTER, OTHER]})
    assert run.rc == 0, _show(run)
    durations["prerequisites"] = run.seconds

    # ---------------------------------------------------------------- register, in check mode first
    # What a careful operator runs first: the run says what it would do, with the diffs, and changes nothing.
    run = _check_run(fleet, "register")
    assert (
        f"An activation would be created (registration limit {count}) and deleted at the end of the run." in run.output
    )
    assert "+ECS_EXTERNAL=true" in run.output, "the diff of the agent's configuration is missing"
    for host in hosts:
        assert re.search(rf"\| {re.escape(host)} \| ok \|.*\| installed and registered \|", run.output), host
        assert fleet.agent_leftovers(host) == [], host
        docker_package = DOCKER_PACKAGE[families[host]]
        assert not _has_package(fleet, host, docker_package), f"{docker_package} on {host}"
    assert fleet.activations() == []

    # ---------------------------------------------------------------- register
    before = fleet.stats()
    # Verbose, as an operator chasing a problem would run it: the activation code must not show even then.
    run = fleet.run("register", "-vvv")
    durations["register"] = run.seconds
    assert run.rc == 0, _show(run)
    calls = diff_stats(before, fleet.stats())
    assert calls.get("ssm:CreateActivation") == 1, calls
    assert calls.get("ssm:DeleteActivation") == 1, calls
    # Attributes and tags were set at registration: no per-host tagging or attribute call from the controller.
    for call in ("ecs:PutAttributes", "ecs:TagResource", "ssm:AddTagsToResource"):
        assert call not in calls, calls
    assert fleet.activations() == [], "the activation of the batch must be deleted"

    entries = fleet.entries()
    assert set(entries) == set(hosts)
    mi_ids = {}
    for host in hosts:
        entry = entries[host]
        assert entry["result"] == "ok", entry
        assert entry["status"] == "ACTIVE" and entry["agent_connected"] is True, entry
        assert entry["managed_instance_id"].startswith("mi-"), entry
        assert entry["cluster"] == CLUSTER
        assert entry["attributes"] == {"site": "lab", "rack": "r1"}, entry
        assert entry["tags"] == {"team": "platform", "env": "demo"}, entry
        assert entry["versions"]["ecs_init"] == OLD, entry
        assert any("registered" in change for change in entry["changes"]), entry
        mi_ids[host] = entry["managed_instance_id"]
    managed = {mi["InstanceId"]: mi for mi in fleet.managed_instances()}
    assert set(managed) == set(mi_ids.values())
    for mi in managed.values():
        assert mi["Tags"].get("team") == "platform" and mi["Tags"].get("env") == "demo", mi
    active = fleet.container_instances("ACTIVE")
    assert sorted(ci["ec2InstanceId"] for ci in active) == sorted(mi_ids.values())
    markdown = fleet.report_base.with_suffix(".md").read_text()
    assert all(mi in markdown for mi in mi_ids.values())

    # The batch's activation code is nowhere once the run is over: not in its output, not in a file on the hosts
    # (their logs and journals included), not in a file the controller wrote.
    (code,) = fleet.emu("GET", "/_emu/activation-codes")["codes"]
    assert code not in run.output
    for host in hosts:
        found = fleet.host(
            host, f"grep -rlF -- {shlex.quote(code)} /etc /var /root /tmp /home /opt /usr/local /run", check=False
        ).stdout
        assert found == "", f"the activation code is in {found} on {host}"
    assert [p for p in fleet.workdir.rglob("*") if p.is_file() and code.encode() in p.read_bytes()] == []

    # ---------------------------------------------------------------- rerun: nothing to do
    # Run as an AWX job template runs it (ansible-runner, a project playbook importing the collection's), where the
    # report file stays in the job's container: the job's artifacts carry the same report.
    before = fleet.stats()
    run = fleet.run_job("register")
    durations["register (rerun)"] = run.seconds
    assert run.rc == 0, _show(run)
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    calls = diff_stats(before, fleet.stats())
    assert "ssm:CreateActivation" not in calls, calls
    assert write_calls(calls) == {}, write_calls(calls)
    job_report = run.report()
    assert {e["host"]: e["managed_instance_id"] for e in job_report["hosts"]} == mi_ids
    assert all(e["changes"] == [] and e["status"] == "ACTIVE" for e in job_report["hosts"])
    assert run.artifacts == {"ecs_anywhere_fleet_report": job_report}, run.artifacts

    # ---------------------------------------------------------------- a tag removed on the AWS side is put back
    # The batch read shows one host's container instance without the tag, so that host alone takes the per-host path
    # (wait, tag) and the others keep the batch's answer; no host's configuration changes.
    ecs = boto3.client(
        "ecs",
        endpoint_url=fleet.world.emulator_local,
        region_name=fleet.world.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    drifted = fleet.entries()[drifted_host]["container_instance_arn"]
    ecs.untag_resource(resourceArn=drifted, tagKeys=["env"])
    before = fleet.stats()
    run = fleet.run("register")
    assert run.rc == 0, _show(run)
    assert run.changed == 1, run.recap
    calls = diff_stats(before, fleet.stats())
    assert write_calls(calls) == {"ecs:TagResource": 1}, write_calls(calls)
    entries = fleet.entries()
    assert entries[drifted_host]["changes"] == ["container instance tags set by the controller"], entries[drifted_host]
    assert entries[drifted_host]["tags"] == {"team": "platform", "env": "demo"}, entries[drifted_host]
    for host in hosts:
        if host != drifted_host:
            assert entries[host]["changes"] == [], entries[host]

    # ---------------------------------------------------------------- rolling agent update
    # Check mode says which hosts it would drain and update, and leaves them in service at their version.
    run = _check_run(fleet, "update_agents", extra_vars={"ecs_anywhere_ecs_version": NEW})
    # The report is shown after each batch (one host at a time): the last one covers every host.
    last_report = run.output[run.output.rfind("# ECS Anywhere fleet report") :]
    assert last_report.count("| drained, updated and reactivated |") == count, _show(run)
    assert [ci["status"] for ci in fleet.container_instances()] == ["ACTIVE"] * count
    for host in hosts:
        assert fleet.package_version(host, "amazon-ecs-init") == OLD, host

    run = fleet.run("update_agents", extra_vars={"ecs_anywhere_ecs_version": NEW})
    durations["update_agents"] = run.seconds
    assert run.rc == 0, _show(run)
    entries = fleet.entries()
    for host in hosts:
        entry = entries[host]
        assert entry["result"] == "ok", entry
        assert entry["versions"]["ecs_init"] == NEW, entry
        assert entry["versions"]["ecs_agent"] == NEW_AGENT, entry
        assert entry["status"] == "ACTIVE" and entry["agent_connected"] is True, entry
        assert f"amazon-ecs-init {OLD} -> {NEW}" in entry["changes"], entry
        # The agent re-registered on restart; the inventory's attributes are still there.
        assert entry["attributes"] == {"site": "lab", "rack": "r1"}, entry
        assert fleet.package_version(host, "amazon-ecs-init") == NEW, host
        metadata = fleet.host(host, f"python3 -c '{INTROSPECT}'", check=False).stdout
        assert f"v{NEW_AGENT} " in metadata, metadata
    # One host at a time: each host's drain starts after the host before it is back to ACTIVE.
    timings = sorted((entries[h]["timing"] for h in hosts), key=lambda t: t["started"])
    for first, second in itertools.pairwise(timings):
        assert first["finished"] <= second["started"], (first, second)
    versions = {ci["ec2InstanceId"]: ci["versionInfo"]["agentVersion"] for ci in fleet.container_instances("ACTIVE")}
    assert versions == {mi: NEW_AGENT for mi in mi_ids.values()}

    # Rerunning the update has nothing to do.
    run = fleet.run("update_agents", extra_vars={"ecs_anywhere_ecs_version": NEW})
    assert run.rc == 0, _show(run)
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}

    # ---------------------------------------------------------------- a new SSM agent is published
    # The ECS agents are current: the SSM agents are upgraded in place, no host leaves service, no host registers again.
    harness.publish(fleet.world)
    ssm_update = {"ecs_anywhere_ecs_version": NEW, "ecs_anywhere_update_ssm_agent": True}
    before = fleet.stats()
    run = fleet.run("update_agents", extra_vars=ssm_update)
    durations["update_agents (ssm)"] = run.seconds
    assert run.rc == 0, _show(run)
    calls = diff_stats(before, fleet.stats())
    assert "ecs:UpdateContainerInstancesState" not in calls, calls
    assert "ssm:RegisterManagedInstance" not in calls, calls
    entries = fleet.entries()
    for host in hosts:
        entry = entries[host]
        assert entry["result"] == "ok" and entry["status"] == "ACTIVE" and entry["agent_connected"] is True, entry
        assert entry["changes"] == [f"amazon-ssm-agent {SSM_OLD} -> {SSM_NEXT}"], entry
        assert entry["versions"]["ssm_agent"] == SSM_NEXT and entry["versions"]["ecs_init"] == NEW, entry
        assert entry["managed_instance_id"] == mi_ids[host], entry
    # The playbook waited for the upgraded agents to report in, Online, as the same managed instances.
    assert calls.get("ssm:DescribeInstanceInformation", 0) >= count, calls
    upgraded = {mi: ("Online", SSM_NEXT.rsplit("-", 1)[0]) for mi in mi_ids.values()}
    assert {mi["InstanceId"]: (mi["PingStatus"], mi["AgentVersion"]) for mi in fleet.managed_instances()} == upgraded
    before = fleet.stats()
    run = fleet.run("update_agents", extra_vars=ssm_update)
    assert run.rc == 0, _show(run)
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    # Nothing to upgrade; each agent is still checked once, Online at the version its host has.
    assert diff_stats(before, fleet.stats()).get("ssm:DescribeInstanceInformation") == count

    # From now on the inventory carries the new version (as an operator would after a roll-out).
    fleet.write_inventory(ecs_version=NEW)

    # ---------------------------------------------------------------- move one host to another cluster
    run = _check_run(fleet, "move_cluster", limit=mover, extra_vars={"ecs_anywhere_cluster": OTHER})
    (moved,) = [
        line for line in run.output.splitlines() if f"| deregistered from cluster {CLUSTER} after draining |" in line
    ]
    # The tags the agent registers with again in the new cluster.
    assert "team=platform" in moved and "env=demo" in moved, moved
    assert {ci["cluster"] for ci in fleet.container_instances("ACTIVE")} == {CLUSTER}

    run = fleet.run("move_cluster", limit=mover, extra_vars={"ecs_anywhere_cluster": OTHER})
    durations["move_cluster"] = run.seconds
    assert run.rc == 0, _show(run)
    by_cluster = {}
    for ci in fleet.container_instances():
        by_cluster.setdefault((ci["cluster"], ci["status"]), []).append(ci["ec2InstanceId"])
    assert by_cluster.get((OTHER, "ACTIVE")) == [mi_ids[mover]], by_cluster
    assert sorted(by_cluster.get((CLUSTER, "ACTIVE"), [])) == sorted(mi_ids[h] for h in hosts if h != mover), by_cluster
    assert mi_ids[mover] in by_cluster.get((CLUSTER, "INACTIVE"), []), by_cluster
    # The SSM registration stayed.
    assert {mi["InstanceId"] for mi in fleet.managed_instances()} == set(mi_ids.values())
    entry = fleet.entries()[mover]
    assert entry["cluster"] == OTHER and entry["status"] == "ACTIVE" and entry["agent_connected"], entry
    assert entry["managed_instance_id"] == mi_ids[mover]
    assert f"ECS_CLUSTER={OTHER}" in fleet.host(mover, "cat /etc/ecs/ecs.config").stdout

    # ---------------------------------------------------------------- deregister all
    run = _check_run(fleet, "deregister")
    assert run.output.count(" | DEREGISTERED | ") == count, _show(run)
    assert len(fleet.managed_instances()) == count and len(fleet.container_instances("ACTIVE")) == count
    assert all(fleet.agent_leftovers(host) for host in hosts), "a check run removed agents"

    run = fleet.run("deregister")
    durations["deregister"] = run.seconds
    assert run.rc == 0, _show(run)
    assert fleet.managed_instances() == [], fleet.managed_instances()
    assert [ci for ci in fleet.container_instances() if ci["status"] != "INACTIVE"] == []
    assert fleet.activations() == []
    for host in hosts:
        entry = fleet.entries()[host]
        assert entry["result"] == "ok" and entry["status"] == "DEREGISTERED", entry
        assert fleet.agent_leftovers(host) == [], host

    # Deregistering again is a no-op.
    run = fleet.run("deregister")
    assert run.rc == 0, _show(run)
    assert run.changed == 0, {h: r for h, r in run.recap.items() if r["changed"]}
    print("lifecycle durations (s):", {k: round(v, 1) for k, v in durations.items()})
