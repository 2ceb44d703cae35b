"""Keys, addresses and keystores match the Ethereum conventions they claim."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.core.crypto import (
    PrivateKey,
    load_keystore,
    parse_address,
    recover_address,
    save_keystore,
    to_checksum_address,
)
from learnchain.core.errors import InvalidTransaction, KeystoreError


def test_known_address_vector():
    key = PrivateKey.from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    assert to_checksum_address(key.address) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@given(st.binary(min_size=32, max_size=32))
def test_signatures_recover_the_signer(digest):
    key = PrivateKey.from_seed(digest)
    assert recover_address(digest, key.sign(digest)) == key.address


def test_tampered_signature_recovers_someone_else_or_fails():
    key = PrivateKey.from_seed(b"k")
    digest = bytes(32)
    sig = bytearray(key.sign(digest))
    sig[5] ^= 1
    with contextlib.suppress(InvalidTransaction):
        assert recover_address(digest, bytes(sig)) != key.address
    with pytest.raises(InvalidTransaction, match="65 bytes"):
        recover_address(digest, b"\x00" * 10)


def test_checksum_addresses_catch_typos():
    good = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    assert parse_address(good) == parse_address(good.lower())
    with pytest.raises(ValueError, match="checksum"):
        parse_address("0x2C7536E3605D9C16a7a3D7b1898e529396a65c23")
    with pytest.raises(ValueError, match="40 hex"):
        parse_address("0x1234")


def test_keystore_round_trip_and_wrong_password(tmp_path):
    key = PrivateKey.from_seed(b"alice")
    path = tmp_path / "alice.json"
    save_keystore(key, path, "pw", light=True)
    document = json.loads(path.read_text())
    assert document["version"] == 3 and document["address"].lower() == key.address.hex()
    assert load_keystore(path, "pw") == key
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keystore(path, "nope")
    path.write_text("{not json")
    with pytest.raises(KeystoreError, match="cannot read"):
        load_keystore(path, "pw")
