# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throwaway OpenPGP keys and detached signatures, made once per test session with the real gpg.

Every key and signature the signature tests need: good ones, a subkey's, keys that expired (the primary key, a subkey,
both signed while still valid), keys whose expiry was extended since (with and without their older self-signature),
revoked keys (a hard and a soft revocation),
an expired signature, SHA-1 and RIPEMD-160 digests, keys outside the keyring or outside the pins, and damaged
signature files. Times in the past come from gpg's --faked-system-time; the keys that expire do so a day after PAST.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
ENSURE_TOOLS = REPO / "tests" / "harness" / "ensure-build-tools.sh"
TOOLS = ("gpg", "gpg-agent", "gpgv", "sqv")

PAST = "20200101T000000"
SIGNED = "20200101T010000"  # an hour after PAST: every key made at PAST is still valid then
EXPIRED_ON = "2020-01-02"  # what a key made at PAST with a one-day expiry reads as

# name -> (algorithm, usage of the primary key, its expiry, faked creation time, (expiry of a signing subkey) or ())
KEYS = {
    "trusted": ("ed25519", "sign", "never", None, ()),
    "other": ("ed25519", "sign", "never", None, ()),  # in the keyring, never pinned
    "stranger": ("ed25519", "sign", "never", None, ()),  # not in the keyring
    "split": ("ed25519", "cert", "never", None, ("never",)),  # signs with its subkey
    "expired": ("ed25519", "sign", "1d", PAST, ()),
    "subkey-expired": ("ed25519", "cert", "never", PAST, ("1d",)),
    "primary-expired": ("ed25519", "cert", "1d", PAST, ("never",)),
    "extended": ("ed25519", "sign", "1d", PAST, ()),  # its expiry is lifted after it signed, history kept
    "re-signed": ("ed25519", "sign", "1d", PAST, ()),  # the same, but the keyring has only its new self-signature
    "dated": ("ed25519", "sign", "never", PAST, ()),  # makes the signature that expires a day after PAST
    "revoked": ("ed25519", "sign", "never", None, ()),  # hard revocation (no reason given)
    "retired": ("ed25519", "sign", "never", None, ()),  # soft revocation (superseded), after it signed
    "rsa": ("rsa2048", "sign", "never", None, ()),  # signs with the weak digests
}


def missing_tools():
    return [tool for tool in TOOLS if not shutil.which(tool)]


def ensure_tools():
    """Install gpg, gpgv and sqv with the harness script when one is missing; what is still missing, and why."""
    if not missing_tools():
        return [], ""
    result = subprocess.run([str(ENSURE_TOOLS), "signatures"], capture_output=True, text=True, check=False)
    return missing_tools(), (result.stderr or result.stdout).strip()


