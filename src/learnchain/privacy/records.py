"""Medical records R = (Kc, S, D) with D = (P, F, T, B), as the seed's §4 defines them.

* D, the plaintext, is the patient identifier P (the 160-bit wallet id), a file name F
  (≤ 64 characters), a file type T (16-bit enum, `RECORD_TYPES`) and the contents B.
* D is encrypted on the client with AES-256-GCM under a fresh 256-bit key K and a fresh 96-bit
  nonce; the record id and the wallet id are the associated data, so a ciphertext moved to
  another record or another wallet fails its tag.
* Kc is K encrypted for the wallet owner's Umbral public key (capsule + ciphertext), so the
  owner decrypts it directly and anyone else only through proxy re-encryption.
* S names the scheme (≤ 32 characters).

The blob is ``MAGIC ‖ u32 header length ‖ CBOR header {kc, s, n} ‖ AES-GCM ciphertext``; only the
header is CBOR so a large file is not copied through the encoder. The chain records the
SHA-256 of the capsule, which is how a proxy knows a capsule belongs to the record asked for.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import umbral_pre as umbral
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from learnchain.core.encoding import decode, encode
from learnchain.core.errors import EncodingError
from learnchain.privacy.errors import PrivacyError, TamperedCapsule, TamperedCiphertext

MAGIC = b"LCR1"
SCHEME = "AES-256-GCM/Umbral-secp256k1"
MAX_RECORD_SIZE = 256 * 1024 * 1024
RECORD_ID_SIZE = 16
WALLET_ID_SIZE = 20
MAX_FILENAME = 64

RECORD_TYPES: dict[str, int] = {
    "file": 1, "Patient": 2, "Condition": 3, "AllergyIntolerance": 4, "Observation": 5,
    "Encounter": 6, "MedicationStatement": 7, "Procedure": 8, "Immunization": 9,
}
"""T: the 16-bit file-type enum. FHIR resource types are validated as FHIR; `file` is opaque."""
TYPE_NAMES = {v: k for k, v in RECORD_TYPES.items()}


@dataclass(frozen=True)
class RecordPayload:
    """D = (P, F, T, B)."""

    wallet: bytes
    filename: str
    rtype: str
    body: bytes

    def __post_init__(self) -> None:
        if len(self.wallet) != WALLET_ID_SIZE:
            raise PrivacyError(f"P (wallet id) must be {WALLET_ID_SIZE} bytes")
        if len(self.filename) > MAX_FILENAME:
            raise PrivacyError(f"F (file name) is longer than {MAX_FILENAME} characters")
        if self.rtype not in RECORD_TYPES:
            raise PrivacyError(f"T {self.rtype!r} is not a record type; "
                               f"types: {', '.join(RECORD_TYPES)}")

    def head_bytes(self) -> bytes:
        """Everything of D before B: u32 length ‖ CBOR {p, f, t}."""
        head = encode({"p": self.wallet, "f": self.filename, "t": RECORD_TYPES[self.rtype]})
        return len(head).to_bytes(4, "big") + head

    def to_bytes(self) -> bytes:
        return self.head_bytes() + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> RecordPayload:
        size = int.from_bytes(data[:4], "big")
        try:
            head = decode(data[4:4 + size])
            return cls(head["p"], head["f"], TYPE_NAMES[head["t"]], data[4 + size:])
        except (EncodingError, KeyError, TypeError) as exc:
            raise TamperedCiphertext(f"decrypted record payload is malformed: {exc}") from None


STREAM_THRESHOLD = 64 * 1024
"""From this payload size on, `seal` encrypts D in place into the blob (no plaintext or blob
concatenation: two fewer passes over the bytes); below it the one-shot AEAD call is cheaper."""


@dataclass(frozen=True)
class SealedRecord:
    blob: bytes | bytearray
    """The stored bytes (a bytearray for large records, filled in place)."""
    capsule: bytes
    key: bytes

    @property
    def capsule_hash(self) -> bytes:
        return hashlib.sha256(self.capsule).digest()


@dataclass(frozen=True)
class RecordBlob:
    """A parsed blob: Kc (capsule + wrapped key), S, nonce and the encrypted D."""

    capsule: umbral.Capsule
    capsule_bytes: bytes
    wrapped_key: bytes
    scheme: str
    nonce: bytes
    ciphertext: bytes

    @property
    def capsule_hash(self) -> bytes:
        return hashlib.sha256(self.capsule_bytes).digest()


def associated_data(record_id: bytes, wallet: bytes) -> bytes:
    return encode({"record": record_id, "wallet": wallet, "s": SCHEME})


def seal(payload: RecordPayload, owner_pk: umbral.PublicKey, record_id: bytes) -> SealedRecord:
    """Encrypt D under a fresh key and wrap the key for the owner."""
    if len(record_id) != RECORD_ID_SIZE:
        raise PrivacyError(f"a record id is {RECORD_ID_SIZE} bytes")
    if len(payload.body) > MAX_RECORD_SIZE:
        raise PrivacyError(f"records are limited to {MAX_RECORD_SIZE} bytes")
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    capsule, wrapped = umbral.encrypt(owner_pk, key)
    capsule_bytes = bytes(capsule)
    header = encode({"kc": {"capsule": capsule_bytes, "ct": bytes(wrapped)}, "s": SCHEME,
                     "n": nonce}, trusted=True)  # bytes and a constant, built right here
    prefix = MAGIC + len(header).to_bytes(4, "big") + header
    ad = associated_data(record_id, payload.wallet)
    if len(payload.body) < STREAM_THRESHOLD:
        blob: bytes | bytearray = prefix + AESGCM(key).encrypt(nonce, payload.to_bytes(), ad)
    else:
        blob = _encrypt_in_place(key, nonce, ad, prefix, payload.head_bytes(), payload.body)
    return SealedRecord(blob, capsule_bytes, key)


def _encrypt_in_place(key: bytes, nonce: bytes, ad: bytes, prefix: bytes, head: bytes,
                      body: bytes) -> bytearray:
    """prefix ‖ AES-256-GCM(head ‖ body) ‖ tag, written once into one buffer.

    The same bytes as ``prefix + AESGCM(key).encrypt(nonce, head + body, ad)`` (GCM is a
    stream mode: the incremental encryptor gives the one-shot ciphertext and tag), without
    building the plaintext or the blob by concatenation.
    """
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    blob = bytearray(len(prefix) + len(head) + len(body) + 16)
    view = memoryview(blob)
    view[:len(prefix)] = prefix
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(ad)
    at = len(prefix)
    at += encryptor.update_into(head, view[at:])  # update_into wants 15 spare bytes: the
    at += encryptor.update_into(body, view[at:])  # tag's 16 are still free behind each part
    encryptor.finalize()
    view[at:] = encryptor.tag
    return blob


def parse(blob: bytes) -> RecordBlob:
    if blob[:4] != MAGIC:
        raise TamperedCiphertext("not a learnchain record blob (bad magic)")
    size = int.from_bytes(blob[4:8], "big")
    try:
        header = decode(blob[8:8 + size])
        kc, scheme, nonce = header["kc"], header["s"], header["n"]
        capsule_bytes, wrapped = kc["capsule"], kc["ct"]
    except (EncodingError, KeyError, TypeError) as exc:
        raise TamperedCapsule(f"record header (Kc, S) is malformed: {exc}") from None
    if scheme != SCHEME:
        raise PrivacyError(f"unknown encryption scheme S={scheme!r}; this client knows {SCHEME}")
    try:
        capsule = umbral.Capsule.from_bytes(capsule_bytes)
    except Exception:
        raise TamperedCapsule("the record's capsule is not a valid Umbral capsule") from None
    return RecordBlob(capsule, capsule_bytes, wrapped, scheme, nonce, blob[8 + size:])


def unwrap_owner(record: RecordBlob, secret: umbral.SecretKey) -> bytes:
    """K for the owner, straight from Kc."""
    try:
        return bytes(umbral.decrypt_original(secret, record.capsule, record.wrapped_key))
    except Exception:
        raise TamperedCapsule("Kc does not open with this key: the capsule or wrapped key was "
                              "altered, or the record is not wrapped for this owner") from None


def decrypt(record: RecordBlob, key: bytes, record_id: bytes, wallet: bytes) -> RecordPayload:
    """D from the blob; a flipped bit anywhere, or another record's ids, fails the tag."""
    try:
        plain = AESGCM(key).decrypt(record.nonce, record.ciphertext,
                                    associated_data(record_id, wallet))
    except InvalidTag:
        raise TamperedCiphertext(f"record {record_id.hex()} failed its AES-GCM tag: the "
                                 "ciphertext was altered or belongs to another record") from None
    payload = RecordPayload.from_bytes(plain)
    if payload.wallet != wallet:
        raise TamperedCiphertext("the record names another patient than its wallet")
    return payload
