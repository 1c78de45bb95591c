"""Shared fixtures of the role tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
import pytest

# The playbook of a test module that sets no PLAYBOOK of its own: one role, external_instance unless role_under_test.
ROLE_PLAYBOOK = """
- name: Apply a role of the collection
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role under test
      ansible.builtin.include_role:
        name: "fleet.ecs_anywhere.{{ role_under_test | default('external_instance') }}"
"""


def emulator_clients(world, region: str, *clusters: str) -> dict:
    """SSM and ECS clients on the world's emulator, with the clusters created."""
    kwargs = dict(region_name=region, endpoint_url=world.emulator_local,
                  aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - emulator dummy keys  # fmt: skip
    clients = {"ssm": boto3.client("ssm", **kwargs), "ecs": boto3.client("ecs", **kwargs)}
    for cluster in clusters:
        clients["ecs"].create_cluster(clusterName=cluster)
    return clients


def failed_with(result: subprocess.CompletedProcess, *fragments: str) -> None:
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out[-3000:]
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in: {out[-3000:]}"


@pytest.fixture(scope="module")
def workdir(request):
    """A private directory holding the test module's PLAYBOOK (and, while it runs, its 0600 variables file)."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    path = Path(tempfile.mkdtemp(prefix=f"ecsa-{name}-"))
    path.chmod(0o700)
    (path / "play.yml").write_text(getattr(request.module, "PLAYBOOK", ROLE_PLAYBOOK))
    yield path
    shutil.rmtree(path, ignore_errors=True)
