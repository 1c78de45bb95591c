# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""converge_record against a temporary root, canned systemctl/dpkg-query/rpm answers and a local agent API."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import package_formats
from ansible_collections.fleet.ecs_anywhere.plugins.modules import converge_record
from ansible_collections.fleet.ecs_anywhere.plugins.modules import host_info
from tests.unit.file_attributes import mode_of
from tests.unit.file_attributes import owner_of
from tests.unit.file_attributes import read

MI = "mi-0123456789abcdef0"
ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AGENT_VERSION = "Amazon ECS Agent - v1.89.2 (d9b3d5a4)"
RECORD = "/var/lib/ecs-anywhere/converged.json"
RECORD_DIR = "/var/lib/ecs-anywhere"
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PATHS = ["/etc/ecs/ecs.config", "/etc/amazon/ssm/amazon-ssm-agent.json", "/etc/apt/preferences.d/docker.pref"]
PACKAGES = ["docker.io", "amazon-ssm-agent", "amazon-ecs-init"]
INSTALLED = {
    "docker.io": "20.10.24+dfsg1-1+deb12u1+b6",
    "amazon-ssm-agent": "3.3.987.0-1",
    "amazon-ecs-init": "1.89.2-1",
}
# What the module runs as decides the owner it wants: root, or nobody in particular.
OWNER = (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


@pytest.fixture(autouse=True)
def debian_system(tmp_path, monkeypatch):
    """The running system's os-release is a Debian's, whatever the machine running the tests: dpkg is asked first."""
    (tmp_path / "system/etc").mkdir(parents=True)
    (tmp_path / "system/etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    monkeypatch.setattr(package_formats, "HOST_ROOT", str(tmp_path / "system"))


@pytest.fixture
def commands(monkeypatch):
    """systemctl show, dpkg-query -W and rpm -q as a Debian host with the three services running answers them."""
    calls = []

    def run_command(self, args, *dummy_args, **dummy_kwargs):
        calls.append(list(args))
        tool = os.path.basename(args[0])
        if tool == "systemctl" and args[1] == "show":
            units = args[args.index("--") + 1 :]
            blocks = []
            for unit in units:
                found = not unit.startswith("snap.")
                blocks.append(
                    f"Id={unit}\nLoadState={'loaded' if found else 'not-found'}\n"
                    f"ActiveState={'active' if found else 'inactive'}\nUnitFileState={'enabled' if found else ''}\n"
                )
            return 0, "\n".join(blocks), ""
        if tool == "dpkg-query":
            names = args[3:]
            out = "".join(f"{name}\tii \t{INSTALLED[name]}\n" for name in sorted(names) if name in INSTALLED)
            return (0 if all(name in INSTALLED for name in names) else 1), out, ""
        if tool == "rpm":
            return len(args) - 4, "".join(f"package {name} is not installed\n" for name in args[4:]), ""
        raise AssertionError(f"unexpected command {args}")

    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return calls


@pytest.fixture
def agent():
    """The ECS agent introspection API; change payload to change its answer."""
    payload = {"Cluster": "edge", "ContainerInstanceArn": ARN, "Version": AGENT_VERSION}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(payload).encode()
            self.send_response(200 if self.path == "/v1/metadata" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", payload
    server.shutdown()
    server.server_close()


def write(root, relative, content, mode=0o644):
    path = os.path.join(root, relative.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


@pytest.fixture
def host(tmp_path):
    """A registered host's files under a temporary root; the record's directory does not exist yet."""
    root = str(tmp_path / "root")
    write(root, "/etc/ecs/ecs.config", "ECS_CLUSTER=edge\nECS_EXTERNAL=true\n", 0o600)
    write(root, "/etc/amazon/ssm/amazon-ssm-agent.json", "{}\n")
    write(root, "/var/lib/amazon/ssm/registration", json.dumps({"ManagedInstanceID": MI, "Region": "us-east-1"}))
    return root


@pytest.fixture
def converge(run_module, host, commands, agent):
    """Run converge_record on the host; keyword arguments override the role's."""

    def converge_(check_mode=False, diff=False, **overrides):
        args = dict(
            path=RECORD,
            digest=DIGEST,
            format=1,
            paths=PATHS,
            packages=PACKAGES,
            root=host,
            introspection_url=agent[0],
        )
        args.update(overrides)
        return run_module(converge_record, args, check_mode=check_mode, diff=diff)

    return converge_


def under(root, path):
    return os.path.join(root, path.lstrip("/"))


def test_first_write_creates_the_directory_and_the_record(converge, host, commands):
    result = converge()

    assert not result.get("failed"), result
    assert result["changed"] is True
    directory, record_file = under(host, RECORD_DIR), under(host, RECORD)
    assert mode_of(directory) == 0o700 and owner_of(directory) == OWNER
    assert mode_of(record_file) == 0o600 and owner_of(record_file) == OWNER
    # Nothing but the record is left in its directory: the temporary file was renamed over it.
    assert os.listdir(directory) == ["converged.json"]

    record = result["record"]
    assert set(record) == {"format", "digest", "files", "packages", "managed_instance_id", "container_instance_arn"}
    assert record["format"] == 1 and record["digest"] == DIGEST
    assert record["managed_instance_id"] == MI and record["container_instance_arn"] == ARN
    assert record["packages"] == INSTALLED
    assert list(record["files"]) == PATHS
    assert record["files"]["/etc/ecs/ecs.config"] == {
        "exists": True,
        "type": "file",
        "checksum": "3e912b68f4bbf8cec8b11b50c7288f606576e0a6",
        "mode": "0600",
        "uid": OWNER[0],
        "gid": OWNER[1],
    }
    assert record["files"]["/etc/apt/preferences.d/docker.pref"]["exists"] is False
    # Byte for byte what the role's copy task wrote: "{{ record | to_nice_json(indent=2) }}\n".
    assert read(record_file) == (to_nice_json(record, indent=2) + "\n").encode()
    assert read(record_file).startswith(b'{\n  "container_instance_arn": "arn:aws:ecs:')

    assert result["host"]["files"] == record["files"]
    assert result["host"]["packages"] == INSTALLED
    registration = {"managed_instance_id": MI, "region": "us-east-1", "source": "registration"}
    assert result["host"]["ssm_registration"] == registration
    assert result["host"]["ecs_agent"] == {
        "reachable": True,
        "cluster": "edge",
        "container_instance_arn": ARN,
        "version": AGENT_VERSION,
    }
    assert result["host"]["services"] == {
        "amazon-ssm-agent": {"unit": "amazon-ssm-agent.service", "active": "active", "enabled": "enabled"},
        "ecs": {"unit": "ecs.service", "active": "active", "enabled": "enabled"},
        "docker": {"unit": "docker.service", "active": "active", "enabled": "enabled"},
    }
    # One call per tool, as host_info reads the host.
    assert [call[:2] for call in commands] == [["/usr/bin/dpkg-query", "-W"], ["/usr/bin/systemctl", "show"]]
    assert "diff" not in result


def test_host_info_reads_back_what_was_written(converge, run_module, host, agent):
    # The preflight's comparison: the record against host_info's read of the same paths and packages.
    written = converge()["record"]
    read_back = run_module(
        host_info,
        dict(root=host, paths=PATHS, packages=PACKAGES, record_path=RECORD, introspection_url=agent[0]),
    )
    assert read_back["record"] == written
    assert read_back["record"]["files"] == read_back["files"]
    assert read_back["record"]["packages"] == read_back["packages"]
    assert read_back["record"]["managed_instance_id"] == read_back["ssm_registration"]["managed_instance_id"]
    assert read_back["record"]["container_instance_arn"] == read_back["ecs_agent"]["container_instance_arn"]


def test_second_call_changes_nothing(converge, host):
    first = converge()
    record_file = under(host, RECORD)
    before = os.stat(record_file)

    second = converge(diff=True)

    assert second["changed"] is False
    assert second["record"] == first["record"]
    after = os.stat(record_file)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert second["diff"]["before"] == second["diff"]["after"]


def test_same_content_in_another_layout_is_left_alone(converge, host):
    record = converge()["record"]
    record_file = under(host, RECORD)
    compact = json.dumps(record, separators=(",", ":")).encode()
    with open(record_file, "wb") as f:
        f.write(compact)

    assert converge()["changed"] is False
    assert read(record_file) == compact


def test_changed_digest_rewrites_the_record(converge, host):
    converge()
    result = converge(digest="0" * 64, diff=True)

    assert result["changed"] is True
    written = json.loads(read(under(host, RECORD)))
    assert written["digest"] == "0" * 64 and written == result["record"]
    assert f'"digest": "{DIGEST}"' in result["diff"]["before"]
    assert '"digest": "' + "0" * 64 + '"' in result["diff"]["after"]
    assert result["diff"]["before_header"] == result["diff"]["after_header"] == RECORD


def test_changed_file_checksum_rewrites_the_record(converge, host):
    first = converge()["record"]
    write(host, "/etc/ecs/ecs.config", "ECS_CLUSTER=edge\nECS_EXTERNAL=true\nECS_LOGLEVEL=debug\n", 0o600)

    result = converge()

    assert result["changed"] is True
    checksum = result["record"]["files"]["/etc/ecs/ecs.config"]["checksum"]
    assert checksum != first["files"]["/etc/ecs/ecs.config"]["checksum"]
    assert json.loads(read(under(host, RECORD)))["files"]["/etc/ecs/ecs.config"]["checksum"] == checksum
    assert mode_of(under(host, RECORD)) == 0o600


def test_wrong_modes_are_fixed_without_rewriting(converge, host):
    converge()
    record_file, directory = under(host, RECORD), under(host, RECORD_DIR)
    os.chmod(record_file, 0o644)
    os.chmod(directory, 0o755)  # noqa: S103 - the drift to repair
    content, inode = read(record_file), os.stat(record_file).st_ino

    result = converge()

    assert result["changed"] is True
    assert mode_of(record_file) == 0o600 and mode_of(directory) == 0o700
    assert read(record_file) == content and os.stat(record_file).st_ino == inode
    assert converge()["changed"] is False


def test_rewrite_does_not_keep_a_wrong_mode(converge, host):
    converge()
    os.chmod(under(host, RECORD), 0o644)
    assert converge(digest="1" * 64)["changed"] is True
    assert mode_of(under(host, RECORD)) == 0o600


def test_a_link_in_the_records_place_is_replaced(converge, host, tmp_path):
    elsewhere = write(str(tmp_path), "elsewhere.json", "{}")
    os.makedirs(under(host, RECORD_DIR), mode=0o700)
    os.symlink(elsewhere, under(host, RECORD))

    assert converge()["changed"] is True
    assert stat.S_ISREG(os.lstat(under(host, RECORD)).st_mode)
    assert read(elsewhere) == b"{}"


def test_check_mode_predicts_and_writes_nothing(converge, host):
    result = converge(check_mode=True, diff=True)

    assert result["changed"] is True
    assert not os.path.exists(under(host, RECORD_DIR))
    assert result["record"]["container_instance_arn"] == ARN
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == to_nice_json(result["record"], indent=2) + "\n"

    converge()
    assert converge(check_mode=True)["changed"] is False
    assert converge(check_mode=True, digest="2" * 64)["changed"] is True
    assert json.loads(read(under(host, RECORD)))["digest"] == DIGEST


def test_check_mode_predicts_a_mode_fix(converge, host):
    converge()
    os.chmod(under(host, RECORD), 0o640)
    assert converge(check_mode=True)["changed"] is True
    assert mode_of(under(host, RECORD)) == 0o640


def test_the_records_directory_is_not_part_of_the_record(converge, host):
    result = converge(paths=[*PATHS, RECORD_DIR, RECORD_DIR + "/"])

    assert list(result["record"]["files"]) == PATHS
    assert list(result["host"]["files"]) == PATHS
    # Its mode changing (it is this module's to set) is no reason to rewrite the record.
    os.chmod(under(host, RECORD_DIR), 0o750)  # noqa: S103 - the drift to repair
    assert converge(paths=[*PATHS, RECORD_DIR])["record"] == result["record"]


def test_without_a_container_instance_arn_nothing_is_written(converge, host, agent):
    agent[1]["ContainerInstanceArn"] = ""

    result = converge()

    assert result["failed"] is True
    assert result["msg"].startswith(f"Refusing to write the converge record {RECORD}: the host has no container")
    assert f"the ECS agent at {agent[0]} answered without one" in result["msg"]
    assert "managed instance id" not in result["msg"]
    assert result["host"]["ssm_registration"]["managed_instance_id"] == MI
    assert not os.path.exists(under(host, RECORD_DIR))


def test_without_an_answering_agent_or_a_registration_nothing_is_written(converge, host):
    os.unlink(under(host, "/var/lib/amazon/ssm/registration"))

    result = converge(introspection_url="http://127.0.0.1:9", timeout=1)

    assert result["failed"] is True
    assert "no SSM managed instance id" in result["msg"]
    assert "no container instance ARN (the ECS agent did not answer: http://127.0.0.1:9/v1/metadata:" in result["msg"]
    assert not os.path.exists(under(host, RECORD_DIR))


def test_check_mode_on_an_unregistered_host_predicts_nothing(converge, host, agent):
    agent[1]["ContainerInstanceArn"] = None
    os.unlink(under(host, "/var/lib/amazon/ssm/registration"))

    result = converge(check_mode=True, diff=True)

    assert not result.get("failed") and result["changed"] is False
    assert result["record"] is None and "diff" not in result
    assert result["msg"].startswith(f"Not predicting the converge record {RECORD}: the host has no SSM managed")
    # What the role publishes as its fact is still there.
    assert result["host"]["packages"] == INSTALLED
    assert result["host"]["ecs_agent"]["reachable"] is True
    assert result["host"]["services"]["ecs"]["active"] == "active"
    assert not os.path.exists(under(host, RECORD_DIR))


@pytest.mark.parametrize("path", ["/converged.json", "converged.json", "var/lib/ecs-anywhere/converged.json", "/x/.."])
def test_a_record_outside_a_directory_of_its_own_is_refused(converge, host, commands, path):
    mode, content = mode_of(host), sorted(os.listdir(host))
    result = converge(path=path)
    assert result["failed"] is True
    assert result["msg"].startswith("path must be an absolute path in a directory of the record's own")
    assert commands == []
    # The root stands for /: its mode is not touched and nothing is written in it.
    assert mode_of(host) == mode and sorted(os.listdir(host)) == content


def test_a_directory_in_the_records_place_fails(converge, host):
    os.makedirs(under(host, RECORD))
    result = converge()
    assert result["failed"] is True
    assert result["msg"] == f"Unable to write the converge record {RECORD}: it is a directory."


def test_invalid_package_names_run_nothing(converge, host, commands):
    result = converge(packages=["docker.io", "-rf"])
    assert result["failed"] is True
    assert result["msg"].startswith("Invalid package names in packages: '-rf';")
    assert commands == []
    assert not os.path.exists(under(host, RECORD_DIR))
