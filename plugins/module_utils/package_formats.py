# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package formats of a managed host: which one is native, and one backend per format (deb, rpm).

The native format comes from /etc/os-release (ID, then ID_LIKE), never from which tools are installed: a test host
may be a Debian container that claims another distribution and carries Debian's rpm, dnf and zypper, so it has both
databases, and the one its distribution uses is the one to ask first.

Each backend has the same small interface, used by verified_package: installed_version(), file_fields(),
compare() and install(). A backend runs its tools with the module's run_command and reports failures through the
fail callback it is given, so that the module adds its own context (the package name and URL).
"""

from __future__ import annotations

import os
import re
import time

DEB = "deb"
RPM = "rpm"
FORMATS = (DEB, RPM)
# The running system; the unit tests point this at a directory of their own.
HOST_ROOT = "/"
OS_RELEASE_FILES = ("etc/os-release", "usr/lib/os-release")
# os-release IDs (ID and ID_LIKE) of each package format. openSUSE's IDs are opensuse-leap, opensuse-tumbleweed, ...
DEB_DISTROS = ("debian", "ubuntu")
RPM_DISTROS = ("rhel", "fedora", "centos", "amzn", "suse", "sles", "opensuse")
SUSE_DISTROS = ("suse", "sles", "opensuse")
# dnf is the distribution's own front end where it exists (on Fedora 41 on it is dnf5 under that name); dnf5 and yum
# are what the other hosts have.
DNF_FAMILY = ("dnf", "dnf5", "yum")
OS_RELEASE_LINE_RE = re.compile(r"^([A-Z0-9_]+)=(.*)$")


# os-release -------------------------------------------------------------------------------------------------------


def parse_os_release(text):
    """KEY=value lines of os-release(5), quotes removed; comments and malformed lines skipped."""
    values = {}
    for line in text.splitlines():
        match = OS_RELEASE_LINE_RE.match(line.strip())
        if not match:
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        values[key] = value
    return values


def read_os_release(root=None):
    """The os-release of the host under root (the running system by default); empty when there is none."""
    root = HOST_ROOT if root is None else root
    for relative in OS_RELEASE_FILES:
        try:
            with open(os.path.join(root, relative), "rb") as f:
                return parse_os_release(f.read().decode("utf-8", errors="replace"))
        except OSError:
            continue
    return {}


def distro_ids(os_release):
    """ID then the ID_LIKE entries, lower case: the distribution and those it says it resembles, closest first."""
    ids = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    return [value.strip().lower() for value in ids if value.strip()]


def _is_one_of(distro, families):
    return any(distro == family or distro.startswith(family + "-") for family in families)


def native_format(os_release):
    """deb or rpm, as the first ID (or ID_LIKE) that names a known family says; None for an unknown distribution."""
    for distro in distro_ids(os_release):
        if _is_one_of(distro, DEB_DISTROS):
            return DEB
        if _is_one_of(distro, RPM_DISTROS):
            return RPM
    return None


def is_suse(os_release):
    return any(_is_one_of(distro, SUSE_DISTROS) for distro in distro_ids(os_release))


def database_order(os_release):
    """The package formats to ask, the native one first (deb first on an unknown distribution, as before)."""
    native = native_format(os_release) or DEB
    return (native,) + tuple(other for other in FORMATS if other != native)


def installer_candidates(package_format, os_release):
    """The front ends that can install a local file of the format, the distribution's own first."""
    if package_format == DEB:
        return ("apt-get",)
    if is_suse(os_release):
        return ("zypper",) + DNF_FAMILY
    return DNF_FAMILY + ("zypper",)


