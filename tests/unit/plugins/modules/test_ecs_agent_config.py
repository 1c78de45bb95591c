# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecs_agent_config writing real files under a temporary directory that stands for the host's /."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.ecs_anywhere.plugins.modules import ecs_agent_config
from tests.unit.file_attributes import mode_of
from tests.unit.file_attributes import owner_of
from tests.unit.file_attributes import read

# What the module runs as decides the owner it wants: root, or nobody in particular.
OWNER = (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
CA_BUNDLE = (
    b"-----BEGIN CERTIFICATE-----\nMIIBtjCCAVugAwIBAgITBmyf1XSXNmY/Owua2eiedgPySjAKBggqhk\n-----END CERTIFICATE-----\n"
)
USER_HEADER = ["Ansible managed", "User settings of the ECS agent; they win over /var/lib/ecs/ecs.config."]
INSTANCE_HEADER = ["Ansible managed", "Instance settings of the ECS agent for an external (ECS Anywhere) host."]

# The settings the ecs_agent role passes for an inventory with attributes, tags, a proxy, an endpoint, GPU support
# and extra settings of every kind (strings as they are, other values as compact JSON, in dictsort order) ...
USER_SETTINGS = (
    ("ECS_CLUSTER", "prod-edge_1"),
    (
        "ECS_INSTANCE_ATTRIBUTES",
        '{"quote":"a \\"b\\" c","rack":"b-12","site":"paris","zone":"\\u00e9 \\u00fc \\u6f22"}',
    ),
    ("ECS_CONTAINER_INSTANCE_TAGS", '{"cost center":"42","env":"prod","team":"core"}'),
    ("HTTP_PROXY", "http://proxy.example.com:3128"),
    (
        "NO_PROXY",
        "localhost,127.0.0.1,169.254.169.254,169.254.170.2,/var/run/docker.sock,internal.example.com,10.0.0.0/8,.svc",
    ),
    ("ECS_A1", "  spaced  "),
    ("ECS_A_B", "x=y # not a comment"),
    ("ECS_AB", "'single' \"double\" $HOME ${X} `cmd`"),
    ("ECS_DICT", '{"z":1,"a":[1,"\\u00e9",{"y":false}],"m":1.5}'),
    ("ECS_EMPTY", ""),
    ("ECS_ENABLE_TASK_IAM_ROLE", "true"),
    ("ECS_FLOATY", "0.1"),
    ("ECS_LOGLEVEL", "debug"),
    ("ECS_NULL_VALUE", "null"),
    ("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5"),
    ("ECS_RESERVED_PORTS", "[22,2375,2376,51678]"),
    ("ECS_UNICODE", "ünïcödé"),
)
INSTANCE_SETTINGS = (
    ("AWS_DEFAULT_REGION", "eu-west-3"),
    ("ECS_EXTERNAL", "true"),
    ("ECS_BACKEND_HOST", "https://ecs-fips.eu-west-3.amazonaws.com"),
    ("ECS_ENABLE_GPU_SUPPORT", "true"),
)
# ... and what ansible.builtin.template made of the same inventory with the ecs.config.j2 and instance.ecs.config.j2
# templates the module replaced (default ansible_managed). Hosts they configured must see no change.
USER_TEXT = (
    "# Ansible managed\n"
    "# User settings of the ECS agent; they win over /var/lib/ecs/ecs.config.\n"
    "ECS_CLUSTER=prod-edge_1\n"
    'ECS_INSTANCE_ATTRIBUTES={"quote":"a \\"b\\" c","rack":"b-12","site":"paris","zone":"\\u00e9 \\u00fc \\u6f22"}\n'
    'ECS_CONTAINER_INSTANCE_TAGS={"cost center":"42","env":"prod","team":"core"}\n'
    "HTTP_PROXY=http://proxy.example.com:3128\n"
    "NO_PROXY=localhost,127.0.0.1,169.254.169.254,169.254.170.2,/var/run/docker.sock,internal.example.com,"
    "10.0.0.0/8,.svc\n"
    "ECS_A1=  spaced  \n"
    "ECS_A_B=x=y # not a comment\n"
    "ECS_AB='single' \"double\" $HOME ${X} `cmd`\n"
    'ECS_DICT={"z":1,"a":[1,"\\u00e9",{"y":false}],"m":1.5}\n'
    "ECS_EMPTY=\n"
    "ECS_ENABLE_TASK_IAM_ROLE=true\n"
    "ECS_FLOATY=0.1\n"
    "ECS_LOGLEVEL=debug\n"
    "ECS_NULL_VALUE=null\n"
    "ECS_NUM_IMAGES_DELETE_PER_CYCLE=5\n"
    "ECS_RESERVED_PORTS=[22,2375,2376,51678]\n"
    "ECS_UNICODE=\xfcn\xefc\xf6d\xe9\n"
).encode()
INSTANCE_TEXT = (
    b"# Ansible managed\n"
    b"# Instance settings of the ECS agent for an external (ECS Anywhere) host.\n"
    b"AWS_DEFAULT_REGION=eu-west-3\n"
    b"ECS_EXTERNAL=true\n"
    b"ECS_BACKEND_HOST=https://ecs-fips.eu-west-3.amazonaws.com\n"
    b"ECS_ENABLE_GPU_SUPPORT=true\n"
)


def settings(pairs):
    return [{"name": name, "value": value} for name, value in pairs]


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def everything_under(root):
    return sorted(os.path.join(top, name) for top, dirs, files in os.walk(root) for name in dirs + files)


@pytest.fixture
def host(tmp_path):
    """A fresh host under a temporary root: a system CA bundle, no agent directories."""

    class Host:
        root = str(tmp_path / "root")
        user_config = f"{root}/etc/ecs/ecs.config"
        instance_config = f"{root}/var/lib/ecs/ecs.config"
        ca_source = f"{root}/etc/ssl/certs/ca-certificates.crt"
        ca_bundle = f"{root}/var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem"

    write(Host.ca_source, CA_BUNDLE)
    return Host


@pytest.fixture
def configure(run_module, host):
    """Run ecs_agent_config as the ecs_agent role calls it; keyword arguments override the role's."""

    def configure_(check_mode=False, diff=False, user=USER_SETTINGS, instance=INSTANCE_SETTINGS, **overrides):
        args = dict(
            files=[
                dict(path=host.user_config, header=USER_HEADER, settings=settings(user)),
                dict(path=host.instance_config, header=INSTANCE_HEADER, settings=settings(instance)),
            ],
            ca_bundle=dict(src=host.ca_source, dest=host.ca_bundle, mode="0400"),
        )
        args.update(overrides)
        return run_module(ecs_agent_config, args, check_mode=check_mode, diff=diff)

    return configure_


def test_fresh_host_gets_directories_files_and_bundle(configure, host):
    result = configure()

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["changed_files"] == [host.user_config, host.instance_config, host.ca_bundle]
    # Only what was missing, parents first: etc/ existed (it holds the system bundle).
    created = ["/etc/ecs", "/var", "/var/lib", "/var/lib/ecs", "/var/lib/ecs/deps", "/var/lib/ecs/deps/execute-command"]
    created.append("/var/lib/ecs/deps/execute-command/certs")
    assert result["created_directories"] == [host.root + path for path in created]
    for directory in result["created_directories"]:
        assert mode_of(directory) == 0o755 and owner_of(directory) == OWNER
    assert read(host.user_config) == USER_TEXT and read(host.instance_config) == INSTANCE_TEXT
    for config in (host.user_config, host.instance_config):
        assert mode_of(config) == 0o600 and owner_of(config) == OWNER
    assert read(host.ca_bundle) == CA_BUNDLE
    assert mode_of(host.ca_bundle) == 0o400 and owner_of(host.ca_bundle) == OWNER
    # Nothing but the destinations is left: the temporary files were renamed over them.
    assert sorted(os.listdir(os.path.dirname(host.instance_config))) == ["deps", "ecs.config"]
    assert os.listdir(os.path.dirname(host.ca_bundle)) == ["tls-ca-bundle.pem"]
    # A setting may be a secret: outside a diff the result holds no file content.
    assert set(result) == {"changed", "changed_files", "created_directories", "warnings"}
    assert result["warnings"] == []


def test_text_is_what_the_templates_wrote(configure, host):
    configure(
        user=[("ECS_CLUSTER", "edge")],
        instance=[("AWS_DEFAULT_REGION", "us-east-1"), ("ECS_EXTERNAL", "true")],
    )

    assert read(host.user_config) == (
        b"# Ansible managed\n# User settings of the ECS agent; they win over /var/lib/ecs/ecs.config.\n"
        b"ECS_CLUSTER=edge\n"
    )
    assert read(host.instance_config) == (
        b"# Ansible managed\n# Instance settings of the ECS agent for an external (ECS Anywhere) host.\n"
        b"AWS_DEFAULT_REGION=us-east-1\nECS_EXTERNAL=true\n"
    )


def test_a_host_the_templates_configured_sees_no_change(configure, host):
    # What the role's template and copy tasks left on the host before the module replaced them.
    write(host.user_config, USER_TEXT, 0o600)
    write(host.instance_config, INSTANCE_TEXT, 0o600)
    write(host.ca_bundle, CA_BUNDLE, 0o400)
    if os.geteuid() == 0:
        for path in (host.user_config, host.instance_config, host.ca_bundle):
            os.chown(path, 0, 0)
    inodes = [os.stat(path).st_ino for path in (host.user_config, host.instance_config, host.ca_bundle)]

    result = configure(diff=True)

    assert result["changed"] is False, result
    assert result["changed_files"] == [] and result["created_directories"] == []
    assert [os.stat(path).st_ino for path in (host.user_config, host.instance_config, host.ca_bundle)] == inodes
    assert len(result["diff"]) == 3
    assert all(entry["before"] == entry["after"] for entry in result["diff"])


def test_second_run_changes_nothing(configure, host):
    configure()
    paths = (host.user_config, host.instance_config, host.ca_bundle)
    before = [(os.stat(path).st_ino, os.stat(path).st_mtime_ns) for path in paths]

    result = configure()

    assert result["changed"] is False
    assert result["changed_files"] == [] and result["created_directories"] == []
    assert [(os.stat(path).st_ino, os.stat(path).st_mtime_ns) for path in paths] == before


def test_a_changed_setting_rewrites_only_its_file(configure, host):
    configure()
    untouched = {path: os.stat(path).st_ino for path in (host.user_config, host.ca_bundle)}

    result = configure(instance=[*INSTANCE_SETTINGS[:2], ("ECS_BACKEND_HOST", "https://ecs.example.com")])

    assert result["changed"] is True
    assert result["changed_files"] == [host.instance_config]
    assert read(host.instance_config).endswith(b"ECS_EXTERNAL=true\nECS_BACKEND_HOST=https://ecs.example.com\n")
    assert mode_of(host.instance_config) == 0o600
    assert {path: os.stat(path).st_ino for path in untouched} == untouched


def test_a_changed_ca_source_rewrites_the_bundle(configure, host):
    configure()
    write(host.ca_source, CA_BUNDLE + CA_BUNDLE)

    result = configure()

    assert result["changed_files"] == [host.ca_bundle]
    assert read(host.ca_bundle) == CA_BUNDLE + CA_BUNDLE and mode_of(host.ca_bundle) == 0o400


def test_mode_drift_is_fixed_without_rewriting(configure, host):
    configure()
    os.chmod(host.user_config, 0o644)
    os.chmod(host.ca_bundle, 0o644)
    inodes = [os.stat(path).st_ino for path in (host.user_config, host.ca_bundle)]

    result = configure()

    assert result["changed"] is True
    assert result["changed_files"] == [host.user_config, host.ca_bundle]
    assert mode_of(host.user_config) == 0o600 and mode_of(host.ca_bundle) == 0o400
    assert [os.stat(path).st_ino for path in (host.user_config, host.ca_bundle)] == inodes
    assert read(host.user_config) == USER_TEXT
    assert configure()["changed"] is False


def test_existing_directories_keep_their_mode(configure, host):
    os.makedirs(os.path.dirname(host.instance_config))
    os.chmod(os.path.dirname(host.instance_config), 0o700)

    result = configure()

    assert host.root + "/var/lib/ecs" not in result["created_directories"]
    assert mode_of(host.root + "/var/lib/ecs") == 0o700
    assert mode_of(host.root + "/var/lib/ecs/deps") == 0o755


def test_a_rewrite_is_never_readable_by_others(configure, host, monkeypatch):
    # atomic_move gives a file it creates the mode of the umask; the module's own mode comes after it.
    modes = []
    atomic_move = AnsibleModule.atomic_move

    def recording_atomic_move(self, src, dest, *args, **kwargs):
        atomic_move(self, src, dest, *args, **kwargs)
        modes.append(mode_of(dest))

    monkeypatch.setattr(AnsibleModule, "atomic_move", recording_atomic_move)
    old_umask = os.umask(0o022)
    try:
        configure()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old_umask)

    assert len(modes) == 3
    assert all(mode & 0o077 == 0 for mode in modes), [oct(mode) for mode in modes]


