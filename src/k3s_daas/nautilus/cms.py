"""Open the CMS EnvelopedData AWS KMS returns to an attested enclave (`CiphertextForRecipient`).

KMS answers a `Decrypt` with a `Recipient` by encrypting the plaintext for the RSA public key in
the enclave's attestation document: a BER-encoded ContentInfo (RFC 5652) holding

    EnvelopedData { version 2,
      recipientInfos SET { KeyTransRecipientInfo { version 2, rid [0] subjectKeyIdentifier,
        keyEncryptionAlgorithm rsaesOaep (SHA-256, MGF1-SHA-256), encryptedKey OCTET STRING } },
      encryptedContentInfo { id-data, aes256-CBC with its IV, [0] encryptedContent } }

where encryptedContent may be one primitive string or (indefinite-length BER) several chunks. This
module reads exactly that shape and nothing else; any deviation is a `CmsError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from k3s_daas.seal.errors import K3sDaasError

OID_ENVELOPED_DATA: Final = "1.2.840.113549.1.7.3"
OID_DATA: Final = "1.2.840.113549.1.7.1"
OID_RSAES_OAEP: Final = "1.2.840.113549.1.1.7"
OID_MGF1: Final = "1.2.840.113549.1.1.8"
OID_SHA256: Final = "2.16.840.1.101.3.4.2.1"
OID_AES256_CBC: Final = "2.16.840.1.101.3.4.1.42"

SEQUENCE: Final = 0x30
SET: Final = 0x31
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
OID: Final = 0x06
CONTEXT_0: Final = 0xA0  # [0] constructed
CONTEXT_0_PRIMITIVE: Final = 0x80
MAX_DEPTH: Final = 16


class CmsError(K3sDaasError):
    """`CiphertextForRecipient` is not the EnvelopedData KMS sends, or does not decrypt."""

    reason = "bad_recipient_ciphertext"


@dataclass(frozen=True)
class Node:
    """One BER element: its identifier octet and either its contents or its children."""

    tag: int
    content: bytes = b""
    children: tuple[Node, ...] = ()

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def octets(self) -> bytes:
        """A string's bytes, whether primitive or constructed from chunks (BER)."""
        if not self.constructed:
            return self.content
        return b"".join(child.octets() for child in self.children)


