"""The RSA that amazon-ssm-agent needs, with the standard library only.

The real agent is a Go binary and its package depends on nothing, so dpkg installs it without apt. The stand-in must
not pull in python3-cryptography either, or our hosts would take a different install path (apt, its package lists,
a dependency) from the hosts of a real fleet. What it needs is small: a 2048-bit key pair, the key in the DER forms
the agent stores and sends (PKCS#1 RSAPrivateKey, SubjectPublicKeyInfo) and RSA-PSS signatures (SHA-256, MGF1-SHA-256,
32-byte salt; RFC 8017). The emulator verifies them with the cryptography library, and the agents' tests check keys
and signatures against it, so this code is held to what real RSA accepts.
"""

import hashlib
import math
import os
import secrets

PUBLIC_EXPONENT = 65537
# 1.2.840.113549.1.1.1, with its NULL parameters: the AlgorithmIdentifier of an RSA public key.
RSA_ALGORITHM_DER = bytes.fromhex("300d06092a864886f70d0101010500")
# One gcd with their product rejects most candidates before the first modular exponentiation.
SMALL_PRIMES_PRODUCT = math.prod(n for n in range(3, 2000, 2) if all(n % d for d in range(3, int(n**0.5) + 1, 2)))
# Miller-Rabin rounds: a random candidate of 1024 bits needs only a few (FIPS 186's tables); 8 keeps a margin and costs
# little next to the candidates rejected before them.
MILLER_RABIN_ROUNDS = 8
SHA256_LENGTH = 32
PSS_SALT_LENGTH = 32


class RsaKey:
    def __init__(self, n, e, d, p, q):
        self.n, self.e, self.d, self.p, self.q = n, e, d, p, q
        self.dp, self.dq, self.qinv = d % (p - 1), d % (q - 1), pow(q, -1, p)

    @property
    def size_bytes(self):
        return (self.n.bit_length() + 7) // 8

    def private_der(self):
        """PKCS#1 RSAPrivateKey (what OpenSSL calls the traditional format)."""
        return _sequence(*(_integer(v) for v in (0, self.n, self.e, self.d, self.p, self.q, self.dp, self.dq,
                                                 self.qinv)))

    def public_der(self):
        """SubjectPublicKeyInfo, the form RegisterManagedInstance takes (PublicKeyType Rsa)."""
        rsa_public_key = _sequence(_integer(self.n), _integer(self.e))
        return _sequence(RSA_ALGORITHM_DER, _tlv(0x03, b"\x00" + rsa_public_key))

    def sign_pss_sha256(self, message):
        encoded = _pss_encode(hashlib.sha256(message).digest(), self.n.bit_length() - 1)
        # Chinese remainder theorem: two half-size exponentiations instead of one full-size one.
        m = int.from_bytes(encoded, "big")
        s1, s2 = pow(m, self.dp, self.p), pow(m, self.dq, self.q)
        s = s2 + self.q * ((self.qinv * (s1 - s2)) % self.p)
        return s.to_bytes(self.size_bytes, "big")


def generate(bits=2048):
    while True:
        p, q = _prime(bits // 2), _prime(bits - bits // 2)
        if p == q:
            continue
        n = p * q
        lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        d = pow(PUBLIC_EXPONENT, -1, lam)
        return RsaKey(n, PUBLIC_EXPONENT, d, p, q)


def load_private_der(der):
    values = _read_integer_sequence(der)
    if len(values) != 9 or values[0] != 0:
        raise ValueError("not a two-prime PKCS#1 RSAPrivateKey")
    n, e, d, p, q = values[1:6]
    if p * q != n:
        raise ValueError("the PKCS#1 key's primes do not multiply to its modulus")
    return RsaKey(n, e, d, p, q)


# ------------------------------------------------------------------------------------------------------ primes

def _prime(bits):
    while True:
        # Top two bits set, so the product of two such primes has all its bits; odd.
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if math.gcd(candidate, SMALL_PRIMES_PRODUCT) != 1 or math.gcd(candidate - 1, PUBLIC_EXPONENT) != 1:
            continue
        if _probably_prime(candidate):
            return candidate


def _probably_prime(n):
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(MILLER_RABIN_ROUNDS):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


# ---------------------------------------------------------------------------------------------------- RSA-PSS

def _mgf1_sha256(seed, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _pss_encode(message_hash, em_bits):
    em_len = (em_bits + 7) // 8
    if em_len < SHA256_LENGTH + PSS_SALT_LENGTH + 2:
        raise ValueError("the key is too short for RSA-PSS with SHA-256 and a 32-byte salt")
    salt = os.urandom(PSS_SALT_LENGTH)
    h = hashlib.sha256(b"\x00" * 8 + message_hash + salt).digest()
    db = b"\x00" * (em_len - PSS_SALT_LENGTH - SHA256_LENGTH - 2) + b"\x01" + salt
    masked = int.from_bytes(db, "big") ^ int.from_bytes(_mgf1_sha256(h, len(db)), "big")
    # Clear the bits above em_bits, so that the encoded message is smaller than the modulus.
    masked &= (1 << (8 * len(db) - (8 * em_len - em_bits))) - 1
    return masked.to_bytes(len(db), "big") + h + b"\xbc"


# -------------------------------------------------------------------------------------------------------- DER

def _tlv(tag, value):
    length = len(value)
    if length < 0x80:
        return bytes([tag, length]) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + value


def _integer(value):
    # Positive integers only; the extra byte keeps the sign bit clear.
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _sequence(*items):
    return _tlv(0x30, b"".join(items))


def _read_tlv(data, offset):
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    offset += 2
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    else:
        length = first
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[offset:offset + length], offset + length


def _read_integer_sequence(der):
    tag, body, end = _read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    values, offset = [], 0
    while offset < len(body):
        tag, value, offset = _read_tlv(body, offset)
        if tag != 0x02:
            raise ValueError("a non-INTEGER in the key's SEQUENCE")
        values.append(int.from_bytes(value, "big"))
    return values
