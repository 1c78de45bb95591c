#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: verified_package
version_added: 0.1.0
short_description: Install a package file only when its detached OpenPGP signature verifies
description:
  - Runs on the managed host. Installs a vendor package file, such as the Amazon SSM agent or the C(amazon-ecs-init)
    C(.deb) or C(.rpm), only when its detached OpenPGP signature verifies against a dedicated keyring built from
    O(keys). A package whose signature is missing or does not verify is never installed.
  - Handles Debian packages (C(.deb), with dpkg) and RPM packages (C(.rpm), with rpm), as O(format) picks. Only the
    package tools differ between the two; the download, the keyring and the signature check are the same.
  - Reads the installed version with C(dpkg-query) or C(rpm -q). Nothing is downloaded when the installed version
    already answers O(version) (any version for V(latest) without O(upgrade)).
  - Otherwise downloads the package and its signature into a private temporary directory (mode C(0700)), verifies
    the signature with C(gpgv --keyring) (C(sqv --keyring) on hosts without C(gpgv)), checks with C(dpkg-deb) or
    C(rpm -qp) that the file holds package O(name) (and version O(version) when it is pinned), installs it and
    removes the download, also when something fails.
  - The verifier's report decides, never its exit code alone (C(gpgv) exits 0 for a signature by an expired or
    revoked key), as apt reads it. A signature is trusted only when it is the one signature of the file, matches the
    package, uses a strong digest (never MD5, SHA-1 or RIPEMD-160), has not expired, and was made by a key (primary
    key or subkey) that is neither expired nor revoked now and whose primary key is in O(keys) and, when
    O(pinned_fingerprints) is set, pinned. The verdict is the same with C(gpgv) (its C(--status-fd) lines) and
    C(sqv). C(gpgv) judges the signing key as it is now, C(sqv) as it was when it signed; the module makes both
    judgements, from O(keys), whichever verifier runs. An old package signed by a key that has expired since is
    refused, and so is a signature older than every self-signature of its key in O(keys).
  - Keeps the trusted keys in a keyring of their own, O(keyring), written from the dearmored O(keys) when it is
    missing or differs. The keys are never imported into a GnuPG home, so C(gpg) is not needed on the host; only
    the verifier C(apt) itself depends on is - C(gpgv) up to Debian 12, Sequoia's C(sqv) from Debian 13 on.
  - When O(pinned_fingerprints) is set, refuses O(keys) whose primary keys are not exactly those, before anything on
    the host changes, and trusts only signatures whose primary key is pinned.
  - Installs a C(.deb) with C(dpkg -i) when the package declares no C(Depends) or C(Pre-Depends), and with
    C(apt-get install) otherwise, so that apt brings in the dependencies from the configured repositories.
  - Installs an C(.rpm) through the package manager, so that its requirements come from the configured
    repositories. That is C(zypper --non-interactive --no-gpg-checks install --allow-unsigned-rpm) on the SUSE family,
    and C(dnf install -y --setopt=localpkg_gpgcheck=False) (or C(dnf5), or C(yum), whichever the host has)
    elsewhere, with C(dnf downgrade) for an older file and C(zypper install --oldpackage). The package manager's own
    signature check is relaxed for this file alone, which was verified against O(keys) before, since AWS signs its RPM
    headers with keys rpm does not hold, or not at all (C(amazon-ecs-init) for SUSE).
