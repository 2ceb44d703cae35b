"""Pure rules of rlpow's second step: block rate, platform registry, drift ledger, and the
fraud-proof encoding (round trip and refusal of junk)."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.consensus.rlpow import Manifest
from learnchain.consensus.rlpow_fraud import FraudProof, FraudProofError
from learnchain.consensus.rlpow_rules import DriftLedger, PlatformRegistry, validate_pace
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import ConfigError, InvalidBlock
from learnchain.core.types import BlockHeader
from learnchain.ml import dqn

A, B, C = b"\x0a" * 20, b"\x0b" * 20, b"\x0c" * 20


def header(height: int, ts: int, proposer: bytes) -> BlockHeader:
    return BlockHeader(1, height, b"\x01" * 32, ts, proposer, b"\x02" * 32, b"\x03" * 32,
                       b"\x04" * 32, "rlpow", {"v": 1})


def test_block_rate_minimum_interval():
    parent = header(5, 10_000, A)
    validate_pace(header(6, 11_000, B), parent, [A], {"min_interval_ms": 1000})
    with pytest.raises(InvalidBlock, match="block rate: timestamp is 999 ms after"):
        validate_pace(header(6, 10_999, B), parent, [A], {"min_interval_ms": 1000})


def test_signer_limit_counts_the_blocks_below():
    parent = header(5, 0, A)
    rule = {"min_interval_ms": 0, "signer_limit": 3}
    validate_pace(header(6, 0, C), parent, [A, B], rule)
    with pytest.raises(InvalidBlock, match="signed the block 2 below"):
        validate_pace(header(6, 0, B), parent, [A, B], rule)
    validate_pace(header(6, 0, B), parent, [A, B], {**rule, "signer_limit": 2})
    validate_pace(header(6, 0, A), parent, [A, B], {**rule, "signer_limit": 1})  # off


def _record(label: str) -> dict:
    return {**{k: v if isinstance(v, int) else str(v)
               for k, v in dqn.ComputeSettings.current().to_record().items()},
            "cpu_capability": label}


def test_platform_registry_binds_labels_to_addresses():
    mine = dqn.ComputeSettings(**_record("AVX512"))
    neon = dqn.ComputeSettings(**_record("NEON"))
    reg = PlatformRegistry.from_config({"0x" + A.hex(): _record("NEON")})
    assert reg.platform_for(A, neon, mine) == neon
    assert reg.platform_for(B, neon, mine) == mine, "unregistered: judged bit-exactly"
    with pytest.raises(InvalidBlock, match="platform label"):
        reg.platform_for(A, mine, mine)
    with pytest.raises(ConfigError, match="not an address"):
        PlatformRegistry.from_config({"0x12": _record("NEON")})
    with pytest.raises(ConfigError, match="ComputeSettings record"):
        PlatformRegistry.from_config({"0x" + A.hex(): {"cpu_capability": "NEON"}})


def test_drift_ledger_allows_noise_and_refuses_a_repeated_nudge():
    ledger = DriftLedger(mean=1e-6, slack=1e-4)
    for _ in range(1000):
        ledger.check(A, [2e-7] * 4)  # honest cross-platform noise, forever
    with pytest.raises(InvalidBlock, match="cumulative drift"):
        for _ in range(10):
            ledger.check(B, [0.0, 0.0, 0.0, 5e-5])
    total, n = ledger.totals[B]
    assert total <= 1e-6 * n + 1e-4, "a refused block is not recorded"


digests = st.binary(min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(step=st.integers(0, 4095), blobs=st.lists(st.binary(max_size=64), max_size=3),
       manifest=st.binary(max_size=200), sig=st.binary(min_size=65, max_size=65),
       ts=st.integers(0, 2**40), height=st.integers(1, 2**40),
       uncles=st.lists(st.binary(max_size=64), max_size=3, unique=True))
def test_fraud_proof_encoding_round_trips(step, blobs, manifest, sig, ts, height, uncles):
    by_digest = {hashlib.sha256(b).digest(): b for b in blobs}
    uncle_blobs = {hashlib.sha256(b).digest(): b for b in uncles}  # design=uncles only
    proof = FraudProof(header(height, ts, A), sig, manifest, step, by_digest, uncle_blobs)
    again = FraudProof.from_bytes(proof.to_bytes())
    assert again == proof and again.block_hash == proof.block_hash
    assert ("uncles" in decode(proof.to_bytes())) == bool(uncles)  # lineage: encoding as before


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=300))
def test_junk_is_a_malformed_fraud_proof(junk):
    with pytest.raises(FraudProofError):
        FraudProof.from_bytes(junk)


def test_a_blob_that_does_not_hash_to_its_digest_is_refused():
    proof = FraudProof(header(1, 0, A), b"\x00" * 65, b"m", 0, {b"\x00" * 32: b"blob"})
    with pytest.raises(FraudProofError, match="does not hash"):
        FraudProof.from_bytes(proof.to_bytes())


# ----- the manifest read by a fraud check (no canonical-form check) --------------------------

_digests = st.binary(min_size=32, max_size=32)
_triples = st.tuples(_digests, _digests, _digests)


@settings(max_examples=60, deadline=None)
@given(step0=st.integers(0, 2**40), start=_triples, steps=st.lists(_triples, max_size=8))
def test_a_manifest_reads_the_same_with_or_without_the_canonical_check(step0, start, steps):
    m = Manifest(step0, start, tuple(steps), dqn.ComputeSettings.current())
    data = m.to_bytes()
    assert Manifest.from_bytes(data) == m == Manifest.from_bytes(data, canonical=False)


@settings(max_examples=150, deadline=None)
@given(junk=st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=20).map(lambda v: cbor2.dumps(v))))
def test_junk_is_a_malformed_manifest_either_way(junk):
    for canonical in (True, False):
        with pytest.raises(InvalidBlock, match="malformed training manifest"):
            Manifest.from_bytes(junk, canonical=canonical)


def test_a_manifest_with_a_wrongly_typed_compute_setting_is_malformed():
    m = Manifest(0, (b"\x00" * 32,) * 3, (), dqn.ComputeSettings.current())
    plain = decode(m.to_bytes())
    plain["compute"]["num_threads"] = "1"
    with pytest.raises(InvalidBlock, match="compute setting num_threads has the wrong type"):
        Manifest.from_bytes(encode(plain), canonical=False)