@pytest.mark.parametrize("character", ["\n", "\r", "\0"])
def test_a_value_that_would_inject_a_setting_is_refused_before_anything_is_written(configure, host, character):
    content = everything_under(host.root)

    result = configure(user=[*USER_SETTINGS, ("ECS_LOGLEVEL_ON_STOP", f"debug{character}ECS_CLUSTER=elsewhere")])

    assert result["failed"] is True
    assert result["msg"] == (
        "Refusing to write the agent configuration, nothing was written: "
        f"{host.user_config}: the value of setting ECS_LOGLEVEL_ON_STOP contains a line break or a NUL character, "
        "which would end the setting there and let the rest of the value be read as further settings. The ecs_agent "
        "role writes each setting of ecs_anywhere_ecs_extra_config under its own name."
    )
    assert everything_under(host.root) == content


def test_a_line_break_in_a_file_already_written_leaves_it_alone(configure, host):
    configure()
    before = read(host.user_config)

    result = configure(user=[("ECS_CLUSTER", "edge\nECS_EXTERNAL=false")])

    assert result["failed"] is True and "setting ECS_CLUSTER" in result["msg"]
    assert read(host.user_config) == before


@pytest.mark.parametrize("name", ["1ECS", "ECS-CLUSTER", "ECS CLUSTER", "ECS_CLUSTER=x", "", "ÉCS"])
def test_a_name_that_is_not_a_variable_name_is_refused(configure, host, name):
    result = configure(user=[("ECS_CLUSTER", "edge"), (name, "x")])

    assert result["failed"] is True
    assert f"{host.user_config}: setting name {name!r} is not a variable name" in result["msg"]
    assert not os.path.exists(host.root + "/etc/ecs")


