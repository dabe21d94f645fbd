"""The CMS EnvelopedData KMS returns to a Recipient (`CiphertextForRecipient`) opens with the
enclave's RSA key, in both BER forms KMS may use, and anything else is a `CmsError`."""

from __future__ import annotations

import contextlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.nitro_doubles import envelope_for
from k3s_daas.nautilus.cms import CmsError, decode_oid, open_envelope, parse_ber, parse_envelope


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("ber", [True, False])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 32, 100])
def test_envelope_opens_with_the_recipient_key(
    key: rsa.RSAPrivateKey, ber: bool, size: int
) -> None:
    plain = os.urandom(size)
    sealed = envelope_for(key.public_key(), plain, chunk=16, ber=ber)
    assert (sealed[1] == 0x80) is ber  # the indefinite form, as KMS sends it
    assert open_envelope(sealed, key) == plain


def test_envelope_for_another_key_does_not_open(key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CmsError) as info:
        open_envelope(envelope_for(other.public_key(), b"k" * 32), key)
    assert info.value.reason == "bad_recipient_ciphertext"


def test_every_truncation_and_byte_flip_is_a_cms_error(key: rsa.RSAPrivateKey) -> None:
    """Whatever arrives, the answer is the key or a CmsError (never IndexError & co)."""
    sealed = envelope_for(key.public_key(), b"k" * 32, chunk=8)
    for end in range(len(sealed)):
        with pytest.raises(CmsError):
            open_envelope(sealed[:end], key)
    for index in range(0, len(sealed), 3):
        flipped = bytearray(sealed)
        flipped[index] ^= 0x41
        # CMS has no MAC: a flip in the IV or the key identifier can still open (TLS to KMS ends
        # inside the enclave; the store's AES-GCM then refuses a wrong data key)
        with contextlib.suppress(CmsError):
            open_envelope(bytes(flipped), key)
    with pytest.raises(CmsError):
        open_envelope(sealed + b"\x00", key)


AES256_CBC = bytes.fromhex("060960864801650304012a")
SHA256 = bytes.fromhex("0609608648016503040201")
ENVELOPED = bytes.fromhex("06092a864886f70d010703")


def test_other_algorithms_are_refused(key: rsa.RSAPrivateKey) -> None:
    sealed = envelope_for(key.public_key(), b"k" * 32, ber=False)
    assert sealed.count(AES256_CBC) == 1 and sealed.count(SHA256) == 2
    aes128 = sealed.replace(AES256_CBC, AES256_CBC[:-1] + b"\x02")
    with pytest.raises(CmsError, match="AES-256-CBC"):
        open_envelope(aes128, key)
    sha512 = sealed.replace(SHA256, SHA256[:-1] + b"\x03", 1)  # the OAEP hash
    with pytest.raises(CmsError, match="SHA-256"):
        open_envelope(sha512, key)
    signed_data = sealed.replace(ENVELOPED, ENVELOPED[:-1] + b"\x02")
    with pytest.raises(CmsError, match="EnvelopedData"):
        parse_envelope(signed_data)


def test_ber_reader_basics() -> None:
    assert decode_oid(bytes.fromhex("2a864886f70d010703")) == "1.2.840.113549.1.7.3"
    assert decode_oid(bytes.fromhex("608648016503040201")) == "2.16.840.1.101.3.4.2.1"
    node = parse_ber(bytes.fromhex("30800403616263248004016404016500000000"))
    assert [c.octets() for c in node.children] == [b"abc", b"de"]
    for bad in ("30", "3081", "3005", "1f0100", "0485ffffffffff", "3080"):
        with pytest.raises(CmsError):
            parse_ber(bytes.fromhex(bad))
    deep = bytes.fromhex("3080") * 40 + bytes.fromhex("0000") * 40
    with pytest.raises(CmsError, match="deeply"):
        parse_ber(deep)
