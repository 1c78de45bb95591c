# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS names every role and playbook of the collection spells the same way: regions, cluster names, the hosts of
AWS's package buckets and APIs, and the proxy exceptions of the agents. Each is written here once."""

from __future__ import annotations

import re

# Two letters, or four for the European Sovereign Cloud (eusc-de-east-1).
REGION = re.compile(r"^([a-z]{2}|eusc)(-[a-z]+)+-[0-9]+$")
CLUSTER_ARN_PREFIX = re.compile(r"^arn:[^:]+:ecs:[^:]*:[^:]*:cluster/")


def is_region(value) -> bool:
    """Whether ``value`` is spelt as an AWS region name (us-east-1, cn-north-1, us-gov-west-1)."""
    return isinstance(value, str) and bool(REGION.match(value))


def cluster_name(value) -> str:
    """An ECS cluster's name, given its name or its ARN (the agents and the API accept both)."""
    return CLUSTER_ARN_PREFIX.sub("", value or "")


def s3_suffix(region: str) -> str:
    """The DNS suffix of S3 in the region's partition: China, the European Sovereign Cloud, or the others."""
    if region.startswith("cn-"):
        return "amazonaws.com.cn"
    if region.startswith("eusc-"):
        return "amazonaws.eu"
    return "amazonaws.com"


def api_suffix(region: str) -> str:
    """The DNS suffix of the SSM and ECS APIs in the region's partition."""
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def endpoints(region: str, package_base_url: str = "", ssm_endpoint: str = "", ecs_endpoint: str = "") -> dict:
    """Where a host downloads the agents from and which APIs it talks to: the overrides given, else AWS's own."""
    return {
        "packages": (package_base_url or f"https://s3.{region}.{s3_suffix(region)}").rstrip("/"),
        "ssm": ssm_endpoint or f"https://ssm.{region}.{api_suffix(region)}",
        "ecs": ecs_endpoint or f"https://ecs.{region}.{api_suffix(region)}",
    }


# Never through a proxy, for any agent: the host itself and the instance metadata endpoint.
NO_PROXY_BASE = ("localhost", "127.0.0.1", "169.254.169.254")


def no_proxy(user_value: str = "", extra=()) -> str:
    """A NO_PROXY list: the fixed exceptions, a component's ``extra`` ones, then the user's comma-separated ones, each
    once, in that order."""
    names = [*NO_PROXY_BASE, *extra, *(part.strip() for part in (user_value or "").split(","))]
    return ",".join(dict.fromkeys(name for name in names if name))
