"""The stand-ins' standard-library RSA against the cryptography library, which the emulator verifies with."""

import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import SRC

sys.path.insert(0, str(SRC / "common"))
import rsakey  # noqa: E402

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


@pytest.fixture(scope="module")
def key():
    return rsakey.generate(2048)


def test_generated_key_is_a_valid_2048_bit_key(key):
    loaded = serialization.load_der_private_key(key.private_der(), password=None)
    assert loaded.key_size == 2048
    numbers = loaded.private_numbers()
    assert numbers.public_numbers.e == 65537
    assert numbers.p * numbers.q == key.n
    # The same bytes cryptography writes for that key: DER is canonical, so any encoding slip shows here.
    assert key.private_der() == loaded.private_bytes(serialization.Encoding.DER,
                                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption())
    assert key.public_der() == loaded.public_key().public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)


def test_signatures_verify_and_bind_the_message(key):
    public = serialization.load_der_public_key(key.public_der())
    message = b"AWS4-HMAC-SHA256\n20261127T150000Z\n20261127/us-east-1/ssm/aws4_request\nabc"
    signature = key.sign_pss_sha256(message)
    assert len(signature) == 256
    public.verify(signature, message, PSS, hashes.SHA256())
    assert key.sign_pss_sha256(message) != signature  # a fresh salt each time, as PSS wants
    with pytest.raises(InvalidSignature):
        public.verify(signature, message + b"x", PSS, hashes.SHA256())


def test_loads_a_key_written_by_cryptography():
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = theirs.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())
    ours = rsakey.load_private_der(der)
    message = b"RequestManagedInstanceRoleToken"
    theirs.public_key().verify(ours.sign_pss_sha256(message), message, PSS, hashes.SHA256())
    assert ours.private_der() == der


@pytest.mark.parametrize("der", [b"", bytes.fromhex("3003020100"), bytes.fromhex("300602010002010c")])
def test_rejects_what_is_not_a_pkcs1_key(der):
    with pytest.raises(ValueError):
        rsakey.load_private_der(der)
