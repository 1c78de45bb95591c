"""The proving test: the offline AWS world works end to end, with no role or module of ours involved.

A Debian 12 systemd container gets docker.io and the two stand-in agent packages by hand (downloaded from the
mirror, signatures checked with gpg), registers with an activation made through boto3, and must then show up
through the API exactly as an ECS Anywhere external instance does on AWS.
"""

from __future__ import annotations

import json
import shlex
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import harness

REGION = harness.REGION
CLUSTER = "proving"
ATTRIBUTES = {"site": "lab-1", "rack": "r42"}
TAGS = {"team": "platform", "env": "proving"}
ACTIVATION_TAGS = {"fleet": "proving"}


def sh(host: str, script: str, check: bool = True):
    result = harness.host_exec(host, script, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"on {host}: {script}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def wait_for(what: str, probe, timeout: float = 120, interval: float = 2):
    return harness.wait_for(probe, timeout=timeout, interval=interval, what=what)


@pytest.fixture(scope="module")
def world():
    harness.ensure_agents()
    name = f"proving-{uuid.uuid4().hex[:6]}"
    world = harness.up(name, hosts=1, image="debian12")
    try:
        yield world
    finally:
        harness.down(name)


@pytest.fixture(scope="module")
def aws(world):
    config = Config(retries={"max_attempts": 3, "mode": "standard"})
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return {
        svc: session.client(svc, endpoint_url=world.emulator_local, config=config) for svc in ("ssm", "ecs")
    }


@pytest.fixture(scope="module")
def host(world):
    return world.hosts[0]


@pytest.fixture(scope="module")
def installed(world, host):
    """docker.io from Debian, both stand-ins from the mirror, each signature checked against the test key."""
    base = world.mirror_for_hosts
    ssm = f"{base}/amazon-ssm-{REGION}/latest/debian_amd64/amazon-ssm-agent.deb"
    ecs = f"{base}/amazon-ecs-agent-{REGION}/amazon-ecs-init-latest.amd64.deb"
    harness.run(["docker", "cp", str(world.signing_key), f"{host}:/etc/ecsa-test-signing-key.asc"])
    sh(host, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io curl gnupg")
    sh(
        host,
        f"""set -e
        export GNUPGHOME=$(mktemp -d)
        gpg --batch --quiet --import /etc/ecsa-test-signing-key.asc
        cd /root
        curl -fsS -o amazon-ssm-agent.deb {ssm} && curl -fsS -o amazon-ssm-agent.deb.sig {ssm}.sig
        curl -fsS -o amazon-ecs-init.deb {ecs} && curl -fsS -o amazon-ecs-init.deb.asc {ecs}.asc
        gpg --batch --verify amazon-ssm-agent.deb.sig amazon-ssm-agent.deb
        gpg --batch --verify amazon-ecs-init.deb.asc amazon-ecs-init.deb
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./amazon-ssm-agent.deb ./amazon-ecs-init.deb >/dev/null
        rm -rf "$GNUPGHOME" /root/*.deb /root/*.sig /root/*.asc
        """,
    )
    return True


def test_tampered_package_fails_signature_check(world, host, installed):
    """The check above is real: one flipped byte and gpg refuses the package."""
    ecs = f"{world.mirror_for_hosts}/amazon-ecs-agent-{REGION}/amazon-ecs-init-latest.amd64.deb"
    result = sh(
        host,
        f"""export GNUPGHOME=$(mktemp -d); gpg --batch --quiet --import /etc/ecsa-test-signing-key.asc
        cd /tmp && curl -fsS -o p.deb {ecs} && curl -fsS -o p.deb.asc {ecs}.asc
        printf 'X' | dd of=p.deb bs=1 seek=100 conv=notrunc 2>/dev/null
        gpg --batch --verify p.deb.asc p.deb""",
        check=False,
    )
    assert result.returncode != 0
    assert "BAD signature" in result.stderr


def test_external_instance_registers(world, aws, host, installed):
    ssm, ecs = aws["ssm"], aws["ecs"]
    ecs.create_cluster(clusterName=CLUSTER)
    activation = ssm.create_activation(
        IamRole="ecsAnywhereRole",
        RegistrationLimit=1,
        DefaultInstanceName="proving",
        Tags=[{"Key": k, "Value": v} for k, v in ACTIVATION_TAGS.items()],
    )
    endpoint = world.emulator_for_hosts
    agent_config = {"Ssm": {"Endpoint": endpoint, "HealthFrequencyMinutes": 1}}
    config_path = "/etc/amazon/ssm/amazon-ssm-agent.json"
    sh(host, f"mkdir -p /etc/amazon/ssm && echo {shlex.quote(json.dumps(agent_config))} > {config_path}")
    # The code goes in through the environment of one exec, never into a file on the host.
    register = harness.run(
        ["docker", "exec", "-e", f"CODE={activation['ActivationCode']}", host, "bash", "-c",
         f"amazon-ssm-agent -register -code \"$CODE\" -id {activation['ActivationId']} -region {REGION}"],
        check=False,
    )  # fmt: skip
    assert register.returncode == 0, register.stdout + register.stderr
    registration = json.loads(sh(host, "cat /var/lib/amazon/ssm/registration").stdout)
    mi_id = registration["ManagedInstanceID"]
    assert mi_id.startswith("mi-") and len(mi_id) == 20
    assert registration["Region"] == REGION

    ecs_config = {
        "ECS_CLUSTER": CLUSTER,
        "ECS_INSTANCE_ATTRIBUTES": json.dumps(ATTRIBUTES),
        "ECS_CONTAINER_INSTANCE_TAGS": json.dumps(TAGS),
    }
    instance_config = {"AWS_DEFAULT_REGION": REGION, "ECS_EXTERNAL": "true", "ECS_BACKEND_HOST": endpoint}
    for path, values in (("/etc/ecs/ecs.config", ecs_config), ("/var/lib/ecs/ecs.config", instance_config)):
        body = "\n".join(f"{k}={v}" for k, v in values.items()) + "\n"
        sh(host, f"mkdir -p $(dirname {path}) && printf %s {shlex.quote(body)} > {path}")
    sh(host, "systemctl enable --now docker amazon-ssm-agent && systemctl enable --now ecs")

    online = wait_for(
        "the managed instance to be Online",
        lambda: [
            i
            for i in ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [mi_id]}])[
                "InstanceInformationList"
            ]
            if i["PingStatus"] == "Online"
        ],
    )[0]
    assert online["ActivationId"] == activation["ActivationId"]
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=mi_id)["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == ACTIVATION_TAGS

    arns = wait_for(
        "the container instance to register",
        lambda: ecs.list_container_instances(cluster=CLUSTER, filter=f"ec2InstanceId == {mi_id}")[
            "containerInstanceArns"
        ],
    )
    assert len(arns) == 1
    described = ecs.describe_container_instances(cluster=CLUSTER, containerInstances=arns, include=["TAGS"])
    instance = described["containerInstances"][0]
    assert instance["status"] == "ACTIVE"
    assert instance["agentConnected"] is True
    assert instance["ec2InstanceId"] == mi_id
    attributes = {a["name"]: a.get("value") for a in instance["attributes"]}
    assert "ecs.capability.external" in attributes
    for name, value in ATTRIBUTES.items():
        assert attributes[name] == value
    assert {t["key"]: t["value"] for t in instance["tags"]} == TAGS
    external = ecs.list_container_instances(cluster=CLUSTER, filter="attribute:ecs.capability.external exists")
    assert external["containerInstanceArns"] == arns

    metadata = json.loads(
        wait_for(
            "the introspection endpoint",
            lambda: sh(host, "curl -fsS http://127.0.0.1:51678/v1/metadata", check=False).stdout,
        )
    )
    assert metadata["ContainerInstanceArn"] == arns[0]
    assert metadata["Cluster"] == CLUSTER

    # Deregistering the managed instance revokes its identity: the agent can no longer get credentials.
    stats_before = harness.emulator(world, "GET", "/_emu/stats")
    ssm.deregister_managed_instance(InstanceId=mi_id)
    sh(host, "systemctl restart amazon-ssm-agent")
    wait_for(
        "the agent to be refused credentials",
        lambda: "InvalidInstanceId" in sh(host, "cat /var/log/amazon/ssm/amazon-ssm-agent.log", check=False).stdout,
        timeout=60,
    )
    stats_after = harness.emulator(world, "GET", "/_emu/stats")
    token_calls = "ssm:RequestManagedInstanceRoleToken"
    assert stats_after.get(token_calls, 0) > stats_before.get(token_calls, 0)
    assert ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [mi_id]}])[
        "InstanceInformationList"
    ] == []

    # A wrong code is refused with AWS's error, and the agent says so.
    wrong = sh(
        host,
        f"amazon-ssm-agent -register -code WRONGWRONGWRONGWRONG -id {activation['ActivationId']} -region {REGION} -y",
        check=False,
    )
    assert wrong.returncode != 0
    assert "InvalidActivation" in wrong.stdout + wrong.stderr

    # Teardown through the API: nothing is left behind.
    ecs.deregister_container_instance(cluster=CLUSTER, containerInstance=arns[0], force=True)
    ssm.delete_activation(ActivationId=activation["ActivationId"])
    with pytest.raises(ClientError) as gone:
        ssm.delete_activation(ActivationId=activation["ActivationId"])
    assert gone.value.response["Error"]["Code"] == "InvalidActivationId"
    assert ecs.list_container_instances(cluster=CLUSTER)["containerInstanceArns"] == []