@pytest.mark.parametrize("value", [5, True, None, ["a"], {"a": 1}])
def test_a_value_that_is_not_a_string_is_refused(configure, host, value):
    result = configure(instance=[("ECS_EXTERNAL", value)])

    assert result["failed"] is True
    assert f"{host.instance_config}: setting ECS_EXTERNAL has a value of type {type(value).__name__};" in result["msg"]
    assert not os.path.exists(host.root + "/var")


def test_every_problem_is_named_at_once(configure, host):
    result = configure(
        user=[("ECS_CLUSTER", "a"), ("ECS_CLUSTER", "b"), ("BAD-NAME", "c")],
        instance=[("ECS_EXTERNAL", "true\n")],
    )

    assert result["failed"] is True
    assert f"{host.user_config}: setting ECS_CLUSTER is given more than once" in result["msg"]
    assert f"{host.user_config}: setting name 'BAD-NAME'" in result["msg"]
    assert f"{host.instance_config}: the value of setting ECS_EXTERNAL contains a line break" in result["msg"]


def test_a_header_line_with_a_line_break_is_refused(run_module, host):
    args = dict(files=[dict(path=host.user_config, header=["managed\nECS_CLUSTER=x"], settings=[])])

    result = run_module(ecs_agent_config, args)

    assert result["failed"] is True
    assert f"{host.user_config}: header line 1 contains a line break" in result["msg"]