options:
  name:
    description:
      - Name of the package, as dpkg or rpm knows it, for example V(amazon-ssm-agent).
      - Letters, digits and C(.+_-), starting with a letter or digit.
      - The downloaded file must hold this package.
    type: str
    required: true
  url:
    description:
      - URL of the package file (C(http://), C(https://) or C(file://)).
    type: str
    required: true
  signature_url:
    description:
      - URL of the detached OpenPGP signature of the package file, binary or armored (C(http://), C(https://) or
        C(file://)).
    type: str
    required: true
  keys:
    description:
      - The trusted keys, as ASCII-armored OpenPGP public key blocks. A string may hold several blocks.
      - Only public keys are accepted. Primary keys of version 4 and version 6 are supported.
      - Their dearmored bytes, in the order given, make up O(keyring). The armor checksum line is ignored, as RFC 9580
        asks; O(pinned_fingerprints) and the signature check are what prove the keys.
      - A key that has expired signs nothing the module installs; refresh the keys when the vendor extends the expiry
        of its signing key.
    type: list
    elements: str
    required: true
  keyring:
    description:
      - Absolute path of the dedicated binary keyring on the host that C(gpgv) or C(sqv) verifies against, for example
        C(/etc/ecs-anywhere/keyring/amazon-ssm-agent.gpg).
      - Written (owned by root, mode C(0644), through a temporary file renamed in the same directory) when it is
        missing or its bytes differ from the dearmored O(keys). Missing parent directories are created with mode
        C(0755).
      - Give each package a keyring of its own; never point this at a keyring apt or root's GnuPG uses.
    type: path
    required: true
  pinned_fingerprints:
    description:
      - When not empty, the fingerprints of the primary keys of O(keys) must be exactly these, or the module fails
        before anything on the host changes.
      - Compared in upper case with spaces removed; 40 hexadecimal digits for a version 4 key, 64 for version 6.
      - A signature is trusted only when its primary key (the key itself or the primary key of the subkey that made
        it) is one of these.
    type: list
    elements: str
    default: []
  version:
    description:
      - V(latest) accepts any installed version, and installs the file at O(url) when the package is not installed.
      - An exact package version, for example V(1.105.1-1), installs that version when another one (or none) is
        installed; the file at O(url) must have that version.
      - In the syntax of the package format. Debian's is C([epoch:]upstream_version[-debian_revision]) as
        C(dpkg-query) prints it; RPM's is C([epoch:]version-release), the epoch only when the package has one, as in
        V(3.3.1957.0-1) or V(3:27.3.1-1.el9).
    type: str
    default: latest
  format:
    description:
      - The package format of the file at O(url), which decides the package tools used.
      - V(auto) takes it from the file name at the end of O(url), V(deb) for C(.deb) and V(rpm) for C(.rpm), and
        else from the host's distribution (C(ID) and C(ID_LIKE) of C(/etc/os-release)), V(deb) for the Debian family
        and V(rpm) for the RHEL, Fedora, Amazon Linux and SUSE families (and V(deb) for an unknown one).
    type: str
    choices: [auto, deb, rpm]
    default: auto
  upgrade:
    description:
      - With O(version=latest), download the file at O(url) even when the package is installed, and install it when
        its version is newer than the installed one.
    type: bool
    default: false
  allow_downgrade:
    description:
      - Allow installing a version older than the installed one.
      - Without it, a pinned O(version) older than the installed one fails, and with O(version=latest) and
        O(upgrade) an older file is not installed (with a warning).
    type: bool
    default: false
  timeout:
    description:
      - Seconds allowed for each of the two downloads.
    type: int
    default: 120
  validate_certs:
    description:
      - Whether to validate the TLS certificates of HTTPS URLs.
      - The signature check does not depend on it, but a host that cannot validate the vendor's certificates cannot
        run its agents either; set V(false) only for a test mirror.
    type: bool
    default: true
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Supports check mode. The package and its signature are still downloaded into a private temporary directory and
    verified there, against a temporary keyring, so that the result predicts what a real run would do; nothing
    outside that directory is written, and it is removed before the module returns.
  - Supports diff mode. The diff shows the installed version and the SHA-256 of the keyring, before and after.
  - Proxies come from the environment of the module (C(http_proxy), C(https_proxy), C(no_proxy)), so set them with
    the C(environment) keyword of the task. Credentials from C(~/.netrc) are never sent.
  - The host needs the tools of the package format, C(dpkg-query), C(dpkg-deb) and C(dpkg) (and C(apt-get) for a
    package with dependencies), or C(rpm) and C(dnf), C(dnf5), C(yum) or C(zypper); the module fails naming the one
    that is missing.
  - Versions are compared with C(dpkg --compare-versions) for V(deb), and for V(rpm) by rpm's own rules (C(rpmvercmp),
    epoch, version then release, C(~) before and C(^) after the end of a version), computed by the module.
seealso:
  - module: fleet.ecs_anywhere.host_info
"""

EXAMPLES = r"""
- name: Install the SSM agent, verified against the AWS keys
  fleet.ecs_anywhere.verified_package:
    name: amazon-ssm-agent
    url: https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb
    signature_url: https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb.sig
    keys:
      - "{{ lookup('ansible.builtin.file', 'amazon-ssm-agent.asc') }}"
    pinned_fingerprints:
      - 8108A07A9EBE248E3F1C63F254F4F56E693ECA21
      - 2BC7C7C267BBD505EAA491E6DD81A61756BAA549
      - DE92C7DA3E56E92331D62A36BC1F495C97DD04ED
    keyring: /etc/ecs-anywhere/keyring/amazon-ssm-agent.gpg
  environment:
    https_proxy: http://proxy.example.com:3128
  register: ssm_package
  notify: Restart amazon-ssm-agent

- name: Install an exact version of amazon-ecs-init, downgrading if need be
  fleet.ecs_anywhere.verified_package:
    name: amazon-ecs-init
    url: https://s3.us-east-1.amazonaws.com/amazon-ecs-agent-us-east-1/amazon-ecs-init-1.105.1-1.amd64.deb
    signature_url: https://s3.us-east-1.amazonaws.com/amazon-ecs-agent-us-east-1/amazon-ecs-init-1.105.1-1.amd64.deb.asc
    keys:
      - "{{ lookup('ansible.builtin.file', 'amazon-ecs-agent.asc') }}"
    pinned_fingerprints:
      - F34C3DDAE72926B079BEAEC6BCE9D9A42D51784F
    keyring: /etc/ecs-anywhere/keyring/amazon-ecs-init.gpg
    version: 1.105.1-1
    allow_downgrade: true

- name: Install the SSM agent RPM, verified against the AWS keys (dnf, or zypper on SUSE)
  fleet.ecs_anywhere.verified_package:
    name: amazon-ssm-agent
    url: https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/linux_amd64/amazon-ssm-agent.rpm
    signature_url: https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/linux_amd64/amazon-ssm-agent.rpm.sig
    keys:
      - "{{ lookup('ansible.builtin.file', 'amazon-ssm-agent.asc') }}"
    keyring: /etc/ecs-anywhere/keyring/amazon-ssm-agent.gpg
    format: rpm

- name: Install an exact version of the amazon-ecs-init RPM
  fleet.ecs_anywhere.verified_package:
    name: amazon-ecs-init
    url: https://s3.us-east-1.amazonaws.com/amazon-ecs-agent-us-east-1/amazon-ecs-init-1.105.1-1.x86_64.rpm
    signature_url: https://s3.us-east-1.amazonaws.com/amazon-ecs-agent-us-east-1/amazon-ecs-init-1.105.1-1.x86_64.rpm.asc
    keys:
      - "{{ lookup('ansible.builtin.file', 'amazon-ecs-agent.asc') }}"
    pinned_fingerprints:
      - F34C3DDAE72926B079BEAEC6BCE9D9A42D51784F
    keyring: /etc/ecs-anywhere/keyring/amazon-ecs-init.gpg
    version: 1.105.1-1

- name: Upgrade the SSM agent to the newest published build
  fleet.ecs_anywhere.verified_package:
    name: amazon-ssm-agent
    url: "{{ ssm_base_url }}/amazon-ssm-agent.deb"
    signature_url: "{{ ssm_base_url }}/amazon-ssm-agent.deb.sig"
    keys: "{{ trusted_keys }}"
    keyring: /etc/ecs-anywhere/keyring/amazon-ssm-agent.gpg
    upgrade: true
"""

RETURN = r"""
name:
  description: The package name, O(name).
  returned: always
  type: str
  sample: amazon-ssm-agent
url:
  description: The package URL, O(url).
  returned: always
  type: str
  sample: https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb
version_before:
  description:
    - The version installed before the module ran, null when the package was not installed.
    - As C(dpkg-query) prints it, or as rpm does with C([epoch:]version-release).
  returned: always
  type: str
  sample: 3.3.1-1
version:
  description:
    - The version installed when the module returns, null when the package is not installed.
    - In check mode, the version a real run would leave installed.
  returned: always
  type: str
  sample: 3.3.1957.0-1
installed:
  description: Whether the package file was installed (in check mode, would be).
  returned: always
  type: bool
  sample: true
keyring_changed:
  description: Whether O(keyring) was written (in check mode, would be).
  returned: always
  type: bool
  sample: false
signer:
  description:
    - The key that made the verified signature, C(key) (a primary key or a subkey), and its primary key,
      C(primary), as fingerprints in upper case.
    - Null when nothing was downloaded, because the installed version already answers O(version).
  returned: always
  type: dict
  sample: {"key": "EB3DF841E2C9212A2BD42232DE3CBD61ADAF8B8E", "primary": "F34C3DDAE72926B079BEAEC6BCE9D9A42D51784F"}
  contains:
    key:
      description: Fingerprint of the key that made the signature.
      type: str
      returned: always
    primary:
      description: Fingerprint of its primary key.
      type: str
      returned: always
format:
  description: The package format used, V(deb) or V(rpm) (see O(format)).
  returned: always
  type: str
  sample: rpm
fingerprints:
  description: Fingerprints of the primary keys found in O(keys), upper case, in the order given.
  returned: always
  type: list
  elements: str
  sample: ["8108A07A9EBE248E3F1C63F254F4F56E693ECA21", "2BC7C7C267BBD505EAA491E6DD81A61756BAA549"]
"""

import hashlib
import os
import re
import shutil
import tempfile
import time
from urllib.error import HTTPError
from urllib.error import URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import signature_check
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.openpgp import PUBLIC_KEY_BLOCK
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.openpgp import OpenPGPError
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.openpgp import certificates
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.openpgp import dearmor
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import BACKENDS
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import choose_format
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.package_formats import read_os_release

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")
# Debian ([epoch:]upstream[-revision]) and rpm ([epoch:]version-release, ^ included) version syntax; the package tools
# judge the details, this only keeps options out of argv.
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~^:_-]*$")
URL_RE = re.compile(r"^(https?|file)://", re.IGNORECASE)
FINGERPRINT_RE = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")
CHUNK_SIZE = 1024 * 1024
NEVER_UNSIGNED = "an unsigned package is never installed"


# The keys option's faults; a message completes "item N of the keys option ...".
KeyMaterialError = OpenPGPError


def read_keys(keys):
    """(keyring bytes, primary key fingerprints) of the keys option; KeyMaterialError names the faulty item."""
    keyring = []
    fingerprints = []
    for number, text in enumerate(keys, 1):
        try:
            blocks = dearmor(text, PUBLIC_KEY_BLOCK)
            if not blocks:
                raise KeyMaterialError(f"holds no -----BEGIN PGP {PUBLIC_KEY_BLOCK}----- block")
            for block in blocks:
                for certificate in certificates(block):
                    if certificate.primary.fingerprint not in fingerprints:
                        fingerprints.append(certificate.primary.fingerprint)
                keyring.append(block)
        except KeyMaterialError as e:
            raise KeyMaterialError(f"item {number} of the keys option {e}") from e
    return b"".join(keyring), fingerprints


def normalise_fingerprint(value):
    return re.sub(r"\s+", "", value).upper()


def describe(name, version, keyring):
    """The diff text of one state: the installed version and the SHA-256 of the keyring bytes."""
    keyring_hash = hashlib.sha256(keyring).hexdigest() if keyring is not None else "(absent)"
    return f"{name} {version or '(not installed)'}\nkeyring {keyring_hash}\n"


class VerifiedPackage:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = module.params["name"]
        self.url = module.params["url"]
        self.fingerprints = []

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, name=self.name, url=self.url, **kwargs)

    def tool(self, name, why):
        path = self.module.get_bin_path(name)
        if not path:
            self.fail(f"Unable to {why}: {name} was not found on the host. {self.tool_hint(name)}")
        return path

    @staticmethod
    def tool_hint(name):
        if name == "gpgv":
            return (
                "Install the gpgv or the sqv package (apt depends on one of them on Debian; RPM-based hosts have "
                f"gpgv with GnuPG); {NEVER_UNSIGNED}."
            )
        return ""

    def backend(self):
        """The backend of the package format: the format option, else the URL's file name, else the host's own."""
        os_release = read_os_release()
        package_format = choose_format(self.params["format"], self.url, os_release)
        return BACKENDS[package_format](self.module, self.fail, self.name, self.url, os_release)

    # Input -----------------------------------------------------------------------------------------------------

    def validate(self):
        params = self.params
        if not NAME_RE.match(self.name):
            self.fail(
                "name must be a package name (letters, digits and .+_-, starting with a letter or digit), "
                f"got '{self.name}'"
            )
        for option in ("url", "signature_url"):
            if not URL_RE.match(params[option]):
                self.fail(f"{option} must be an http, https or file URL, got '{params[option]}'")
        if not os.path.isabs(params["keyring"]):
            # gpgv would look for a relative keyring in its home directory.
            self.fail(f"keyring must be an absolute path, got '{params['keyring']}'")
        if params["timeout"] < 1:
            self.fail(f"timeout must be at least 1 second, got {params['timeout']}")
        version = params["version"]
        if version != "latest" and not VERSION_RE.match(version):
            self.fail(f"version must be 'latest' or a package version such as 1.105.1-1, got '{version}'")
        pinned = [normalise_fingerprint(value) for value in params["pinned_fingerprints"]]
        malformed = [value for value in pinned if not FINGERPRINT_RE.match(value)]
        if malformed:
            self.fail(
                "pinned_fingerprints must be OpenPGP fingerprints (40 or 64 hexadecimal digits), "
                f"got {', '.join(malformed)}"
            )
        if not params["keys"]:
            self.fail(f"keys must hold at least one armored OpenPGP public key for {self.name}; {NEVER_UNSIGNED}")
        try:
            keyring, fingerprints = read_keys(params["keys"])
        except KeyMaterialError as e:
            self.fail(
                f"Unable to read the trusted keys for {self.name}: {e}. Give ASCII-armored OpenPGP public keys; "
                f"nothing was changed and {NEVER_UNSIGNED}."
            )
        if not fingerprints:
            self.fail(f"The keys option for {self.name} holds no primary public key; {NEVER_UNSIGNED}.")
        if pinned and set(fingerprints) != set(pinned):
            self.fail(
                f"The signing keys for {self.name} are not usable: found primary keys {', '.join(fingerprints)} where "
                f"exactly {', '.join(sorted(set(pinned)))} are pinned (pinned_fingerprints); the given keys were "
                "altered or are not the pinned ones. Nothing was changed.",
                fingerprints=fingerprints,
            )
        return keyring, fingerprints

    # Host state ------------------------------------------------------------------------------------------------

    def read_keyring(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            self.fail(f"Unable to read the keyring {path}: {e}")
        return None

    # Downloads and checks --------------------------------------------------------------------------------------

    def download(self, url, dest, what):
        timeout = self.params["timeout"]
        deadline = time.monotonic() + timeout
        try:
            # No netrc: the host's stored credentials have no business going to a package mirror.
            response = open_url(
                url,
                method="GET",
                timeout=timeout,
                validate_certs=self.params["validate_certs"],
                use_proxy=True,
                follow_redirects="safe",
                use_netrc=False,
            )
            try:
                with open(dest, "wb") as f:
                    while True:
                        chunk = response.read(CHUNK_SIZE)
                        if not chunk:
                            break
                        f.write(chunk)
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"the download took more than {timeout} seconds (timeout)")
            finally:
                response.close()
        except HTTPError as e:
            e.close()
            reason = f"HTTP Error {e.code}: {e.reason}"
        except URLError as e:
            reason = str(e.reason) or type(e.reason).__name__
        except Exception as e:  # pylint: disable=broad-except
            reason = str(e) or type(e).__name__
        else:
            return
        self.fail(
            f"Unable to download {url} ({what}): {reason}. Check the URL, the proxy settings in the environment of the "
            f"task and that the host reaches that URL; {NEVER_UNSIGNED}."
        )

    def verifier(self):
        """gpgv, or Sequoia's sqv where apt uses that instead (Debian 13 on): the host's own signature checker."""
        sqv = None if self.module.get_bin_path("gpgv") else self.module.get_bin_path("sqv")
        return sqv or self.tool("gpgv", f"verify the signature of {self.url}")

    def verify(self, verifier, keyring, signature, package, home):
        """The signature_check.Signer of the package; fails naming the reason when the signature is not trusted.

        keyring is (path, bytes) of the keyring to verify against, home a private directory for gpgv.
        """
        pinned = {normalise_fingerprint(value) for value in self.params["pinned_fingerprints"]}
        try:
            return signature_check.verify(
                self.module.run_command,
                verifier,
                signature,
                package,
                keyring=keyring[0],
                certificates=certificates(keyring[1]),
                pinned=pinned,
                home=home,
            )
        except signature_check.Refused as e:
            said = f" {os.path.basename(verifier)} said: {e.said}" if e.said else ""
            self.fail(
                f"Refusing to install {self.url}: its signature does not verify against the trusted keys (keys, "
                f"fingerprints {', '.join(self.fingerprints)}): {e.reason}; {NEVER_UNSIGNED}.{said}",
                fingerprints=self.fingerprints,
            )
        return None

    # Changes ---------------------------------------------------------------------------------------------------

    def write_keyring(self, path, data):
        parent = os.path.dirname(path)
        tmp = None
        try:
            self.make_dirs(parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            if os.geteuid() == 0:
                os.chown(tmp, 0, 0)
            os.replace(tmp, path)
            tmp = None
        except OSError as e:
            self.fail(f"Unable to write the keyring {path}: {e}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def make_dirs(path):
        missing = []
        while path and not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            # Whatever the umask: directories of a keyring every user (and apt's _apt) may read.
            os.chmod(directory, 0o755)  # noqa: S103
            if os.geteuid() == 0:
                os.chown(directory, 0, 0)

    # Flow ------------------------------------------------------------------------------------------------------

    def run(self):
        module = self.module
        params = self.params
        keyring_path = params["keyring"]
        wanted = params["version"]
        keyring, self.fingerprints = self.validate()

        backend = self.backend()
        before = backend.installed_version()
        keyring_before = self.read_keyring(keyring_path)
        keyring_changed = keyring_before != keyring

        up_to_date = before is not None and ((wanted == "latest" and not params["upgrade"]) or before == wanted)
        if not up_to_date:
            backend.require_tools()
        if not up_to_date and wanted != "latest" and before is not None and not params["allow_downgrade"]:
            if backend.compare(wanted, "lt", before):
                self.fail(
                    f"Refusing to downgrade {self.name} from {before} to {wanted}: set allow_downgrade to install an "
                    "older version. Nothing was changed."
                )

        install = False
        after = before
        private = None
        signer = None
        try:
            if not up_to_date:
                verifier = self.verifier()
                private = tempfile.mkdtemp(prefix="ansible-verified-package.")
                home = os.path.join(private, "gnupg")
                os.mkdir(home, 0o700)
                # The format's file name ending: dnf and zypper take an argument as a local file only by its .rpm.
                package = os.path.join(private, f"{self.name}.{backend.format}")
                signature = f"{package}.sig"
                self.download(self.url, package, "the package, option url")
                self.download(params["signature_url"], signature, "its signature, option signature_url")
                verify_keyring = keyring_path
                if module.check_mode or keyring_changed:
                    # Verify against the keys as they will be, without writing anything outside the private directory.
                    verify_keyring = os.path.join(private, "keyring.gpg")
                    with open(verify_keyring, "wb") as f:
                        f.write(keyring)
                signer = self.verify(verifier, (verify_keyring, keyring), signature, package, home)
                fields = backend.file_fields(package)
                found = fields["name"]
                version = fields["version"]
                if found != self.name or not version:
                    self.fail(
                        f"Refusing to install {self.url}: it holds package {found or '(none)'} version "
                        f"{version or '(none)'}, not {self.name}."
                    )
                install = self.decide(backend, before, version)
                if install:
                    after = version
            if keyring_changed and not module.check_mode:
                self.write_keyring(keyring_path, keyring)
            if install and not module.check_mode:
                self.install(backend, package, fields, before)
                after = backend.installed_version()
                if after != version:
                    # A front end may succeed without installing the file (dnf does for an older one).
                    self.fail(
                        f"{self.name} was installed from {self.url}, but {backend.database} reports "
                        f"{f'version {after}' if after else 'it not installed'} instead of {version}."
                    )
        finally:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)

        result = dict(
            changed=install or keyring_changed,
            name=self.name,
            url=self.url,
            version_before=before,
            version=after,
            installed=install,
            keyring_changed=keyring_changed,
            fingerprints=self.fingerprints,
            signer=dict(key=signer.key, primary=signer.primary) if signer else None,
            format=backend.format,
        )
        if module._diff:
            result["diff"] = dict(
                before=describe(self.name, before, keyring_before),
                after=describe(self.name, after, keyring),
            )
        module.exit_json(**result)

    def install(self, backend, package, fields, before):
        argv, rc, out, err = backend.install(package, fields, before, self.params["allow_downgrade"])
        if rc != 0:
            self.fail(
                f"Unable to install {self.name} from {self.url} (its signature verified): {os.path.basename(argv[0])} "
                f"exited with {rc}: {(err or out).strip()}",
                rc=rc,
                stdout=out,
                stderr=err,
            )

    def decide(self, backend, before, version):
        """Whether to install the verified file, which has the given version."""
        wanted = self.params["version"]
        if wanted != "latest":
            if version != wanted:
                self.fail(
                    f"Refusing to install {self.url}: it has version {version}, not the pinned version {wanted} "
                    "(option version)."
                )
            return version != before
        if before is None:
            return True
        if version == before or not backend.compare(version, "ne", before):
            return False
        if backend.compare(version, "gt", before):
            return True
        if self.params["allow_downgrade"]:
            return True
        self.module.warn(
            f"Not installing {self.url}: its version {version} is older than the installed {before}; set "
            "allow_downgrade to install it."
        )
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            url=dict(type="str", required=True),
            signature_url=dict(type="str", required=True),
            keys=dict(type="list", elements="str", required=True, no_log=False),
            keyring=dict(type="path", required=True, no_log=False),
            pinned_fingerprints=dict(type="list", elements="str", default=[]),
            version=dict(type="str", default="latest"),
            upgrade=dict(type="bool", default=False),
            allow_downgrade=dict(type="bool", default=False),
            timeout=dict(type="int", default=120),
            validate_certs=dict(type="bool", default=True),
            format=dict(type="str", default="auto", choices=["auto", "deb", "rpm"]),
        ),
        supports_check_mode=True,
    )
    VerifiedPackage(module).run()


if __name__ == "__main__":
    main()
