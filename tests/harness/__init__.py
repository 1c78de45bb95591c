"""Offline test world: a Docker network, the AWS emulator, the package mirror and systemd host containers.

Used by the proving test, molecule, the end-to-end tests, the benchmarks and `make demo`. Every server binds
127.0.0.1 and the gateway of a network created here, never 0.0.0.0; everything started is recorded in a state
file so that `down` (or a later `up` of the same name) removes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ECSA_BUILD_DIR", REPO / "build"))
STATE_DIR = BUILD / "harness"
MIRROR_ROOT = BUILD / "mirror"
# The bucket files of the next agent releases (tests/agents/build_mirror.sh), for publish().
NEXT_RELEASE_ROOT = BUILD / "mirror-next"
REGION = "us-east-1"
LABEL = "ecsa.harness"

# The systemd-in-Docker recipe that works on our VMs (--privileged does not): see test-hosts.md.
SYSTEMD_RUN_ARGS = [
    "--cap-add", "SYS_ADMIN",
    "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
]  # fmt: skip


@dataclass
class World:
    name: str
    network: str = ""
    subnet: str = ""
    gateway: str = ""
    emulator_port: int = 0
    emulator_pid: int = 0
    mirror_port: int = 0
    mirror_pid: int = 0
    hosts: list[str] = field(default_factory=list)
    region: str = REGION

    @property
    def emulator_local(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def emulator_for_hosts(self) -> str:
        return f"http://{self.gateway}:{self.emulator_port}"

    @property
    def mirror_local(self) -> str:
        return f"http://127.0.0.1:{self.mirror_port}"

    @property
    def mirror_for_hosts(self) -> str:
        return f"http://{self.gateway}:{self.mirror_port}"

    @property
    def signing_key(self) -> Path:
        return MIRROR_ROOT / "fleet-test-signing-key.asc"

    def controller_env(self) -> dict[str, str]:
        """Environment under which controller-side AWS code reaches the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.emulator_local,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "EMULATOR_URL": self.emulator_local,
        }

    def describe(self) -> dict:
        data = asdict(self)
        data.update(
            emulator_local=self.emulator_local,
            emulator_for_hosts=self.emulator_for_hosts,
            mirror_local=self.mirror_local,
            mirror_for_hosts=self.mirror_for_hosts,
            signing_key=str(self.signing_key),
        )
        return data


def run(cmd: list[str], check: bool = True, capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=capture, **kwargs)


def docker(*args: str, check: bool = True) -> str:
    return run(["docker", *args], check=check).stdout.strip()


def ensure_docker() -> None:
    run([str(REPO / "tests/harness/ensure-docker.sh")], capture=False)


def ensure_images(*names: str) -> None:
    run([str(REPO / "tests/images/build.sh"), *names], capture=False)


def ensure_agents() -> None:
    run(["make", "-C", str(REPO), "agents"], capture=False)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned), or fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _state_file(name: str) -> Path:
    return STATE_DIR / f"{name}.json"


def load(name: str) -> World | None:
    path = _state_file(name)
    if not path.exists():
        return None
    fields = World.__dataclass_fields__
    return World(**{k: v for k, v in json.loads(path.read_text()).items() if k in fields})