@pytest.mark.parametrize("field", ["path", "src", "dest"])
def test_relative_paths_are_refused(configure, host, field):
    files = [dict(path=host.user_config, settings=[])]
    ca_bundle = dict(src=host.ca_source, dest=host.ca_bundle)
    if field == "path":
        files[0]["path"] = "etc/ecs/ecs.config"
    else:
        ca_bundle[field] = "tls-ca-bundle.pem"

    result = configure(files=files, ca_bundle=ca_bundle)

    assert result["failed"] is True and "must be an absolute path" in result["msg"]
    assert not os.path.exists(host.root + "/etc/ecs")


def test_the_same_destination_twice_is_refused(configure, host):
    result = configure(ca_bundle=dict(src=host.ca_source, dest=host.instance_config))

    assert result["failed"] is True
    assert result["msg"].endswith(f"{host.instance_config} is given more than once.")


@pytest.mark.parametrize("problem", ["missing", "empty", "directory"])
def test_no_usable_ca_source_is_refused(configure, host, problem):
    os.unlink(host.ca_source)
    if problem == "empty":
        write(host.ca_source, b"")
    elif problem == "directory":
        os.makedirs(host.ca_source)

    result = configure()

    assert result["failed"] is True
    assert result["msg"].startswith(f"No CA bundle to copy to {host.ca_bundle} for ECS Exec: ")
    assert "Install the CA certificates package or set ecs_anywhere_ecs_ca_bundle" in result["msg"]
    assert not os.path.exists(host.root + "/etc/ecs") and not os.path.exists(host.root + "/var")


