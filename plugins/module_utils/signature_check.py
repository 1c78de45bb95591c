# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict on a detached signature, the same whichever verifier the host has: gpgv or Sequoia's sqv.

Never the verifier's exit code alone. gpgv exits 0 for a good signature by an expired or revoked key and for a SHA-1
digest, so its --status-fd lines decide, as apt reads them (apt-pkg/contrib/gpgv.cc, methods/gpgv.cc): GOODSIG with
VALIDSIG, whose last field is the primary key's fingerprint, and never BADSIG, ERRSIG, NO_PUBKEY, NODATA, EXPSIG,
EXPKEYSIG, REVKEYSIG or a weak digest. sqv prints the primary key fingerprint of each good signature; its policy
refuses weak digests, revoked keys and expired signatures.

The two judge the signing key at different times: gpgv as it is now, sqv as it was when it signed (so sqv alone
trusts for ever a package signed before its key expired: the downgrade path of issue 17; and gpgv alone trusts a
signature older than every self-signature of its key in the keyring). Both judgements are made here, from the
keyring (openpgp.Key), whichever verifier ran.

A signature is accepted only when it is the one signature of the file, verifies, uses a strong digest, has not
expired, was made by a key (primary key or subkey) that is not revoked, was bound and valid when it signed and has
not expired since, and its primary key is in the keyring and pinned (when fingerprints are pinned). Each refusal
gives its reason, worded the same for both verifiers; the caller adds what the verifier printed.
"""

from __future__ import annotations

import os
import time

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import openpgp

GNUPG_PREFIX = "[GNUPG:] "
# ERRSIG's return code for a signature whose key is not in the keyring.
ERRSIG_NO_PUBKEY = "9"


class Refused(Exception):
    """The signature is not accepted: reason says why (a clause), said is what the verifier printed."""

    def __init__(self, reason, said=""):
        super().__init__(reason)
        self.reason = reason
        self.said = said


class Signer:
    """The key that made an accepted signature, and its primary key (the same for a signature by a primary key)."""

    def __init__(self, key, primary):
        self.key = key
        self.primary = primary


def day(timestamp):
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


# Reasons, worded once for both verifiers.


def unreadable():
    return "it is not a readable OpenPGP signature (truncated, damaged or not a signature at all)"


def several(count):
    return f"the signature file holds {count} signatures, where one signature of the package is expected"


def altered():
    return "the package does not match the signature: the package or its signature was altered"


def unknown_key(handle):
    return f"it was made by key {handle}, which is not among the trusted keys"


def expired_key(handle, expired):
    """expired: (fingerprint of the key that expired, when) as far as the keyring tells, else None."""
    which, when = expired or (handle, None)
    key = f"key {handle}, which" if which == handle else f"key {handle}, whose primary key {which}"
    return (
        f"it was made by {key} expired{f' on {day(when)}' if when else ''}; a package signed by a key that has "
        "expired is never trusted"
    )


def unusable_then(handle, created, problem):
    """problem: what openpgp.Key.unusable_at() says of the signing key at the time of the signature."""
    key, what, when = problem
    whose = (
        f"key {handle}, which" if key.fingerprint == handle else f"key {handle}, whose primary key {key.fingerprint}"
    )
    if what == "expired":
        return f"it was made on {day(created)} by {whose} had expired on {day(when)}"
    oldest = f" (its oldest is from {day(when)})" if when else ""
    return (
        f"it was made on {day(created)} by {whose} had no self-signature in the keyring yet{oldest}; give the key "
        "with its earlier self-signatures"
    )


def revoked_key(handle):
    return f"it was made by key {handle}, which is revoked"


def expired_signature(expires):
    return f"the signature expired{f' on {day(expires)}' if expires else ''}"


def weak_digest(algorithm):
    name = openpgp.HASH_NAMES.get(algorithm, f"unknown ({algorithm})")
    return f"it was made with the {name} digest algorithm, which is too weak to be trusted"


def unpinned(key, primary):
    of = f" of primary key {primary}" if key != primary else ""
    return f"it was made by key {key}{of}, which is not pinned (pinned_fingerprints)"


def no_good_signature(tool):
    return f"{tool} did not report one good signature"


# The verdict ---------------------------------------------------------------------------------------------------


def verify(run_command, verifier, signature, data, *, keyring, certificates, pinned=(), home=None, now=None):
    """The Signer of the detached signature of data, or Refused.

    run_command(argv) -> (rc, stdout, stderr) runs the verifier, gpgv or sqv (told apart by its file name); keyring
    is the path of the binary keyring given to it and certificates what openpgp.certificates() read from the same
    bytes; pinned the primary key fingerprints (upper case) a signature must come from (any key of the keyring when
    empty); home a private directory for gpgv's --homedir; now the time keys and signatures are judged at.
    """
    check = Check(run_command, keyring, certificates, pinned, home, time.time() if now is None else now)
    if os.path.basename(verifier) == "sqv":
        return check.sqv(verifier, signature, data)
    return check.gpgv(verifier, signature, data)


def status_lines(out):
    """{keyword: [fields of each line]} of gpgv's --status-fd output."""
    status = {}
    for line in out.splitlines():
        if line.startswith(GNUPG_PREFIX):
            words = line[len(GNUPG_PREFIX) :].split()
            if words:
                status.setdefault(words[0], []).append(words[1:])
    return status


