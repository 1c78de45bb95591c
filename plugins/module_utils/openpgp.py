# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Just enough of OpenPGP (RFC 9580) to read what the signature verifiers do not report: the fingerprints of the
primary keys given to verified_package, and when each key expires.

Nothing here checks a signature; gpgv or sqv does. The expiry times serve one purpose: sqv judges a key as it was
when the signature was made, so a signature made before its key expired verifies with sqv for ever, while gpgv says
EXPKEYSIG. verified_package refuses both the same way, and needs the keys' expiry times to do so where only sqv is
installed (Debian 13).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

ARMOR_LINE_RE = re.compile(r"^-----(BEGIN|END) PGP ([A-Z0-9 ,/]+)-----$")
PUBLIC_KEY_BLOCK = "PUBLIC KEY BLOCK"
SIGNATURE_BLOCK = "SIGNATURE"

TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_MARKER = 10
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

SUBPACKET_CREATED = 2
SUBPACKET_SIGNATURE_EXPIRES = 3
SUBPACKET_KEY_EXPIRES = 9
SUBPACKET_ISSUER = 16
SUBPACKET_ISSUER_FINGERPRINT = 33

# Signature types: certifications of a user ID by the key itself, and the direct-key signature, carry the primary
# key's expiry; the subkey binding signature carries a subkey's.
PRIMARY_SELF_SIGNATURES = (0x10, 0x11, 0x12, 0x13, 0x1F)
SUBKEY_BINDING = 0x18

HASH_NAMES = {1: "MD5", 2: "SHA1", 3: "RIPEMD160", 8: "SHA256", 9: "SHA384", 10: "SHA512", 11: "SHA224"}
HASH_NAMES.update({12: "SHA3-256", 14: "SHA3-512"})
# What apt refuses in a signature (methods/gpgv.cc): MD5, SHA-1 and RIPEMD-160; anything unknown is refused too.
STRONG_HASHES = (8, 9, 10, 11, 12, 14)


class OpenPGPError(ValueError):
    """Data that is not the OpenPGP material it should be; the message completes a sentence about that data."""


def dearmor(text, kind=PUBLIC_KEY_BLOCK):
    """The binary content of each PGP <kind> block in text, in order; text around the blocks is ignored.

    The armor checksum line is ignored, as RFC 9580 section 6.1 asks: it proves nothing (what the bytes are is proven
    by the pinned fingerprints and by the signature check), and apt's own dearmoring skips it too.
    """
    blocks = []
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    index = 0
    while index < len(lines):
        match = ARMOR_LINE_RE.match(lines[index])
        index += 1
        if not match:
            continue
        if match.group(1) == "END":
            raise OpenPGPError(f"has '{lines[index - 1]}' without a BEGIN line before it")
        found = match.group(2)
        if found != kind:
            # Never let private key material reach a file on the host.
            raise OpenPGPError(f"holds a PGP {found} where only PGP {kind}s are accepted")
        end_line = f"-----END PGP {found}-----"
        body = []
        checksum_seen = False
        in_headers = True
        ended = False
        while index < len(lines):
            line = lines[index]
            index += 1
            if line == end_line:
                ended = True
                break
            if in_headers:
                # Armor headers ("Comment: ...") end at a blank line; base64 never contains a colon.
                if ":" in line:
                    continue
                in_headers = False
            if not line:
                continue
            if checksum_seen:
                raise OpenPGPError("has text between the checksum line and the END line")
            if line.startswith("="):
                checksum_seen = True
            else:
                body.append(line)
        if not ended:
            raise OpenPGPError(f"has a BEGIN PGP {found} line without its END line")
        try:
            data = base64.b64decode("".join(body), validate=True)
        except (binascii.Error, ValueError) as e:
            raise OpenPGPError(f"has a block that is not valid base64 ({e})") from e
        if not data:
            raise OpenPGPError("has an empty block")
        blocks.append(data)
    return blocks