def test_a_link_to_the_ca_source_is_followed(configure, host):
    os.symlink(host.ca_source, host.root + "/etc/ssl/cert.pem")

    configure(ca_bundle=dict(src=host.root + "/etc/ssl/cert.pem", dest=host.ca_bundle))

    assert stat.S_ISREG(os.lstat(host.ca_bundle).st_mode) and read(host.ca_bundle) == CA_BUNDLE


@pytest.mark.parametrize("mode", ["0644", "600", 0o640])
def test_a_mode_of_its_own(configure, host, mode):
    configure(files=[dict(path=host.user_config, settings=settings(USER_SETTINGS), mode=mode)], ca_bundle=None)

    assert mode_of(host.user_config) == (int(mode, 8) if isinstance(mode, str) else mode)


@pytest.mark.parametrize("mode", ["rw-------", "0999", "", 0o10000])
def test_an_invalid_mode_is_refused(configure, host, mode):
    result = configure(ca_bundle=dict(src=host.ca_source, dest=host.ca_bundle, mode=mode))

    assert result["failed"] is True
    assert f"{host.ca_bundle}: mode must be an octal string such as '0600'" in result["msg"]
    assert "ecs_anywhere_ecs_extra_config" not in result["msg"]
    assert not os.path.exists(host.root + "/var")


def test_a_link_in_a_files_place_is_replaced(configure, host, tmp_path):
    elsewhere = str(tmp_path / "elsewhere")
    write(elsewhere, b"ECS_CLUSTER=elsewhere\n")
    os.makedirs(os.path.dirname(host.user_config))
    os.symlink(elsewhere, host.user_config)

    assert host.user_config in configure()["changed_files"]
    assert stat.S_ISREG(os.lstat(host.user_config).st_mode) and read(host.user_config) == USER_TEXT
    assert read(elsewhere) == b"ECS_CLUSTER=elsewhere\n"


def test_a_file_in_the_way_of_a_directory_fails_before_anything_is_written(configure, host):
    write(host.root + "/var/lib/ecs", b"not a directory")

    result = configure()

    assert result["failed"] is True
    assert result["msg"] == (
        "Unable to write the agent configuration, nothing was written: "
        f"{host.root}/var/lib/ecs is in the way of {host.instance_config}: it exists and is not a directory."
    )
    assert not os.path.exists(host.root + "/etc/ecs")


