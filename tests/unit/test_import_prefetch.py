"""Block import starts recovering a block's signers as soon as the block is authenticated (its
signature, work and tx root check out, it extends the head, its proposer is an active miner),
so the signature workers run while the importing process loads the parent and checks rules;
a block that fails authentication starts no recovery (nobody can make a node recover
signatures for free)."""

from dataclasses import replace

import pytest

from learnchain.core.chain import Chain
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block
from learnchain.testing import dev_genesis, dev_key, make_node

BOB = dev_key("bob").address


def _block_with_transfers(count: int):
    genesis = dev_genesis(funded={"alice": 10**6})
    producer = make_node(genesis)
    for _ in range(count):
        producer.send("alice", "bank", "transfer", {"to": BOB, "amount": 1})
    (block,) = producer.mine()
    return genesis, block


def test_recovery_is_started_before_execution_for_an_authenticated_block(monkeypatch):
    genesis, block = _block_with_transfers(70)
    importer = make_node(genesis, clock=None)
    importer.clock.now_ms = 2**62
    seen = []
    execute_for = Chain.execute_for

    def observe(self, blk, parent):
        seen.append(self._prefetched is not None and self._prefetched[0] == blk.hash)
        return execute_for(self, blk, parent)

    monkeypatch.setattr(Chain, "execute_for", observe)
    importer.chain.add_block(Block.decode(block.encoded))
    assert seen == [True]
    assert importer.chain.height == 1
    assert all(importer.chain.sig_cache.get(tx.hash) == tx.sender for tx in block.transactions)


def test_a_block_that_fails_authentication_starts_no_recovery():
    genesis, block = _block_with_transfers(3)
    importer = make_node(genesis, clock=None)
    importer.clock.now_ms = 2**62
    wrong_root = replace(block.header, tx_root=bytes(32))
    forged = Block(wrong_root, block.transactions).signed(dev_key("miner"))
    with pytest.raises(InvalidBlock, match="tx root"):
        importer.chain.add_block(Block.decode(forged.encoded))
    assert importer.chain._prefetched is None
    outsider = replace(block.header, proposer=dev_key("mallory").address)
    unknown = Block(outsider, block.transactions).signed(dev_key("mallory"))
    with pytest.raises(InvalidBlock):
        importer.chain.add_block(Block.decode(unknown.encoded))
    assert importer.chain._prefetched is None