def packets(data):
    """(tag, body) of each OpenPGP packet in data, with old-format and new-format headers (RFC 9580 section 4.2)."""
    position = 0
    size = len(data)
    while position < size:
        header = data[position]
        if not header & 0x80:
            raise OpenPGPError(f"is not OpenPGP data (byte {position} is not a packet header)")
        if header & 0x40:
            tag = header & 0x3F
            if position + 2 > size:
                raise OpenPGPError("has a truncated packet header")
            first = data[position + 1]
            if first < 192:
                header_size, length = 2, first
            elif first < 224:
                if position + 3 > size:
                    raise OpenPGPError("has a truncated packet header")
                header_size, length = 3, ((first - 192) << 8) + data[position + 2] + 192
            elif first == 255:
                if position + 6 > size:
                    raise OpenPGPError("has a truncated packet header")
                header_size, length = 6, int.from_bytes(data[position + 2 : position + 6], "big")
            else:
                # Partial lengths are only for data packets, never in keys or detached signatures.
                raise OpenPGPError(f"has a partial-length packet (tag {tag}), which keys and signatures never have")
        else:
            tag = (header >> 2) & 0x0F
            length_type = header & 0x03
            if length_type == 3:
                header_size, length = 1, size - position - 1
            else:
                count = 1 << length_type
                if position + 1 + count > size:
                    raise OpenPGPError("has a truncated packet header")
                header_size = 1 + count
                length = int.from_bytes(data[position + 1 : position + 1 + count], "big")
        start = position + header_size
        end = start + length
        if end > size:
            raise OpenPGPError(f"has a truncated packet (tag {tag}): {length} bytes announced, {size - start} left")
        yield tag, data[start:end]
        position = end


def subpackets(area):
    """(type, data) of each signature subpacket in a hashed or unhashed area (RFC 9580 section 5.2.3.7)."""
    position = 0
    while position < len(area):
        first = area[position]
        if first < 192:
            length, position = first, position + 1
        elif first < 255:
            if position + 2 > len(area):
                raise OpenPGPError("has a truncated signature subpacket")
            length, position = ((first - 192) << 8) + area[position + 1] + 192, position + 2
        else:
            length, position = int.from_bytes(area[position + 1 : position + 5], "big"), position + 5
        if length < 1 or position + length > len(area):
            raise OpenPGPError("has a truncated signature subpacket")
        yield area[position] & 0x7F, area[position + 1 : position + length]
        position += length


class Signature:
    """What a version 4 or 6 signature packet says about itself; nothing here is verified."""

    def __init__(self, body):
        version = body[0] if body else None
        if version not in (4, 6):
            raise OpenPGPError(f"has a version {version} signature; only version 4 and 6 signatures are supported")
        if len(body) < 4:
            raise OpenPGPError("has a truncated signature packet")
        self.type = body[1]
        self.hash_algorithm = body[3]
        self.created = None
        self.expires_after = None  # seconds after its creation; None or 0: never
        self.key_expires_after = None  # seconds after the key's creation; None or 0: never
        self.issuers = []  # fingerprints and key IDs, upper-case hex, hashed area first
        count_size = 2 if version == 4 else 4
        position = 4
        for hashed in (True, False):
            if position + count_size > len(body):
                raise OpenPGPError("has a truncated signature packet")
            length = int.from_bytes(body[position : position + count_size], "big")
            position += count_size
            if position + length > len(body):
                raise OpenPGPError("has a truncated signature packet")
            for kind, data in subpackets(body[position : position + length]):
                self._subpacket(kind, data, hashed)
            position += length

    def _subpacket(self, kind, data, hashed):
        if kind == SUBPACKET_ISSUER_FINGERPRINT and len(data) > 1:
            self.issuers.append(data[1:].hex().upper())
        elif kind == SUBPACKET_ISSUER and len(data) == 8:
            self.issuers.append(data.hex().upper())
        elif not hashed or len(data) != 4:
            # Times count only from the signed (hashed) area.
            return
        elif kind == SUBPACKET_CREATED:
            self.created = int.from_bytes(data, "big")
        elif kind == SUBPACKET_SIGNATURE_EXPIRES:
            self.expires_after = int.from_bytes(data, "big")
        elif kind == SUBPACKET_KEY_EXPIRES:
            self.key_expires_after = int.from_bytes(data, "big")

    @property
    def expires(self):
        """The time the signature expires, None when it does not."""
        if not self.expires_after or self.created is None:
            return None
        return self.created + self.expires_after


