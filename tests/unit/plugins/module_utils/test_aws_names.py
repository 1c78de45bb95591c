# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.filter.aws_endpoints import FilterModule as Endpoints
from ansible_collections.fleet.ecs_anywhere.plugins.filter.cluster_name import FilterModule as ClusterName
from ansible_collections.fleet.ecs_anywhere.plugins.filter.no_proxy import FilterModule as NoProxy
from ansible_collections.fleet.ecs_anywhere.plugins.test.aws_region import TestModule as Region

aws_endpoints = Endpoints().filters()["aws_endpoints"]
cluster_name = ClusterName().filters()["cluster_name"]
no_proxy = NoProxy().filters()["no_proxy"]
aws_region = Region().tests()["aws_region"]


@pytest.mark.parametrize("name", ["us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1", "eusc-de-east-1"])
def test_region_names(name):
    assert aws_region(name)


@pytest.mark.parametrize("value", ["", None, "us-east", "US-EAST-1", "us-east-1 ", "useast1", 1])
def test_not_region_names(value):
    assert not aws_region(value)


def test_cluster_name_from_name_or_arn():
    assert cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/prod") == "prod"
    assert cluster_name("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/prod-cn") == "prod-cn"
    assert cluster_name("prod") == "prod"
    assert cluster_name(None) == ""


def test_endpoints_per_partition():
    assert aws_endpoints("us-east-1") == {
        "packages": "https://s3.us-east-1.amazonaws.com",
        "ssm": "https://ssm.us-east-1.amazonaws.com",
        "ecs": "https://ecs.us-east-1.amazonaws.com",
    }
    china = aws_endpoints("cn-north-1")
    assert china["packages"] == "https://s3.cn-north-1.amazonaws.com.cn"
    assert china["ssm"] == "https://ssm.cn-north-1.amazonaws.com.cn"
    assert aws_endpoints("eusc-de-east-1")["packages"] == "https://s3.eusc-de-east-1.amazonaws.eu"


def test_endpoint_overrides_win():
    urls = aws_endpoints("us-east-1", package_base_url="http://mirror:8080//", ssm_endpoint="http://emu:4566",
                         ecs_endpoint="http://emu:4567")  # fmt: skip
    assert urls == {"packages": "http://mirror:8080", "ssm": "http://emu:4566", "ecs": "http://emu:4567"}


def test_no_proxy_order_and_duplicates():
    assert no_proxy("") == "localhost,127.0.0.1,169.254.169.254"
    assert (
        no_proxy(" corp.example, 127.0.0.1 ,,10.0.0.0/8", extra=["169.254.170.2", "/var/run/docker.sock"])
        == "localhost,127.0.0.1,169.254.169.254,169.254.170.2,/var/run/docker.sock,corp.example,10.0.0.0/8"
    )
