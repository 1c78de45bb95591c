# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make external container instances the way ECS Anywhere hosts do, against the emulator.

register: CreateActivation (controller creds) -> per host RegisterManagedInstance (unsigned) ->
RequestManagedInstanceRoleToken (RSA-signed) -> RegisterContainerInstance with an empty identity
document signed with the role credentials -> DiscoverPollEndpoint (the agent heartbeat).
start-task: RegisterTaskDefinition + StartTask onto given container instances (controller creds).

Reads AWS_ENDPOINT_URL / EMULATOR_URL and AWS_REGION from the environment; prints JSON.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
sys.path.insert(0, REPO)

import boto3  # noqa: E402

from tests.emulator import agent_protocol  # noqa: E402


def endpoint():
    return os.environ.get("EMULATOR_URL") or os.environ["AWS_ENDPOINT_URL"]


def region():
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def controller(service):
    return boto3.client(service, endpoint_url=endpoint(), region_name=region())


def register_one(activation, cluster, attributes, tags, *, ecs_delay=0, mi_file=None):
    url = endpoint()
    identity = agent_protocol.register(url, activation["ActivationId"], activation["ActivationCode"], region=region())
    creds = agent_protocol.request_role_token(url, identity)
    if mi_file:
        with open(mi_file, "w") as f:
            f.write(identity.instance_id + "\n")
    if ecs_delay:
        time.sleep(ecs_delay)  # the ECS agent starts after the SSM agent
    attrs = [{"name": "ecs.capability.external"}, {"name": "ecs.os-type", "value": "linux"}]
    attrs += [{"name": k, "value": v} for k, v in attributes.items()]
    instance = agent_protocol.register_container_instance(
        url,
        creds,
        cluster,
        attributes=attrs,
        tags=[{"key": k, "value": v} for k, v in tags.items()],
        region=region(),
    )
    agent_protocol.discover_poll_endpoint(url, creds, cluster, instance["containerInstanceArn"], region=region())
    return {"managed_instance_id": identity.instance_id, "container_instance_arn": instance["containerInstanceArn"]}


def cmd_register(args):
    activation = controller("ssm").create_activation(
        IamRole=args.role, RegistrationLimit=min(max(args.count, 1), 1000), Description="ecs_container_instance tests"
    )
    hosts = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        futures = [
            pool.submit(
                register_one,
                activation,
                args.cluster,
                json.loads(args.attributes),
                json.loads(args.tags),
                ecs_delay=args.ecs_delay,
                mi_file=args.mi_file,
            )
            for dummy in range(args.count)
        ]
        for future in futures:
            hosts.append(future.result())
    return {"activation_id": activation["ActivationId"], "hosts": hosts}


def cmd_start_task(args):
    ecs = controller("ecs")
    family = f"{args.cluster}-sleeper"
    definition = ecs.register_task_definition(
        family=family,
        # No requiresCompatibilities: moto 5.2.5 turns any non-EC2 value into FARGATE + awsvpc, which StartTask
        # then rejects without a network configuration. bridge mode is what an external host runs anyway.
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "sleep",
                "image": "busybox",
                "command": ["sleep", "3600"],
                "memory": 32,
                "cpu": 16,
                "essential": True,
            }
        ],
    )
    arn = definition["taskDefinition"]["taskDefinitionArn"]
    tasks = ecs.start_task(cluster=args.cluster, taskDefinition=arn, containerInstances=args.container_instance)
    return {"task_arns": [t["taskArn"] for t in tasks["tasks"]], "failures": tasks.get("failures", [])}


def cmd_stop_tasks(args):
    ecs = controller("ecs")
    stopped = []
    for arn in ecs.list_tasks(cluster=args.cluster)["taskArns"]:
        ecs.stop_task(cluster=args.cluster, task=arn, reason="test cleanup")
        stopped.append(arn)
    return {"stopped": stopped}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register")
    reg.add_argument("--cluster", required=True)
    reg.add_argument("--count", type=int, default=1)
    reg.add_argument("--role", default="ecsAnywhereRole")
    reg.add_argument("--attributes", default="{}", help="JSON dict of custom attributes the agent registers with")
    reg.add_argument("--tags", default="{}", help="JSON dict of tags (ECS_CONTAINER_INSTANCE_TAGS)")
    reg.add_argument("--threads", type=int, default=8)
    reg.add_argument("--ecs-delay", type=float, default=0, help="seconds between SSM and ECS registration")
    reg.add_argument("--mi-file", help="write the managed instance id here right after SSM registration (count 1)")
    start = sub.add_parser("start-task")
    start.add_argument("--cluster", required=True)
    start.add_argument("--container-instance", action="append", required=True)
    stop = sub.add_parser("stop-tasks")
    stop.add_argument("--cluster", required=True)
    args = parser.parse_args()
    handler = {"register": cmd_register, "start-task": cmd_start_task, "stop-tasks": cmd_stop_tasks}[args.command]
    print(json.dumps(handler(args)))


if __name__ == "__main__":
    main()