def _save(world: World) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _state_file(world.name).write_text(json.dumps(world.describe(), indent=2) + "\n")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 172.29.0.0/16 that no Docker network uses yet."""
    used = set()
    for net_id in docker("network", "ls", "-q").split():
        for cfg in json.loads(docker("network", "inspect", net_id))[0].get("IPAM", {}).get("Config") or []:
            if cfg.get("Subnet"):
                used.add(ipaddress.ip_network(cfg["Subnet"], strict=False))
    for candidate in ipaddress.ip_network("172.29.0.0/16").subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise RuntimeError("no free /24 left in 172.29.0.0/16 for a test network")


def _wait_http(url: str, timeout: float, what: str, pid: int) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            with urllib.request.urlopen(url, timeout=2):
                return
        if not _alive(pid):
            break
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout} s (see {BUILD}/harness logs)")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _mirror_overlay(name: str) -> Path:
    return STATE_DIR / f"{name}.mirror-overlay"


def publish(world: World, tree: Path = NEXT_RELEASE_ROOT) -> None:
    """Publish the files of ``tree`` in this world's mirror, in place of the ones at the same paths (as AWS replaces
    ``latest`` in its buckets); other worlds keep serving build/mirror as it is."""
    shutil.copytree(tree, _mirror_overlay(world.name), dirs_exist_ok=True)


def _start_server(module: str, name: str, world: World, extra: list[str]) -> tuple[int, int]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    port_file = STATE_DIR / f"{world.name}.{name}.port"
    port_file.unlink(missing_ok=True)
    log = open(STATE_DIR / f"{world.name}.{name}.log", "w")  # noqa: SIM115 - handed to the child process
    cmd = [sys.executable, "-m", module, "--host", "127.0.0.1", "--host", world.gateway, "--port", "0",
           "--port-file", str(port_file), *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{module} failed to start; see {log.name}")
        time.sleep(0.05)
    return proc.pid, int(port_file.read_text().strip())


def up(name: str, hosts: int = 0, image: str = "debian12", host_prefix: str | None = None,
       images: list[str] | None = None) -> World:  # fmt: skip
    """Create (or recreate) the named world and return it.

    ``images`` picks each host's image in turn (host1 gets images[0], ...; a mixed fleet); without it every host
    runs ``image``. With ``images``, ``hosts`` may be left at 0 (one host per image) and must otherwise match.
    """
    if images is not None:
        images = list(images)
        if hosts and hosts != len(images):
            raise ValueError(f"{hosts} hosts but {len(images)} images ({images})")
        hosts = len(images)
    ensure_docker()
    down(name, quiet=True)
    subnet = _free_subnet()
    gateway = str(next(subnet.hosts()))
    world = World(name=name, network=f"ecsa-{name}", subnet=str(subnet), gateway=gateway)
    docker("network", "create", "--subnet", str(subnet), "--gateway", gateway, "--label", f"{LABEL}={name}",
           world.network)  # fmt: skip
    _save(world)
    world.emulator_pid, world.emulator_port = _start_server("tests.emulator", "emulator", world, [])
    _save(world)
    _wait_http(f"{world.emulator_local}/moto-api/", 10, "the emulator", world.emulator_pid)
    overlay = _mirror_overlay(name)
    overlay.mkdir(parents=True)
    mirror_args = ["--root", str(MIRROR_ROOT), "--overlay", str(overlay)]
    world.mirror_pid, world.mirror_port = _start_server("tests.agents.mirror", "mirror", world, mirror_args)
    _save(world)
    _wait_http(f"{world.mirror_local}/fleet-test-signing-key.asc", 10, "the mirror", world.mirror_pid)
    if hosts:
        per_host = images if images is not None else [image] * hosts
        ensure_images(*dict.fromkeys(per_host))
        prefix = host_prefix or f"ecsa-{name}-host"
        for index, host_image in enumerate(per_host, start=1):
            world.hosts.append(start_host(world, f"{prefix}{index}", host_image))
            _save(world)
        for host in world.hosts:
            wait_systemd(host)
    return world


def start_host(world: World, container: str, image: str = "debian12") -> str:
    docker("rm", "-f", container, check=False)
    docker("run", "-d", "--name", container, "--hostname", container, "--network", world.network,
           "--label", f"{LABEL}={world.name}", *SYSTEMD_RUN_ARGS,
           f"ecsa-host:{image}", "/lib/systemd/systemd")  # fmt: skip
    return container


def wait_systemd(container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = run(["docker", "exec", container, "systemctl", "is-system-running"], check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"systemd in {container} did not come up (state: {state or 'unknown'})")


def host_exec(container: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["docker", "exec", container, "bash", "-c", script], check=check)


# SLES 15's own python3 is 3.6, on which no module of ansible-core 2.17 and later runs (they fail to compile:
# "future feature annotations is not defined"). The host images carry Python 3.11 only, so this stand-in answers as a
# 3.6 does: its version to the roles' raw probe, that SyntaxError to every module.
PYTHON_3_6_STAND_IN = "/usr/local/bin/python3.6"
_PYTHON_3_6 = """#!/bin/sh
case "$*" in *version_info*) echo PYTHON_VERSION=3.6; exit 0 ;; esac
echo 'SyntaxError: future feature annotations is not defined' >&2
exit 1
"""


def give_python_3_6(container: str) -> str:
    """Install the Python 3.6 stand-in on a host; returns its path, for ansible_python_interpreter."""
    host_exec(container, f"cat > {PYTHON_3_6_STAND_IN} <<'EOF'\n{_PYTHON_3_6}EOF\nchmod 0755 {PYTHON_3_6_STAND_IN}")
    return PYTHON_3_6_STAND_IN


# What a real Amazon Linux or SUSE host ships configured and a synthetic one lacks: its distribution's repository, the
# one with the docker package. Here the mirror's stand-in, signed with the test key, which rpm trusts for packages.
# molecule/shared/prepare.yml does the same with Ansible.
DISTRIBUTION_REPOSITORY = """
. /etc/os-release
case "$ID" in
  amzn) path=amazonlinux/2023 ;;
  sles|opensuse-leap) path=suse/15 ;;
  *) exit 0 ;;
