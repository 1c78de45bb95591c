# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: platform
version_added: 0.2.0
short_description: What fleet.ecs_anywhere makes of a host, from its facts
description:
  - Looks the host up in the collection's one table of supported platforms and returns whether the roles may change
    it, and if not, why and what to do.
  - Every role of the collection refuses a host for which RV(_value.supported) is false, before it changes anything.
options:
  _input:
    description:
      - The host's C(ansible_facts), with at least the C(distribution) subset (and C(selinux) for the SELinux check).
    type: dict
    required: true
  docker_source:
    description:
      - The requested Docker source, O(ecs_anywhere_docker_install_source); V(auto) or empty picks the platform's own.
    type: str
    default: auto
author:
  - Fleet ECS Anywhere maintainers (@fleet)
"""

EXAMPLES = r"""
- name: Refuse a host the collection cannot manage
  ansible.builtin.assert:
    that: __platform.supported
    fail_msg: "{{ __platform.reason }}"
  vars:
    __platform: "{{ ansible_facts | fleet.ecs_anywhere.platform(docker_source=ecs_anywhere_docker_install_source) }}"
"""

RETURN = r"""
_value:
  description: What the collection makes of the host.
  type: dict
  contains:
    supported:
      description: Whether the roles may change the host.
      type: bool
    reason:
      description: Why not, and what to do; empty when supported.
      type: str
    label:
      description: The distribution's name for messages, for example C(Rocky Linux).
      type: str
    package_format:
      description: C(deb) or C(rpm).
      type: str
    docker_sources:
      description: The Docker sources that work on the platform, the first being what V(auto) picks.
      type: list
      elements: str
    docker_source:
      description: The Docker source the docker role uses.
      type: str
    docker_repo_distro:
      description: The folder of C(download.docker.com/linux/) that serves the platform, empty when there is none.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.platforms import lookup


def platform(facts, docker_source="auto"):
    if not isinstance(facts, dict) or "distribution" not in facts:
        raise AnsibleFilterError(
            "fleet.ecs_anywhere.platform needs the host's ansible_facts with the distribution subset "
            "(ansible.builtin.setup with gather_subset: distribution)"
        )
    selinux = facts.get("selinux") or {}
    return lookup(
        distribution=facts["distribution"],
        major=str(facts.get("distribution_major_version", "")),
        version=str(facts.get("distribution_version", "")),
        architecture=facts.get("architecture", "x86_64"),
        selinux_mode=selinux.get("mode", "") if selinux.get("status") == "enabled" else "",
        docker_source=docker_source or "auto",
    )


class FilterModule:
    def filters(self):
        return {"platform": platform}