class Key:
    """A primary key or subkey: its fingerprint, key ID, creation time and the self-signatures that give its expiry."""

    def __init__(self, body, primary=None):
        version = body[0] if body else None
        if version == 4:
            if len(body) > 0xFFFF:
                raise OpenPGPError("has a version 4 key packet longer than 65535 bytes, which is not a valid key")
            # SHA-1 is what defines a v4 fingerprint (RFC 4880 12.2); gpgv or sqv checks the signature itself.
            digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body)  # noqa: S324
            self.fingerprint = digest.hexdigest().upper()
            self.key_id = self.fingerprint[-16:]
        elif version == 6:
            self.fingerprint = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
            self.key_id = self.fingerprint[:16]
        else:
            what = "primary key" if primary is None else "subkey"
            raise OpenPGPError(
                f"has a version {version} {what}; only version 4 and version 6 OpenPGP keys are supported"
            )
        if len(body) < 5:
            raise OpenPGPError("has a truncated key packet")
        self.created = int.from_bytes(body[1:5], "big")
        self.primary = primary or self
        self.self_signatures = []

    def add_self_signature(self, signature):
        if signature.created is not None:
            self.self_signatures.append(signature)

    def self_signature(self, at=None):
        """The newest self-signature made at or before at (of all when at is None); None when there is none."""
        found = None
        for signature in self.self_signatures:
            if (at is None or signature.created <= at) and (found is None or signature.created >= found.created):
                found = signature
        return found

    def expires_by(self, signature):
        """When the key expires by this self-signature, None when it does not."""
        if signature is None or not signature.key_expires_after:
            return None
        return self.created + signature.key_expires_after

    @property
    def expires(self):
        """When the key expires by its newest self-signature (as gpgv reads it), None when it does not."""
        return self.expires_by(self.self_signature())

    def expired(self, now):
        """(the key that has expired, when) when this key, or its primary key, has expired at now; else None."""
        for key in (self.primary, self):
            if key.expires is not None and key.expires <= now:
                return key, key.expires
        return None

    def unusable_at(self, when):
        """Why this key could not make a signature at when, by its self-signatures as they were then (as sqv reads
        them): (key, "unbound", time of its oldest self-signature or None) when this key or its primary key had no
        self-signature yet, (key, "expired", expiry) when one of them had expired; None when it could."""
        for key in (self.primary, self):
            signature = key.self_signature(when)
            if signature is None:
                return key, "unbound", min((s.created for s in key.self_signatures), default=None)
            expiry = key.expires_by(signature)
            if expiry is not None and expiry <= when:
                return key, "expired", expiry
        return None


class Certificate:
    """A primary key and its subkeys, in the order of the keyring."""

    def __init__(self, primary):
        self.primary = primary
        self.keys = [primary]

    def find(self, handle):
        """The key of this certificate with this fingerprint or key ID, None when there is none."""
        for key in self.keys:
            if handle in (key.fingerprint, key.key_id):
                return key
        return None


def certificates(data):
    """The certificates of a binary keyring (or one dearmored key block), in order."""
    found = []
    current = None  # the key the next signatures are about: a primary key (also for its user IDs) or a subkey
    for position, (tag, body) in enumerate(packets(data)):
        if tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise OpenPGPError("holds secret key material; give public keys only")
        if position == 0 and tag != TAG_PUBLIC_KEY:
            raise OpenPGPError(f"has a key block that starts with a tag {tag} packet, not a public key")
        if tag == TAG_PUBLIC_KEY:
            current = Key(body)
            found.append(Certificate(current))
        elif tag == TAG_PUBLIC_SUBKEY:
            try:
                current = Key(body, primary=found[-1].primary)
            except OpenPGPError:
                current = None  # a subkey of another version is left out: nothing it signs is accepted
                continue
            found[-1].keys.append(current)
        elif tag in (TAG_USER_ID, TAG_USER_ATTRIBUTE) and found:
            current = found[-1].primary
        elif tag == TAG_SIGNATURE and current is not None:
            _attach(current, body)
    return found


def _attach(key, body):
    """Keep a self-signature about key (made by its primary key), which may carry the key's expiry."""
    try:
        signature = Signature(body)
    except OpenPGPError:
        return  # a signature of another version, or damaged: it cannot vouch for an expiry time
    primary = key.primary
    if signature.issuers and not {primary.fingerprint, primary.key_id} & set(signature.issuers):
        return  # a certification by another key
    wanted = PRIMARY_SELF_SIGNATURES if key is primary else (SUBKEY_BINDING,)
    if signature.type in wanted:
        key.add_self_signature(signature)


def read_signatures(data):
    """The signatures of a detached signature file, binary or armored."""
    if data.lstrip()[:29] == b"-----BEGIN PGP SIGNATURE-----":
        data = b"".join(dearmor(data.decode("ascii", errors="replace"), SIGNATURE_BLOCK))
    found = []
    for tag, body in packets(data):
        if tag == TAG_SIGNATURE:
            found.append(Signature(body))
        elif tag != TAG_MARKER:
            raise OpenPGPError(f"holds a tag {tag} packet, which a detached signature does not")
    if not found:
        raise OpenPGPError("holds no signature")
    return found
