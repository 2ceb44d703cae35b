"""Record encoding R = (Kc, S, D) and the pure layer rules."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.apps.wallet.rules import WalletError, covers, validate_layer
from learnchain.privacy import records
from learnchain.privacy.errors import PrivacyError, TamperedCapsule, TamperedCiphertext
from learnchain.privacy.keys import UmbralKeys

OWNER = UmbralKeys.random()
WALLET = b"w" * 20


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096), st.text(max_size=64), st.sampled_from(list(records.RECORD_TYPES)))
def test_seal_then_open_round_trips(body: bytes, filename: str, rtype: str) -> None:
    rid = os.urandom(16)
    sealed = records.seal(records.RecordPayload(WALLET, filename, rtype, body), OWNER.public, rid)
    parsed = records.parse(sealed.blob)
    assert parsed.capsule_hash == sealed.capsule_hash
    key = records.unwrap_owner(parsed, OWNER.secret)
    assert key == sealed.key
    assert records.decrypt(parsed, key, rid, WALLET) == records.RecordPayload(
        WALLET, filename, rtype, body)


@settings(max_examples=10, deadline=None)
@given(st.integers(records.STREAM_THRESHOLD - 2, records.STREAM_THRESHOLD + 40_000))
def test_large_records_encrypted_in_place_are_the_one_shot_bytes(size: int) -> None:
    """Above the threshold D is encrypted into the blob in place; the blob must be exactly
    what the one-shot AEAD over head ‖ body gives (so every reader opens it the same way)."""
    rid, body = os.urandom(16), os.urandom(size)
    payload = records.RecordPayload(WALLET, "scan.dcm", "file", body)
    sealed = records.seal(payload, OWNER.public, rid)
    parsed = records.parse(bytes(sealed.blob))
    head_size = len(sealed.blob) - len(parsed.ciphertext)
    one_shot = AESGCM(sealed.key).encrypt(parsed.nonce, payload.to_bytes(),
                                          records.associated_data(rid, WALLET))
    assert bytes(sealed.blob[head_size:]) == one_shot
    assert records.decrypt(parsed, records.unwrap_owner(parsed, OWNER.secret), rid,
                           WALLET) == payload


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0))
def test_any_flipped_ciphertext_bit_fails_the_tag(where: int) -> None:
    rid = os.urandom(16)
    sealed = records.seal(records.RecordPayload(WALLET, "f", "file", b"secret" * 10),
                          OWNER.public, rid)
    parsed = records.parse(sealed.blob)
    data = bytearray(parsed.ciphertext)
    data[where % len(data)] ^= 1 << (where % 8)
    tampered = records.RecordBlob(parsed.capsule, parsed.capsule_bytes, parsed.wrapped_key,
                                  parsed.scheme, parsed.nonce, bytes(data))
    with pytest.raises(TamperedCiphertext):
        records.decrypt(tampered, sealed.key, rid, WALLET)


def test_ciphertext_is_bound_to_record_and_wallet() -> None:
    rid = os.urandom(16)
    sealed = records.seal(records.RecordPayload(WALLET, "", "file", b"x"), OWNER.public, rid)
    parsed = records.parse(sealed.blob)
    with pytest.raises(TamperedCiphertext):
        records.decrypt(parsed, sealed.key, os.urandom(16), WALLET)
    with pytest.raises(TamperedCiphertext):
        records.decrypt(parsed, sealed.key, rid, b"v" * 20)
    with pytest.raises(TamperedCapsule):
        records.unwrap_owner(parsed, UmbralKeys.random().secret)


def test_bad_payload_fields_are_refused() -> None:
    with pytest.raises(PrivacyError, match="P"):
        records.RecordPayload(b"short", "", "file", b"")
    with pytest.raises(PrivacyError, match="F"):
        records.RecordPayload(WALLET, "x" * 65, "file", b"")
    with pytest.raises(PrivacyError, match="T"):
        records.RecordPayload(WALLET, "", "Spreadsheet", b"")
    with pytest.raises(TamperedCiphertext, match="magic"):
        records.parse(b"nope")


@pytest.mark.parametrize("layer", ["identification", "profile", "activities/forum",
                                   "activities/study:42", "profile/allergies"])
def test_valid_layers(layer: str) -> None:
    assert validate_layer(layer) == layer


@pytest.mark.parametrize("layer", ["", "Profile", "profile/", "genome", "profile/a/b",
                                   "activities/" + "x" * 40, "../profile"])
def test_invalid_layers(layer: str) -> None:
    with pytest.raises(WalletError):
        validate_layer(layer)


def test_grant_coverage_is_by_whole_path_segments() -> None:
    assert covers("profile", "profile/allergies") and covers("profile", "profile")
    assert not covers("profile/allergies", "profile")
    assert not covers("activities/study:4", "activities/study:42")
