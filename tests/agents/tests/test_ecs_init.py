"""amazon-ecs-init stand-in against the real emulator (host simulated with --root, fake Docker socket)."""

import json
import urllib.request

import pytest

from .conftest import free_port
from .conftest import wait_for

EXTERNAL = {"AWS_DEFAULT_REGION": "us-east-1", "ECS_EXTERNAL": "true"}


def _metadata(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/metadata", timeout=2) as resp:
            return json.load(resp)
    except OSError:
        return None


def _registered_arn(port):
    doc = _metadata(port)
    return doc and doc["ContainerInstanceArn"]


@pytest.fixture
def ssm_host(aws, host):
    """A host registered with SSM whose agent has shared role credentials."""
    act_id, code = aws.activation(limit=2)
    result = host.register(act_id, code)
    assert result.returncode == 0, result.stdout
    host.start_ssm_service()
    wait_for(lambda: host.credentials_path().exists(), what="shared credentials")
    host.mi = host.registration()["ManagedInstanceID"]
    aws.ecs.create_cluster(clusterName="edge")
    return host


def _start(host, docker_sock, extra_env=None):
    port = free_port()
    proc = host.start_ecs(host.ecs_env(docker_sock, port, {"ECS_BACKEND_HOST": host.emulator, **(extra_env or {})}))
    return proc, port


def test_refuses_to_start_without_docker(host, missing_docker_sock):
    host.write_ecs_config(instance=EXTERNAL, user={"ECS_CLUSTER": "edge"})
    env = host.ecs_env(missing_docker_sock, free_port())
    for command in ("start", "pre-start"):
        result = host.ecs(command, env)
        assert result.returncode == 1, result.stderr
        assert f"Cannot connect to the Docker daemon at unix://{missing_docker_sock}" in result.stderr
    assert "Cannot connect to the Docker daemon" in host.ecs_log("ecs-init.log")


def test_refuses_to_start_without_region(host, docker_sock):
    host.write_ecs_config(instance={"ECS_EXTERNAL": "true"}, user={"ECS_CLUSTER": "edge"})
    result = host.ecs("start", host.ecs_env(docker_sock, free_port()))
    assert result.returncode == 5
    assert "AWS_DEFAULT_REGION has to be set when ECS_EXTERNAL is true" in host.ecs_log()


def test_unreachable_endpoint_is_an_error(host, docker_sock):
    host.p("/root/.aws").mkdir(parents=True)
    host.credentials_path().write_text("[default]\naws_access_key_id = AKIA\naws_secret_access_key = x\n")
    host.write_ecs_config(instance={**EXTERNAL, "ECS_BACKEND_HOST": "http://127.0.0.1:9"},
                          user={"ECS_CLUSTER": "edge"})
    result = host.ecs("start", host.ecs_env(docker_sock, free_port()), timeout=60)
    assert result.returncode == 1
    assert "Unable to register as a container instance with ECS: RequestError" in host.ecs_log()


def test_pre_start_and_post_stop_with_root_prefix_leave_the_host_alone(host, docker_sock):
    env = host.ecs_env(docker_sock, free_port())
    assert host.ecs("pre-start", env).returncode == 0
    assert host.p("/var/lib/ecs/data").is_dir()
    assert host.ecs("post-stop", env).returncode == 0
    assert host.ecs("reload-cache", env).returncode == 0
    assert host.ecs("stop", env).returncode == 0  # nothing running: still fine
    assert "Skipping setting up of credentials-endpoint network rules" in host.ecs_log("ecs-init.log")
    assert host.ecs("bogus", env).returncode == 1


def test_registers_external_instance_and_heartbeats(aws, ssm_host, docker_sock):
    host = ssm_host
    host.write_ecs_config(
        instance=EXTERNAL,
        user={"ECS_CLUSTER": "edge", "ECS_INSTANCE_ATTRIBUTES": '{"site":"lab-1","rack":"r7"}',
              "ECS_CONTAINER_INSTANCE_TAGS": '{"team":"edge","env":"test"}'})
    proc, port = _start(host, docker_sock)
    assert _metadata(port) is not None or proc.poll() is None
    arn = wait_for(lambda: _registered_arn(port), timeout=15, what="container instance ARN")
    meta = _metadata(port)
    assert meta["Cluster"] == "edge"
    assert meta["Version"] == "Amazon ECS Agent - v1.105.1 (stand-in)"

    desc = aws.ecs.describe_container_instances(cluster="edge", containerInstances=[arn], include=["TAGS"])
    ci = desc["containerInstances"][0]
    assert ci["ec2InstanceId"] == host.mi
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["site"] == "lab-1" and attrs["rack"] == "r7"
    assert "ecs.capability.external" in attrs
    assert attrs["ecs.os-type"] == "linux"
    assert attrs["ecs.cpu-architecture"] in ("x86_64", "arm64")
    assert {t["key"]: t["value"] for t in ci["tags"]} == {"team": "edge", "env": "test"}
    assert ci["versionInfo"]["agentVersion"] == "1.105.1"
    resources = {r["name"]: r for r in ci["registeredResources"]}
    assert resources["CPU"]["integerValue"] >= 1024
    assert resources["MEMORY"]["integerValue"] > 0
    assert ci["agentConnected"] is True

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/tasks", timeout=2) as resp:
        assert json.load(resp) == {"Tasks": []}
    state = json.loads(host.p("/var/lib/ecs/data/agent.db").read_text())
    assert state["containerInstanceArn"] == arn and state["cluster"] == "edge"
    assert "Registration completed successfully" in host.ecs_log()

    # stop like systemd does (ExecStop=amazon-ecs-init stop), then restart: re-registration in place
    assert host.ecs("stop", host.ecs_env(docker_sock, port)).returncode == 0
    assert proc.wait(timeout=10) == 0
    proc, port = _start(host, docker_sock)
    assert wait_for(lambda: _registered_arn(port), timeout=15, what="re-registration") == arn
    listed = aws.ecs.list_container_instances(cluster="edge")["containerInstanceArns"]
    assert listed == [arn]
    assert "re-registering container instance" in host.ecs_log()
    host.stop_all()


def test_cluster_mismatch_is_refused(aws, ssm_host, docker_sock):
    host = ssm_host
    host.write_ecs_config(instance=EXTERNAL, user={"ECS_CLUSTER": "edge"})
    proc, port = _start(host, docker_sock)
    wait_for(lambda: _registered_arn(port), timeout=15, what="container instance ARN")
    proc.terminate()
    assert proc.wait(timeout=10) == 0

    aws.ecs.create_cluster(clusterName="other")
    host.write_ecs_config(user={"ECS_CLUSTER": "other"})
    result = host.ecs("start", host.ecs_env(docker_sock, free_port(), {"ECS_BACKEND_HOST": host.emulator}))
    assert result.returncode == 5
    assert ("Data mismatch; saved cluster 'edge' does not match configured cluster 'other'. Perhaps you want to "
            "delete the configured checkpoint file?") in host.ecs_log()
    assert aws.ecs.list_container_instances(cluster="other")["containerInstanceArns"] == []


def test_waits_for_credentials_to_appear(aws, host, docker_sock):
    aws.ecs.create_cluster(clusterName="edge")
    host.write_ecs_config(instance=EXTERNAL, user={"ECS_CLUSTER": "edge"})
    proc, port = _start(host, docker_sock)
    wait_for(lambda: _metadata(port), what="introspection")
    assert _metadata(port)["ContainerInstanceArn"] is None
    act_id, code = aws.activation()
    assert host.register(act_id, code).returncode == 0
    host.start_ssm_service()
    arn = wait_for(lambda: _registered_arn(port), timeout=15, what="registration after credentials appeared")
    assert arn.startswith("arn:aws:ecs:us-east-1:123456789012:container-instance/edge/")
    assert proc.poll() is None