class Signing:
    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.home = self.root / "gnupg"
        self.home.mkdir(mode=0o700)
        self.fingerprints = {}  # name -> primary key fingerprint
        self.subkeys = {}  # name -> signing subkey fingerprint
        self.package = self.write("package.deb", b"!<arch>\npackage that was signed\n" * 64)
        self.other_package = self.write("other.deb", b"!<arch>\nanother package\n" * 64)
        for name, spec in KEYS.items():
            self.make_key(name, *spec)
        self.sign_all()
        # After signing: lift two expiries, revoke two keys. gpg replaces the self-signature it extends; importing
        # the key as it was brings the older one back, as a vendor's key file that keeps its history has it.
        before = self.gpg("--export", self.fingerprints["extended"]).stdout
        for name in ("extended", "re-signed"):
            self.gpg("--quick-set-expire", self.fingerprints[name], "never")
        self.gpg("--import", stdin=before)
        self.revoke_hard("revoked")
        self.revoke_soft("retired")
        names = [name for name in KEYS if name != "stranger"]
        self.keyring = self.write("keyring.gpg", self.gpg("--export", *[self.fingerprints[n] for n in names]).stdout)
        self.armored = {name: self.gpg("--armor", "--export", self.fingerprints[name]).stdout.decode() for name in KEYS}

    def write(self, name, data):
        path = self.root / name
        path.write_bytes(data)
        return path

    def gpg(self, *args, at=None, stdin=None):
        argv = ["gpg", "--batch", "--quiet", "--no-tty", "--homedir", str(self.home)]
        argv += ["--pinentry-mode", "loopback", "--passphrase", ""]
        if at:
            argv += ["--faked-system-time", at + "!"]
        return subprocess.run([*argv, *args], input=stdin, capture_output=True, check=True)

    def make_key(self, name, algorithm, usage, expire, at, subkeys):  # noqa: PLR0917
        uid = f"{name} <{name}@example.invalid>"
        self.gpg("--quick-gen-key", uid, algorithm, usage, expire, at=at)
        listing = self.gpg("--with-colons", "--list-keys", f"<{name}@example.invalid>").stdout.decode()
        self.fingerprints[name] = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
        for subkey_expire in subkeys:
            self.gpg("--quick-add-key", self.fingerprints[name], "ed25519", "sign", subkey_expire, at=at)
            listing = self.gpg("--with-colons", "--list-keys", self.fingerprints[name]).stdout.decode()
            self.subkeys[name] = [line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:"][-1]

    def signer(self, name):
        """The key a name signs with: its subkey when it has one."""
        return self.subkeys.get(name, self.fingerprints[name])

    def sign(self, out, name, *extra, at=None, package=None):
        path = self.root / out
        key = self.signer(name)
        self.gpg(
            "--local-user", key + "!", *extra, "--detach-sign", "-o", str(path), str(package or self.package), at=at
        )
        return path

    def sign_all(self):
        self.sign("good.sig", "trusted")
        self.sign("good.asc", "trusted", "--armor")
        for name in ("split", "other", "stranger", "revoked", "retired"):
            self.sign(f"{name}.sig", name)
        for name in ("expired", "subkey-expired", "primary-expired", "extended", "re-signed"):
            self.sign(f"{name}.sig", name, at=SIGNED)
        self.sign("signature-expired.sig", "dated", "--default-sig-expire", "1d", at=SIGNED)
        for digest in ("SHA1", "RIPEMD160"):
            self.sign(f"{digest.lower()}.sig", "rsa", "--allow-weak-digest-algos", "--digest-algo", digest)
        good = (self.root / "good.sig").read_bytes()
        self.write("truncated.sig", good[:40])
        damaged = bytearray(good)
        damaged[-10] ^= 0xFF  # inside the signature value: it no longer verifies
        self.write("corrupt.sig", bytes(damaged))
        self.write("html.sig", b"<html><body>404 Not Found</body></html>\n")
        self.write("double.sig", good + good)

    def revoke_hard(self, name):
        # The revocation certificate gpg stored when it made the key; its armor line starts with ':' to be inert.
        stored = self.home / "openpgp-revocs.d" / f"{self.fingerprints[name]}.rev"
        certificate = stored.read_text().replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----"
        )
        self.gpg("--import", stdin=certificate.encode())

    def revoke_soft(self, name):
        # Reason 1, "key has been superseded": to OpenPGP it leaves the signatures made before it valid.
        answers = b"revkey\ny\n1\nsuperseded by a newer key\n\ny\nsave\n"
        argv = ["gpg", "--no-tty", "--homedir", str(self.home), "--pinentry-mode", "loopback", "--passphrase", ""]
        argv += ["--command-fd", "0", "--edit-key", self.fingerprints[name]]
        subprocess.run(argv, input=answers, capture_output=True, check=True)

    def close(self):
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], check=False, capture_output=True
        )
        shutil.rmtree(self.root, ignore_errors=True)


def make_signing():
    # A short path: gpg-agent's socket lives in the GnuPG home, and socket paths are limited to ~100 bytes.
    return Signing(tempfile.mkdtemp(prefix="vp-sig-"))