esac
key=/etc/pki/rpm-gpg/fleet-test-distribution.asc
url="$1/distro/$path/$(uname -m)"
mkdir -p "$(dirname "$key")"
cat > "$key"
rpm --import "$key"
if [ "$ID" = amzn ]; then
  printf '%s\\n' '[amazonlinux]' 'name=Amazon Linux 2023 (fleet.ecs_anywhere test stand-in)' "baseurl=$url" \\
    'gpgcheck=1' "gpgkey=file://$key" > /etc/yum.repos.d/amazonlinux.repo
else
  zypper --quiet --non-interactive addrepo --gpgcheck --name 'SUSE 15 (fleet.ecs_anywhere test stand-in)' \\
    "$url" repo-oss
fi
"""


def give_distribution_repository(world: World, container: str) -> None:
    """On an Amazon Linux or SUSE host (synthetic), the stand-in of the distribution's repository; elsewhere nothing."""
    script = ["bash", "-euc", DISTRIBUTION_REPOSITORY, "repository", world.mirror_for_hosts]
    subprocess.run(["docker", "exec", "-i", container, *script], input=world.signing_key.read_bytes(), check=True,
                   capture_output=True)  # fmt: skip


def play(world: World, host: str, playbook: Path, variables: dict, *args: str,
         timeout: float = 1200) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ansible-playbook against one host container, as the controller of this world, never raising on failure.

    The variables go through a 0600 file next to the playbook: they may hold an activation code.
    """
    vars_file = playbook.parent / "vars.json"
    vars_file.write_text(json.dumps(variables))
    vars_file.chmod(0o600)
    env = dict(os.environ)
    env.update(world.controller_env())
    env["ANSIBLE_COLLECTIONS_PATH"] = str(BUILD / "collections")
    env["ANSIBLE_CONFIG"] = str(REPO / "tests" / "ansible.cfg")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", f"{host},", "-c", "community.docker.docker",
           "-e", f"@{vars_file}", *args, str(playbook)]  # fmt: skip
    return subprocess.run(cmd, check=False, text=True, capture_output=True, env=env, timeout=timeout)


def emulator(world: World, method: str, path: str, body: dict | None = None) -> dict:
    """Call one of the emulator's test hooks (/_emu/*, /moto-api/*)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{world.emulator_local}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip() else {}


def _stop_pid(pid: int) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(name: str, quiet: bool = False) -> None:
    world = load(name)
    if world:
        _stop_pid(world.emulator_pid)
        _stop_pid(world.mirror_pid)
    shutil.rmtree(_mirror_overlay(name), ignore_errors=True)
    if run(["docker", "info"], check=False).returncode != 0:
        _state_file(name).unlink(missing_ok=True)
        return
    containers = docker("ps", "-aq", "--filter", f"label={LABEL}={name}").split()
    if containers:
        docker("rm", "-f", *containers, check=False)
    networks = docker("network", "ls", "-q", "--filter", f"label={LABEL}={name}").split()
    for net in networks:
        docker("network", "rm", net, check=False)
    _state_file(name).unlink(missing_ok=True)
    if not quiet:
        print(f"world {name}: removed")