def format_of_url(url):
    """deb or rpm from the file name ending of the URL's path, None when it has neither."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    for package_format in FORMATS:
        if path.endswith("." + package_format):
            return package_format
    return None


# rpm version order ------------------------------------------------------------------------------------------------

# ASCII only, as rpm's risdigit/risalpha: other Unicode letters and digits are separators to rpm.
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _skip_separators(text, index):
    while index < len(text) and text[index] not in _DIGITS and text[index] not in _LETTERS and text[index] not in "~^":
        index += 1
    return index


def _sign(value):
    return (value > 0) - (value < 0)


def rpmvercmp(one, two):
    """-1, 0 or 1 as one is older than, equal to or newer than two: rpm's rpmvercmp() (rpmio/rpmvercmp.c, rpm 4.15
    and later, with the caret), in Python so that comparing needs no rpm binding and no process.

    Versions are split into runs of digits and runs of letters; anything else separates them. Digit runs compare as
    numbers and win over letter runs; letter runs compare as ASCII. A tilde sorts before everything, even the end of
    the version (1.0~rc1 < 1.0); a caret sorts after the end but before anything else (1.0 < 1.0^1 < 1.0.1).
    """
    if one == two:
        return 0
    i = j = 0
    while i < len(one) or j < len(two):
        i, j = _skip_separators(one, i), _skip_separators(two, j)
        a, b = one[i : i + 1], two[j : j + 1]
        if a == "~" or b == "~":
            if a != "~":
                return 1
            if b != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if a == "^" or b == "^":
            if not a:
                return -1
            if not b:
                return 1
            if a != "^":
                return 1
            if b != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (a and b):
            break
        numeric = a in _DIGITS
        kind = _DIGITS if numeric else _LETTERS
        segment_one = _run(one, i, kind)
        segment_two = _run(two, j, kind)
        i, j = i + len(segment_one), j + len(segment_two)
        if not segment_two:
            # A digit run against a letter run: numbers are newer.
            return 1 if numeric else -1
        if numeric:
            segment_one, segment_two = segment_one.lstrip("0"), segment_two.lstrip("0")
            if len(segment_one) != len(segment_two):
                return _sign(len(segment_one) - len(segment_two))
        if segment_one != segment_two:
            return -1 if segment_one < segment_two else 1
    # Every segment matched: the version with something left (other than separators) is newer.
    if i >= len(one) and j >= len(two):
        return 0
    return -1 if i >= len(one) else 1


def _run(text, index, kind):
    end = index
    while end < len(text) and text[end] in kind:
        end += 1
    return text[index:end]


def split_evr(evr):
    """(epoch, version, release) of [epoch:]version[-release]; the epoch is 0 when absent, the release may be ''."""
    epoch, colon, rest = evr.partition(":")
    if not colon:
        epoch, rest = "0", evr
    elif not epoch.isdigit():
        epoch, rest = "0", evr
    version, dash, release = rest.rpartition("-")
    if not dash:
        version, release = rest, ""
    return int(epoch), version, release


def compare_evr(left, right):
    """-1, 0 or 1, as rpm orders two [epoch:]version[-release] strings: epoch, then version, then release."""
    left_epoch, left_version, left_release = split_evr(left)
    right_epoch, right_version, right_release = split_evr(right)
    if left_epoch != right_epoch:
        return _sign(left_epoch - right_epoch)
    return rpmvercmp(left_version, right_version) or rpmvercmp(left_release, right_release)


OPERATORS = {
    "lt": lambda order: order < 0,
    "le": lambda order: order <= 0,
    "eq": lambda order: order == 0,
    "ne": lambda order: order != 0,
    "ge": lambda order: order >= 0,
    "gt": lambda order: order > 0,
}


# Backends ---------------------------------------------------------------------------------------------------------


class Backend:
    """What both formats share: tool lookup with a hint, and the fail callback of the module."""

    format = None
    database = None
    missing_tool_hint = ""

    def __init__(self, module, fail, name, source, os_release=None):
        self.module = module
        self.fail = fail
        self.name = name
        self.source = source
        self.os_release = os_release if os_release is not None else {}

    def tool(self, name, why):
        path = self.module.get_bin_path(name)
        if not path:
            self.fail(f"Unable to {why}: {name} was not found on the host. {self.missing_tool_hint}")
        return path

    def require_tools(self):
        """Find the tools a change needs before anything is downloaded, so that a host lacking one fails early."""
        raise NotImplementedError

    def installed_version(self):
        raise NotImplementedError

    def file_fields(self, path):
        """{name, version, requires} of a package file; requires is a list of what it depends on."""
        raise NotImplementedError

    def compare(self, left, operator, right):
        raise NotImplementedError

    def install(self, path, fields, before, allow_downgrade):
        raise NotImplementedError


# dpkg cannot wait for its lock (apt-get can); a host just booted may be running unattended-upgrades.
DPKG_LOCK_WAIT = 60
DPKG_LOCK_RETRY_DELAY = 3
DPKG_LOCK_RE = re.compile(r"dpkg (?:frontend lock|frontend|status database) (?:is|was) locked")
# What ansible.builtin.apt does by default: keep locally changed configuration files without asking.
DPKG_FORCE = ["--force-confdef", "--force-confold"]
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive"}
# What apt-get says when a dependency is not in its package lists (never fetched on a fresh host, or stale).
UNRESOLVED_RE = re.compile(
    r"unmet dependencies|is not installable|has no installation candidate|Unable to locate package"
)


class DebBackend(Backend):
    """dpkg-query, dpkg-deb, dpkg --compare-versions, and dpkg -i or apt-get install (when there are Depends)."""

    format = DEB
    database = "dpkg"
    missing_tool_hint = (
        "A .deb package needs dpkg, which hosts of the Debian family (Debian, Ubuntu) have; on an RPM-based host "
        "give the .rpm package (options url and format)."
    )

    def require_tools(self):
        self.tool("dpkg", f"install {self.name}")
        self.tool("dpkg-deb", f"read the package file {self.source}")

    def installed_version(self):
        dpkg_query = self.tool("dpkg-query", f"read the installed version of {self.name}")
        rc, out, err = self.module.run_command([dpkg_query, "-W", "-f=${db:Status-Abbrev}\t${Version}\n", self.name])
        if rc == 1 and not out.strip():
            return None  # dpkg has never heard of the package
        if rc != 0:
            self.fail(
                f"Unable to read the installed version of {self.name}: dpkg-query exited with {rc}: {err.strip()}"
            )
        for line in out.splitlines():
            status, dummy, version = line.partition("\t")
            if status.startswith("ii") and version:
                return version
        return None

    def file_fields(self, path):
        dpkg_deb = self.tool("dpkg-deb", f"read the package file {self.source}")
        rc, out, err = self.module.run_command([dpkg_deb, "-f", path, "Package", "Version", "Depends", "Pre-Depends"])
        if rc != 0:
            self.fail(f"Unable to read {self.source}: it is not a Debian package. dpkg-deb said: {err.strip()}")
        fields = {}
        field = None
        for line in out.splitlines():
            if line[:1] in (" ", "\t") and field:
                fields[field] += " " + line.strip()
            elif ":" in line:
                field, dummy, value = line.partition(":")
                field = field.strip().lower()
                fields[field] = value.strip()
        requires = [fields[key] for key in ("depends", "pre-depends") if fields.get(key)]
        return {"name": fields.get("package"), "version": fields.get("version"), "requires": requires}

    def compare(self, left, operator, right):
        dpkg = self.tool("dpkg", f"compare the versions of {self.name}")
        rc, dummy, err = self.module.run_command([dpkg, "--compare-versions", left, operator, right])
        if rc not in (0, 1):
            self.fail(f"Unable to compare the versions {left} and {right}: {err.strip()}")
        return rc == 0

    def install(self, path, fields, before, allow_downgrade):
        if fields["requires"]:
            return self._apt_get_install(path, allow_downgrade)
        return self._dpkg_install(path)

    def _apt_get_install(self, path, allow_downgrade):
        apt_get = self.tool("apt-get", f"install {self.name}, which has dependencies")
        argv = [apt_get, "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=60"]
        for option in DPKG_FORCE:
            argv += ["-o", f"Dpkg::Options::={option}"]
        if allow_downgrade:
            argv.append("--allow-downgrades")
        # A path (not a package name) makes apt-get install the file itself.
        argv.append(path)
        rc, out, err = self.module.run_command(argv, environ_update=NONINTERACTIVE)
        if rc != 0 and UNRESOLVED_RE.search(f"{out}\n{err}"):
            # Fetch the package lists once and try again; a failed refresh shows in the second attempt's error.
            self.module.run_command(
                [apt_get, "update", "-qq", "-o", "DPkg::Lock::Timeout=60"], environ_update=NONINTERACTIVE
            )
            rc, out, err = self.module.run_command(argv, environ_update=NONINTERACTIVE)
        return argv, rc, out, err

    def _dpkg_install(self, path):
        argv = [self.tool("dpkg", f"install {self.name}")] + DPKG_FORCE + ["-i", path]
        deadline = time.monotonic() + DPKG_LOCK_WAIT
        while True:
            rc, out, err = self.module.run_command(argv, environ_update=NONINTERACTIVE)
            if rc == 0 or not DPKG_LOCK_RE.search(err) or time.monotonic() > deadline:
                return argv, rc, out, err
            time.sleep(DPKG_LOCK_RETRY_DELAY)


# %{EPOCH}: only when the package has one, as rpm itself prints a version (rpm -q prints NAME-VERSION-RELEASE).
RPM_EVR_FORMAT = "%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}"
# First line: the scalar tags, tab-separated; then one line per requirement.
RPM_FILE_FORMAT = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n[%{REQUIRENAME}\n]"
RPM_NOT_INSTALLED_RE = re.compile(r"^package \S+ is not installed$", re.MULTILINE)
# zypper's informational exit codes that still mean the packages were installed: 102 reboot needed, 103 zypper
# itself was updated, 106 some repositories could not be refreshed.
ZYPPER_SUCCESS = (0, 102, 103, 106)
# zypper fails at once when another libzypp process holds its lock; this makes it wait, as apt-get and dnf do.
ZYPPER_ENVIRONMENT = {"ZYPP_LOCK_TIMEOUT": "60"}


class RpmBackend(Backend):
    """rpm -q and rpm -qp, rpm's version order in Python, and dnf (dnf5, yum) or zypper for the install, so that the
    package's requirements come from the configured repositories."""

    format = RPM
    database = "rpm"
    missing_tool_hint = (
        "An .rpm package needs rpm and dnf, yum or zypper, which hosts of the RHEL, Fedora, Amazon Linux and SUSE "
        "families have; on a Debian-family host give the .deb package (options url and format)."
    )

    def installer(self):
        candidates = installer_candidates(RPM, self.os_release)
        for candidate in candidates:
            path = self.module.get_bin_path(candidate)
            if path:
                return path
        self.fail(
            f"Unable to install {self.name}: none of {', '.join(candidates)} was found on the host. "
            f"{self.missing_tool_hint}"
        )
        return None

    def require_tools(self):
        self.tool("rpm", f"read the package file {self.source}")
        self.installer()

    def installed_version(self):
        rpm = self.tool("rpm", f"read the installed version of {self.name}")
        rc, out, err = self.module.run_command([rpm, "-q", "--qf", RPM_EVR_FORMAT + "\n", self.name])
        if rc == 1 and RPM_NOT_INSTALLED_RE.search(out):
            return None
        if rc != 0:
            self.fail(f"Unable to read the installed version of {self.name}: rpm exited with {rc}: {err.strip()}")
        # Several versions of one package (installonly packages): the first one printed, as host_info reports it.
        versions = [line.strip() for line in out.splitlines() if line.strip()]
        return versions[0] if versions else None

    def file_fields(self, path):
        rpm = self.tool("rpm", f"read the package file {self.source}")
        # rpm warns on stderr (NOKEY) about a header signature by a key it does not hold: the detached signature,
        # already verified, is what vouches for the file. --nomanifest: rpm would read a text file as a list of
        # other package files to query.
        rc, out, err = self.module.run_command([rpm, "-qp", "--nomanifest", "--qf", RPM_FILE_FORMAT, path])
        lines = out.splitlines()
        if rc != 0 or not lines or "\t" not in lines[0]:
            said = (err or out).strip() or f"(nothing, exit code {rc})"
            self.fail(f"Unable to read {self.source}: it is not an RPM package. rpm said: {said}")
        name, dummy, version = lines[0].partition("\t")
        return {"name": name.strip(), "version": version.strip(), "requires": [line for line in lines[1:] if line]}

    def compare(self, left, operator, right):
        return OPERATORS[operator](compare_evr(left, right))

    def install(self, path, fields, before, allow_downgrade):
        # Only reached for an older file when allow_downgrade allowed it.
        older = before is not None and self.compare(fields["version"], "lt", before)
        installer = self.installer()
        if os.path.basename(installer) == "zypper":
            argv = self.zypper_argv(installer, path, older)
            rc, out, err = self.module.run_command(argv, environ_update=ZYPPER_ENVIRONMENT)
            return argv, (0 if rc in ZYPPER_SUCCESS else rc), out, err
        argv = self.dnf_argv(installer, path, older)
        rc, out, err = self.module.run_command(argv)
        return argv, rc, out, err

    @staticmethod
    def dnf_argv(dnf, path, older):
        # dnf install of a file older than the installed version does nothing (and succeeds): a downgrade needs
        # dnf downgrade. localpkg_gpgcheck=False, for this file alone (the repositories' packages, the dependencies,
        # keep their checks): its bytes were verified against the pinned keys before this call, and AWS's RPMs are
        # header-signed by keys rpm does not hold, or not signed at all.
        return [dnf, "downgrade" if older else "install", "-y", "--setopt=localpkg_gpgcheck=False", path]

    @staticmethod
    def zypper_argv(zypper, path, older):
        # --no-gpg-checks and --allow-unsigned-rpm, as AWS's own install script: the file's bytes were verified
        # against the pinned keys before this call, and AWS's RPMs are header-signed by keys rpm does not hold (the
        # SSM agent), or not signed at all (ecs-init on SUSE), which zypper would otherwise refuse.
        argv = [zypper, "--non-interactive", "--no-gpg-checks", "install", "--allow-unsigned-rpm"]
        if older:
            argv.append("--oldpackage")
        return argv + [path]


BACKENDS = {DEB: DebBackend, RPM: RpmBackend}


def choose_format(requested, url, os_release):
    """deb or rpm as the format option gives it; for auto, from the URL's file name, else the host's native one."""
    if requested in FORMATS:
        return requested
    # deb on a host whose distribution is unknown, as before there was a choice.
    return format_of_url(url) or native_format(os_release) or DEB