class Check:
    def __init__(self, run_command, keyring, certificates, pinned, home, now):  # noqa: PLR0917
        self.run_command = run_command
        self.keyring = keyring
        self.certificates = certificates
        self.pinned = pinned
        self.home = home
        self.now = now

    def key(self, handle):
        """The key of the keyring with this fingerprint or key ID, None when there is none."""
        for certificate in self.certificates:
            key = certificate.find(handle)
            if key is not None:
                return key
        return None

    def expiry(self, key):
        """(fingerprint of the key that has expired, when) for key or its primary key, None when neither has."""
        expired = key.expired(self.now) if key is not None else None
        return (expired[0].fingerprint, expired[1]) if expired else None

    def judge(
        self, handle, primary, hash_algorithm, said, *, created, signature_expired=None, revoked=False, expired=False
    ):
        """The checks on a signature the verifier found good, in the same order for both verifiers.

        handle is the fingerprint of the key that made the signature, primary that of its primary key, created when
        the signature was made; signature_expired None, or when the signature expired (0 when not known); expired
        whether the verifier found the key expired.
        """
        if hash_algorithm not in openpgp.STRONG_HASHES:
            raise Refused(weak_digest(hash_algorithm), said)
        if signature_expired is not None:
            raise Refused(expired_signature(signature_expired), said)
        if revoked:
            raise Refused(revoked_key(handle), said)
        key = self.key(handle)
        if key is None or key.primary.fingerprint != primary:
            raise Refused(unknown_key(handle), said)
        # As sqv judges the key: at the time of the signature; as gpgv judges it: now.
        problem = key.unusable_at(created) if created is not None else None
        if problem:
            raise Refused(unusable_then(handle, created, problem), said)
        if expired or self.expiry(key):
            raise Refused(expired_key(handle, self.expiry(key)), said)
        if self.pinned and primary not in self.pinned:
            raise Refused(unpinned(handle, primary), said)
        return Signer(handle, primary)

    # gpgv -----------------------------------------------------------------------------------------------------

    def gpgv(self, gpgv, signature, data):
        argv = [gpgv]
        if self.home:
            argv += ["--homedir", self.home]
        # gpgv writes nothing else to stdout when it verifies a detached signature.
        argv += ["--status-fd", "1", "--keyring", self.keyring, signature, data]
        rc, out, err = self.run_command(argv)
        said = err.strip()
        status = status_lines(out)
        count = len(status.get("NEWSIG", []))
        if count > 1:
            raise Refused(several(count), said)
        if count == 0 or "NODATA" in status:
            raise Refused(unreadable(), said)
        if "BADSIG" in status:
            raise Refused(altered(), said)
        if "ERRSIG" in status:
            # ERRSIG <keyid> <pkalgo> <hashalgo> <class> <time> <rc> [<fpr>]
            fields = status["ERRSIG"][0] + [""] * 7
            handle = fields[6] if fields[6] not in ("", "-") else fields[0]
            if "NO_PUBKEY" in status or fields[5] == ERRSIG_NO_PUBKEY:
                raise Refused(unknown_key(handle), said)
            if fields[2].isdigit() and int(fields[2]) not in openpgp.STRONG_HASHES:
                raise Refused(weak_digest(int(fields[2])), said)
            raise Refused(no_good_signature("gpgv"), said)
        # VALIDSIG <fpr> <date> <created> <expires> <version> <reserved> <pkalgo> <hashalgo> <class> <primary-fpr>
        valid = status.get("VALIDSIG", [[]])[0]
        if len(valid) < 10 or not valid[7].isdigit():
            raise Refused(no_good_signature("gpgv"), said)
        key, primary = valid[0].upper(), valid[9].upper()
        good = status.get("GOODSIG", [[]])[0]
        good_key = good[0].upper() if good else None
        # EXPKEYSIG, REVKEYSIG and EXPSIG come instead of GOODSIG, each with its VALIDSIG.
        worthless = any(word in status for word in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG"))
        if not worthless and (rc != 0 or good_key not in (key, key[-16:], key[:16])):
            raise Refused(no_good_signature("gpgv"), said)
        signature_expired = None
        if "EXPSIG" in status:
            signature_expired = int(valid[3]) if valid[3].isdigit() else 0
        return self.judge(
            key,
            primary,
            int(valid[7]),
            said,
            created=int(valid[2]) if valid[2].isdigit() else None,
            signature_expired=signature_expired,
            revoked="REVKEYSIG" in status,
            expired="EXPKEYSIG" in status,
        )

    # sqv ------------------------------------------------------------------------------------------------------

    def sqv(self, sqv, signature, data):
        # Options sqv has had since 1.0 (Debian 12 has 1.1, Debian 13 1.3); the signature and data files as
        # positional arguments, the form apt itself uses.
        rc, out, err = self.run_command([sqv, "--keyring", self.keyring, "--signatures", "1", "--", signature, data])
        said = err.strip()
        try:
            with open(signature, "rb") as f:
                signatures = openpgp.read_signatures(f.read())
        except (OSError, openpgp.OpenPGPError):
            raise Refused(unreadable(), said) from None
        if len(signatures) > 1:
            raise Refused(several(len(signatures)), said)
        sig = signatures[0]
        known = [key for key in (self.key(handle) for handle in sig.issuers) if key is not None]
        if rc != 0:
            raise Refused(self.sqv_reason(sig, known, err), said)
        printed = [line.strip().upper() for line in out.splitlines() if line.strip()]
        # sqv verified the signature with a key of the certificate it printed; the issuer the signature names tells
        # which key. A signature naming several keys of the keyring, or none of the one printed, is not trusted.
        keys = {key.fingerprint for key in known}
        if len(printed) != 1 or len(keys) != 1 or known[0].primary.fingerprint != printed[0]:
            raise Refused(no_good_signature("sqv"), said)
        expires = sig.expires
        return self.judge(
            known[0].fingerprint,
            printed[0],
            sig.hash_algorithm,
            said,
            created=sig.created,
            signature_expired=expires if expires is not None and expires <= self.now else None,
        )

    def sqv_reason(self, sig, known, err):
        """Why sqv refused the signature: what the signature and the keyring say first, then sqv's own words."""
        if not known:
            return unknown_key(sig.issuers[0] if sig.issuers else "(not named in the signature)")
        key = known[0]
        if sig.hash_algorithm not in openpgp.STRONG_HASHES:
            return weak_digest(sig.hash_algorithm)
        if sig.expires is not None and sig.expires <= self.now:
            return expired_signature(sig.expires)
        if "revoked" in err:
            return revoked_key(key.fingerprint)
        problem = key.unusable_at(sig.created) if sig.created is not None else None
        if problem:
            return unusable_then(key.fingerprint, sig.created, problem)
        if self.expiry(key):
            return expired_key(key.fingerprint, self.expiry(key))
        if "manipulated" in err:
            return altered()
        return no_good_signature("sqv")