def test_a_directory_in_a_files_place_fails_before_anything_is_written(configure, host):
    os.makedirs(host.instance_config)

    result = configure()

    assert result["failed"] is True
    assert result["msg"].endswith(f"nothing was written: {host.instance_config} is a directory.")
    assert not os.path.exists(host.user_config)


def test_a_failed_write_reports_what_was_done(configure, host, monkeypatch):
    atomic_move = AnsibleModule.atomic_move

    def failing_atomic_move(self, src, dest, *args, **kwargs):
        if dest == host.instance_config:
            raise Exception(f"Could not replace {dest!r} with {src!r}.")  # noqa: TRY002 - what atomic_move raises
        atomic_move(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(AnsibleModule, "atomic_move", failing_atomic_move)

    result = configure()

    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith(
        f"Unable to write the agent configuration: Could not replace '{host.instance_config}'"
    )
    assert result["changed_files"] == [host.user_config]
    assert len(result["created_directories"]) == 7
    assert not os.path.exists(host.instance_config) and not os.path.exists(host.ca_bundle)
    # The temporary file did not stay behind.
    assert os.listdir(os.path.dirname(host.instance_config)) == ["deps"]


def test_check_mode_on_a_fresh_host_predicts_and_writes_nothing(configure, host):
    content = everything_under(host.root)

    result = configure(check_mode=True, diff=True)

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["changed_files"] == [host.user_config, host.instance_config, host.ca_bundle]
    assert len(result["created_directories"]) == 7
    assert everything_under(host.root) == content

    # The prediction is what a real run then does.
    assert result == configure(diff=True)


def test_check_mode_predicts_a_change_and_a_mode_fix(configure, host):
    configure()
    os.chmod(host.ca_bundle, 0o444)
    assert configure(check_mode=True)["changed"] is True
    assert mode_of(host.ca_bundle) == 0o444

    configure()
    assert configure(check_mode=True)["changed"] is False
    result = configure(check_mode=True, user=[("ECS_CLUSTER", "other")])
    assert result["changed_files"] == [host.user_config]
    assert read(host.user_config) == USER_TEXT


def test_diff_shows_directories_texts_and_the_bundles_checksum(configure, host):
    result = configure(diff=True)
    diff = result["diff"]

    assert isinstance(diff, list) and len(diff) == 7 + 3
    for directory, entry in zip(result["created_directories"], diff[:7], strict=True):
        assert entry == dict(
            before_header=directory,
            after_header=directory,
            before=dict(path=directory, state="absent"),
            after=dict(path=directory, state="directory", mode="0755"),
        )
    user, instance, bundle = diff[7:]
    assert user == dict(
        before_header=host.user_config, after_header=host.user_config, before="", after=USER_TEXT.decode()
    )
    assert instance["before_header"] == instance["after_header"] == host.instance_config
    assert instance["after"] == INSTANCE_TEXT.decode()
    checksum = hashlib.sha1(CA_BUNDLE).hexdigest()  # noqa: S324 - the checksum Ansible shows
    assert bundle == dict(
        before_header=host.ca_bundle,
        after_header=host.ca_bundle,
        before=dict(path=host.ca_bundle, state="absent"),
        after=dict(path=host.ca_bundle, state="file", checksum=checksum, mode="0400"),
    )

    os.chmod(host.ca_bundle, 0o600)
    second = configure(diff=True, instance=INSTANCE_SETTINGS[:2])["diff"]
    assert len(second) == 3
    assert second[0]["before"] == second[0]["after"] == USER_TEXT.decode()
    assert second[1]["before"] == INSTANCE_TEXT.decode()
    assert second[1]["after"] == INSTANCE_TEXT.decode().split("ECS_BACKEND_HOST", maxsplit=1)[0]
    assert second[2]["before"] == dict(path=host.ca_bundle, state="file", checksum=checksum, mode="0600")
    assert second[2]["after"]["mode"] == "0400"


def test_files_alone_without_a_ca_bundle(configure, host):
    result = configure(ca_bundle=None)

    assert result["changed_files"] == [host.user_config, host.instance_config]
    assert not os.path.exists(host.root + "/var/lib/ecs/deps")
