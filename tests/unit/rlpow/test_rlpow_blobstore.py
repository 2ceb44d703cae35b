"""The content-addressed blob store: CIDv1 ids, verified puts, persistence in SQLite."""

from __future__ import annotations

import sqlite3

import pytest

from learnchain.storage.blobstore import (
    BlobError,
    BlobStore,
    cid_of,
    cid_of_digest,
    digest_of_cid,
    sha256,
)


def test_cid_of_hello_world_matches_the_ipfs_test_vector():
    assert cid_of(b"hello world") == (
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")


def test_cid_round_trips_to_the_digest():
    digest = sha256(b"parameters")
    assert digest_of_cid(cid_of_digest(digest)) == digest


@pytest.mark.parametrize("bad", ["", "Bafkrei", "bafybeig", "b" + "a" * 58, "bafkrei!!", 7])
def test_malformed_cids_are_refused(bad):
    with pytest.raises(BlobError):
        digest_of_cid(bad)


def test_put_get_has_by_digest_and_by_cid():
    store = BlobStore()
    digest = store.put(b"theta")
    assert digest == sha256(b"theta")
    assert store.get(digest) == b"theta" and store.get(cid_of(b"theta")) == b"theta"
    assert store.has(cid_of(b"theta")) and not store.has(sha256(b"other"))
    assert store.get(sha256(b"other")) is None
    assert len(store) == 1


def test_put_verified_refuses_bytes_that_do_not_hash_to_the_claimed_id():
    store = BlobStore()
    with pytest.raises(BlobError, match="does not hash to its content id"):
        store.put_verified(cid_of(b"claimed"), b"actual")
    assert not store.has(cid_of(b"claimed"))
    store.put_verified(cid_of(b"claimed"), b"claimed")
    assert store.get(cid_of(b"claimed")) == b"claimed"


def test_blobs_persist_in_the_shared_connection(tmp_path):
    path = tmp_path / "chain.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    BlobStore(conn).put_many([b"a", b"b"])
    conn.close()
    reopened = BlobStore(sqlite3.connect(path, isolation_level=None), cache_size=1)
    assert reopened.get(sha256(b"a")) == b"a" and reopened.get(sha256(b"b")) == b"b"
    reopened.delete(sha256(b"a"))
    assert not reopened.has(sha256(b"a"))
