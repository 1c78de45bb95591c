# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The signature verdict with the real gpgv and the real sqv, on keys and signatures made by the real gpg.

Every case runs with both verifiers and must come out the same: accepted with the same signer, or refused for the
same reason. No verifier is faked here.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import openpgp
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils import signature_check
from tests.unit.signing import EXPIRED_ON

VERIFIERS = ("gpgv", "sqv")


def run(argv):
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={"LANG": "C", "PATH": "/usr/bin:/bin"}
    )
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(params=VERIFIERS)
def verifier(request, signing):
    path = shutil.which(request.param)
    if not path:
        pytest.skip(
            f"{request.param} is not installed; tests/harness/ensure-build-tools.sh signatures installs it (as root on "
            f"Debian): {signing.ensure_said or 'not run'}"
        )
    return path


def check(signing, verifier, signature, *, package=None, pinned=None):
    keyring = signing.keyring
    if pinned is None:
        pinned = {fpr for name, fpr in signing.fingerprints.items() if name not in ("other", "stranger")}
    home = signing.root / "verify-home"
    home.mkdir(mode=0o700, exist_ok=True)
    return signature_check.verify(
        run,
        verifier,
        str(signing.root / signature),
        str(package or signing.package),
        keyring=str(keyring),
        certificates=openpgp.certificates(keyring.read_bytes()),
        pinned=pinned,
        home=str(home),
    )


def refusal(signing, verifier, signature, **kwargs):
    with pytest.raises(signature_check.Refused) as caught:
        check(signing, verifier, signature, **kwargs)
    return caught.value


# Accepted ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["good.sig", "good.asc"])
def test_good_signature(signing, verifier, signature):
    signer = check(signing, verifier, signature)
    assert signer.key == signer.primary == signing.fingerprints["trusted"]


def test_signature_by_a_subkey_of_a_pinned_key(signing, verifier):
    signer = check(signing, verifier, "split.sig", pinned={signing.fingerprints["split"]})
    assert signer.primary == signing.fingerprints["split"]
    assert signer.key == signing.subkeys["split"] != signer.primary


def test_key_whose_expiry_was_extended_since(signing, verifier):
    # A vendor that extends its key's expiry publishes the key again; signatures made before the extension are
    # trusted with the new copy when it keeps the older self-signature.
    signer = check(signing, verifier, "extended.sig")
    assert signer.key == signing.fingerprints["extended"]


def test_no_pins_trust_any_key_of_the_keyring(signing, verifier):
    assert check(signing, verifier, "other.sig", pinned=set()).primary == signing.fingerprints["other"]


# Refused -------------------------------------------------------------------------------------------------------


def test_expired_key(signing, verifier):
    # Signed while the key was valid, as an old agent package was: the downgrade path. gpgv says EXPKEYSIG; sqv
    # accepts it (it judges the key as of the signature), so the module checks the expiry itself.
    refused = refusal(signing, verifier, "expired.sig")
    assert refused.reason == (
        f"it was made by key {signing.fingerprints['expired']}, which expired on {EXPIRED_ON}; a package signed by "
        "a key that has expired is never trusted"
    )


def test_key_re_signed_without_its_older_self_signature(signing, verifier):
    # gpgv alone accepts this (the key is valid now); sqv refuses it (the key was not bound when it signed).
    refused = refusal(signing, verifier, "re-signed.sig")
    assert refused.reason.startswith(
        f"it was made on 2020-01-01 by key {signing.fingerprints['re-signed']}, which had no self-signature in the "
        "keyring yet (its oldest is from "
    )
    assert refused.reason.endswith("; give the key with its earlier self-signatures")


def test_expired_subkey(signing, verifier):
    refused = refusal(signing, verifier, "subkey-expired.sig")
    assert refused.reason.startswith(
        f"it was made by key {signing.subkeys['subkey-expired']}, which expired on {EXPIRED_ON}; "
    )


def test_expired_primary_key_of_a_subkey(signing, verifier):
    refused = refusal(signing, verifier, "primary-expired.sig")
    assert refused.reason.startswith(
        f"it was made by key {signing.subkeys['primary-expired']}, whose primary key "
        f"{signing.fingerprints['primary-expired']} expired on {EXPIRED_ON}; "
    )


@pytest.mark.parametrize("name", ["revoked", "retired"])
def test_revoked_key(signing, verifier, name):
    # retired: a soft revocation (key superseded) made after the signature; refused all the same, as apt does.
    refused = refusal(signing, verifier, f"{name}.sig")
    assert refused.reason == f"it was made by key {signing.fingerprints[name]}, which is revoked"


def test_expired_signature(signing, verifier):
    assert refusal(signing, verifier, "signature-expired.sig").reason == f"the signature expired on {EXPIRED_ON}"