def _length(data: bytes, pos: int) -> tuple[int | None, int]:
    """(length, next position); None for the indefinite form."""
    if pos >= len(data):
        raise CmsError("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    if first == 0x80:
        return None, pos
    count = first & 0x7F
    if count > 4 or pos + count > len(data):
        raise CmsError("bad length")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def _element(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    if depth > MAX_DEPTH:
        raise CmsError("nested too deeply")
    if pos >= len(data):
        raise CmsError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CmsError("multi-byte tags are not used by this format")
    length, pos = _length(data, pos + 1)
    if not tag & 0x20:  # primitive
        if length is None or pos + length > len(data):
            raise CmsError("bad primitive length")
        return Node(tag, content=data[pos : pos + length]), pos + length
    children: list[Node] = []
    if length is None:  # indefinite: children until the end-of-contents octets 00 00
        while True:
            if data[pos : pos + 2] == b"\x00\x00":
                return Node(tag, children=tuple(children)), pos + 2
            child, pos = _element(data, pos, depth + 1)
            children.append(child)
    end = pos + length
    if end > len(data):
        raise CmsError("bad constructed length")
    while pos < end:
        child, pos = _element(data, pos, depth + 1)
        children.append(child)
    if pos != end:
        raise CmsError("element overruns its parent")
    return Node(tag, children=tuple(children)), end


def parse_ber(data: bytes) -> Node:
    """The one top-level element of `data` (trailing bytes are an error)."""
    node, end = _element(data, 0, 0)
    if end != len(data):
        raise CmsError("trailing bytes after the ContentInfo")
    return node


def decode_oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise CmsError("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _expect(node: Node, tag: int, what: str, *, least: int = 0) -> tuple[Node, ...]:
    if node.tag != tag:
        raise CmsError(f"{what}: expected tag 0x{tag:02x}, found 0x{node.tag:02x}")
    if len(node.children) < least:
        raise CmsError(f"{what}: too few fields")
    return node.children


def _oid(node: Node, what: str) -> str:
    if node.tag != OID:
        raise CmsError(f"{what}: not an object identifier")
    return decode_oid(node.content)


def _version(node: Node, want: int, what: str) -> None:
    if node.tag != INTEGER or int.from_bytes(node.content, "big", signed=True) != want:
        raise CmsError(f"{what} version is not {want}")


def _check_oaep_sha256(algorithm: Node) -> None:
    """rsaesOaep, and where its parameters name hashes they are SHA-256 (KMS's
    RSAES_OAEP_SHA_256; the Nitro Enclaves SDK decrypts with SHA-256 whatever they say)."""
    fields = _expect(algorithm, SEQUENCE, "keyEncryptionAlgorithm", least=1)
    if _oid(fields[0], "keyEncryptionAlgorithm") != OID_RSAES_OAEP:
        raise CmsError("the key is not wrapped with RSAES-OAEP")
    params = {p.tag: p for p in (fields[1].children if len(fields) > 1 else ())}
    if 0xA0 in params and _oid(params[0xA0].children[0].children[0], "hash") != OID_SHA256:
        raise CmsError("RSAES-OAEP hash is not SHA-256")
    if 0xA1 in params:
        mgf = params[0xA1].children[0].children
        if _oid(mgf[0], "MGF") != OID_MGF1 or _oid(mgf[1].children[0], "MGF hash") != OID_SHA256:
            raise CmsError("RSAES-OAEP mask generation is not MGF1 with SHA-256")


@dataclass(frozen=True)
class Envelope:
    """The parts of the EnvelopedData needed to decrypt it."""

    encrypted_key: bytes
    iv: bytes
    ciphertext: bytes


def parse_envelope(data: bytes) -> Envelope:
    """The wrapped key, IV and ciphertext of a KMS `CiphertextForRecipient`."""
    try:
        info = _expect(parse_ber(data), SEQUENCE, "ContentInfo", least=2)
        if _oid(info[0], "contentType") != OID_ENVELOPED_DATA:
            raise CmsError("not an EnvelopedData")
        [enveloped] = _expect(info[1], CONTEXT_0, "content", least=1)
        fields = list(_expect(enveloped, SEQUENCE, "EnvelopedData", least=3))
        _version(fields.pop(0), 2, "EnvelopedData")
        if fields[0].tag == CONTEXT_0:  # originatorInfo: not used by KMS, skipped
            fields.pop(0)
        recipients = _expect(fields[0], SET, "recipientInfos", least=1)
        if len(recipients) != 1:
            raise CmsError("expected exactly one recipient")
        ktri = _expect(recipients[0], SEQUENCE, "KeyTransRecipientInfo", least=4)
        _version(ktri[0], 2, "KeyTransRecipientInfo")
        _check_oaep_sha256(ktri[2])
        if ktri[3].tag != OCTET_STRING:
            raise CmsError("encryptedKey is not an octet string")
        content = _expect(fields[1], SEQUENCE, "EncryptedContentInfo", least=3)
        if _oid(content[0], "encrypted contentType") != OID_DATA:
            raise CmsError("the encrypted content is not id-data")
        algorithm = _expect(content[1], SEQUENCE, "contentEncryptionAlgorithm", least=2)
        if _oid(algorithm[0], "contentEncryptionAlgorithm") != OID_AES256_CBC:
            raise CmsError("the content is not encrypted with AES-256-CBC")
        if algorithm[1].tag != OCTET_STRING or len(algorithm[1].content) != 16:
            raise CmsError("the AES-CBC IV is not 16 bytes")
        if content[2].tag not in (CONTEXT_0_PRIMITIVE, CONTEXT_0):
            raise CmsError("encryptedContent is missing")
        return Envelope(ktri[3].octets(), algorithm[1].content, content[2].octets())
    except (IndexError, ValueError) as exc:  # a field of the wrong shape where one was expected
        if isinstance(exc, CmsError):
            raise
        raise CmsError("EnvelopedData fields have the wrong shape") from None


def open_envelope(data: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """Decrypt a `CiphertextForRecipient` with the enclave's ephemeral RSA private key."""
    envelope = parse_envelope(data)
    oaep = OAEP(mgf=MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    try:
        content_key = key.decrypt(envelope.encrypted_key, oaep)
    except ValueError:
        raise CmsError("the content key does not decrypt with this enclave's key") from None
    if len(content_key) != 32 or not envelope.ciphertext or len(envelope.ciphertext) % 16:
        raise CmsError("bad AES-256-CBC key or ciphertext length")
    decryptor = Cipher(algorithms.AES(content_key), modes.CBC(envelope.iv)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CmsError("bad padding in the decrypted content") from None
