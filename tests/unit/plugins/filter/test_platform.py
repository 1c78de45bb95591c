# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.ecs_anywhere.plugins.filter.platform import FilterModule

platform = FilterModule().filters()["platform"]


def facts(**overrides):
    base = {
        "distribution": "Rocky",
        "distribution_major_version": "9",
        "distribution_version": "9.5",
        "architecture": "x86_64",
        "os_family": "RedHat",
    }
    return base | overrides


def test_reads_the_facts_and_the_requested_source():
    assert platform(facts())["docker_source"] == "repo"
    assert not platform(facts(), docker_source="distro")["supported"]


def test_selinux_counts_only_when_enabled():
    enforcing = facts(selinux={"status": "enabled", "mode": "enforcing"})
    assert "SELinux is enforcing" in platform(enforcing)["reason"]
    assert platform(facts(selinux={"status": "disabled"}))["supported"]


def test_facts_without_the_distribution_subset_are_an_error():
    with pytest.raises(AnsibleFilterError, match="gather_subset: distribution"):
        platform({"os_family": "RedHat"})