@pytest.mark.parametrize("digest", ["SHA1", "RIPEMD160"])
def test_weak_digest(signing, verifier, digest):
    refused = refusal(signing, verifier, f"{digest.lower()}.sig")
    assert refused.reason == f"it was made with the {digest} digest algorithm, which is too weak to be trusted"


def test_key_of_the_keyring_that_is_not_pinned(signing, verifier):
    refused = refusal(signing, verifier, "other.sig")
    assert refused.reason == (
        f"it was made by key {signing.fingerprints['other']}, which is not pinned (pinned_fingerprints)"
    )


def test_subkey_of_a_key_that_is_not_pinned(signing, verifier):
    refused = refusal(signing, verifier, "split.sig", pinned={signing.fingerprints["trusted"]})
    assert refused.reason == (
        f"it was made by key {signing.subkeys['split']} of primary key {signing.fingerprints['split']}, which is not "
        "pinned (pinned_fingerprints)"
    )


def test_key_outside_the_keyring(signing, verifier):
    refused = refusal(signing, verifier, "stranger.sig")
    assert refused.reason == (
        f"it was made by key {signing.fingerprints['stranger']}, which is not among the trusted keys"
    )


@pytest.mark.parametrize("signature", ["truncated.sig", "html.sig"])
def test_unreadable_signature(signing, verifier, signature):
    refused = refusal(signing, verifier, signature)
    assert refused.reason == "it is not a readable OpenPGP signature (truncated, damaged or not a signature at all)"
    assert refused.said  # what the verifier printed goes along


def test_corrupt_signature(signing, verifier):
    refused = refusal(signing, verifier, "corrupt.sig")
    assert refused.reason == "the package does not match the signature: the package or its signature was altered"


def test_package_swapped_after_signing(signing, verifier):
    refused = refusal(signing, verifier, "good.sig", package=signing.other_package)
    assert refused.reason == "the package does not match the signature: the package or its signature was altered"


def test_two_signatures_in_one_file(signing, verifier):
    refused = refusal(signing, verifier, "double.sig")
    assert refused.reason == "the signature file holds 2 signatures, where one signature of the package is expected"


# What each verifier does on its own, which the verdict above must not depend on -------------------------------


def test_gpgv_exit_code_alone_would_trust_an_expired_key(signing):
    if not shutil.which("gpgv"):
        pytest.skip("gpgv is not installed")
    rc, out, dummy = run(
        [
            "gpgv",
            "--status-fd",
            "1",
            "--keyring",
            str(signing.keyring),
            str(signing.root / "expired.sig"),
            str(signing.package),
        ]
    )
    assert rc == 0 and "[GNUPG:] EXPKEYSIG " in out


def test_sqv_alone_trusts_a_signature_made_before_its_key_expired(signing):
    if not shutil.which("sqv"):
        pytest.skip("sqv is not installed")
    rc, out, dummy = run(
        ["sqv", "--keyring", str(signing.keyring), str(signing.root / "expired.sig"), str(signing.package)]
    )
    assert rc == 0 and out.strip() == signing.fingerprints["expired"]


# The keyring as the module reads it ----------------------------------------------------------------------------


def test_expiry_times_match_gpg(signing):
    listing = signing.gpg("--with-colons", "--list-keys").stdout.decode()
    expected = {}
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            expiry = int(fields[6]) if fields[6] else None
        elif fields[0] == "fpr":
            expected[fields[9]] = expiry
    found = {
        key.fingerprint: key.expires
        for certificate in openpgp.certificates(signing.keyring.read_bytes())
        for key in certificate.keys
    }
    assert found == {fpr: expires for fpr, expires in expected.items() if fpr in found}
    assert len(found) == len(expected) - 1  # all but the stranger's


def test_gpgv_status_lines_are_read_field_by_field():
    status = signature_check.status_lines("gpgv: noise\n[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG ABC a b\n[GNUPG:]\n")
    assert status == {"NEWSIG": [[]], "GOODSIG": [["ABC", "a", "b"]]}


def test_armored_and_binary_signatures_read_the_same(signing):
    (binary,) = openpgp.read_signatures((signing.root / "good.sig").read_bytes())
    (armored,) = openpgp.read_signatures((signing.root / "good.asc").read_bytes())
    assert binary.issuers == armored.issuers == [signing.fingerprints["trusted"], signing.fingerprints["trusted"][-16:]]
    assert binary.hash_algorithm == armored.hash_algorithm == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "holds no signature"),
        (bytes([0x99, 0x00, 0x01, 0x04]), "holds a tag 6 packet, which a detached signature does not"),
        (bytes([0x88, 0x01, 0x03]), "has a version 3 signature"),
        (bytes([0xC2, 0x05, 0x04, 0x00, 0x16, 0x08, 0x00]), "truncated signature packet"),
    ],
)
def test_what_is_not_a_detached_signature(data, message):
    with pytest.raises(openpgp.OpenPGPError, match=message):
        openpgp.read_signatures(data)
