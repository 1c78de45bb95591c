# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import copy

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import record_differences

ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0f1e2d3c"
EXPECTED = {"digest": "d1", "region": "us-east-1", "cluster": "prod", "services": ["docker", "amazon-ssm-agent", "ecs"]}
RUNNING = {"enabled": "enabled", "active": "active"}
HOST = {
    "files": {"/etc/ecs/ecs.config": {"exists": True, "checksum": "aa"}},
    "packages": {"amazon-ecs-init": "1.105.1-1", "docker-ce": None},
    "services": {"docker": RUNNING, "amazon-ssm-agent": RUNNING, "ecs": RUNNING},
    "ssm_registration": {"managed_instance_id": "mi-0123456789abcdef0", "region": "us-east-1"},
    "ecs_agent": {"container_instance_arn": ARN, "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"},
}
SAVED = {
    "digest": "d1",
    "files": copy.deepcopy(HOST["files"]),
    "packages": dict(HOST["packages"]),
    "managed_instance_id": "mi-0123456789abcdef0",
    "container_instance_arn": ARN,
}


def host(**changes):
    state = copy.deepcopy(HOST)
    for key, value in changes.items():
        state[key] = value
    return state


def test_a_host_as_recorded_has_nothing_to_do():
    assert record_differences(SAVED, host(), EXPECTED) == []


def test_no_record():
    assert record_differences(None, host(), EXPECTED) == ["no converge record"]


def test_each_difference_is_named():
    changed = host(
        files={"/etc/ecs/ecs.config": {"exists": True, "checksum": "bb"}},
        packages={"amazon-ecs-init": "1.106.0-1", "docker-ce": None},
        services={"docker": RUNNING, "amazon-ssm-agent": {"enabled": "disabled", "active": "active"}, "ecs": RUNNING},
        ssm_registration={"managed_instance_id": "mi-0fedcba9876543210", "region": "eu-west-1"},
        ecs_agent={"container_instance_arn": None, "cluster": "other"},
    )
    assert record_differences(SAVED | {"digest": "d0"}, changed, EXPECTED) == [
        "the settings or the collection's code changed since the last converge",
        "files changed: /etc/ecs/ecs.config",
        "packages changed: amazon-ecs-init",
        "services not enabled and running: amazon-ssm-agent",
        "the SSM registration is not the recorded one",
        "the host is not registered in us-east-1",
        "the ECS agent does not run as the recorded container instance",
        "the ECS agent is not in cluster prod",
    ]


def test_a_path_only_one_side_has_counts():
    assert record_differences(SAVED, host(files={}), EXPECTED) == ["files changed: /etc/ecs/ecs.config"]
    newer = host(packages={**HOST["packages"], "containerd.io": "1.7.22-1"})
    assert record_differences(SAVED, newer, EXPECTED) == ["packages changed: containerd.io"]


def test_cluster_given_by_name_or_arn():
    by_arn = EXPECTED | {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}
    assert record_differences(SAVED, host(), by_arn) == []


def test_every_service_counts_when_none_are_named():
    stopped = host(services={**HOST["services"], "ecs": {"enabled": "enabled", "active": "inactive"}})
    assert record_differences(SAVED, stopped, EXPECTED | {"services": None}) == [
        "services not enabled and running: ecs"
    ]
